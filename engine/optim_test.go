package engine

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func testParams(r *rand.Rand) []Param {
	mk := func(name string, shape ...int) Param {
		n := 1
		for _, s := range shape {
			n *= s
		}
		return Param{Name: name, Shape: shape, Data: randVec(r, n, 1), Grad: randVec(r, n, 1)}
	}
	return []Param{mk("a.weight", 100, 90), mk("a.bias", 7), mk("b.weight", 3, 4)}
}

// TestAdamWMatchesReference runs 5 steps against a float64 transcription of
// torch.optim.AdamW's update, with decay on for weights and off for biases.
func TestAdamWMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	params := testParams(r)
	cfg := AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-6, WeightDecay: 0.1}
	decay := func(name string) bool { return !strings.HasSuffix(name, ".bias") }
	opt, err := NewAdamW(params, cfg, decay)
	if err != nil {
		t.Fatal(err)
	}
	type ref struct{ w, m, v []float64 }
	refs := make([]ref, len(params))
	for i, p := range params {
		refs[i] = ref{to64(p.Data), make([]float64, len(p.Data)), make([]float64, len(p.Data))}
	}
	lrs := []float64{1e-3, 2e-3, 5e-4, 1e-2, 1e-3}
	for step, lr := range lrs {
		for _, p := range params {
			for j := range p.Grad {
				p.Grad[j] = float32(r.NormFloat64())
			}
		}
		opt.Step(lr)
		tt := float64(step + 1)
		for i, p := range params {
			rf := refs[i]
			for j := range rf.w {
				g := float64(p.Grad[j])
				if decay(p.Name) {
					rf.w[j] *= 1 - lr*cfg.WeightDecay
				}
				rf.m[j] = cfg.Beta1*rf.m[j] + (1-cfg.Beta1)*g
				rf.v[j] = cfg.Beta2*rf.v[j] + (1-cfg.Beta2)*g*g
				denom := math.Sqrt(rf.v[j])/math.Sqrt(1-math.Pow(cfg.Beta2, tt)) + cfg.Eps
				rf.w[j] -= lr / (1 - math.Pow(cfg.Beta1, tt)) * rf.m[j] / denom
			}
			checkForward(t, p.Name, p.Data, rf.w, 1e-5)
		}
	}
	if opt.Steps() != len(lrs) {
		t.Fatalf("Steps() = %d, want %d", opt.Steps(), len(lrs))
	}
}

// The first Adam step moves every parameter by lr·sign(g) (m̂/√v̂ = g/|g|).
func TestAdamFirstStepIsSignStep(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	params := testParams(r)
	for _, p := range params { // keep |g| ≫ eps so that the step is lr·sign(g) to float32 precision
		for j, g := range p.Grad {
			p.Grad[j] = float32(math.Copysign(0.01+math.Abs(float64(g)), float64(g)))
		}
	}
	before := make([][]float32, len(params))
	for i, p := range params {
		before[i] = append([]float32(nil), p.Data...)
	}
	opt, err := NewAdamW(params, DefaultAdamW(), nil)
	if err != nil {
		t.Fatal(err)
	}
	opt.Step(0.01)
	for i, p := range params {
		for j := range p.Data {
			want := before[i][j] - float32(0.01*math.Copysign(1, float64(p.Grad[j])))
			if math.Abs(float64(p.Data[j]-want)) > 1e-6 {
				t.Fatalf("%s[%d]: %g, want %g", p.Name, j, p.Data[j], want)
			}
		}
	}
}

func TestAdamWStateRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	p1 := testParams(r)
	p2 := make([]Param, len(p1))
	for i, p := range p1 {
		p2[i] = Param{Name: p.Name, Shape: p.Shape, Data: append([]float32(nil), p.Data...), Grad: p.Grad}
	}
	o1, _ := NewAdamW(p1, DefaultAdamW(), nil)
	o1.Step(1e-3)
	o1.Step(1e-3)
	for i := range p1 { // p2 catches up to p1's weights, then takes o1's state
		copy(p2[i].Data, p1[i].Data)
	}
	o2, _ := NewAdamW(p2, DefaultAdamW(), nil)
	step, state := o1.State()
	if err := o2.LoadState(step, state); err != nil {
		t.Fatal(err)
	}
	o1.Step(1e-3)
	o2.Step(1e-3)
	for i := range p1 {
		for j := range p1[i].Data {
			if p1[i].Data[j] != p2[i].Data[j] {
				t.Fatalf("%s[%d] differs after restoring state", p1[i].Name, j)
			}
		}
	}
	if err := o2.LoadState(1, state[1:]); err == nil || !strings.Contains(err.Error(), "missing tensor a.weight.exp_avg") {
		t.Fatalf("missing tensor: got %v", err)
	}
	bad := append([]Tensor(nil), state...)
	bad[0].Shape = []int{9000}
	if err := o2.LoadState(1, bad); err == nil || !strings.Contains(err.Error(), "a.weight.exp_avg has shape [9000]") {
		t.Fatalf("bad shape: got %v", err)
	}
	if err := o2.LoadState(1, append(state, Tensor{Name: "zzz"})); err == nil || !strings.Contains(err.Error(), "unknown tensors zzz") {
		t.Fatalf("extra tensor: got %v", err)
	}
	if _, err := NewAdamW([]Param{{Name: "frozen", Data: []float32{1}}}, DefaultAdamW(), nil); err == nil || !strings.Contains(err.Error(), "frozen") {
		t.Fatalf("frozen param: got %v", err)
	}
}

func TestClipGradNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	forThreads(t, func(t *testing.T) {
		params := testParams(r)
		var ss float64
		for _, p := range params {
			for _, g := range p.Grad {
				ss += float64(g) * float64(g)
			}
		}
		want := math.Sqrt(ss)
		if got := ClipGradNorm(params, 2*want); math.Abs(got-want) > 1e-9*want {
			t.Fatalf("norm %v, want %v", got, want)
		}
		if got := GradNorm(params); math.Abs(got-want) > 1e-9*want {
			t.Fatalf("unclipped norm changed: %v, want %v", got, want)
		}
		if got := ClipGradNorm(params, 1.5); math.Abs(got-want) > 1e-9*want {
			t.Fatalf("pre-clip norm %v, want %v", got, want)
		}
		if got := GradNorm(params); math.Abs(got-1.5) > 1e-5 {
			t.Fatalf("norm after clipping to 1.5 is %v", got)
		}
	})
}

func TestSchedules(t *testing.T) {
	cases := []struct {
		s    Schedule
		step int
		want float64
	}{
		{Schedule{"constant", 0, 0}, 0, 1},
		{Schedule{"constant", 4, 0}, 1, 0.25},
		{Schedule{"constant_with_warmup", 4, 0}, 9, 1},
		{Schedule{"linear", 10, 110}, 0, 0},
		{Schedule{"linear", 10, 110}, 5, 0.5},
		{Schedule{"linear", 10, 110}, 10, 1},
		{Schedule{"linear", 10, 110}, 60, 0.5},
		{Schedule{"linear", 10, 110}, 110, 0},
		{Schedule{"linear", 10, 110}, 200, 0},
		{Schedule{"cosine", 10, 110}, 60, 0.5},
		{Schedule{"cosine", 10, 110}, 35, 0.5 * (1 + math.Cos(math.Pi/4))},
		{Schedule{"cosine", 0, 100}, 100, 0},
	}
	for _, c := range cases {
		if err := c.s.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := c.s.Factor(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%+v step %d: %v, want %v", c.s, c.step, got, c.want)
		}
	}
	if err := (Schedule{Kind: "exp"}).Validate(); err == nil || !strings.Contains(err.Error(), `unknown kind "exp"`) {
		t.Fatalf("bad kind: %v", err)
	}
	if err := (Schedule{Kind: "cosine"}).Validate(); err == nil || !strings.Contains(err.Error(), "total steps") {
		t.Fatalf("cosine without total: %v", err)
	}
}

func TestRNGSerialisation(t *testing.T) {
	a := NewRNG(42)
	for i := 0; i < 10; i++ {
		a.Uint64()
	}
	state, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var b RNG
	if err := b.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	c := a.Clone()
	for i := 0; i < 100; i++ {
		x, y, z := a.NormFloat64(), b.NormFloat64(), c.NormFloat64()
		if x != y || x != z {
			t.Fatalf("draw %d: %v, %v, %v", i, x, y, z)
		}
	}
	if NewRNG(1).Uint64() == NewRNG(2).Uint64() {
		t.Fatal("seeds 1 and 2 give the same first draw")
	}
	if NewRNG(7).Uint64() != NewRNG(7).Uint64() {
		t.Fatal("same seed, different draws")
	}
	if err := b.UnmarshalBinary([]byte("junk")); err == nil {
		t.Fatal("junk state accepted")
	}
}
