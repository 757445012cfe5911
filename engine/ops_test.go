package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Each op is checked twice against a float64 reference written independently
// below: (1) the float32 forward matches the reference forward, and (2) the
// float32 backward matches central finite differences of the float64
// reference loss L = Σ w·out (h = 1e-6, truncation and round-off error of the
// difference ≈ 1e-9, so the comparison measures only the float32 kernel).
// The tolerance |analytic − numeric| ≤ 1e-4 + 1e-3·|numeric| leaves room for
// float32 round-off (≈ 6e-8 relative per operation, summed over ≤ 100 terms)
// while any indexing or formula error shows up as an O(1) relative mismatch.

func randVec(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

func to64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func dot64(a []float64, b []float32) float64 {
	var s float64
	for i := range a {
		s += a[i] * float64(b[i])
	}
	return s
}

// numGrad returns ∂loss/∂x[i] by central differences, perturbing x in place.
func numGrad(x []float64, i int, loss func() float64) float64 {
	const h = 1e-6
	old := x[i]
	x[i] = old + h
	lp := loss()
	x[i] = old - h
	lm := loss()
	x[i] = old
	return (lp - lm) / (2 * h)
}

func close32(a float32, n float64) bool {
	return math.Abs(float64(a)-n) <= 1e-4+1e-3*math.Abs(n)
}

// checkGrad compares analytic[i] (minus base[i], for accumulating ops) with
// the numeric gradient for every element of x.
func checkGrad(t *testing.T, name string, x []float64, analytic, base []float32, loss func() float64) {
	t.Helper()
	bad := 0
	for i := range x {
		a := analytic[i]
		if base != nil {
			a -= base[i]
		}
		n := numGrad(x, i, loss)
		if !close32(a, n) {
			if bad < 5 {
				t.Errorf("%s[%d]: analytic %.7g, numeric %.7g", name, i, a, n)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d gradient entries differ", name, bad, len(x))
	}
}

func checkForward(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %.7g, reference %.7g", name, i, got[i], want[i])
		}
	}
}

func forThreads(t *testing.T, fn func(t *testing.T)) {
	for _, n := range []int{1, 2, 3} {
		old := Threads()
		SetThreads(n)
		fn(t)
		SetThreads(old)
	}
}

func TestEmbeddingGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const V, P, d = 5, 4, 3
	tokens := []int32{1, 3, 1, 0, 4, 1}
	pos := []int32{0, 1, 2, 0, 1, 3}
	n := len(tokens)
	wte, wpe := randVec(r, V*d, 1), randVec(r, P*d, 1)
	w := to64(randVec(r, n*d, 1))
	out := make([]float32, n*d)
	EmbeddingForward(out, tokens, pos, wte, wpe, d)
	te, pe := to64(wte), to64(wpe)
	ref := func() []float64 {
		o := make([]float64, n*d)
		for r := 0; r < n; r++ {
			for j := 0; j < d; j++ {
				o[r*d+j] = te[int(tokens[r])*d+j] + pe[int(pos[r])*d+j]
			}
		}
		return o
	}
	checkForward(t, "embedding", out, ref(), 1e-6)
	loss := func() float64 {
		var s float64
		for i, v := range ref() {
			s += w[i] * v
		}
		return s
	}
	dout := make([]float32, n*d)
	for i := range dout {
		dout[i] = float32(w[i])
	}
	forThreads(t, func(t *testing.T) {
		dwte, dwpe := randVec(r, V*d, 1), randVec(r, P*d, 1)
		base1, base2 := append([]float32(nil), dwte...), append([]float32(nil), dwpe...)
		EmbeddingBackward(dwte, dwpe, dout, tokens, pos, d)
		checkGrad(t, "dwte", te, dwte, base1, loss)
		checkGrad(t, "dwpe", pe, dwpe, base2, loss)
	})
}

func TestLayerNormGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n, d = 5, 7
	const eps = 1e-5
	x, gamma, beta := randVec(r, n*d, 2), randVec(r, d, 1), randVec(r, d, 1)
	for j := 0; j < d; j++ { // one nearly constant row exercises the eps path
		x[2*d+j] = 0.5 + float32(j)*1e-4
	}
	w := to64(randVec(r, n*d, 1))
	x64, g64, b64 := to64(x), to64(gamma), to64(beta)
	ref := func() []float64 {
		o := make([]float64, n*d)
		for r := 0; r < n; r++ {
			var m, v float64
			for j := 0; j < d; j++ {
				m += x64[r*d+j]
			}
			m /= d
			for j := 0; j < d; j++ {
				v += (x64[r*d+j] - m) * (x64[r*d+j] - m)
			}
			v /= d
			for j := 0; j < d; j++ {
				o[r*d+j] = (x64[r*d+j]-m)/math.Sqrt(v+eps)*g64[j] + b64[j]
			}
		}
		return o
	}
	loss := func() float64 {
		var s float64
		for i, v := range ref() {
			s += w[i] * v
		}
		return s
	}
	forThreads(t, func(t *testing.T) {
		out, mean, rstd := make([]float32, n*d), make([]float32, n), make([]float32, n)
		LayerNormForward(out, mean, rstd, x, gamma, beta, n, d, eps)
		checkForward(t, "layernorm", out, ref(), 1e-5)
		dout := make([]float32, n*d)
		for i := range dout {
			dout[i] = float32(w[i])
		}
		dx, dg, db := randVec(r, n*d, 1), randVec(r, d, 1), randVec(r, d, 1)
		bx, bg, bb := append([]float32(nil), dx...), append([]float32(nil), dg...), append([]float32(nil), db...)
		LayerNormBackward(dx, dg, db, dout, x, mean, rstd, gamma, n, d)
		checkGrad(t, "dx", x64, dx, bx, loss)
		checkGrad(t, "dgamma", g64, dg, bg, loss)
		checkGrad(t, "dbeta", b64, db, bb, loss)
	})
}

func TestLinearGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n, in, out = 4, 5, 3
	x, wt, b := randVec(r, n*in, 1), randVec(r, out*in, 1), randVec(r, out, 1)
	wl := to64(randVec(r, n*out, 1))
	x64, w64, b64 := to64(x), to64(wt), to64(b)
	ref := func(withBias bool) []float64 {
		o := make([]float64, n*out)
		for r := 0; r < n; r++ {
			for k := 0; k < out; k++ {
				s := 0.0
				if withBias {
					s = b64[k]
				}
				for j := 0; j < in; j++ {
					s += x64[r*in+j] * w64[k*in+j]
				}
				o[r*out+k] = s
			}
		}
		return o
	}
	loss := func() float64 {
		var s float64
		for i, v := range ref(true) {
			s += wl[i] * v
		}
		return s
	}
	y := make([]float32, n*out)
	LinearForward(y, x, wt, b, n, in, out)
	checkForward(t, "linear", y, ref(true), 1e-6)
	LinearForward(y, x, wt, nil, n, in, out)
	checkForward(t, "linear without bias", y, ref(false), 1e-6)
	res := randVec(r, n*out, 1)
	LinearResidualForward(y, res, x, wt, b, n, in, out)
	want := ref(true)
	for i := range want {
		want[i] += float64(res[i])
	}
	checkForward(t, "linear residual", y, want, 1e-6)
	LinearResidualForward(y, res, x, wt, nil, n, in, out)
	want = ref(false)
	for i := range want {
		want[i] += float64(res[i])
	}
	checkForward(t, "linear residual without bias", y, want, 1e-6)
	dy := make([]float32, n*out)
	for i := range dy {
		dy[i] = float32(wl[i])
	}
	for _, acc := range []bool{false, true} {
		dx, dw, db := randVec(r, n*in, 1), randVec(r, out*in, 1), randVec(r, out, 1)
		bx, bw, bb := append([]float32(nil), dx...), append([]float32(nil), dw...), append([]float32(nil), db...)
		LinearBackward(dx, dw, db, dy, x, wt, n, in, out, acc)
		if !acc {
			bx = nil
		}
		checkGrad(t, "dx", x64, dx, bx, loss)
		checkGrad(t, "dW", w64, dw, bw, loss)
		checkGrad(t, "db", b64, db, bb, loss)
	}
}

// attentionRef is the float64 reference: causal softmax attention with keys
// j < lens[b]; padded query rows give zero.
func attentionRef(qkv []float64, lens []int, B, T, D, H int) []float64 {
	hd := D / H
	out := make([]float64, B*T*D)
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			for i := 0; i < lens[b]; i++ {
				s := make([]float64, i+1)
				mx := math.Inf(-1)
				for j := 0; j <= i; j++ {
					for c := 0; c < hd; c++ {
						s[j] += qkv[(b*T+i)*3*D+h*hd+c] * qkv[(b*T+j)*3*D+D+h*hd+c]
					}
					s[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, s[j])
				}
				var z float64
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					z += s[j]
				}
				for j := range s {
					for c := 0; c < hd; c++ {
						out[(b*T+i)*D+h*hd+c] += s[j] / z * qkv[(b*T+j)*3*D+2*D+h*hd+c]
					}
				}
			}
		}
	}
	return out
}

func TestAttentionGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const B, T, D, H = 3, 5, 8, 2
	lens := []int{5, 3, 1}
	qkv := randVec(r, B*T*3*D, 1)
	wl := to64(randVec(r, B*T*D, 1))
	for b := range lens { // the loss ignores padded rows, as the model's does
		for i := lens[b]; i < T; i++ {
			for c := 0; c < D; c++ {
				wl[(b*T+i)*D+c] = 0
			}
		}
	}
	q64 := to64(qkv)
	loss := func() float64 {
		var s float64
		for i, v := range attentionRef(q64, lens, B, T, D, H) {
			s += wl[i] * v
		}
		return s
	}
	forThreads(t, func(t *testing.T) {
		out := randVec(r, B*T*D, 1) // garbage: the op must overwrite it
		probs := make([]float32, B*H*T*T)
		AttentionForward(out, probs, qkv, lens, B, T, D, H)
		checkForward(t, "attention", out, attentionRef(q64, lens, B, T, D, H), 1e-5)
		dout := make([]float32, B*T*D)
		for i := range dout {
			dout[i] = float32(wl[i])
		}
		dqkv := randVec(r, B*T*3*D, 1)
		AttentionBackward(dqkv, dout, qkv, probs, lens, B, T, D, H)
		checkGrad(t, "dqkv", q64, dqkv, nil, loss)
	})
}

// Padding rows of qkv must not change any valid output, and padded query rows
// must give zero.
func TestAttentionPaddingInvariance(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const B, T, D, H = 2, 6, 8, 2
	lens := []int{6, 2}
	qkv := randVec(r, B*T*3*D, 1)
	out1, out2 := make([]float32, B*T*D), make([]float32, B*T*D)
	probs := make([]float32, B*H*T*T)
	AttentionForward(out1, probs, qkv, lens, B, T, D, H)
	for i := 2; i < T; i++ {
		for c := 0; c < 3*D; c++ {
			qkv[(T+i)*3*D+c] = float32(r.NormFloat64() * 100)
		}
	}
	AttentionForward(out2, probs, qkv, lens, B, T, D, H)
	for b := 0; b < B; b++ {
		for i := 0; i < T; i++ {
			for c := 0; c < D; c++ {
				k := (b*T+i)*D + c
				if i >= lens[b] && (out1[k] != 0 || out2[k] != 0) {
					t.Fatalf("padded row b=%d t=%d has output %g, %g", b, i, out1[k], out2[k])
				}
				if out1[k] != out2[k] {
					t.Fatalf("valid output b=%d t=%d changed with padding: %g vs %g", b, i, out1[k], out2[k])
				}
			}
		}
	}
}

func TestGeluGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	x := randVec(r, 300, 3)
	x[0], x[1], x[2] = 0, 12, -12
	wl := to64(randVec(r, len(x), 1))
	x64 := to64(x)
	ref := func(v float64) float64 {
		return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
	}
	out := make([]float32, len(x))
	GeluForward(out, x)
	want := make([]float64, len(x))
	for i, v := range x64 {
		want[i] = ref(v)
	}
	checkForward(t, "gelu", out, want, 1e-6)
	dout := make([]float32, len(x))
	for i := range dout {
		dout[i] = float32(wl[i])
	}
	dx := make([]float32, len(x))
	GeluBackward(dx, dout, x)
	checkGrad(t, "dx", x64, dx, nil, func() float64 {
		var s float64
		for i, v := range x64 {
			s += wl[i] * ref(v)
		}
		return s
	})
	// GeluForwardGrad's derivative times dout is the same gradient.
	out2, grad := make([]float32, len(x)), make([]float32, len(x))
	GeluForwardGrad(out2, grad, x)
	checkForward(t, "gelu (with grad)", out2, want, 1e-6)
	dx2 := make([]float32, len(x))
	MulInto(dx2, dout, grad)
	checkGrad(t, "dx via GeluForwardGrad", x64, dx2, nil, func() float64 {
		var s float64
		for i, v := range x64 {
			s += wl[i] * ref(v)
		}
		return s
	})
	// BiasGeluForwardGrad on rows of x with a bias equals GeluForwardGrad on x + bias.
	const rows, cols = 3, 100
	xb, bias := x[:rows*cols], randVec(r, cols, 1)
	shifted := make([]float32, rows*cols)
	for i := range shifted {
		shifted[i] = xb[i] + bias[i%cols]
	}
	o1, g1 := make([]float32, rows*cols), make([]float32, rows*cols)
	GeluForwardGrad(o1, g1, shifted)
	o2, g2 := make([]float32, rows*cols), append([]float32(nil), xb...)
	BiasGeluForwardGrad(o2, g2, g2, bias, rows, cols) // grad aliases x
	checkForward(t, "bias gelu", o2, to64(o1), 1e-6)
	checkForward(t, "bias gelu grad", g2, to64(g1), 1e-6)
	// in place (dx aliases dout)
	GeluBackward(dout, dout, x)
	for i := range dx {
		if dx[i] != dout[i] {
			t.Fatalf("in-place GeluBackward differs at %d", i)
		}
	}
}

func TestLogSoftmaxGatherGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const n, v = 5, 7
	logits := randVec(r, n*v, 3)
	logits[3*v+2] = 60 // a peaked row
	targets := []int32{0, 6, 3, 2, 4}
	glp, gent := randVec(r, n, 1), randVec(r, n, 1)
	glp[1], gent[1] = 0, 0 // a masked row
	z64 := to64(logits)
	ref := func() (lp, ent []float64) {
		lp, ent = make([]float64, n), make([]float64, n)
		for r := 0; r < n; r++ {
			z := z64[r*v : r*v+v]
			mx := math.Inf(-1)
			for _, x := range z {
				mx = math.Max(mx, x)
			}
			var s float64
			for _, x := range z {
				s += math.Exp(x - mx)
			}
			lse := mx + math.Log(s)
			lp[r] = z[targets[r]] - lse
			for _, x := range z {
				ent[r] -= math.Exp(x-lse) * (x - lse)
			}
		}
		return lp, ent
	}
	lp, ent, lse := make([]float32, n), make([]float32, n), make([]float32, n)
	LogSoftmaxGather(lp, ent, lse, logits, targets, n, v)
	wlp, went := ref()
	checkForward(t, "logp", lp, wlp, 1e-5)
	checkForward(t, "entropy", ent, went, 1e-5)
	for _, withEnt := range []bool{false, true} {
		dz := randVec(r, n*v, 1)
		var de []float32
		if withEnt {
			de = gent
		}
		LogSoftmaxGatherBackward(dz, logits, lse, ent, targets, glp, de, n, v)
		checkGrad(t, "dlogits", z64, dz, nil, func() float64 {
			a, e := ref()
			s := dot64(a, glp)
			if withEnt {
				s += dot64(e, gent)
			}
			return s
		})
	}
}

func TestColumnSumAndAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	const n, d = 37, 50
	a := randVec(r, n*d, 1)
	s := randVec(r, d, 1)
	want := to64(s)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			want[j] += float64(a[i*d+j])
		}
	}
	ColumnSum(s, a, n, d)
	checkForward(t, "column sum", s, want, 1e-5)
	b := randVec(r, n*d, 1)
	out := make([]float32, n*d)
	AddInto(out, a, b)
	for i := range out {
		if out[i] != a[i]+b[i] {
			t.Fatalf("AddInto[%d] = %g, want %g", i, out[i], a[i]+b[i])
		}
	}
}

