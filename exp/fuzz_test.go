package exp

import (
	"strings"
	"testing"

	"roads/experiments"
)

// FuzzParseSpec: an experiment spec either fails with an error naming its
// source, or is a valid spec whose every preset resolves to cells (no panic).
func FuzzParseSpec(f *testing.F) {
	for _, name := range []string{"main.json", "gap_curve.json", "h6_gap_closure.json"} {
		if b, err := experiments.FS.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"name":"x","title":"t","axes":{"seed":[1],"method":["sft"]},"params":{"task":"sorted","n_pairs":1,"eval":{"prompts":1}}}`))
	f.Add([]byte(`{"name":"x","axes":{"seed":[]}}`))
	f.Add([]byte(`{"name":"x","inherit":"nosuch"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseSpec("fuzz.json", in)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error %q does not name the source", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted spec fails Validate: %v", err)
		}
		for _, p := range []string{"", "smoke", "quick", "full"} {
			if _, err := s.Cells(p); err != nil && !strings.Contains(err.Error(), "preset") {
				t.Fatalf("preset %q: %v", p, err)
			}
		}
	})
}
