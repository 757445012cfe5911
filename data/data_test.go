package data

import (
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTripEveryFormat(t *testing.T) {
	dir := t.TempDir()
	remapped := Keys{Text: "body", Prompt: "query", Completion: "response", Chosen: "good", Rejected: "bad",
		ScoreChosen: "r_good", ScoreRejected: "r_bad"}
	for _, keys := range []Keys{{}, DefaultKeys(), remapped} {
		texts := []Text{{"Alice met Bob ."}, {`quotes " and \ and <eos> > & unicode é`}}
		prompts := []PromptOnly{{"w01 w02 >"}, {""}}
		pcs := []PromptCompletion{{"Alice met Bob . TL;DR:", " Alice Bob"}, {"x", ""}}
		prefs := []Preference{
			{Prompt: "p", Chosen: " a", Rejected: " b", HasScores: true, ScoreChosen: 2.5, ScoreRejected: -1e-300},
			{Prompt: "q", Chosen: " c", Rejected: " d"},
		}
		check := func(name string, write func(string) error, read func(string) (any, error), want any) {
			t.Helper()
			path := filepath.Join(dir, name)
			if err := write(path); err != nil {
				t.Fatal(err)
			}
			got, err := read(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s with keys %+v: got %+v, want %+v", name, keys, got, want)
			}
		}
		check("text.jsonl", func(p string) error { return WriteText(p, texts, keys) },
			func(p string) (any, error) { return ReadText(p, keys) }, texts)
		check("prompts.jsonl", func(p string) error { return WritePrompts(p, prompts, keys) },
			func(p string) (any, error) { return ReadPrompts(p, keys) }, prompts)
		check("pc.jsonl", func(p string) error { return WritePromptCompletions(p, pcs, keys) },
			func(p string) (any, error) { return ReadPromptCompletions(p, keys) }, pcs)
		check("pref.jsonl", func(p string) error { return WritePreferences(p, prefs, keys) },
			func(p string) (any, error) { return ReadPreferences(p, keys) }, prefs)
	}
	// The default layout is TRL's, in field order, without HTML escaping.
	path := filepath.Join(dir, "trl.jsonl")
	if err := WritePreferences(path, []Preference{{Prompt: "w01 >", Chosen: " w02", Rejected: " w03", HasScores: true, ScoreChosen: 1, ScoreRejected: 0.5}}, Keys{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := `{"prompt": "w01 >", "chosen": " w02", "rejected": " w03", "score_chosen": 1, "score_rejected": 0.5}` + "\n"; string(b) != want {
		t.Fatalf("preference line = %q, want %q", b, want)
	}
}

func TestMalformedLinesNameFileLineAndField(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body string
		read       func(string) error
		want       string
	}{
		{"badjson", `{"prompt": "a"}` + "\n" + `{"prompt": "a"` + "\n", readPrompts, `:2: invalid JSON: unexpected end of JSON input`},
		{"trailing", `{"prompt": "a"} x` + "\n", readPrompts, `:1: invalid JSON: invalid character 'x' after top-level value`},
		{"array", "\n[1, 2]\n", readPrompts, `:2: want a JSON object, got array`},
		{"string", `"prompt"` + "\n", readPrompts, `:1: want a JSON object, got string`},
		{"missing", `{"prompt": "a", "chosen": "b"}` + "\n", readPrefs, `:1: field "rejected": missing`},
		{"number", `{"prompt": 3}` + "\n", readPrompts, `:1: field "prompt": want a string, got number`},
		{"null", `{"prompt": "a", "completion": null}` + "\n", readPCs, `:1: field "completion": want a string, got null`},
		{"conversational", `{"prompt": [{"role": "user", "content": "hi"}]}` + "\n", readPrompts,
			`:1: field "prompt": conversational (message list) format is not supported; want a string`},
		{"score", `{"prompt": "a", "chosen": "b", "rejected": "c", "score_chosen": "high", "score_rejected": 1}` + "\n", readPrefs,
			`:1: field "score_chosen": want a number, got string`},
		{"halfscore", `{"prompt": "a", "chosen": "b", "rejected": "c", "score_chosen": 1}` + "\n", readPrefs,
			`:1: field "score_rejected": missing ("score_chosen" is present)`},
		{"othershalf", `{"prompt": "a", "chosen": "b", "rejected": "c", "score_rejected": 1}` + "\n", readPrefs,
			`:1: field "score_chosen": missing ("score_rejected" is present)`},
		{"notext", `{"txt": "a"}` + "\n", readText, `:1: field "text": missing`},
		{"empty", "\n  \n", readPrompts, `: no records`},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".jsonl")
		if err := os.WriteFile(path, []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		err := c.read(path)
		if err == nil || err.Error() != path+c.want {
			t.Errorf("%s: error = %v\nwant %s%s", c.name, err, path, c.want)
		}
		var le *LineError
		if c.name != "empty" && !errors.As(err, &le) {
			t.Errorf("%s: error is not a *LineError", c.name)
		}
	}
	// Remapped keys appear in the messages.
	path := filepath.Join(dir, "remap.jsonl")
	os.WriteFile(path, []byte(`{"prompt": "a"}`+"\n"), 0o644)
	if _, err := ReadPrompts(path, Keys{Prompt: "query"}); err == nil || err.Error() != path+`:1: field "query": missing` {
		t.Errorf("remapped key error = %v", err)
	}
	if _, err := ReadPrompts(filepath.Join(dir, "nope.jsonl"), Keys{}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file error = %v", err)
	}
	// A very long line is not truncated.
	long := strings.Repeat("w ", 100000)
	os.WriteFile(path, []byte(`{"prompt": "`+long+`"}`), 0o644) // no final newline either
	rows, err := ReadPrompts(path, Keys{})
	if err != nil || len(rows) != 1 || rows[0].Prompt != long {
		t.Errorf("long line: %d rows, %v", len(rows), err)
	}
}

func readPrompts(p string) error { _, err := ReadPrompts(p, Keys{}); return err }
func readPrefs(p string) error   { _, err := ReadPreferences(p, Keys{}); return err }
func readPCs(p string) error     { _, err := ReadPromptCompletions(p, Keys{}); return err }
func readText(p string) error    { _, err := ReadText(p, Keys{}); return err }

func TestWritersNeverLeavePartialFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	old := []PromptOnly{{"old"}}
	if err := WritePrompts(path, old, Keys{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	// A failing writer (after partial output) leaves the old file intact and no temp file.
	boom := errors.New("disk on fire")
	err := WriteAtomic(path, func(w io.Writer) error {
		io.WriteString(w, `{"prompt": "new"}`+"\n")
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error = %v", err)
	}
	// An unencodable value (NaN score) fails the same way.
	err = WritePreferences(path, []Preference{{Prompt: "p", Chosen: "a", Rejected: "b", HasScores: true, ScoreChosen: math.NaN()}}, Keys{})
	if err == nil || !strings.Contains(err.Error(), `row 0: field "score_chosen"`) {
		t.Fatalf("NaN error = %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Fatalf("old output changed to %q", after)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only out.jsonl", len(entries))
	}
	// A complete write replaces it.
	if err := WritePrompts(path, []PromptOnly{{"new"}}, Keys{}); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadPrompts(path, Keys{})
	if err != nil || rows[0].Prompt != "new" {
		t.Fatalf("after replace: %v %v", rows, err)
	}
	info, _ := os.Stat(path)
	if info.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", info.Mode())
	}
	// Writing into a missing directory is an error that names the path.
	if err := WritePrompts(filepath.Join(dir, "no", "x.jsonl"), old, Keys{}); err == nil || !strings.Contains(err.Error(), "x.jsonl") {
		t.Fatalf("missing dir error = %v", err)
	}
}

// A leading byte-order mark is accepted; invalid UTF-8 is an error naming the
// file, line and byte, never a silent U+FFFD.
func TestBOMAndInvalidUTF8(t *testing.T) {
	dir := t.TempDir()
	bom := filepath.Join(dir, "bom.jsonl")
	os.WriteFile(bom, []byte("\xEF\xBB\xBF{\"prompt\": \"a\", \"completion\": \" b\"}\n{\"prompt\": \"c\", \"completion\": \" d\"}\n"), 0o644)
	rows, err := ReadPromptCompletions(bom, Keys{})
	if err != nil || len(rows) != 2 || rows[0].Prompt != "a" {
		t.Fatalf("BOM file: %v %v", rows, err)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"prompt\": \"a\", \"completion\": \" b\"}\n{\"prompt\": \"c\xff\", \"completion\": \" d\"}\n"), 0o644)
	if _, err := ReadPromptCompletions(bad, Keys{}); err == nil || !strings.Contains(err.Error(), bad+":2: byte 14: invalid UTF-8") {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	// A BOM anywhere but the start is not silently dropped.
	mid := filepath.Join(dir, "mid.jsonl")
	os.WriteFile(mid, []byte("{\"prompt\": \"a\", \"completion\": \" b\"}\n\xEF\xBB\xBF{\"prompt\": \"c\", \"completion\": \" d\"}\n"), 0o644)
	if _, err := ReadPromptCompletions(mid, Keys{}); err == nil || !strings.Contains(err.Error(), mid+":2") {
		t.Fatalf("BOM on line 2: %v", err)
	}
}
