package pft

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestBestOfNBreaksTiesTowardsTheLowestIndex(t *testing.T) {
	got, err := BestOfN([]float64{1, 3, 3, 2})
	mustNoErr(t, err)
	if got != 1 {
		t.Errorf("BestOfN = %d, want 1", got)
	}
	got, err = BestOfN([]float64{-5})
	mustNoErr(t, err)
	if got != 0 {
		t.Errorf("BestOfN of one = %d, want 0", got)
	}
	_, err = BestOfN(nil)
	wantErr(t, err, "best-of-N: no samples")
	_, err = BestOfN([]float64{1, math.NaN()})
	wantErr(t, err, "best-of-N: scores[1] = NaN")
}

// bruteForceBoN averages, over every N-subset of the pool (kept in index
// order), the value of the sample BestOfN picks from the subset.
func bruteForceBoN(t *testing.T, scores, values []float64, n int) float64 {
	M := len(scores)
	sum, count := 0.0, 0
	for mask := 0; mask < 1<<M; mask++ {
		var idx []int
		for j := 0; j < M; j++ {
			if mask&(1<<j) != 0 {
				idx = append(idx, j)
			}
		}
		if len(idx) != n {
			continue
		}
		sub := make([]float64, n)
		for k, j := range idx {
			sub[k] = scores[j]
		}
		pick, err := BestOfN(sub)
		mustNoErr(t, err)
		sum += values[idx[pick]]
		count++
	}
	return sum / float64(count)
}

func TestBestOfNEstimatorEqualsBruteForceOverAllSubsets(t *testing.T) {
	// Ties in the verifier scores make the tie-breaking rule matter: the gold
	// values differ between tied samples.
	scores := []float64{0.5, 2.0, -1.0, 2.0, 0.5, 3.0, 0.5, -2.0}
	values := []float64{1.0, 4.0, -3.0, 7.0, 0.0, 2.5, 9.0, 6.0}
	curve, err := BestOfNCurve(scores, values)
	mustNoErr(t, err)
	maxCurve, err := BestOfNCurve(scores, nil)
	mustNoErr(t, err)
	for n := 1; n <= len(scores); n++ {
		want := bruteForceBoN(t, scores, values, n)
		got, err := BestOfNExpected(scores, values, n)
		mustNoErr(t, err)
		near(t, "BoN(gold values)", got, want, 1e-13)
		near(t, "curve", curve[n-1], want, 1e-13)
		near(t, "E[max of N]", maxCurve[n-1], bruteForceBoN(t, scores, scores, n), 1e-13)
	}
	// End points: N = 1 is the pool mean, N = M the value of the overall pick.
	near(t, "N=1", curve[0], mean(values), 1e-14)
	near(t, "N=M", curve[len(curve)-1], values[5], 1e-14)
}

func TestBestOfNWeightsMatchBinomialsForLargePools(t *testing.T) {
	// Weights from log-gamma binomials, computed independently of the recurrence.
	rng := rand.New(rand.NewPCG(1, 2))
	const M = 300
	scores := make([]float64, M)
	for j := range scores {
		scores[j] = rng.NormFloat64()
	}
	sorted := append([]float64(nil), scores...)
	for i := 1; i < M; i++ { // insertion sort, ascending
		for k := i; k > 0 && sorted[k] < sorted[k-1]; k-- {
			sorted[k], sorted[k-1] = sorted[k-1], sorted[k]
		}
	}
	for _, n := range []int{1, 2, 17, 150, 299, 300} {
		want := 0.0
		for i := n; i <= M; i++ {
			want += math.Exp(logChoose(i-1, n-1)-logChoose(M, n)) * sorted[i-1]
		}
		got, err := BestOfNExpected(scores, nil, n)
		mustNoErr(t, err)
		near(t, "E[max of N]", got, want, 1e-9)
	}
	// E[max of N] never decreases in N.
	curve, err := BestOfNCurve(scores, nil)
	mustNoErr(t, err)
	for n := 1; n < M; n++ {
		if curve[n] < curve[n-1]-1e-12 {
			t.Fatalf("E[max of %d] = %g < E[max of %d] = %g", n+1, curve[n], n, curve[n-1])
		}
	}
	// Huge pools: the weights still sum to 1 (constant values give the constant).
	big := make([]float64, 5000)
	ones := make([]float64, 5000)
	for j := range big {
		big[j], ones[j] = float64(j%97), 1
	}
	got, err := BestOfNExpected(big, ones, 2500)
	mustNoErr(t, err)
	near(t, "Σ weights", got, 1, 1e-12)
}

// logChoose is log C(n, k) via log-gamma.
func logChoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

func TestBestOfNEstimatorRejectsBadInput(t *testing.T) {
	_, err := BestOfNExpected([]float64{1, 2}, nil, 3)
	wantErr(t, err, "best-of-N estimate: N = 3, want 1 ≤ N ≤ M = 2")
	_, err = BestOfNExpected([]float64{1, 2}, []float64{1}, 1)
	wantErr(t, err, "best-of-N estimate: len(values) = 1, want 2")
	_, err = BestOfNCurve(nil, nil)
	wantErr(t, err, "best-of-N estimate: no samples")
}
