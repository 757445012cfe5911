package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Whole-model gradient checks. The model runs in float32, so the finite
// differences use a fourth-order central stencil
//
//	f'(x) ≈ [8(f(x+h) − f(x−h)) − (f(x+2h) − f(x−2h))] / 12h,  h = 1e-2,
//
// whose truncation error O(h⁴) is negligible, while the float32 noise of the
// loss (≈ 1e-6 absolute for losses of order 1) divided by h stays ≈ 1e-4.
// Hence the tolerance |analytic − numeric| ≤ 5e-4 + 1e-2·|numeric|. A wrong
// index or a missing term gives errors of the order of the gradient itself
// (0.01–1 here, with init_std 0.3 so that attention is far from uniform).

func testConfig(head string) Config {
	c := NewConfig(11, 8, 8, 2, 2)
	c.DFF = 12 // not 4·d_model, so that mixing up the widths fails
	c.InitStd = 0.3
	c.Head = head
	c.PadTokenID = 10
	c.EOSTokenID = 9
	return c
}

// archConfigs are testConfig(head) in each architecture family: roads-gpt,
// Hugging Face GPT-2 (tied LM head, no head bias) and GPT-NeoX (rotary on
// part or all of each head, parallel or sequential residual, exact GELU,
// untied head without bias).
func archConfigs(head string) map[string]Config {
	out := map[string]Config{"roads-gpt": testConfig(head)}
	g := testConfig(head)
	g.ModelType, g.HeadBias, g.TieWordEmbeddings = TypeGPT2, false, head == "lm"
	out["gpt2"] = g
	for _, v := range []struct {
		name     string
		pct      float64
		parallel bool
	}{{"gpt_neox", 0.5, true}, {"gpt_neox full rotary sequential", 1, false}} {
		n := testConfig(head)
		n.ModelType, n.HeadBias, n.Activation = TypeGPTNeoX, false, "gelu"
		n.RotaryPct, n.RotaryEmbBase, n.UseParallelResidual = v.pct, 100, v.parallel
		out[v.name] = n
	}
	return out
}

func testBatch() Batch {
	return Batch{
		Tokens: [][]int32{
			{1, 2, 3, 4, 5, 6, 7},
			{3, 1, 4, 1},
			{2, 7, 1, 8, 2, 8},
			{5, 9},
		},
		PromptLen: []int{2, 1, 3, 0},
	}
}

