package pft

import (
	"math"
	"testing"
)

func TestGAEAgainstHandUnrolledRecursion(t *testing.T) {
	// γ = 0.9, λ = 0.8 (γλ = 0.72), rewards [0, 0, 1], values [0.5, 0.6, 0.7], V_3 = 0:
	//   δ_2 = 1 − 0.7 = 0.3
	//   δ_1 = 0 + 0.9·0.7 − 0.6 = 0.03
	//   δ_0 = 0 + 0.9·0.6 − 0.5 = 0.04
	//   Â_2 = 0.3, Â_1 = 0.03 + 0.72·0.3 = 0.246, Â_0 = 0.04 + 0.72·0.246 = 0.21712
	adv, ret, err := GAE([]float64{0, 0, 1}, []float64{0.5, 0.6, 0.7}, 0.9, 0.8)
	mustNoErr(t, err)
	for t2, want := range []float64{0.21712, 0.246, 0.3} {
		near(t, "Â", adv[t2], want, 1e-14)
	}
	for t2, want := range []float64{0.71712, 0.846, 1.0} {
		near(t, "R̂", ret[t2], want, 1e-14)
	}
}

func TestGAELimits(t *testing.T) {
	rewards := []float64{0.2, -0.1, 0.05, 1.5}
	values := []float64{0.4, 0.9, -0.3, 0.6}
	// λ = 1, γ = 1: Monte-Carlo return minus the value, Â_t = Σ_{l≥t} r_l − V_t.
	adv, ret, err := GAE(rewards, values, 1, 1)
	mustNoErr(t, err)
	for t2 := range rewards {
		g := 0.0
		for l := t2; l < len(rewards); l++ {
			g += rewards[l]
		}
		near(t, "MC advantage", adv[t2], g-values[t2], 1e-14)
		near(t, "MC return", ret[t2], g, 1e-14)
	}
	// λ = 0: one-step TD error δ_t.
	adv, _, err = GAE(rewards, values, 0.95, 0)
	mustNoErr(t, err)
	for t2 := range rewards {
		next := 0.0
		if t2+1 < len(values) {
			next = values[t2+1]
		}
		near(t, "TD(0) advantage", adv[t2], rewards[t2]+0.95*next-values[t2], 1e-14)
	}
}

func TestPPOTokenRewardsPutScoreOnLastToken(t *testing.T) {
	// k1 = [−1+1.5, −2+1] = [0.5, −1]; r = [−0.1·0.5, −0.1·(−1) + 2].
	r, err := PPOTokenRewards(2, []float64{-1, -2}, []float64{-1.5, -1}, 0.1)
	mustNoErr(t, err)
	near(t, "r_0", r[0], -0.05, 1e-15)
	near(t, "r_1", r[1], 2.1, 1e-15)
}

func TestWhitenUsesAllTokensWithBesselCorrection(t *testing.T) {
	// [[1, 2], [3]]: mean 2, sample variance 1.
	w := Whiten([][]float64{{1, 2}, {3}})
	s := 1 / math.Sqrt(1+1e-8)
	near(t, "w[0][0]", w[0][0], -s, 1e-15)
	near(t, "w[0][1]", w[0][1], 0, 1e-15)
	near(t, "w[1][0]", w[1][0], s, 1e-15)

	x := [][]float64{{0.3, -1.2, 2.5}, {0.9}, {7, -3, 4.4, 0.02}}
	w = Whiten(x)
	var flat []float64
	for _, row := range w {
		flat = append(flat, row...)
	}
	near(t, "whitened mean", mean(flat), 0, 1e-14)
	near(t, "whitened std", sampleStd(flat), 1, 1e-8)
}

