package pft

import (
	"math"
	"testing"
)

func TestBestOfNEvalWithGoldIsTheOracleCurve(t *testing.T) {
	task := newToyTask()
	_, heldOut := toyPrompts()
	policy := newToyPolicy(t, 51)
	ns := []int{1, 2, 4, 8, 16}
	res, err := BestOfNEval(policy, Gold{Task: task}, task, heldOut, ns, 3)
	mustNoErr(t, err)
	// The same pool, by hand: N = 1 is the plain mean, N = M the mean of the maxima.
	s, err := sample(policy, task, heldOut, 16, stepSeed(3, "best_of_n", 0))
	mustNoErr(t, err)
	gold, err := goldScores(task, s.prompts, s.completions)
	mustNoErr(t, err)
	var sumMax float64
	for p := range heldOut {
		m := math.Inf(-1)
		for _, g := range gold[p*16 : (p+1)*16] {
			m = math.Max(m, g)
		}
		sumMax += m
	}
	near(t, "BoN-1", res.Points[0].Gold, mean(gold), 1e-12)
	near(t, "BoN-16", res.Points[4].Gold, sumMax/float64(len(heldOut)), 1e-12)
	for i := 1; i < len(ns); i++ {
		if res.Points[i].Gold < res.Points[i-1].Gold {
			t.Errorf("oracle BoN curve decreases: N=%d %.4f, N=%d %.4f", ns[i-1], res.Points[i-1].Gold, ns[i], res.Points[i].Gold)
		}
		if res.Points[i].Score != res.Points[i].Gold {
			t.Errorf("with the gold verifier, score and gold differ at N=%d", ns[i])
		}
	}
	_, err = BestOfNEval(policy, Gold{Task: task}, task, heldOut, []int{0}, 3)
	wantErr(t, err, "N = 0")
}
