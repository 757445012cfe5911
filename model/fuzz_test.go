package model

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseConfig: config.json bytes either fail with an error naming the
// file, or give a valid config (sizes within the documented maxima) that
// re-encodes to an equal config.
func FuzzParseConfig(f *testing.F) {
	good, _ := json.Marshal(NewConfig(11, 9, 16, 1, 2))
	f.Add(good)
	f.Add([]byte(`{"model_type":"roads-gpt","vocab_size":5,"n_positions":4,"d_model":1048576,"n_layer":1,"n_head":4}`))
	f.Add([]byte("\xEF\xBB\xBF" + string(good)))
	f.Add([]byte(`{"model_type":"roads-gpt","vocab_size":-1}`))
	f.Add([]byte(`{"d_model": 1e30}`))
	for _, d := range []string{"gpt2_lm", "gpt2_rm", "neox_lm", "neox_rm"} { // Hugging Face configs
		if b, err := os.ReadFile(filepath.Join("testdata/hf", d, "config.json")); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseConfig("fuzz/config.json", in)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz/config.json") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if c.Validate() != nil || c.NumParams() > MaxParams {
			t.Fatalf("accepted an invalid config %+v", c)
		}
		b, err := json.Marshal(c.FileConfig()) // what SaveDir writes
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseConfig("again", b)
		if err != nil || again != c {
			t.Fatalf("re-encoded config %s: %v", b, err)
		}
	})
}
