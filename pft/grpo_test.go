package pft

import (
	"math"
	"testing"
)

func TestGRPOAdvantagesHaveZeroMeanAndUnitStdPerGroup(t *testing.T) {
	rewards := []float64{1, 2, 3, 5, 5, 5, 0, 1, 10, -0.3, 0.8, 0.8}
	const G = 3
	adv, m, err := GRPOAdvantages(rewards, G, ScaleGroup)
	mustNoErr(t, err)
	// Hand values for the first group: mean 2, sample std 1.
	for j, want := range []float64{-1, 0, 1} {
		near(t, "A (group 1)", adv[j], want/(1+1e-4), 1e-15)
	}
	for g := 0; g < len(rewards); g += G {
		group := adv[g : g+G]
		near(t, "group mean of A", mean(group), 0, 1e-14)
		s := sampleStd(rewards[g : g+G])
		if s == 0 {
			for _, a := range group {
				near(t, "A in a zero-std group", a, 0, 0)
			}
			continue
		}
		// Unit sample std up to TRL's 1e-4 in the denominator.
		near(t, "group std of A", sampleStd(group), s/(s+1e-4), 1e-14)
		near(t, "group std of A ≈ 1", sampleStd(group), 1, 1e-3)
	}
	near(t, "reward", m["reward"], mean(rewards), 1e-15)
	near(t, "frac_reward_zero_std", m["frac_reward_zero_std"], 0.25, 0)
	near(t, "reward_std", m["reward_std"], (1+0+sampleStd(rewards[6:9])+sampleStd(rewards[9:]))/4, 1e-14)
}

func TestGRPOAdvantagesScaleNoneAndBatch(t *testing.T) {
	rewards := []float64{1, 2, 3, 10, 20, 60}
	adv, _, err := GRPOAdvantages(rewards, 3, ScaleNone)
	mustNoErr(t, err)
	for j, want := range []float64{-1, 0, 1, -20, -10, 30} {
		near(t, "unscaled A", adv[j], want, 1e-15)
	}
	adv, _, err = GRPOAdvantages(rewards, 3, ScaleBatch)
	mustNoErr(t, err)
	s := sampleStd(rewards)
	for j, want := range []float64{-1, 0, 1, -20, -10, 30} {
		near(t, "batch-scaled A", adv[j], want/(s+1e-4), 1e-15)
	}
	_, _, err = GRPOAdvantages(rewards, 3, "global")
	wantErr(t, err, `GRPO advantages: scale_rewards "global"`)
}

func TestGRPOLossHandValuesPerLossType(t *testing.T) {
	// On-policy (ρ = 1), β = 0, two completions of 1 and 3 tokens with A = [1, −1].
	// Per-token loss ℓ = −A: [−1] and [1, 1, 1].
	b := GRPOBatch{Logp: [][]float64{{-1}, {-2, -3, -4}}, Advantages: []float64{1, -1}}
	cases := []struct {
		lossType           string
		maxLen             int
		loss, grad0, grad1 float64
	}{
		{GRPOLossDAPO, 0, (-1 + 3) / 4.0, -1 / 4.0, 1 / 4.0},
		{GRPOLossBNPO, 0, (-1 + 3) / 4.0, -1 / 4.0, 1 / 4.0},
		{GRPOLossGRPO, 0, (-1/1.0 + 3/3.0) / 2, -1 / (2 * 1.0), 1 / (2 * 3.0)},
		{GRPOLossDrGRPO, 5, (-1 + 3) / 10.0, -1 / 10.0, 1 / 10.0},
	}
	for _, c := range cases {
		res, err := GRPOLoss(GRPOConfig{Epsilon: 0.2, LossType: c.lossType, MaxCompletionLength: c.maxLen}, b)
		mustNoErr(t, err)
		near(t, c.lossType+" loss", res.Loss, c.loss, 1e-15)
		near(t, c.lossType+" grad[0][0]", res.Grad[0][0], c.grad0, 1e-15)
		for _, g := range res.Grad[1] {
			near(t, c.lossType+" grad[1][t]", g, c.grad1, 1e-15)
		}
		near(t, c.lossType+" completions/mean_length", res.Metrics["completions/mean_length"], 2, 0)
	}
}

func TestGRPOKLTermIsBetaK3(t *testing.T) {
	// A = 0 leaves only β k3: loss = β·mean_t k3, grad = β (1 − π_ref/π)/N.
	logp := [][]float64{{math.Log(0.5), math.Log(0.9)}}
	ref := [][]float64{{math.Log(0.25), math.Log(0.9)}}
	res, err := GRPOLoss(GRPOConfig{Beta: 0.04, Epsilon: 0.2}, GRPOBatch{Logp: logp, RefLogp: ref, Advantages: []float64{0}})
	mustNoErr(t, err)
	k3 := 0.1931471805599453 // ½ − 1 + log 2, and 0 for the second token
	near(t, "loss", res.Loss, 0.04*k3/2, 1e-15)
	near(t, "kl metric", res.Metrics["kl"], k3/2, 1e-15)
	near(t, "grad[0][0]", res.Grad[0][0], 0.04*(1-0.5)/2, 1e-15)
	near(t, "grad[0][1]", res.Grad[0][1], 0, 1e-15)
}

