package pft

import (
	"math"
	"testing"
)

func TestKLEstimatorsOnKnownNumbers(t *testing.T) {
	// π = ½, π_ref = ¼: ℓ = log 2, r = ½.
	lp, ref := math.Log(0.5), math.Log(0.25)
	k1, _ := K1.Token(lp, ref)
	k2, _ := K2.Token(lp, ref)
	k3, _ := K3.Token(lp, ref)
	near(t, "k1", k1, 0.6931471805599453, 1e-15)
	near(t, "k2", k2, 0.2402265069591007, 1e-15)
	near(t, "k3", k3, 0.1931471805599453, 1e-15) // ½ − 1 + log 2
}

func TestK3IsNonNegativeAndZeroOnlyAtEquality(t *testing.T) {
	for l := -20.0; l <= 20; l += 0.25 {
		k3, _ := K3.Token(l, 0)
		k2, _ := K2.Token(l, 0)
		if k3 < 0 || k2 < 0 {
			t.Errorf("ℓ = %g: k3 = %g, k2 = %g, want ≥ 0", l, k3, k2)
		}
		if l != 0 && k3 == 0 {
			t.Errorf("ℓ = %g: k3 = 0 away from π = π_ref", l)
		}
	}
	k3, grad := K3.Token(-1.5, -1.5)
	if k3 != 0 || grad != 0 {
		t.Errorf("k3 at π = π_ref: value %g, grad %g, want 0, 0", k3, grad)
	}
}

func TestK1AndK3AreUnbiasedAndK2IsNot(t *testing.T) {
	// Exact expectations under a categorical π (no sampling noise):
	// E_π[k1] = E_π[k3] = KL(π‖π_ref) = Σ π log(π/π_ref).
	pi := []float64{0.5, 0.3, 0.2}
	ref := []float64{0.2, 0.5, 0.3}
	kl := 0.0
	for a := range pi {
		kl += pi[a] * math.Log(pi[a]/ref[a])
	}
	for _, e := range []KLEstimator{K1, K2, K3} {
		expect := 0.0
		for a := range pi {
			v, _ := e.Token(math.Log(pi[a]), math.Log(ref[a]))
			expect += pi[a] * v
		}
		if e == K2 {
			if math.Abs(expect-kl) < 1e-3 {
				t.Errorf("E[k2] = %g is unexpectedly equal to KL = %g on this example", expect, kl)
			}
			continue
		}
		near(t, "E_π["+e.String()+"]", expect, kl, 1e-14)
	}
}

func TestKLEstimatorGradientsMatchFiniteDifferences(t *testing.T) {
	for _, e := range []KLEstimator{K1, K2, K3} {
		for _, lp := range []float64{-3.2, -0.7, -0.01} {
			ref := -1.1
			x := lp
			f := func() float64 { v, _ := e.Token(x, ref); return v }
			_, grad := e.Token(lp, ref)
			num := centralDiff(f, &x)
			near(t, e.String()+" gradient", grad, num, 1e-8)
		}
	}
	// d k3/d log π = 1 − π_ref/π.
	_, g := K3.Token(math.Log(0.5), math.Log(0.25))
	near(t, "k3 gradient", g, 0.5, 1e-15)
}

func TestKLSequenceSumsTokens(t *testing.T) {
	logp, ref := []float64{-1, -2, -0.5}, []float64{-1.5, -1, -0.5}
	near(t, "k1 sequence", K1.Sequence(logp, ref), 0.5-1+0, 1e-15)
	want := 0.0
	for i := range logp {
		v, _ := K3.Token(logp[i], ref[i])
		want += v
	}
	near(t, "k3 sequence", K3.Sequence(logp, ref), want, 1e-15)
}

func TestParseKLEstimator(t *testing.T) {
	for _, e := range []KLEstimator{K1, K2, K3} {
		got, err := ParseKLEstimator(e.String())
		mustNoErr(t, err)
		if got != e {
			t.Errorf("ParseKLEstimator(%q) = %v", e.String(), got)
		}
	}
	_, err := ParseKLEstimator("k4")
	wantErr(t, err, `kl_estimator "k4": want k1, k2 or k3`)
	if v, _ := KLEstimator(9).Token(0, 0); !math.IsNaN(v) {
		t.Errorf("unknown estimator gave %g, want NaN", v)
	}
}
