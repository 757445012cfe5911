package task

import (
	"strings"
	"testing"
)

// FuzzParseConfig: a task config file either fails with an error naming the
// file, or loads into a task whose reference completion scores its gold
// reward without error (no panic).
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"name":"mine","base":"sorted","seed":2,"params":{"items_max":5}}`))
	f.Add([]byte(`{"name":"m","family":"token_mdp","params":{"vocab":4,"horizon":2}}`))
	f.Add([]byte(`{"name":"m","base":"two_word","params":{"horizn":3}}`))
	f.Add([]byte("\xEF\xBB\xBF{\"name\":\"m\",\"base\":\"summarize\"}"))
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg, err := ParseConfig("fuzz.json", in)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		tk, err := New(cfg)
		if err != nil {
			return
		}
		for _, p := range tk.Prompts(Test, 0, 2) {
			ref, err := tk.Reference(p)
			if err != nil {
				t.Fatalf("reference: %v", err)
			}
			if _, err := tk.Gold(p, ref); err != nil {
				t.Fatalf("gold of the reference: %v", err)
			}
		}
	})
}
