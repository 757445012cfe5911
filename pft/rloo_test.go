package pft

import (
	"math"
	"testing"
)

// ones returns n single-token completions with log-prob lp (for rollouts where
// only scores matter).
func ones(n int, lp float64) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		out[i] = []float64{lp}
	}
	return out
}

func TestRLOOAdvantagesHandValues(t *testing.T) {
	// One group of k = 4, β = 0: baselines (12 − R_j)/3 = [11/3, 10/3, 3, 2].
	res, err := RLOOAdvantages(RLOOConfig{NumGenerations: 4}, RLOORollout{
		Scores: []float64{1, 2, 3, 6},
		Logp:   ones(4, -1),
	})
	mustNoErr(t, err)
	for j, want := range []float64{-8.0 / 3, -4.0 / 3, 0, 4} {
		near(t, "A", res.Advantages[j], want, 1e-15)
	}
}

func TestRLOOAdvantagesWithKLAndMissingEOS(t *testing.T) {
	// k1 sums: (−1+1.5) + (−1+1) = 0.5 and (−2+1) = −1. The second completion has
	// no EOS, so its score 2 drops to 1. R = [1 − 0.5·0.5, 1 − 0.5·(−1)] = [0.75, 1.5].
	res, err := RLOOAdvantages(
		RLOOConfig{NumGenerations: 2, Beta: 0.5, MissingEOSPenalty: 1},
		RLOORollout{
			Scores:      []float64{1, 2},
			ContainsEOS: []bool{true, false},
			Logp:        [][]float64{{-1, -1}, {-2}},
			RefLogp:     [][]float64{{-1.5, -1}, {-1}},
		})
	mustNoErr(t, err)
	near(t, "R[0]", res.Rewards[0], 0.75, 1e-15)
	near(t, "R[1]", res.Rewards[1], 1.5, 1e-15)
	near(t, "A[0]", res.Advantages[0], -0.75, 1e-15)
	near(t, "A[1]", res.Advantages[1], 0.75, 1e-15)
	m := res.Metrics
	near(t, "objective/scores", m["objective/scores"], 1, 1e-15)
	near(t, "objective/kl", m["objective/kl"], -0.25, 1e-15)
	near(t, "objective/non_score_reward", m["objective/non_score_reward"], 0.125, 1e-15)
	near(t, "objective/rlhf_reward", m["objective/rlhf_reward"], 1.125, 1e-15)
	near(t, "objective/entropy", m["objective/entropy"], 2, 1e-15)
	near(t, "completions/mean_length", m["completions/mean_length"], 1.5, 1e-15)
	near(t, "reward_std", m["reward_std"], 0.75/math.Sqrt2, 1e-15)
	near(t, "frac_reward_zero_std", m["frac_reward_zero_std"], 0, 0)
}

func TestRLOOAdvantagesSumToZeroInEveryGroup(t *testing.T) {
	scores := []float64{0.3, -1.2, 2.5, 0.9, 0.1, 7, 7, 7, 7, 7, -3, 4.4, 0.02, 1.7, -0.6}
	const k = 5
	res, err := RLOOAdvantages(RLOOConfig{NumGenerations: k}, RLOORollout{Scores: scores, Logp: ones(len(scores), -1)})
	mustNoErr(t, err)
	for g := 0; g < len(scores); g += k {
		sum, m := 0.0, mean(scores[g:g+k])
		for j := g; j < g+k; j++ {
			sum += res.Advantages[j]
			// Equivalent closed form: A_j = k/(k−1)·(R_j − mean R).
			near(t, "A vs closed form", res.Advantages[j], k/(k-1.0)*(scores[j]-m), 1e-14)
		}
		near(t, "Σ_group A", sum, 0, 1e-14)
	}
	near(t, "frac_reward_zero_std", res.Metrics["frac_reward_zero_std"], 1.0/3, 1e-15)
}

func TestRLOONormalizedAdvantagesAreStandardised(t *testing.T) {
	scores := []float64{0.3, -1.2, 2.5, 0.9, 0.1, 7, -3, 4.4}
	res, err := RLOOAdvantages(RLOOConfig{NumGenerations: 4, NormalizeAdvantages: true}, RLOORollout{Scores: scores, Logp: ones(len(scores), -1)})
	mustNoErr(t, err)
	near(t, "mean", mean(res.Advantages), 0, 1e-14)
	raw, err := RLOOAdvantages(RLOOConfig{NumGenerations: 4}, RLOORollout{Scores: scores, Logp: ones(len(scores), -1)})
	mustNoErr(t, err)
	s := sampleStd(raw.Advantages)
	near(t, "std", sampleStd(res.Advantages), s/(s+1e-4), 1e-14)
}

