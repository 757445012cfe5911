package model

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"roads/ckpt"
)

// hfCase is one sequence of the PyTorch reference (testdata/hf/make_fixtures.py).
type hfCase struct {
	Tokens     []int32     `json:"tokens"`
	PromptLen  int         `json:"prompt_len"`
	Logits     [][]float64 `json:"logits"`
	LogProbs   []float64   `json:"completion_logprobs"`
	LogProbSum float64     `json:"completion_logprob_sum"`
	Score      *float64    `json:"score"`
}

const hfTol = 1e-4 // the bound for F32 agreement

// checkAgainstReference runs m on every reference sequence and compares the
// logits, the completion log-probs and their sum, or the reward score.
func checkAgainstReference(t *testing.T, name string, m *Model, cases []hfCase) {
	t.Helper()
	worst := 0.0
	diff := func(what string, got, want float64) {
		d := math.Abs(got - want)
		worst = math.Max(worst, d)
		if d > hfTol {
			t.Errorf("%s: %s = %.7g, PyTorch %.7g (|Δ| %.2g > %g)", name, what, got, want, d, hfTol)
		}
	}
	for k, c := range cases {
		if c.Score != nil {
			out, err := m.Forward(Batch{Tokens: [][]int32{c.Tokens}, PromptLen: []int{c.PromptLen}}, ForwardOptions{})
			if err != nil {
				t.Fatal(err)
			}
			diff("score", out.Readout[0], *c.Score)
			continue
		}
		// Logits of every position but the last (an LM forward never computes
		// the prediction after the final token).
		if _, err := m.Forward(Batch{Tokens: [][]int32{c.Tokens}}, ForwardOptions{ScoreAll: true}); err != nil {
			t.Fatal(err)
		}
		V := m.cfg.VocabSize
		for s := range len(c.Tokens) - 1 {
			for v := range V {
				diff("logit", float64(m.ws.logits[s*V+v]), c.Logits[s][v])
			}
		}
		out, err := m.Forward(Batch{Tokens: [][]int32{c.Tokens}, PromptLen: []int{c.PromptLen}}, ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for j, want := range c.LogProbs {
			diff("completion log-prob", float64(out.LogProbs[c.PromptLen+j]), want)
		}
		diff("completion log-prob sum", out.SeqLogProb[0], c.LogProbSum)
		if k == 0 && out.NumScored[0] != len(c.LogProbs) {
			t.Fatalf("%s: %d scored tokens, reference has %d", name, out.NumScored[0], len(c.LogProbs))
		}
	}
	t.Logf("%s: max |roads − PyTorch| = %.2g over %d sequences", name, worst, len(cases))
}

// HF directories made by PyTorch load into roads and give PyTorch's numbers;
// saving them again writes the same tensors (minus the buffers roads
// ignores) under the same names.
func TestHFDirectoriesMatchPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/hf/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Models map[string][]hfCase `json:"models"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	wantType := map[string]string{"gpt2_lm": TypeGPT2, "gpt2_lm_bf16": TypeGPT2, "gpt2_rm": TypeGPT2,
		"neox_lm": TypeGPTNeoX, "neox_lm_f16_sequential": TypeGPTNeoX, "neox_rm": TypeGPTNeoX}
	if len(ref.Models) != len(wantType) {
		t.Fatalf("expected.json has %d models, want %d", len(ref.Models), len(wantType))
	}
	for name, cases := range ref.Models {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata/hf", name)
			m, _, err := LoadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			c := m.Config()
			if c.ModelType != wantType[name] || (c.Head == "scalar") != (cases[0].Score != nil) {
				t.Fatalf("loaded as %s head %s", c.ModelType, c.Head)
			}
			checkAgainstReference(t, name, m, cases)

			// Save and reload: the same numbers, and the file holds the
			// reference's tensors (widened to F32) under their HF names.
			out := filepath.Join(t.TempDir(), name)
			if err := SaveDir(out, m, nil); err != nil {
				t.Fatal(err)
			}
			m2, _, err := LoadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			if !slicesEqual(m.data, m2.data) || m2.Config() != c {
				t.Fatal("save + load changed the model")
			}
			orig, _, err := readWeightFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			saved, _, err := readWeightFiles(out)
			if err != nil {
				t.Fatal(err)
			}
			for n, st := range saved {
				ot, ok := orig[n]
				if !ok {
					t.Fatalf("saved tensor %q is not in the HF file", n)
				}
				a, _ := ot.Float32s()
				b, _ := st.Float32s()
				if !slicesEqual(a, b) {
					t.Fatalf("tensor %q: saved values differ from the HF file's", n)
				}
			}
			for n := range orig {
				if _, ok := saved[n]; !ok && !hfIgnored(n) {
					t.Fatalf("HF tensor %q was not saved", n)
				}
			}
		})
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// roadsHFModels are the models whose saved directories PyTorch reads back
// (testdata/hf/roads_*): roads-initialised, then moved off the init so that
// no bias or LayerNorm weight is trivial.
func roadsHFModels(t *testing.T) map[string]*Model {
	mk := func(c Config, seed uint64) *Model {
		m, err := New(c, seed)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(seed, 5))
		for i := range m.data {
			m.data[i] += float32(r.NormFloat64() * 0.1)
		}
		return m
	}
	g := NewConfig(50, 32, 16, 2, 2)
	g.ModelType, g.HeadBias, g.TieWordEmbeddings, g.DFF, g.InitStd, g.EOSTokenID = TypeGPT2, false, true, 40, 0.2, 49
	grm := g
	grm.Head, grm.TieWordEmbeddings, grm.PadTokenID = "scalar", false, 49
	n := NewConfig(50, 32, 16, 2, 2)
	n.ModelType, n.HeadBias, n.Activation, n.RotaryPct, n.UseParallelResidual, n.DFF, n.InitStd, n.EOSTokenID =
		TypeGPTNeoX, false, "gelu", 0.5, true, 40, 0.2, 0
	nrm := n
	nrm.Head = "scalar"
	return map[string]*Model{"roads_gpt2_lm": mk(g, 1), "roads_gpt2_rm": mk(grm, 2), "roads_neox_lm": mk(n, 3), "roads_neox_rm": mk(nrm, 4)}
}

// Directories roads saves are read by the PyTorch reference with the same
// numbers roads computes. ROADS_WRITE_FIXTURE=1 rewrites the directories
// (then rerun make_fixtures.py --read); otherwise the committed directories
// must be exactly what SaveDir writes today.
func TestHFRoadsDirectories(t *testing.T) {
	models := roadsHFModels(t)
	if os.Getenv("ROADS_WRITE_FIXTURE") == "1" {
		for name, m := range models {
			if err := SaveDir(filepath.Join("testdata/hf", name), m, nil); err != nil {
				t.Fatal(err)
			}
		}
		t.Skip("wrote testdata/hf/roads_*: now run make_fixtures.py --read model/testdata/hf/roads_*")
	}
	raw, err := os.ReadFile("testdata/hf/roads_expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string][]hfCase
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref) != len(models) {
		t.Fatalf("roads_expected.json has %d models, want %d", len(ref), len(models))
	}
	for name, m := range models {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata/hf", name)
			tmp := filepath.Join(t.TempDir(), name)
			if err := SaveDir(tmp, m, nil); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{ckpt.ConfigFile, ckpt.ModelFile} {
				a, _ := os.ReadFile(filepath.Join(dir, f))
				b, _ := os.ReadFile(filepath.Join(tmp, f))
				if !bytes.Equal(a, b) {
					t.Fatalf("%s/%s differs from what SaveDir writes now: regenerate (see the test's comment)", dir, f)
				}
			}
			checkAgainstReference(t, name, m, ref[name])
		})
	}
}

// copyHFDir copies a reference directory so a test can break it.
func copyHFDir(t *testing.T, name string) string {
	t.Helper()
	src, dst := filepath.Join("testdata/hf", name), filepath.Join(t.TempDir(), name)
	os.MkdirAll(dst, 0o755)
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(src, e.Name()))
		os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
	}
	return dst
}

func editHFConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, ckpt.ConfigFile)
	var c map[string]any
	b, _ := os.ReadFile(p)
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	edit(c)
	b, _ = json.Marshal(c)
	os.WriteFile(p, b, 0o644)
}

// A broken HF directory is refused naming the key, tensor or file at fault.
func TestHFLoadErrors(t *testing.T) {
	dropTensor := func(dir, file, name string) {
		p := filepath.Join(dir, file)
		f, err := ckpt.ReadSafetensors(p)
		if err != nil {
			t.Fatal(err)
		}
		var keep []ckpt.Tensor
		for _, x := range f.Tensors {
			if x.Name != name {
				keep = append(keep, x)
			}
		}
		if err := ckpt.WriteSafetensors(p, keep, f.Metadata); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, model string
		edit        func(dir string)
		want        string
	}{
		{"missing size", "gpt2_lm", func(d string) { editHFConfig(t, d, func(c map[string]any) { delete(c, "n_embd") }) }, "n_embd is missing"},
		{"size disagrees with the weights", "gpt2_lm", func(d string) { editHFConfig(t, d, func(c map[string]any) { c["n_inner"] = 48 }) },
			`tensor "transformer.h.0.mlp.c_fc.weight" has shape [16 40] but config.json`},
		{"unsupported activation", "gpt2_lm", func(d string) { editHFConfig(t, d, func(c map[string]any) { c["activation_function"] = "relu" }) }, `activation_function "relu" is not supported`},
		{"two labels", "gpt2_rm", func(d string) { editHFConfig(t, d, func(c map[string]any) { c["num_labels"] = 2 }) }, "num_labels 2: a reward model has one"},
		{"no attention bias", "neox_lm", func(d string) { editHFConfig(t, d, func(c map[string]any) { c["attention_bias"] = false }) }, "attention_bias false is not supported"},
		{"rope scaling", "neox_rm", func(d string) {
			editHFConfig(t, d, func(c map[string]any) { c["rope_scaling"] = map[string]any{"type": "linear", "factor": 2} })
		}, "rope_scaling"},
		{"odd rotary channels", "neox_rm", func(d string) { editHFConfig(t, d, func(c map[string]any) { c["rotary_pct"] = 0.375 }) }, "gives 3 rotary channels"},
		{"missing tensor", "neox_rm", func(d string) { dropTensor(d, ckpt.ModelFile, "score.weight") }, `missing tensor "score.weight"`},
		{"missing shard", "neox_lm", func(d string) { os.Remove(filepath.Join(d, "model-00002-of-00002.safetensors")) }, "model-00002-of-00002.safetensors"},
		{"no weights at all", "gpt2_lm", func(d string) { os.Remove(filepath.Join(d, ckpt.ModelFile)) }, "no model.safetensors and no model.safetensors.index.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := copyHFDir(t, c.model)
			c.edit(d)
			_, _, err := LoadDir(d)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	// Keys roads does not know are ignored, not errors (HF configs carry many).
	d := copyHFDir(t, "gpt2_lm")
	editHFConfig(t, d, func(c map[string]any) { c["some_future_key"] = 1 })
	if _, _, err := LoadDir(d); err != nil {
		t.Fatalf("an unknown config key: %v, want a warning only", err)
	}
}

// A reward model trained with a readout other than HF's last-token one keeps
// it through an HF directory (in roads_scalar_readout), and one with the
// default writes no extra key.
func TestHFScalarReadoutRoundTrip(t *testing.T) {
	for _, readout := range []string{"last", "sum", "mean"} {
		c := NewConfig(20, 8, 8, 1, 2)
		c.ModelType, c.HeadBias, c.Head, c.ScalarReadout = TypeGPT2, false, "scalar", readout
		m, err := New(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), readout)
		if err := SaveDir(dir, m, nil); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(filepath.Join(dir, ckpt.ConfigFile))
		if has := bytes.Contains(raw, []byte("roads_scalar_readout")); has != (readout != "last") {
			t.Errorf("readout %s: roads_scalar_readout in config.json = %v", readout, has)
		}
		back, _, err := LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if back.Config() != c {
			t.Errorf("readout %s: reloaded config %+v, want %+v", readout, back.Config(), c)
		}
	}
}

// generation_config.json supplies EOS and PAD ids config.json lacks; ids
// config.json has win; an id outside the vocabulary is an error naming it.
func TestHFGenerationConfig(t *testing.T) {
	d := copyHFDir(t, "neox_rm")
	editHFConfig(t, d, func(c map[string]any) { delete(c, "eos_token_id") })
	os.WriteFile(filepath.Join(d, GenerationConfigFile), []byte(`{"eos_token_id": [7, 8], "pad_token_id": 3}`), 0o644)
	m, _, err := LoadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	if c := m.Config(); c.EOSTokenID != 7 || c.PadTokenID != 3 {
		t.Fatalf("eos %d pad %d, want 7 and 3 from generation_config.json", c.EOSTokenID, c.PadTokenID)
	}
	os.WriteFile(filepath.Join(d, GenerationConfigFile), []byte(`{"eos_token_id": 9}`), 0o644)
	editHFConfig(t, d, func(c map[string]any) { c["eos_token_id"] = 5 })
	if m, _, err = LoadDir(d); err != nil || m.Config().EOSTokenID != 5 {
		t.Fatalf("config.json's eos_token_id must win: %v", err)
	}
	editHFConfig(t, d, func(c map[string]any) { delete(c, "eos_token_id") })
	os.WriteFile(filepath.Join(d, GenerationConfigFile), []byte(`{"eos_token_id": 500}`), 0o644)
	if _, _, err = LoadDir(d); err == nil || !bytes.Contains([]byte(err.Error()), []byte("generation_config.json: config: eos_token_id 500 is outside")) {
		t.Fatalf("EOS outside the vocabulary: %v", err)
	}
}
