package pft

import (
	"fmt"
	"math"
	"sort"

	"roads/model"
)

// Best-of-N sampling: draw N completions, return the one the verifier scores
// highest. The paper compares verifiers (global vs local RMs, RM sizes) by the
// quality of their best-of-N picks as N grows (§4.1, §4.4).
//
// Estimating the BoN curve from one pool. Given M ≥ N i.i.d. samples with
// verifier scores s_j and values v_j (the gold reward of sample j, or s_j itself),
// the expected value of the best-of-N pick is estimated without bias by averaging
// over all C(M, N) subsets of size N. Rank the samples by the verifier in
// ascending order, ties broken so that the lower index ranks higher (BestOfN's
// rule); the sample of rank i (1-based) is the pick of exactly the subsets that
// contain it and N−1 of the i−1 samples ranked below it, so
//
//	Ê[v(BoN_N)] = Σ_{i=N}^{M} [C(i−1, N−1) / C(M, N)] · v_(i)
//
// (v_(i) the value of the rank-i sample). With v = s this is the classic unbiased
// estimator of E[max of N]. The weights w_i = C(i−1, N−1)/C(M, N) are computed by
// the exact recurrence w_M = N/M, w_{i−1} = w_i (i−N)/(i−1), which neither
// overflows nor needs log-gamma for large M.

// BestOfN returns the index of the highest score; among equal scores the lowest
// index wins, so the choice is deterministic.
func BestOfN(scores []float64) (int, error) {
	if len(scores) == 0 {
		return 0, fmt.Errorf("best-of-N: no samples")
	}
	if err := checkFinite("best-of-N", "scores", scores); err != nil {
		return 0, err
	}
	best := 0
	for j, s := range scores {
		if s > scores[best] {
			best = j
		}
	}
	return best, nil
}

// BestOfNExpected is the unbiased estimate of E[value of the best-of-n pick]
// from a pool of M ≥ n samples: scores rank the samples, values are averaged.
// values may be nil to use the scores themselves (E[max of n scores]).
func BestOfNExpected(scores, values []float64, n int) (float64, error) {
	ranked, err := rankByScore(scores, values)
	if err != nil {
		return 0, err
	}
	M := len(ranked)
	if n < 1 || n > M {
		return 0, fmt.Errorf("best-of-N estimate: N = %d, want 1 ≤ N ≤ M = %d", n, M)
	}
	return bonFromRanked(ranked, n), nil
}

// BestOfNCurve returns the estimates for every N = 1…M at once (element N−1 is
// best-of-N), in O(M²).
func BestOfNCurve(scores, values []float64) ([]float64, error) {
	ranked, err := rankByScore(scores, values)
	if err != nil {
		return nil, err
	}
	curve := make([]float64, len(ranked))
	for n := 1; n <= len(ranked); n++ {
		curve[n-1] = bonFromRanked(ranked, n)
	}
	return curve, nil
}

// bonFromRanked is Σ_{i=N}^{M} w_i v_(i) for values sorted by ascending rank.
func bonFromRanked(ranked []float64, n int) float64 {
	M := len(ranked)
	w := float64(n) / float64(M) // w_M = C(M−1, N−1)/C(M, N) = N/M
	sum := 0.0
	for i := M; i >= n; i-- { // 1-based rank i
		sum += w * ranked[i-1]
		w *= float64(i-n) / float64(i-1) // w_{i−1} = w_i (i−N)/(i−1); reaches 0 at i = N
	}
	return sum
}

// rankByScore returns the values ordered by ascending verifier rank: by score,
// and among equal scores the higher index first (so the lowest index ranks
// highest, as BestOfN picks it).
func rankByScore(scores, values []float64) ([]float64, error) {
	const what = "best-of-N estimate"
	M := len(scores)
	if M == 0 {
		return nil, fmt.Errorf("%s: no samples", what)
	}
	if err := checkFinite(what, "scores", scores); err != nil {
		return nil, err
	}
	if values == nil {
		values = scores
	} else if err := checkSeq(what, "values", values, M); err != nil {
		return nil, err
	}
	order := make([]int, M)
	for j := range order {
		order[j] = j
	}
	sort.Slice(order, func(a, b int) bool {
		ja, jb := order[a], order[b]
		if scores[ja] != scores[jb] {
			return scores[ja] < scores[jb]
		}
		return ja > jb
	})
	ranked := make([]float64, M)
	for i, j := range order {
		ranked[i] = values[j]
	}
	return ranked, nil
}

// BoNPoint is one point of a Best-of-N curve.
type BoNPoint struct {
	N      int     `json:"n"`
	Gold   float64 `json:"gold"`    // mean over prompts of E[gold reward of the best-of-N pick]
	GoldSE float64 `json:"gold_se"` // standard error over prompts
	Score  float64 `json:"score"`   // mean over prompts of E[max of N verifier scores]
}

// BoNResult is a Best-of-N curve of one policy and verifier.
type BoNResult struct {
	Points           []BoNPoint `json:"points"`
	Prompts          int        `json:"prompts"`
	SamplesPerPrompt int        `json:"samples_per_prompt"` // M = max N
}

// BestOfNEval draws M = max(ns) completions per prompt from policy
// (temperature 1, the task's mask, max_new_tokens = horizon; seeded), scores
// them with the verifier and the gold reward, and estimates for every N the
// expected gold reward of the verifier's best-of-N pick with the unbiased
// estimator above (from the one pool of M, per prompt, then averaged over
// prompts). With v = Gold this is the oracle curve.
func BestOfNEval(policy *model.Model, v Verifier, t Task, prompts [][]int32, ns []int, seed uint64) (BoNResult, error) {
	if len(ns) == 0 || len(prompts) == 0 {
		return BoNResult{}, fmt.Errorf("best-of-N: need at least one N and one prompt")
	}
	M := 0
	for _, n := range ns {
		if n < 1 {
			return BoNResult{}, fmt.Errorf("best-of-N: N = %d, want ≥ 1", n)
		}
		M = max(M, n)
	}
	s, err := sample(policy, t, prompts, M, stepSeed(seed, "best_of_n", 0))
	if err != nil {
		return BoNResult{}, err
	}
	scores, err := v.Score(s.prompts, s.completions)
	if err != nil {
		return BoNResult{}, fmt.Errorf("best-of-N: verifier: %w", err)
	}
	gold, err := goldScores(t, s.prompts, s.completions)
	if err != nil {
		return BoNResult{}, err
	}
	res := BoNResult{Prompts: len(prompts), SamplesPerPrompt: M}
	for _, n := range ns {
		perGold := make([]float64, len(prompts))
		perScore := make([]float64, len(prompts))
		for p := range prompts {
			sc, g := scores[p*M:(p+1)*M], gold[p*M:(p+1)*M]
			if perGold[p], err = BestOfNExpected(sc, g, n); err != nil {
				return BoNResult{}, err
			}
			if perScore[p], err = BestOfNExpected(sc, nil, n); err != nil {
				return BoNResult{}, err
			}
		}
		res.Points = append(res.Points, BoNPoint{N: n, Gold: mean(perGold), GoldSE: sampleStd(perGold) / math.Sqrt(float64(len(prompts))), Score: mean(perScore)})
	}
	return res, nil
}