func TestPPOAdvantagesComposeRewardsGAEAndWhitening(t *testing.T) {
	cfg := PPOConfig{KLCoef: 0.1, MissingEOSPenalty: 0.5, Gamma: 1, Lambda: 0.95, ClipRange: 0.2, ClipRangeValue: 0.2, VFCoef: 0.1}
	r := PPORollout{
		Scores:      []float64{1.0, -0.5},
		ContainsEOS: []bool{true, false},
		Logp:        [][]float64{{-1, -0.5, -2}, {-0.3, -0.8}},
		RefLogp:     [][]float64{{-1.2, -0.4, -2.5}, {-0.3, -1.0}},
		Values:      [][]float64{{0.1, 0.2, 0.3}, {-0.4, 0.0}},
	}
	res, err := PPOAdvantages(cfg, r)
	mustNoErr(t, err)
	// Independent composition: score −0.5 becomes −1.0 (no EOS).
	tr0, err := PPOTokenRewards(1.0, r.Logp[0], r.RefLogp[0], 0.1)
	mustNoErr(t, err)
	tr1, err := PPOTokenRewards(-1.0, r.Logp[1], r.RefLogp[1], 0.1)
	mustNoErr(t, err)
	a0, r0, err := GAE(tr0, r.Values[0], 1, 0.95)
	mustNoErr(t, err)
	a1, r1, err := GAE(tr1, r.Values[1], 1, 0.95)
	mustNoErr(t, err)
	want := Whiten([][]float64{a0, a1})
	for i, row := range want {
		for t2 := range row {
			near(t, "advantage", res.Advantages[i][t2], want[i][t2], 1e-15)
		}
	}
	near(t, "return[0][0]", res.Returns[0][0], r0[0], 1e-15)
	near(t, "return[1][1]", res.Returns[1][1], r1[1], 1e-15)
	kl := ((0.2 - 0.1 + 0.5) + (0 + 0.2)) / 2
	m := res.Metrics
	near(t, "objective/kl", m["objective/kl"], kl, 1e-15)
	near(t, "objective/scores", m["objective/scores"], 0, 1e-15)
	near(t, "objective/non_score_reward", m["objective/non_score_reward"], -0.1*kl, 1e-15)
	near(t, "objective/rlhf_reward", m["objective/rlhf_reward"], -0.1*kl, 1e-15)
	near(t, "objective/entropy", m["objective/entropy"], (3.5+1.1)/2, 1e-15)
	near(t, "completions/mean_length", m["completions/mean_length"], 2.5, 0)
}

// onePPOToken builds a one-token PPO batch.
func onePPOToken(logRatio, adv, v, vOld, ret float64) PPOBatch {
	return PPOBatch{
		Logp: [][]float64{{logRatio - 2}}, OldLogp: [][]float64{{-2}},
		Values: [][]float64{{v}}, OldValues: [][]float64{{vOld}},
		Advantages: [][]float64{{adv}}, Returns: [][]float64{{ret}},
	}
}

func TestPPOPolicyClipping(t *testing.T) {
	cfg := DefaultPPOConfig()
	cfg.VFCoef = 0 // policy part only
	cases := []struct {
		name       string
		rho, A     float64
		loss, grad float64
		clipfrac   float64
	}{
		{"A>0, ρ=1.5: clipped at 1+ε", 1.5, 2, -1.2 * 2, 0, 1},
		{"A>0, ρ=0.5: active", 0.5, 2, -0.5 * 2, -0.5 * 2, 0},
		{"A<0, ρ=0.5: clipped at 1−ε", 0.5, -2, 0.8 * 2, 0, 1},
		{"A<0, ρ=1.5: active", 1.5, -2, 1.5 * 2, 1.5 * 2, 0},
		{"ρ=1: active", 1, 3, -3, -3, 0},
	}
	for _, c := range cases {
		res, err := PPOLoss(cfg, onePPOToken(math.Log(c.rho), c.A, 0, 0, 0))
		mustNoErr(t, err)
		near(t, c.name+": loss/policy_avg", res.Metrics["loss/policy_avg"], c.loss, 1e-14)
		near(t, c.name+": grad", res.GradLogp[0][0], c.grad, 1e-14)
		near(t, c.name+": policy/clipfrac_avg", res.Metrics["policy/clipfrac_avg"], c.clipfrac, 0)
		near(t, c.name+": val/ratio", res.Metrics["val/ratio"], c.rho, 1e-14)
		near(t, c.name+": policy/approxkl_avg", res.Metrics["policy/approxkl_avg"], 0.5*math.Log(c.rho)*math.Log(c.rho), 1e-14)
	}
}

