package pft

import (
	"math"
	"strings"
	"testing"
)

// near fails unless |got − want| ≤ tol·max(1, |want|).
func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.12g, want %.12g (tol %g)", name, got, want, tol)
	}
}

// centralDiff is (f(x+h) − f(x−h))/2h, perturbing *x in place and restoring it.
func centralDiff(f func() float64, x *float64) float64 {
	h := 1e-6 * math.Max(1, math.Abs(*x))
	orig := *x
	*x = orig + h
	up := f()
	*x = orig - h
	down := f()
	*x = orig
	return (up - down) / (2 * h)
}

// checkGradSeq compares analytic gradients with central differences of f for
// every element of a per-sequence input.
func checkGradSeq(t *testing.T, name string, f func() float64, xs, grad []float64) {
	t.Helper()
	if len(grad) != len(xs) {
		t.Fatalf("%s: %d gradients for %d inputs", name, len(grad), len(xs))
	}
	for i := range xs {
		num := centralDiff(f, &xs[i])
		if math.Abs(num-grad[i]) > 1e-6*math.Max(1, math.Abs(num)) {
			t.Errorf("d loss/d %s[%d]: analytic %.10g, finite difference %.10g", name, i, grad[i], num)
		}
	}
}

// checkGradTokens is checkGradSeq for a ragged per-token input.
func checkGradTokens(t *testing.T, name string, f func() float64, xs, grad [][]float64) {
	t.Helper()
	if len(grad) != len(xs) {
		t.Fatalf("%s: %d gradient rows for %d input rows", name, len(grad), len(xs))
	}
	for i := range xs {
		if len(grad[i]) != len(xs[i]) {
			t.Fatalf("%s[%d]: %d gradients for %d tokens", name, i, len(grad[i]), len(xs[i]))
		}
		for j := range xs[i] {
			num := centralDiff(f, &xs[i][j])
			if math.Abs(num-grad[i][j]) > 1e-6*math.Max(1, math.Abs(num)) {
				t.Errorf("d loss/d %s[%d][%d]: analytic %.10g, finite difference %.10g", name, i, j, grad[i][j], num)
			}
		}
	}
}

// wantErr fails unless err is non-nil and its message contains want.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("got no error, want one containing %q", want)
		return
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

// mustNoErr stops the test on an unexpected error.
func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSigmoidAndLogSigmoidAreStable(t *testing.T) {
	for _, x := range []float64{-3, -0.5, 0, 0.7, 4} {
		naive := 1 / (1 + math.Exp(-x))
		near(t, "sigmoid", sigmoid(x), naive, 1e-15)
		near(t, "logSigmoid", logSigmoid(x), math.Log(naive), 1e-15)
	}
	// Where the naive forms overflow or round to log(0):
	near(t, "logSigmoid(-1000)", logSigmoid(-1000), -1000, 1e-15)
	near(t, "logSigmoid(1000)", logSigmoid(1000), 0, 1e-15)
	near(t, "logSigmoid(-40)", logSigmoid(-40), -40-math.Exp(-40), 1e-15)
	near(t, "sigmoid(-1000)", sigmoid(-1000), 0, 1e-15)
	near(t, "sigmoid(1000)", sigmoid(1000), 1, 1e-15)
}

func TestSampleStdUsesBesselCorrection(t *testing.T) {
	// [1, 2, 3, 4]: mean 2.5, Σ(x−m)² = 5, sample variance 5/3.
	near(t, "sampleStd", sampleStd([]float64{1, 2, 3, 4}), math.Sqrt(5.0/3), 1e-15)
	near(t, "sampleStd of one value", sampleStd([]float64{7}), 0, 0)
}

func TestMetricsStringIsSorted(t *testing.T) {
	got := Metrics{"b": 2, "a/x": 1.5}.String()
	if got != "a/x=1.5 b=2" {
		t.Errorf("Metrics.String() = %q", got)
	}
}
