package model

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"roads/engine"
)

func TestConfigValidate(t *testing.T) {
	ok := NewConfig(256, 64, 128, 2, 4)
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.DModel = 130 }, "d_model 130 is not divisible by n_head 4"},
		{func(c *Config) { c.ModelType = "llama" }, `model_type "llama" is not "roads-gpt", "gpt2" or "gpt_neox"`},
		{func(c *Config) { c.ModelType = "gpt2" }, "a gpt2 model has learned positions, sequential blocks and heads without bias"},
		{func(c *Config) { c.ModelType, c.HeadBias = "gpt_neox", false }, "a gpt_neox model has rotary embeddings"},
		{func(c *Config) { c.Activation = "relu" }, `activation_function "relu"`},
		{func(c *Config) { c.ModelType, c.HeadBias, c.RotaryPct = "gpt_neox", false, 0.1 }, "gives 3 rotary channels; want a positive even number"},
		{func(c *Config) { c.ModelType, c.HeadBias, c.RotaryPct, c.RotaryEmbBase = "gpt_neox", false, 0.25, 1 }, "rotary_emb_base must be finite and > 1"},
		{func(c *Config) { c.VocabSize = 0 }, "vocab_size must be positive"},
		{func(c *Config) { c.Head = "value" }, `head "value" is not "lm" or "scalar"`},
		{func(c *Config) { c.ScalarReadout = "max" }, `scalar_readout "max"`},
		{func(c *Config) { c.Head, c.TieWordEmbeddings = "scalar", true }, "tie_word_embeddings needs head \"lm\""},
		{func(c *Config) { c.RotaryPct = 0.25 }, "a roads-gpt model has learned positions"},
		{func(c *Config) { c.UseParallelResidual = true }, "a roads-gpt model has learned positions"},
		{func(c *Config) { c.EOSTokenID = 256 }, "eos_token_id 256 is outside"},
		{func(c *Config) { c.PadTokenID = -2 }, "pad_token_id -2 is outside"},
		{func(c *Config) { c.LayerNormEps = 0 }, "layer_norm_eps must be positive"},
		{func(c *Config) { c.InitStd = math.NaN() }, "init_std must be positive"},
	}
	for _, tc := range cases {
		c := ok
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want error containing %q, got %v", tc.want, err)
		}
	}
}

func TestConfigSaveLoad(t *testing.T) {
	dir := t.TempDir()
	c := NewConfig(300, 32, 64, 3, 4)
	c.Head, c.ScalarReadout, c.EOSTokenID, c.PadTokenID = "scalar", "mean", 7, 8
	path := filepath.Join(dir, "config.json")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, key := range []string{`"model_type": "roads-gpt"`, `"d_ff": 256`, `"scalar_readout": "mean"`, `"rotary_pct": 0`, `"use_parallel_residual": false`, `"tie_word_embeddings": false`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("config.json lacks %s:\n%s", key, raw)
		}
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Fatalf("round trip: %+v != %+v", got, c)
	}
	// Missing fields take defaults.
	os.WriteFile(path, []byte(`{"model_type":"roads-gpt","vocab_size":10,"n_positions":4,"d_model":8,"n_layer":1,"n_head":2}`), 0o644)
	got, err = LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.DFF != 32 || got.LayerNormEps != 1e-5 || got.Head != "lm" || got.EOSTokenID != -1 || got.InitStd != 0.02 {
		t.Fatalf("defaults not applied: %+v", got)
	}
	os.WriteFile(path, []byte(`{"model_type":"roads-gpt","vocab_size":10,"n_positions":4,"d_model":8,"n_layer":1,"n_head":2,"n_embd":8}`), 0o644)
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), `unknown field "n_embd"`) || !strings.Contains(err.Error(), path) {
		t.Fatalf("unknown field: %v", err)
	}
	os.WriteFile(path, []byte(`{"model_type":"roads-gpt","vocab_size":10,"n_positions":4,"d_model":8,"n_layer":1,"n_head":3}`), 0o644)
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "d_model 8 is not divisible by n_head 3") {
		t.Fatalf("invalid config: %v", err)
	}
}

