package data

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzReadRecords: any bytes either fail with an error naming the input and
// a line, or parse into records whose fields re-encode to JSON that parses
// back to the same records (no panic, no silent loss).
func FuzzReadRecords(f *testing.F) {
	for _, s := range []string{
		`{"prompt": "a", "completion": " b"}` + "\n",
		`{"prompt": "a", "chosen": " b", "rejected": " c", "score_chosen": 1, "score_rejected": 0}`,
		`{"text": "x"}` + "\n\n" + `{"text": "y"}`,
		"\xEF\xBB\xBF{\"prompt\": \"a\"}",
		`{"prompt": [{"role": "user", "content": "hi"}]}`,
		`{"prompt": "a\u0000b"}`, `[1, 2]`, `{"a": 1e999}`, "{\"p\": \"\xff\"}", `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		recs, err := readRecords("fuzz.jsonl", bytes.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.jsonl") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		var buf bytes.Buffer
		for _, r := range recs {
			b, err := json.Marshal(r.Fields)
			if err != nil {
				t.Fatalf("record %v does not re-encode: %v", r, err)
			}
			buf.Write(b)
			buf.WriteByte('\n')
		}
		again, err := readRecords("again.jsonl", &buf)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-encoded records do not parse back: %v (%d vs %d)", err, len(again), len(recs))
		}
		for i := range recs {
			if len(again[i].Fields) != len(recs[i].Fields) {
				t.Fatalf("record %d: %d fields, %d after re-encoding", i, len(recs[i].Fields), len(again[i].Fields))
			}
		}
	})
}