func newTestModel(t *testing.T, c Config, seed uint64) *Model {
	t.Helper()
	m, err := New(c, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newRandomModel is newTestModel with every parameter, biases and LayerNorm
// weights included, moved off its initial value, so that no term of the
// forward pass vanishes (zero biases would hide a dropped bias).
func newRandomModel(t *testing.T, c Config, seed uint64) *Model {
	t.Helper()
	m := newTestModel(t, c, seed)
	r := rand.New(rand.NewPCG(seed, 77))
	for i := range m.data {
		m.data[i] += float32(r.NormFloat64() * 0.1)
	}
	return m
}

// checkModelGrad compares m's analytic gradient (after ZeroGrad, loss,
// backward) with finite differences of loss on up to 6 entries of every
// parameter tensor, plus one random direction across all parameters.
func checkModelGrad(t *testing.T, m *Model, loss func() float64, backward func()) {
	t.Helper()
	m.ZeroGrad()
	loss()
	backward()
	r := rand.New(rand.NewPCG(99, 1))
	const h = 1e-2
	deriv := func(set func(eps float32)) float64 {
		f := func(e float32) float64 { set(e); return loss() }
		d := (8*(f(h)-f(-h)) - (f(2*h) - f(-2*h))) / (12 * h)
		set(0)
		return d
	}
	bad, worst := 0, 0.0
	for _, p := range m.Params() {
		idx := r.Perm(len(p.Data))
		if len(idx) > 6 {
			idx = idx[:6]
		}
		for _, j := range idx {
			old := p.Data[j]
			num := deriv(func(e float32) { p.Data[j] = old + e })
			p.Data[j] = old
			a := float64(p.Grad[j])
			worst = math.Max(worst, math.Abs(a-num)/(5e-4+1e-2*math.Abs(num)))
			if math.Abs(a-num) > 5e-4+1e-2*math.Abs(num) {
				bad++
				t.Errorf("%s[%d]: analytic %.6g, numeric %.6g", p.Name, j, a, num)
			}
		}
	}
	// Directional derivative along a random unit direction u: Σ g·u.
	base := append([]float32(nil), m.data...)
	u := make([]float64, len(m.data))
	var norm, dirA float64
	for i := range u {
		u[i] = r.NormFloat64()
		norm += u[i] * u[i]
	}
	norm = math.Sqrt(norm)
	for i := range u {
		u[i] /= norm
		dirA += u[i] * float64(m.grad[i])
	}
	dirN := deriv(func(e float32) {
		for i := range m.data {
			m.data[i] = base[i] + e*float32(u[i])
		}
	})
	copy(m.data, base)
	if math.Abs(dirA-dirN) > 5e-4+1e-2*math.Abs(dirN) {
		t.Errorf("directional derivative: analytic %.6g, numeric %.6g", dirA, dirN)
	}
	if bad > 0 {
		t.Errorf("%d gradient entries differ", bad)
	}
	t.Logf("worst error / tolerance = %.3f; directional %.6g vs %.6g", worst, dirA, dirN)
}

func TestGradLMAllPositions(t *testing.T) {
	cfgs := archConfigs("lm")
	tied := testConfig("lm")
	tied.TieWordEmbeddings = true
	cfgs["roads-gpt tied"] = tied
	for name, c := range cfgs {
		t.Run(name, func(t *testing.T) {
			m := newRandomModel(t, c, 1)
			b := testBatch()
			var out *Output
			loss := func() float64 { // mean next-token NLL over all positions
				var err error
				out, err = m.Forward(b, ForwardOptions{ScoreAll: true})
				if err != nil {
					t.Fatal(err)
				}
				var s, cnt float64
				for k, lp := range out.LogProbs {
					s -= float64(lp)
					cnt += float64(out.Mask[k])
				}
				return s / cnt
			}
			backward := func() {
				d := make([]float32, len(out.Mask))
				var cnt float32
				for _, v := range out.Mask {
					cnt += v
				}
				for k, v := range out.Mask {
					d[k] = -v / cnt
				}
				if err := m.Backward(d, nil); err != nil {
					t.Fatal(err)
				}
			}
			checkModelGrad(t, m, loss, backward)
		})
	}
}

// A DPO-like loss on the per-sequence response log-prob sums (different
// prompt lengths, padding) plus an entropy bonus at the response tokens.
func TestGradSequenceLogProbsAndEntropy(t *testing.T) {
	m := newRandomModel(t, testConfig("lm"), 2)
	b := testBatch()
	coef := []float64{0.7, -1.3, 0.4, 2.0}
	ent := 0.3
	var out *Output
	loss := func() float64 {
		var err error
		out, err = m.Forward(b, ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for i, v := range out.SeqLogProb {
			s += coef[i] * v
		}
		for k, e := range out.Entropy {
			s += ent * float64(e*out.Mask[k])
		}
		return s
	}
	backward := func() {
		dlp := make([]float32, len(out.Mask))
		dent := make([]float32, len(out.Mask))
		for k := range dlp {
			dlp[k] = float32(coef[k/out.T]) * out.Mask[k]
			dent[k] = float32(ent) * out.Mask[k]
		}
		if err := m.Backward(dlp, dent); err != nil {
			t.Fatal(err)
		}
	}
	checkModelGrad(t, m, loss, backward)
}

// Bradley–Terry loss −log σ(r_chosen − r_rejected) on the readout, with each
// readout, plus a per-token score term (value-head style).
func TestGradRewardModel(t *testing.T) {
	for arch, base := range archConfigs("scalar") {
		for _, readout := range []string{"last", "sum", "mean"} {
			if arch != "roads-gpt" && readout != "last" {
				continue // the readouts are head code, shared by every trunk
			}
			t.Run(arch+"/"+readout, func(t *testing.T) {
				c := base
				c.ScalarReadout = readout
				m := newRandomModel(t, c, 3)
				b := testBatch()
				b.PromptLen[3] = 1 // "mean" needs a response in every sequence
				// A row ending in PAD: "last" reads the last non-pad token.
				b.Tokens = append(b.Tokens, []int32{2, 3, int32(c.PadTokenID), int32(c.PadTokenID)})
				b.PromptLen = append(b.PromptLen, 1)
				pairs := [][2]int{{0, 1}, {2, 3}, {1, 2}, {4, 0}}
				var out *Output
				logSigmoid := func(x float64) float64 { return -math.Log1p(math.Exp(-x)) }
				loss := func() float64 {
					var err error
					out, err = m.Forward(b, ForwardOptions{})
					if err != nil {
						t.Fatal(err)
					}
					var s float64
					for _, p := range pairs {
						s -= logSigmoid(out.Readout[p[0]] - out.Readout[p[1]])
					}
					for k, v := range out.Scores { // value-head-style term
						s += 0.1 * float64(v*v*out.Mask[k])
					}
					return s
				}
				backward := func() {
					dr := make([]float64, out.B)
					for _, p := range pairs {
						g := -(1 - 1/(1+math.Exp(-(out.Readout[p[0]]-out.Readout[p[1]]))))
						dr[p[0]] += g
						dr[p[1]] -= g
					}
					ds := make([]float32, len(out.Scores))
					for k, v := range out.Scores {
						ds[k] = 0.2 * v * out.Mask[k]
					}
					if err := m.BackwardScalar(dr, ds); err != nil {
						t.Fatal(err)
					}
				}
				checkModelGrad(t, m, loss, backward)
			})
		}
	}
}