func TestParamsNamesShapesAndCount(t *testing.T) {
	c := NewConfig(256, 64, 128, 2, 4)
	m := newTestModel(t, c, 0)
	ps := m.Params()
	want := []string{"wte.weight", "wpe.weight"}
	for i := 0; i < 2; i++ {
		p := "h." + string(rune('0'+i)) + "."
		want = append(want, p+"ln_1.weight", p+"ln_1.bias",
			p+"attn.q_proj.weight", p+"attn.q_proj.bias", p+"attn.k_proj.weight", p+"attn.k_proj.bias",
			p+"attn.v_proj.weight", p+"attn.v_proj.bias", p+"attn.o_proj.weight", p+"attn.o_proj.bias",
			p+"ln_2.weight", p+"ln_2.bias", p+"mlp.fc_in.weight", p+"mlp.fc_in.bias", p+"mlp.fc_out.weight", p+"mlp.fc_out.bias")
	}
	want = append(want, "ln_f.weight", "ln_f.bias", "lm_head.weight", "lm_head.bias")
	var names []string
	total := 0
	for _, p := range ps {
		names = append(names, p.Name)
		n := 1
		for _, s := range p.Shape {
			n *= s
		}
		if n != len(p.Data) || len(p.Grad) != len(p.Data) {
			t.Errorf("%s: shape %v but %d values, %d grads", p.Name, p.Shape, len(p.Data), len(p.Grad))
		}
		total += n
	}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("names:\n%v\nwant\n%v", names, want)
	}
	// The PyTorch peer (torch_gpt.py) has 470,784 parameters at this size.
	if total != 470784 || m.NumParams() != 470784 {
		t.Fatalf("parameter count %d (NumParams %d), PyTorch peer has 470784", total, m.NumParams())
	}
	shape := map[string][]int{}
	for _, p := range ps {
		shape[p.Name] = p.Shape
	}
	if !reflect.DeepEqual(shape["h.1.mlp.fc_in.weight"], []int{512, 128}) || !reflect.DeepEqual(shape["h.0.mlp.fc_out.weight"], []int{128, 512}) ||
		!reflect.DeepEqual(shape["lm_head.weight"], []int{256, 128}) || !reflect.DeepEqual(shape["wpe.weight"], []int{64, 128}) {
		t.Fatalf("Linear shapes must be [out,in]: %v", shape)
	}
	// Tied: no lm_head tensors; scalar: score tensors.
	c.TieWordEmbeddings = true
	tied := newTestModel(t, c, 0).Params()
	if last := tied[len(tied)-1].Name; last != "ln_f.bias" {
		t.Fatalf("tied model ends with %s", last)
	}
	c.TieWordEmbeddings, c.Head = false, "scalar"
	sc := newTestModel(t, c, 0).Params()
	if sc[len(sc)-2].Name != "score.weight" || !reflect.DeepEqual(sc[len(sc)-2].Shape, []int{1, 128}) || sc[len(sc)-1].Name != "score.bias" {
		t.Fatalf("scalar head params: %v %v", sc[len(sc)-2], sc[len(sc)-1].Name)
	}
}

func TestInitStatistics(t *testing.T) {
	c := NewConfig(256, 64, 128, 2, 4)
	m := newTestModel(t, c, 5)
	for _, p := range m.Params() {
		var s, ss float64
		for _, v := range p.Data {
			s += float64(v)
			ss += float64(v) * float64(v)
		}
		n := float64(len(p.Data))
		mean, std := s/n, math.Sqrt(ss/n-(s/n)*(s/n))
		switch {
		case strings.HasSuffix(p.Name, ".bias"):
			if ss != 0 {
				t.Errorf("%s not zero", p.Name)
			}
		case strings.Contains(p.Name, "ln_"):
			if mean != 1 || std != 0 {
				t.Errorf("%s: mean %g std %g, want ones", p.Name, mean, std)
			}
		default:
			want := 0.02
			if strings.Contains(p.Name, "o_proj") || strings.Contains(p.Name, "fc_out") {
				want = 0.02 / 2 // 1/√(2·n_layer) with 2 layers
			}
			if math.Abs(std-want) > 0.05*want || math.Abs(mean) > 0.1*want {
				t.Errorf("%s: mean %g std %g, want N(0, %g)", p.Name, mean, std, want)
			}
		}
	}
	// Same seed, same weights; different seed, different weights.
	a, b, d := newTestModel(t, c, 5), newTestModel(t, c, 5), newTestModel(t, c, 6)
	if !reflect.DeepEqual(a.data, b.data) || reflect.DeepEqual(a.data, d.data) {
		t.Fatal("initialisation is not a function of the seed")
	}
}