func TestGRPOGradientsMatchFiniteDifferences(t *testing.T) {
	for _, lossType := range []string{GRPOLossDAPO, GRPOLossBNPO, GRPOLossGRPO, GRPOLossDrGRPO} {
		b := GRPOBatch{
			Logp:       [][]float64{{-1.2, -0.3, -2.0}, {-0.7}, {-3.3, -0.05}},
			OldLogp:    [][]float64{{-1.25, -0.28, -2.1}, {-0.65}, {-3.2, -0.06}},
			RefLogp:    [][]float64{{-1.0, -0.5, -1.5}, {-0.9}, {-3.0, -0.2}},
			Advantages: []float64{0.8, -1.1, 0.3},
		}
		cfg := GRPOConfig{Beta: 0.1, Epsilon: 0.2, LossType: lossType, MaxCompletionLength: 4}
		loss := func() float64 {
			r, err := GRPOLoss(cfg, b)
			if err != nil {
				t.Fatal(err)
			}
			return r.Loss
		}
		res, err := GRPOLoss(cfg, b)
		mustNoErr(t, err)
		checkGradTokens(t, lossType+" Logp", loss, b.Logp, res.Grad)
	}
}

func TestGRPOClippingWithAsymmetricEpsilon(t *testing.T) {
	cfg := GRPOConfig{Epsilon: 0.2, EpsilonHigh: 0.28}
	// Four tokens of one completion with A > 0 at ρ = 1.25 (inside 1+ε_high), 1.3
	// (clipped high); a second with A < 0 at ρ = 0.75 (clipped low) and 0.85 (inside).
	lr := math.Log
	b := GRPOBatch{
		Logp:       [][]float64{{lr(1.25), lr(1.3)}, {lr(0.75), lr(0.85)}},
		OldLogp:    [][]float64{{0, 0}, {0, 0}},
		Advantages: []float64{1, -1},
	}
	res, err := GRPOLoss(cfg, b)
	mustNoErr(t, err)
	near(t, "grad inside ε_high", res.Grad[0][0], -1.25/4, 1e-15)
	near(t, "grad clipped high", res.Grad[0][1], 0, 0)
	near(t, "grad clipped low", res.Grad[1][0], 0, 0)
	near(t, "grad inside ε_low", res.Grad[1][1], 0.85/4, 1e-15)
	near(t, "loss", res.Loss, (-1.25-1.28+0.8+0.85)/4, 1e-15)
	near(t, "clip_ratio/high_mean", res.Metrics["clip_ratio/high_mean"], 0.25, 0)
	near(t, "clip_ratio/low_mean", res.Metrics["clip_ratio/low_mean"], 0.25, 0)
	near(t, "clip_ratio/region_mean", res.Metrics["clip_ratio/region_mean"], 0.5, 0)
}

func TestGRPODAPOMicroBatchesAddUpToTheBatch(t *testing.T) {
	full := GRPOBatch{
		Logp:       [][]float64{{-1.2, -0.3, -2.0}, {-0.7}, {-3.3, -0.05}},
		OldLogp:    [][]float64{{-1.25, -0.28, -2.1}, {-0.65}, {-3.2, -0.06}},
		Advantages: []float64{0.8, -1.1, 0.3},
	}
	whole, err := GRPOLoss(DefaultGRPOConfig(), full)
	mustNoErr(t, err)
	cfg := DefaultGRPOConfig()
	cfg.NumItemsInBatch = 6
	a, err := GRPOLoss(cfg, GRPOBatch{Logp: full.Logp[:1], OldLogp: full.OldLogp[:1], Advantages: full.Advantages[:1]})
	mustNoErr(t, err)
	b, err := GRPOLoss(cfg, GRPOBatch{Logp: full.Logp[1:], OldLogp: full.OldLogp[1:], Advantages: full.Advantages[1:]})
	mustNoErr(t, err)
	near(t, "sum of micro-batch losses", a.Loss+b.Loss, whole.Loss, 1e-15)
	near(t, "micro-batch grad", b.Grad[1][0], whole.Grad[2][0], 1e-15)
}

func TestGRPORejectsBadInput(t *testing.T) {
	b := GRPOBatch{Logp: [][]float64{{-1}}, Advantages: []float64{1}}
	_, err := GRPOLoss(GRPOConfig{}, b)
	wantErr(t, err, "GRPO loss: epsilon = 0, epsilon_high = 0, want both > 0")
	_, err = GRPOLoss(GRPOConfig{Epsilon: 0.2, Beta: 0.1}, b)
	wantErr(t, err, "GRPO loss: len(RefLogp) = 0 sequences, want 1")
	_, err = GRPOLoss(GRPOConfig{Epsilon: 0.2, LossType: "sapo"}, b)
	wantErr(t, err, `GRPO loss: loss_type "sapo"`)
	_, err = GRPOLoss(GRPOConfig{Epsilon: 0.2, LossType: GRPOLossDrGRPO}, b)
	wantErr(t, err, "loss_type dr_grpo needs MaxCompletionLength > 0")
	_, err = GRPOLoss(GRPOConfig{Epsilon: 0.2}, GRPOBatch{Logp: [][]float64{{-1, -2}}, OldLogp: [][]float64{{-1}}, Advantages: []float64{1}})
	wantErr(t, err, "GRPO loss: len(OldLogp[0]) = 1 tokens, want 2")
	_, _, err = GRPOAdvantages([]float64{1, 2, 3}, 2, ScaleGroup)
	wantErr(t, err, "GRPO advantages: 3 rewards is not a positive multiple of num_generations = 2")
}