func TestExpfAccuracy(t *testing.T) {
	worst := 0.0
	for x := -87.0; x <= 88.0; x += 0.000731 {
		got := float64(Expf(float32(x)))
		want := math.Exp(float64(float32(x)))
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	if worst > 2e-7 {
		t.Fatalf("Expf max relative error %.3g > 2e-7", worst)
	}
	if Expf(-100) != 0 || !math.IsInf(float64(Expf(100)), 1) || Expf(0) != 1 {
		t.Fatalf("Expf edge cases: %g %g %g", Expf(-100), Expf(100), Expf(0))
	}
	t.Logf("Expf max relative error %.3g", worst)
}

func TestTanhfAccuracy(t *testing.T) {
	worstAbs, worstRel := 0.0, 0.0
	for x := -12.0; x <= 12.0; x += 0.0000917 {
		x32 := float64(float32(x))
		got := float64(Tanhf(float32(x)))
		want := math.Tanh(x32)
		worstAbs = math.Max(worstAbs, math.Abs(got-want))
		if want != 0 {
			worstRel = math.Max(worstRel, math.Abs(got-want)/math.Abs(want))
		}
	}
	if worstAbs > 4e-7 || worstRel > 4e-7 {
		t.Fatalf("Tanhf max error abs %.3g rel %.3g (bound 4e-7)", worstAbs, worstRel)
	}
	t.Logf("Tanhf max error abs %.3g rel %.3g", worstAbs, worstRel)
}

// Filling a cache with every position's keys and values and querying each
// position must reproduce the full causal attention.
func TestAttentionCachedMatchesForward(t *testing.T) {
	for _, dims := range [][2]int{{8, 2}, {32, 2}, {48, 2}} { // head_dim 4 (scalar path), 16 and 24 (vector path)
		testAttentionCached(t, dims[0], dims[1])
	}
}

func testAttentionCached(t *testing.T, D, H int) {
	r := rand.New(rand.NewPCG(17, 18))
	const B, T, P = 3, 6, 7
	lens := []int{6, 4, 1}
	qkv := randVec(r, B*T*3*D, 1)
	want := make([]float32, B*T*D)
	AttentionForward(want, make([]float32, B*H*T*T), qkv, lens, B, T, D, H)
	kc, vc := make([]float32, B*P*D), make([]float32, B*P*D)
	var seq, pos []int32
	var rows []float32
	for b := 0; b < B; b++ {
		for i := 0; i < lens[b]; i++ {
			row := qkv[(b*T+i)*3*D : (b*T+i+1)*3*D]
			copy(kc[(b*P+i)*D:], row[D:2*D])
			copy(vc[(b*P+i)*D:], row[2*D:3*D])
			seq, pos = append(seq, int32(b)), append(pos, int32(i))
			rows = append(rows, row...)
		}
	}
	out := randVec(r, len(seq)*D, 1)
	AttentionCached(out, rows, kc, vc, seq, pos, P, D, H)
	for k := range seq {
		b, i := int(seq[k]), int(pos[k])
		for c := 0; c < D; c++ {
			if d := math.Abs(float64(out[k*D+c] - want[(b*T+i)*D+c])); d > 1e-5 {
				t.Fatalf("D=%d H=%d seq %d pos %d col %d: cached %g, full %g", D, H, b, i, c, out[k*D+c], want[(b*T+i)*D+c])
			}
		}
	}
}

// The vector GELU kernels (when the CPU has them) agree with float64 GELU on
// a dense grid, including the saturated tails.
func TestGeluVectorAccuracy(t *testing.T) {
	var xs []float32
	for x := -30.0; x <= 30.0; x += 0.00123 {
		xs = append(xs, float32(x))
	}
	xs = append(xs, 0, -100, 100, -1e10, 1e10)
	for len(xs)%8 != 0 {
		xs = append(xs, 0.5)
	}
	out, grad, out2 := make([]float32, len(xs)), make([]float32, len(xs)), make([]float32, len(xs))
	done := geluGradVec(out, grad, xs)
	done2 := geluVec(out2, xs)
	if !hasAVX2FMA {
		t.Skip("no AVX2+FMA: the scalar path is tested by TestGeluGrad")
	}
	if done != len(xs) || done2 != len(xs) {
		t.Fatalf("vector kernels did %d and %d of %d", done, done2, len(xs))
	}
	c := math.Sqrt(2 / math.Pi)
	worstV, worstD := 0.0, 0.0
	for i, x32 := range xs {
		x := float64(x32)
		th := math.Tanh(c * (x + 0.044715*x*x*x))
		want := 0.5 * x * (1 + th)
		dwant := 0.5*(1+th) + 0.5*x*(1-th*th)*c*(1+3*0.044715*x*x)
		ev := math.Abs(float64(out[i])-want) / (1 + math.Abs(want))
		ed := math.Abs(float64(grad[i]) - dwant)
		if out2[i] != out[i] {
			t.Fatalf("gelu(%g): %g without grad, %g with", x, out2[i], out[i])
		}
		worstV, worstD = math.Max(worstV, ev), math.Max(worstD, ed)
	}
	// The derivative's bound is looser: ½x(1 − t²)·C(1 + 3Ax²) multiplies
	// tanh's float32 error (≈3e-7) by up to ≈15 where t² is near 1.
	if worstV > 1e-6 || worstD > 1e-5 {
		t.Fatalf("vector GELU errors: value %.3g (relative to 1+|gelu|), derivative %.3g", worstV, worstD)
	}
	t.Logf("vector GELU max error: value %.3g, derivative %.3g", worstV, worstD)
}

func TestErfGeluGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const rows, cols = 3, 100
	x, bias := randVec(r, rows*cols, 3), randVec(r, cols, 1)
	x[0], x[1] = 9, -9
	wl := to64(randVec(r, len(x), 1))
	x64 := to64(x)
	ref := func(v float64) float64 { return 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) }
	loss := func() float64 {
		var s float64
		for i, v := range x64 {
			s += wl[i] * ref(v+float64(bias[i%cols]))
		}
		return s
	}
	out, grad := make([]float32, len(x)), make([]float32, len(x))
	BiasErfGeluForwardGrad(out, grad, x, bias, rows, cols)
	want := make([]float64, len(x))
	for i, v := range x64 {
		want[i] = ref(v + float64(bias[i%cols]))
	}
	checkForward(t, "erf gelu", out, want, 1e-6)
	dx := make([]float32, len(x))
	for i := range dx {
		dx[i] = float32(wl[i]) * grad[i]
	}
	checkGrad(t, "dx", x64, dx, nil, loss)
	plain := make([]float32, len(x))
	ErfGeluForward(plain, x)
	for i, v := range x64 {
		want[i] = ref(v)
	}
	checkForward(t, "erf gelu without bias", plain, want, 1e-6)
	// The tanh approximation is a different function: the two must differ
	// (by up to ~1e-3 near |x| ≈ 2), so swapping one for the other fails.
	approx := make([]float32, len(x))
	GeluForward(approx, x)
	maxDiff := 0.0
	for i := range approx {
		maxDiff = math.Max(maxDiff, math.Abs(float64(approx[i]-plain[i])))
	}
	if maxDiff < 1e-4 {
		t.Fatalf("exact and tanh GELU agree to %g: the test cannot tell them apart", maxDiff)
	}
}