func TestForwardErrors(t *testing.T) {
	m := newTestModel(t, testConfig("lm"), 1)
	cases := []struct {
		b    Batch
		want string
	}{
		{Batch{}, "empty batch"},
		{Batch{Tokens: [][]int32{{1, 2}, {}}}, "sequence 1 is empty"},
		{Batch{Tokens: [][]int32{{1, 11}}}, "sequence 0, position 1: token 11 outside [0, vocab_size 11)"},
		{Batch{Tokens: [][]int32{{1, 2}}, PromptLen: []int{3}}, "prompt length 3 outside [0, 2]"},
		{Batch{Tokens: [][]int32{{1, 2}}, PromptLen: []int{0, 0}}, "2 prompt lengths for 1 sequences"},
		{Batch{Tokens: [][]int32{make([]int32, 10)}}, "sequence 0 has 10 tokens, more than the model's limit 9"},
	}
	for _, tc := range cases {
		if _, err := m.Forward(tc.b, ForwardOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
	// An LM reads at most n_positions+1 tokens (the last is only a target).
	if _, err := m.Forward(Batch{Tokens: [][]int32{make([]int32, 9)}}, ForwardOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := m.BackwardScalar(nil, nil); err == nil || !strings.Contains(err.Error(), "needs head \"scalar\"") {
		t.Fatalf("BackwardScalar on LM: %v", err)
	}
	if err := m.Backward(make([]float32, 3), nil); err == nil || !strings.Contains(err.Error(), "want B·T = 9") {
		t.Fatalf("wrong gradient length: %v", err)
	}
	ref := m.Clone()
	ref.Freeze()
	if _, err := ref.Forward(testBatch(), ForwardOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ref.Backward(nil, nil); err == nil || !strings.Contains(err.Error(), "frozen") {
		t.Fatalf("frozen backward: %v", err)
	}
	sc := newTestModel(t, testConfig("scalar"), 1)
	if _, err := sc.Forward(Batch{Tokens: [][]int32{make([]int32, 9)}}, ForwardOptions{}); err == nil || !strings.Contains(err.Error(), "limit 8") {
		t.Fatalf("scalar head length limit: %v", err)
	}
	c := testConfig("scalar")
	c.ScalarReadout = "mean"
	sc = newTestModel(t, c, 1)
	if _, err := sc.Forward(Batch{Tokens: [][]int32{{1, 2}}, PromptLen: []int{2}}, ForwardOptions{}); err == nil || !strings.Contains(err.Error(), "no response tokens") {
		t.Fatalf("mean readout without response: %v", err)
	}
}

// The pad id written into the padded positions must not change any output of
// a valid token, bit for bit.
func TestPaddingDoesNotChangeValidOutputs(t *testing.T) {
	for _, head := range []string{"lm", "scalar"} {
		c := testConfig(head)
		c.PadTokenID = 0
		m0 := newRandomModel(t, c, 4)
		c.PadTokenID = 5
		m5 := newRandomModel(t, c, 4)
		b := testBatch()
		o0, err := m0.Forward(b, ForwardOptions{ScoreAll: true})
		if err != nil {
			t.Fatal(err)
		}
		T0 := o0.T // o0 is overwritten by the next Forward
		lp0, sc0 := append([]float32(nil), o0.LogProbs...), append([]float32(nil), o0.Scores...)
		ent0, ro0 := append([]float32(nil), o0.Entropy...), append([]float64(nil), o0.Readout...)
		o5, _ := m5.Forward(b, ForwardOptions{ScoreAll: true})
		if !reflect.DeepEqual(lp0, o5.LogProbs) || !reflect.DeepEqual(sc0, o5.Scores) || !reflect.DeepEqual(ent0, o5.Entropy) || !reflect.DeepEqual(ro0, o5.Readout) {
			t.Fatalf("%s: outputs depend on the pad id", head)
		}
		// A sequence alone gives the same values as inside a padded batch (to
		// round-off: matrix products over more rows may sum in another order).
		alone, _ := m0.Forward(Batch{Tokens: b.Tokens[1:2], PromptLen: b.PromptLen[1:2]}, ForwardOptions{ScoreAll: true})
		for tk := 0; tk < alone.T; tk++ {
			if d := math.Abs(float64(alone.LogProbs[tk] - lp0[1*T0+tk])); d > 1e-5 {
				t.Fatalf("%s: token %d log-prob alone vs batched differs by %g", head, tk, d)
			}
			if d := math.Abs(float64(alone.Scores[tk] - sc0[1*T0+tk])); d > 1e-5 {
				t.Fatalf("%s: token %d score alone vs batched differs by %g", head, tk, d)
			}
		}
	}
}

func TestOutputMasksAndSums(t *testing.T) {
	m := newTestModel(t, testConfig("lm"), 1)
	b := testBatch()
	o, err := m.Forward(b, ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o.B != 4 || o.T != 7 {
		t.Fatalf("B, T = %d, %d", o.B, o.T)
	}
	for i, row := range b.Tokens {
		var sum float64
		n := 0
		for tk := 0; tk < o.T; tk++ {
			k := i*o.T + tk
			scored := tk < len(row) && tk >= max(1, b.PromptLen[i])
			if (o.Mask[k] == 1) != scored {
				t.Fatalf("seq %d token %d: mask %g, want scored=%v", i, tk, o.Mask[k], scored)
			}
			if !scored && (o.LogProbs[k] != 0 || o.Entropy[k] != 0) {
				t.Fatalf("seq %d token %d: unscored entry not zero", i, tk)
			}
			if scored {
				if o.LogProbs[k] > 0 || o.Entropy[k] < 0 || float64(o.Entropy[k]) > math.Log(11)+1e-5 {
					t.Fatalf("seq %d token %d: log-prob %g, entropy %g out of range", i, tk, o.LogProbs[k], o.Entropy[k])
				}
				sum += float64(o.LogProbs[k])
				n++
			}
		}
		if math.Abs(sum-o.SeqLogProb[i]) > 1e-9 || n != o.NumScored[i] {
			t.Fatalf("seq %d: sum %g vs SeqLogProb %g, %d vs %d tokens", i, sum, o.SeqLogProb[i], n, o.NumScored[i])
		}
	}
}

// trainLM runs steps of mean-NLL training (all positions) with Adam and
// returns the loss of each step.
func trainLM(t *testing.T, m *Model, b Batch, steps int, lr float64) []float64 {
	t.Helper()
	opt, err := engine.NewAdamW(m.Params(), engine.DefaultAdamW(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var losses []float64
	for s := 0; s < steps; s++ {
		m.ZeroGrad()
		o, err := m.Forward(b, ForwardOptions{ScoreAll: true})
		if err != nil {
			t.Fatal(err)
		}
		var cnt float32
		for _, v := range o.Mask {
			cnt += v
		}
		d := make([]float32, len(o.Mask))
		var loss float64
		for k, v := range o.Mask {
			d[k] = -v / cnt
			loss -= float64(o.LogProbs[k])
		}
		losses = append(losses, loss/float64(cnt))
		if err := m.Backward(d, nil); err != nil {
			t.Fatal(err)
		}
		engine.ClipGradNorm(m.Params(), 1.0)
		opt.Step(lr)
	}
	return losses
}

func TestOverfitTinyCorpus(t *testing.T) {
	c := NewConfig(20, 16, 32, 2, 4)
	m := newTestModel(t, c, 7)
	b := Batch{Tokens: [][]int32{
		{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
		{3, 5, 7, 9, 11, 13, 15, 17},
		{19, 18, 17, 16, 15, 14, 13, 12, 11, 10},
		{4, 4, 8, 8, 15, 16, 3, 2},
	}}
	losses := trainLM(t, m, b, 150, 1e-2)
	if first, last := losses[0], losses[len(losses)-1]; !(last < 0.02) || !(first > 2.5) {
		t.Fatalf("loss %g → %g; want from ≈ln 20 to < 0.02", first, last)
	}
}

func TestOverfitBradleyTerry(t *testing.T) {
	// Chosen sequences contain more 3s than rejected ones.
	c := NewConfig(8, 12, 32, 2, 4)
	c.Head = "scalar"
	m := newTestModel(t, c, 8)
	rng := engine.NewRNG(11)
	var chosen, rejected [][]int32
	for len(chosen) < 16 {
		a, b := make([]int32, 4+rng.IntN(8)), make([]int32, 4+rng.IntN(8))
		na, nb := 0, 0
		for i := range a {
			a[i] = int32(rng.IntN(8))
			if a[i] == 3 {
				na++
			}
		}
		for i := range b {
			b[i] = int32(rng.IntN(8))
			if b[i] == 3 {
				nb++
			}
		}
		switch {
		case na > nb:
			chosen, rejected = append(chosen, a), append(rejected, b)
		case nb > na:
			chosen, rejected = append(chosen, b), append(rejected, a)
		}
	}
	batch := Batch{Tokens: append(append([][]int32{}, chosen...), rejected...)}
	opt, _ := engine.NewAdamW(m.Params(), engine.DefaultAdamW(), nil)
	P := len(chosen)
	accuracy := 0.0
	for step := 0; step < 300; step++ {
		m.ZeroGrad()
		o, err := m.Forward(batch, ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dr := make([]float64, 2*P)
		correct := 0
		for i := 0; i < P; i++ {
			margin := o.Readout[i] - o.Readout[P+i]
			if margin > 0 {
				correct++
			}
			g := -1 / (1 + math.Exp(margin)) / float64(P) // d/dmargin of −log σ(margin), averaged
			dr[i] += g
			dr[P+i] -= g
		}
		accuracy = float64(correct) / float64(P)
		if accuracy == 1 && step > 20 {
			break
		}
		if err := m.BackwardScalar(dr, nil); err != nil {
			t.Fatal(err)
		}
		opt.Step(3e-3)
	}
	if accuracy != 1 {
		t.Fatalf("Bradley–Terry training accuracy %g, want 1", accuracy)
	}
}

// Same seed and thread count ⇒ identical losses, gradients and weights; the
// ops are also designed to give identical results across thread counts.
func TestDeterminism(t *testing.T) {
	run := func(threads int) ([]float64, []float32, []float32) {
		old := engine.Threads()
		engine.SetThreads(threads)
		defer engine.SetThreads(old)
		c := NewConfig(20, 16, 32, 2, 4)
		m := newTestModel(t, c, 3)
		losses := trainLM(t, m, testBatch(), 3, 1e-2)
		return losses, append([]float32(nil), m.grad...), append([]float32(nil), m.data...)
	}
	l1, g1, w1 := run(2)
	l2, g2, w2 := run(2)
	if !reflect.DeepEqual(l1, l2) || !reflect.DeepEqual(g1, g2) || !reflect.DeepEqual(w1, w2) {
		t.Fatal("two identical runs differ")
	}
	l3, g3, w3 := run(1)
	if !reflect.DeepEqual(l1, l3) || !reflect.DeepEqual(g1, g3) || !reflect.DeepEqual(w1, w3) {
		t.Fatal("1 and 2 threads differ")
	}
}

func TestCloneFreezeAndAccumulation(t *testing.T) {
	m := newTestModel(t, testConfig("lm"), 1)
	b := testBatch()
	grads := func() []float32 {
		o, _ := m.Forward(b, ForwardOptions{})
		if err := m.Backward(o.Mask, nil); err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), m.grad...)
	}
	m.ZeroGrad()
	g1 := grads()
	g2 := grads() // accumulates: twice the first
	for i := range g1 {
		if math.Abs(float64(g2[i]-2*g1[i])) > 1e-6*(1+math.Abs(float64(g1[i]))) {
			t.Fatalf("grad %d: %g after two passes, %g after one", i, g2[i], g1[i])
		}
	}
	c := m.Clone()
	if c.Frozen() || !reflect.DeepEqual(c.data, m.data) {
		t.Fatal("clone differs or is frozen")
	}
	for _, v := range c.grad {
		if v != 0 {
			t.Fatal("clone's gradients are not zero")
		}
	}
	c.data[0]++
	if c.data[0] == m.data[0] {
		t.Fatal("clone shares storage")
	}
	c.Freeze()
	if !c.Frozen() || c.Params()[0].Grad != nil || !c.Clone().Frozen() {
		t.Fatal("freeze")
	}
	if err := c.CopyWeightsFrom(m); err != nil || c.data[0] != m.data[0] {
		t.Fatalf("CopyWeightsFrom: %v", err)
	}
	if err := c.CopyWeightsFrom(newTestModel(t, testConfig("scalar"), 1)); err == nil {
		t.Fatal("CopyWeightsFrom accepted another config")
	}
	if DecayParam("h.0.ln_1.weight") || DecayParam("h.0.attn.q_proj.bias") || !DecayParam("h.0.mlp.fc_in.weight") || !DecayParam("wte.weight") {
		t.Fatal("DecayParam")
	}
}
