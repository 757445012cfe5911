package recipe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roads/data"
	"roads/tok"
)

func writeJSONL(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadSFTExamples: prompt/completion rows, text rows (an empty prompt)
// and remapped keys become token examples with EOS appended; an empty row is
// refused at its line.
func TestReadSFTExamples(t *testing.T) {
	tk := tok.Bytes{}
	for _, tc := range []struct {
		name, body         string
		keys               data.Keys
		prompt, completion string
	}{
		{"pc.jsonl", `{"prompt": "ab", "completion": "c"}` + "\n", data.Keys{}, "ab", "c"},
		{"text.jsonl", `{"text": "abc"}` + "\n", data.Keys{}, "", "abc"},
		{"keys.jsonl", `{"q": "x", "a": "yz"}` + "\n", data.Keys{Prompt: "q", Completion: "a"}, "x", "yz"},
	} {
		ex, err := ReadSFTExamples(writeJSONL(t, tc.name, tc.body), tc.keys, tk)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c := ex[0].Completion
		if len(ex) != 1 || tk.Decode(ex[0].Prompt) != tc.prompt || c[len(c)-1] != tk.EOS() || tk.Decode(c[:len(c)-1]) != tc.completion {
			t.Errorf("%s: %+v", tc.name, ex)
		}
	}
	empty := writeJSONL(t, "empty.jsonl", `{"prompt": "a", "completion": "b"}`+"\n"+`{"prompt": "", "completion": ""}`+"\n")
	if _, err := ReadSFTExamples(empty, data.Keys{}, tk); err == nil || !strings.Contains(err.Error(), empty+":2: an empty row") {
		t.Errorf("empty row: %v", err)
	}
}

// TestReadPreferencePairs: rows become token pairs (no EOS); rows whose two
// sides are identical are refused when every row is, and kept otherwise.
func TestReadPreferencePairs(t *testing.T) {
	tk := tok.Bytes{}
	mixed := writeJSONL(t, "mixed.jsonl", `{"prompt": "p", "chosen": "a", "rejected": "b"}`+"\n"+`{"prompt": "p", "chosen": "a", "rejected": "a"}`+"\n")
	pairs, err := ReadPreferencePairs(mixed, data.Keys{}, tk)
	if err != nil || len(pairs) != 2 || tk.Decode(pairs[0].Prompt) != "p" || tk.Decode(pairs[0].Chosen) != "a" || tk.Decode(pairs[0].Rejected) != "b" {
		t.Fatalf("pairs %+v, %v", pairs, err)
	}
	same := writeJSONL(t, "same.jsonl", `{"prompt": "p", "chosen": "a", "rejected": "a"}`+"\n")
	if _, err := ReadPreferencePairs(same, data.Keys{}, tk); err == nil || !strings.Contains(err.Error(), "every one of the 1 rows has chosen == rejected") {
		t.Errorf("identical pairs: %v", err)
	}
}

// TestReadScoreRows: a preference file gives chosen/rejected rows, a
// prompt/completion file one completion a row (no EOS either way), with
// 1-based lines; a file of neither is refused naming it.
func TestReadScoreRows(t *testing.T) {
	tk := tok.Bytes{}
	prefs := writeJSONL(t, "p.jsonl", `{"prompt": "p", "chosen": "ab", "rejected": "c"}`+"\n"+`{"prompt": "q", "chosen": "d", "rejected": "ef"}`+"\n")
	rows, err := ReadScoreRows(prefs, data.Keys{}, tk)
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows %+v, %v", rows, err)
	}
	r := rows[1]
	if r.Line != 2 || r.PromptText != "q" || tk.Decode(r.Prompt) != "q" || strings.Join(r.Names, ",") != "chosen,rejected" ||
		tk.Decode(r.Completions[0]) != "d" || tk.Decode(r.Completions[1]) != "ef" {
		t.Errorf("preference row: %+v", r)
	}
	pc := writeJSONL(t, "pc.jsonl", `{"prompt": "x", "completion": "yz"}`+"\n")
	rows, err = ReadScoreRows(pc, data.Keys{}, tk)
	if err != nil || len(rows) != 1 || rows[0].Line != 1 || strings.Join(rows[0].Names, ",") != "completion" || tk.Decode(rows[0].Completions[0]) != "yz" {
		t.Fatalf("prompt/completion rows %+v, %v", rows, err)
	}
	other := writeJSONL(t, "o.jsonl", `{"question": "x"}`+"\n")
	if _, err := ReadScoreRows(other, data.Keys{}, tk); err == nil || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "neither preference nor prompt/completion") {
		t.Errorf("a file of neither: %v", err)
	}
}
