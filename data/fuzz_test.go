package data

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
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

// FuzzTypedRows: the typed readers of each TRL format (text, prompt-only,
// prompt/completion, preference, conversational) on any bytes either fail
// with an error naming the file, or give rows that the matching writer
// writes and the reader reads back unchanged.
func FuzzTypedRows(f *testing.F) {
	for _, s := range []string{
		`{"text": "x"}`,
		`{"prompt": "a"}`,
		`{"prompt": "a", "completion": " b"}` + "\n" + `{"prompt": "", "completion": "c"}`,
		`{"prompt": "a", "chosen": " b", "rejected": " c", "score_chosen": 1, "score_rejected": 0}`,
		`{"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}`,
		`{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}`,
		`{"prompt": "a", "chosen": 3, "rejected": null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		dir := t.TempDir()
		path := dir + "/rows.jsonl"
		if err := os.WriteFile(path, in, 0o644); err != nil {
			t.Fatal(err)
		}
		k := Keys{}
		named := func(err error) {
			if err != nil && !strings.Contains(err.Error(), "rows.jsonl") {
				t.Fatalf("error %q does not name the file", err)
			}
		}
		again := dir + "/again.jsonl"
		roundTrip(t, path, again, k, ReadText, WriteText, named)
		roundTrip(t, path, again, k, ReadPromptCompletions, WritePromptCompletions, named)
		roundTrip(t, path, again, k, ReadPreferences, WritePreferences, named)
		roundTrip(t, path, again, k, ReadPrompts, WritePrompts, named)
		_, _, err := ReadAnyPreferences(path, k)
		named(err)
		_, err = ReadConversations(path)
		named(err)
	})
}

// roundTrip reads path with read; rows it accepts must be written by write
// and read back unchanged, and a refusal must name the file.
func roundTrip[T any](t *testing.T, path, again string, k Keys, read func(string, Keys) ([]T, error), write func(string, []T, Keys) error, named func(error)) {
	t.Helper()
	rows, err := read(path, k)
	if err != nil {
		named(err)
		return
	}
	if err := write(again, rows, k); err != nil {
		t.Fatal(err)
	}
	if back, err := read(again, k); err != nil || !reflect.DeepEqual(back, rows) {
		t.Fatalf("%T rows do not round-trip: %v", rows, err)
	}
}