func TestRLOOLossOnPolicyIsREINFORCE(t *testing.T) {
	// With π_old = π the ratio is 1 and dL/d log π(y_j|x) = −A_j/n.
	logp := []float64{-12, -7.5, -30}
	adv := []float64{1.5, -0.5, -1}
	res, err := RLOOLoss(logp, logp, adv, 0.2)
	mustNoErr(t, err)
	near(t, "loss", res.Loss, -(1.5-0.5-1)/3, 1e-15)
	for j := range adv {
		near(t, "grad", res.Grad[j], -adv[j]/3, 1e-15)
	}
	near(t, "clip_ratio/region_mean", res.Metrics["clip_ratio/region_mean"], 0, 0)
}

func TestRLOOLossClipping(t *testing.T) {
	const eps = 0.2
	cases := []struct {
		name     string
		logRatio float64
		A        float64
		wantLoss float64 // ℓ before the 1/n mean (n = 1 here)
		wantGrad float64
		wantLow  float64
		wantHigh float64
	}{
		{"A>0, ρ above 1+ε: clipped", math.Log(1.5), 2, -1.2 * 2, 0, 0, 1},
		{"A>0, ρ below 1−ε: not clipped", math.Log(0.5), 2, -0.5 * 2, -0.5 * 2, 0, 0},
		{"A<0, ρ below 1−ε: clipped", math.Log(0.5), -2, 0.8 * 2, 0, 1, 0},
		{"A<0, ρ above 1+ε: not clipped", math.Log(1.5), -2, 1.5 * 2, 1.5 * 2, 0, 0},
		{"inside the trust region", math.Log(1.1), 2, -1.1 * 2, -1.1 * 2, 0, 0},
	}
	for _, c := range cases {
		res, err := RLOOLoss([]float64{c.logRatio - 5}, []float64{-5}, []float64{c.A}, eps)
		mustNoErr(t, err)
		near(t, c.name+": loss", res.Loss, c.wantLoss, 1e-14)
		near(t, c.name+": grad", res.Grad[0], c.wantGrad, 1e-14)
		near(t, c.name+": clip_ratio/low_mean", res.Metrics["clip_ratio/low_mean"], c.wantLow, 0)
		near(t, c.name+": clip_ratio/high_mean", res.Metrics["clip_ratio/high_mean"], c.wantHigh, 0)
	}
}

func TestRLOOLossGradientMatchesFiniteDifferences(t *testing.T) {
	logp := []float64{-12.0, -7.5, -30.0, -3.1}
	old := []float64{-12.1, -7.4, -30.05, -3.0}
	adv := []float64{1.5, -0.5, -1, 0.7}
	loss := func() float64 {
		r, err := RLOOLoss(logp, old, adv, 0.2)
		if err != nil {
			t.Fatal(err)
		}
		return r.Loss
	}
	res, err := RLOOLoss(logp, old, adv, 0.2)
	mustNoErr(t, err)
	checkGradSeq(t, "logp", loss, logp, res.Grad)
}

func TestRLOORejectsBadInput(t *testing.T) {
	_, err := RLOOAdvantages(RLOOConfig{NumGenerations: 1}, RLOORollout{Scores: []float64{1}, Logp: ones(1, -1)})
	wantErr(t, err, "RLOO advantages: num_generations = 1, want ≥ 2")
	_, err = RLOOAdvantages(RLOOConfig{NumGenerations: 2}, RLOORollout{Scores: []float64{1, 2, 3}, Logp: ones(3, -1)})
	wantErr(t, err, "RLOO advantages: 3 scores is not a positive multiple of num_generations = 2")
	_, err = RLOOAdvantages(RLOOConfig{NumGenerations: 2, Beta: 0.1}, RLOORollout{Scores: []float64{1, 2}, Logp: ones(2, -1)})
	wantErr(t, err, "RLOO advantages: len(RefLogp) = 0 sequences, want 2")
	_, err = RLOOAdvantages(RLOOConfig{NumGenerations: 2, MissingEOSPenalty: 1}, RLOORollout{Scores: []float64{1, 2}, Logp: ones(2, -1)})
	wantErr(t, err, "RLOO advantages: missing_eos_penalty needs ContainsEOS: len = 0, want 2")
	_, err = RLOOLoss([]float64{-1}, []float64{-1}, []float64{1, 2}, 0.2)
	wantErr(t, err, "RLOO loss: len(advantages) = 2, want 1")
	_, err = RLOOLoss([]float64{-1}, []float64{-1}, []float64{1}, 0)
	wantErr(t, err, "RLOO loss: clip range = 0, want > 0")
}