func TestPPOValueClipping(t *testing.T) {
	cfg := DefaultPPOConfig() // ε_v = 0.2, c_v = 0.1
	cases := []struct {
		name         string
		v, vOld, R   float64
		vfLoss, grad float64
		clipfrac     float64
	}{
		// clip(2) = 1.2; (2−0)² = 4 > (1.2−0)² = 1.44: unclipped square is the max.
		{"moved away from the target: unclipped", 2, 1, 0, 0.5 * 4, 0.1 * 2, 0},
		// (2−3)² = 1 < (1.2−3)² = 3.24: the clipped square is the max, no gradient.
		{"overshot past the clip: clipped", 2, 1, 3, 0.5 * 3.24, 0, 1},
		// Inside V_old ± ε_v both squares are equal.
		{"inside the clip range", 1.1, 1, 0.5, 0.5 * 0.36, 0.1 * 0.6, 0},
	}
	for _, c := range cases {
		res, err := PPOLoss(cfg, onePPOToken(0, 0, c.v, c.vOld, c.R))
		mustNoErr(t, err)
		near(t, c.name+": loss/value_avg", res.Metrics["loss/value_avg"], c.vfLoss, 1e-14)
		near(t, c.name+": loss", res.Loss, 0.1*c.vfLoss, 1e-14)
		near(t, c.name+": grad", res.GradValues[0][0], c.grad, 1e-14)
		near(t, c.name+": val/clipfrac_avg", res.Metrics["val/clipfrac_avg"], c.clipfrac, 0)
	}
}

func TestPPOLossGradientsMatchFiniteDifferences(t *testing.T) {
	cfg := DefaultPPOConfig()
	cfg.VFCoef = 0.5
	b := PPOBatch{
		Logp:       [][]float64{{-1.2, -0.3, -2.0}, {-0.7, -0.1}},
		OldLogp:    [][]float64{{-1.25, -0.28, -2.1}, {-0.65, -0.12}},
		Values:     [][]float64{{0.3, 0.5, 1.0}, {-0.2, 0.1}},
		OldValues:  [][]float64{{0.25, 0.6, 0.7}, {-0.1, 0.1}},
		Advantages: [][]float64{{0.8, -1.1, 0.3}, {1.5, -0.2}},
		Returns:    [][]float64{{0.9, 0.2, 1.5}, {0.4, 0.0}},
		Entropy:    [][]float64{{1, 2, 3}, {4, 5}},
	}
	loss := func() float64 {
		r, err := PPOLoss(cfg, b)
		if err != nil {
			t.Fatal(err)
		}
		return r.Loss
	}
	res, err := PPOLoss(cfg, b)
	mustNoErr(t, err)
	// The third value token (V=1.0 outside V_old=0.7 ± 0.2, R̂=1.5) takes the clipped square: gradient 0.
	near(t, "clipped value grad", res.GradValues[0][2], 0, 0)
	near(t, "val/clipfrac_avg", res.Metrics["val/clipfrac_avg"], 0.2, 0)
	near(t, "policy/entropy_avg", res.Metrics["policy/entropy_avg"], 3, 0)
	checkGradTokens(t, "Logp", loss, b.Logp, res.GradLogp)
	checkGradTokens(t, "Values", loss, b.Values, res.GradValues)
}

func TestPPORejectsBadInput(t *testing.T) {
	b := onePPOToken(0, 1, 0, 0, 0)
	b.Returns = [][]float64{{0, 1}}
	_, err := PPOLoss(DefaultPPOConfig(), b)
	wantErr(t, err, "PPO loss: len(Returns[0]) = 2 tokens, want 1")
	cfg := DefaultPPOConfig()
	cfg.Lambda = 1.5
	_, err = PPOLoss(cfg, onePPOToken(0, 1, 0, 0, 0))
	wantErr(t, err, "PPO loss: lam = 1.5, want in [0, 1]")
	cfg = DefaultPPOConfig()
	cfg.ClipRange = 0
	_, err = PPOLoss(cfg, onePPOToken(0, 1, 0, 0, 0))
	wantErr(t, err, "PPO loss: cliprange = 0, want a finite value > 0")
	_, err = PPOAdvantages(DefaultPPOConfig(), PPORollout{Scores: []float64{1}, Logp: [][]float64{{-1}}, RefLogp: [][]float64{{-1}}, Values: [][]float64{{}}})
	wantErr(t, err, "PPO advantages: Values[0] has no tokens")
	_, _, err = GAE([]float64{1, 2}, []float64{0}, 1, 0.95)
	wantErr(t, err, "GAE: 2 rewards and 1 values, want one value per reward")
	_, err = PPOTokenRewards(1, nil, nil, 0.1)
	wantErr(t, err, "PPO token rewards: 0 log-probs and 0 reference log-probs")
}