// rotaryRef is an independent float64 reference: each head's first dims
// channels, viewed as dims/2 complex numbers (x_i, x_{i+dims/2}), multiplied
// by e^{iθ}.
func rotaryRef(qkv []float64, pos []int32, n, D, H, dims int, base float64) []float64 {
	out := append([]float64(nil), qkv...)
	hd, half := D/H, dims/2
	for r := 0; r < n; r++ {
		for part := 0; part < 2; part++ {
			for h := 0; h < H; h++ {
				o := r*3*D + part*D + h*hd
				for i := 0; i < half; i++ {
					th := float64(pos[r]) * math.Pow(base, -2*float64(i)/float64(dims))
					z := complex(qkv[o+i], qkv[o+i+half]) * complex(math.Cos(th), math.Sin(th))
					out[o+i], out[o+i+half] = real(z), imag(z)
				}
			}
		}
	}
	return out
}

func TestRotaryGrad(t *testing.T) {
	forThreads(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(23, 24))
		const n, D, H = 5, 16, 2 // head size 8
		for _, dims := range []int{8, 4, 2} {
			rot := Rotary{Dims: dims, Base: 10000}
			pos := []int32{0, 1, 2, 7, 300}
			x := randVec(r, n*3*D, 1)
			x64 := to64(x)
			y := append([]float32(nil), x...)
			rot.Forward(y, pos, n, D, H)
			want := rotaryRef(x64, pos, n, D, H, dims, 10000)
			checkForward(t, "rotary", y, want, 2e-5) // angles up to 300 rad in float32
			for i := 2 * D; i < 3*D; i++ {           // v is never rotated
				if y[i] != x[i] {
					t.Fatalf("dims %d: value channel %d changed", dims, i)
				}
			}
			wl := to64(randVec(r, len(x), 1))
			dx := make([]float32, len(x))
			for i := range dx {
				dx[i] = float32(wl[i])
			}
			rot.Backward(dx, pos, n, D, H)
			checkGrad(t, "rotary dx", x64, dx, nil, func() float64 {
				out := rotaryRef(x64, pos, n, D, H, dims, 10000)
				var s float64
				for i := range out {
					s += wl[i] * out[i]
				}
				return s
			})
		}
	})
}
