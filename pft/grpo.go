package pft

import (
	"fmt"
	"math"

	"roads/model"
)

// Group Relative Policy Optimisation (Shao et al. 2024, DeepSeekMath), as TRL's GRPOTrainer.
//
// Advantages. For each prompt sample G completions and score them r_1…r_G. Every
// token of completion i gets the group-normalised advantage
//
//	A_i = (r_i − mean(r)) / (std(r) + 1e-4)      scale_rewards = "group" (TRL default)
//	A_i = (r_i − mean(r)) / (std_batch(r) + 1e-4) scale_rewards = "batch"
//	A_i =  r_i − mean(r)                          scale_rewards = "none" (Dr. GRPO)
//
// where mean is over the group and std is torch.std's Bessel-corrected sample std
// (divisor G−1), exactly TRL's expression; so the group's advantages have mean 0
// and sample std std/(std+1e-4) ≈ 1. A group whose rewards are all equal gets
// A = 0 (counted in frac_reward_zero_std). No KL enters the reward: GRPO puts
// it in the loss.
//
// Loss. Per token, with ρ_{i,t} = exp(log π(a_{i,t}|s_{i,t}) − log π_old(a_{i,t}|s_{i,t})),
//
//	ℓ_{i,t} = −min(ρ_{i,t} A_i, clip(ρ_{i,t}, 1−ε_low, 1+ε_high) A_i) + β k3_{i,t}
//	k3_{i,t} = π_ref/π − 1 − log(π_ref/π)                         (kl.go)
//
// and the per-token terms are aggregated by loss_type:
//
//	"dapo" (TRL's current default): L = Σ_{i,t} ℓ_{i,t} / N_global, N_global = completion
//	        tokens in the whole accumulated batch (num_items_in_batch), so that
//	        micro-batch losses simply add up; token-level, no length bias.
//	"bnpo": L = Σ_{i,t} ℓ_{i,t} / Σ_i |o_i| over this (local) batch; token-level.
//	"grpo": L = (1/B) Σ_i (1/|o_i|) Σ_t ℓ_{i,t}: the original sample-level mean,
//	        which weights tokens of short completions more (length bias).
//	"dr_grpo": L = Σ_{i,t} ℓ_{i,t} / (B · max_completion_length).
//
// With one process and no accumulation "dapo" and "bnpo" coincide. Defaults
// follow TRL: β = 0 (no KL, no reference model needed), ε = 0.2, loss_type dapo.
//
// Gradient: dL/d log π(a_{i,t}|s_{i,t}) = w_{i,t} [−ρ A_i·1{unclipped} + β (1 − π_ref/π)],
// with w_{i,t} the aggregation weight above (1/N, 1/(B|o_i|) or 1/(B·L_max)).

// GRPO loss types, spelled as TRL's loss_type.
const (
	GRPOLossDAPO   = "dapo"
	GRPOLossBNPO   = "bnpo"
	GRPOLossGRPO   = "grpo"
	GRPOLossDrGRPO = "dr_grpo"
)

// GRPO reward scaling modes, spelled as TRL's scale_rewards.
const (
	ScaleGroup = "group"
	ScaleBatch = "batch"
	ScaleNone  = "none"
)

// grpoStdEps is TRL's constant in (r − mean)/(std + 1e-4).
const grpoStdEps = 1e-4

// GRPOConfig holds the GRPO loss hyper-parameters (TRL GRPOConfig names).
type GRPOConfig struct {
	Beta        float64 `json:"beta" help:"coefficient of the per-token k3 KL term in the loss"` // β ≥ 0 (TRL default 0)
	Epsilon     float64 `json:"epsilon" help:"lower clip range of the ratio"`                    // ε_low > 0 (TRL default 0.2)
	EpsilonHigh float64 `json:"epsilon_high" help:"upper clip range (0: --epsilon)"`             // ε_high; 0 means Epsilon (TRL: None)
	LossType    string  `json:"loss_type" help:"dapo, bnpo, grpo or dr_grpo"`                    // "dapo" (default when empty), "bnpo", "grpo", "dr_grpo"
	// Set per batch by the trainer, not configured:
	MaxCompletionLength int `json:"-" flag:"-"` // L_max, needed by dr_grpo
	NumItemsInBatch     int `json:"-" flag:"-"` // dapo's N_global; 0 means this batch's token count
}

// DefaultGRPOConfig returns TRL's defaults: β = 0, ε = 0.2, loss_type dapo.
func DefaultGRPOConfig() GRPOConfig {
	return GRPOConfig{Beta: 0, Epsilon: 0.2, LossType: GRPOLossDAPO}
}

// GRPOAdvantages normalises rewards within groups of numGenerations consecutive
// samples (see above) and returns one advantage per completion plus TRL's
// metrics: reward (mean reward), reward_std (mean within-group std; the batch
// std under scale "batch"), frac_reward_zero_std (fraction of samples whose
// group — or batch, under "batch" — has zero reward spread).
func GRPOAdvantages(rewards []float64, numGenerations int, scaleRewards string) ([]float64, Metrics, error) {
	const what = "GRPO advantages"
	G := numGenerations
	if G < 2 {
		return nil, nil, fmt.Errorf("%s: num_generations = %d, want ≥ 2", what, G)
	}
	n := len(rewards)
	if n == 0 || n%G != 0 {
		return nil, nil, fmt.Errorf("%s: %d rewards is not a positive multiple of num_generations = %d", what, n, G)
	}
	if err := checkSeq(what, "rewards", rewards, n); err != nil {
		return nil, nil, err
	}
	if scaleRewards == "" {
		scaleRewards = ScaleGroup
	}
	if scaleRewards != ScaleGroup && scaleRewards != ScaleBatch && scaleRewards != ScaleNone {
		return nil, nil, fmt.Errorf("%s: scale_rewards %q, want %q, %q or %q", what, scaleRewards, ScaleGroup, ScaleBatch, ScaleNone)
	}

	adv := make([]float64, n)
	std := make([]float64, n) // the std each advantage is divided by
	zero := make([]bool, n)
	batchStd, batchZero := sampleStd(rewards), allEqual(rewards)
	for g := 0; g < n; g += G {
		group := rewards[g : g+G]
		m, s, z := mean(group), sampleStd(group), allEqual(group)
		for j := range group {
			adv[g+j] = group[j] - m // A = r − mean_group(r)
			std[g+j], zero[g+j] = s, z
			if scaleRewards == ScaleBatch {
				std[g+j], zero[g+j] = batchStd, batchZero
			}
		}
	}
	if scaleRewards != ScaleNone {
		for j := range adv {
			adv[j] /= std[j] + grpoStdEps // A = (r − mean)/(std + 1e-4)
		}
	}
	var zeroFrac float64
	for _, z := range zero {
		if z {
			zeroFrac++
		}
	}
	return adv, Metrics{
		"reward":               mean(rewards),
		"reward_std":           mean(std),
		"frac_reward_zero_std": zeroFrac / float64(n),
	}, nil
}

// GRPOBatch holds per-token log-probs of B completions under the current policy
// π, the sampling policy π_old and the reference π_ref, and one advantage per
// completion.
type GRPOBatch struct {
	Logp       [][]float64 // log π(a_t|s_t), differentiated
	OldLogp    [][]float64 // log π_old(a_t|s_t); nil means π_old = π (ρ = 1, on-policy)
	RefLogp    [][]float64 // log π_ref(a_t|s_t); needed iff Beta ≠ 0
	Advantages []float64   // A_i, from GRPOAdvantages
	Entropy    [][]float64 // optional per-token entropies, for the entropy metric
}

// GRPOLoss computes the GRPO loss, its per-token gradient and TRL's metrics:
// loss, kl (token mean of k3, when β ≠ 0), clip_ratio/low_mean,
// clip_ratio/high_mean, clip_ratio/region_mean (token fractions where the
// clipped branch is taken), entropy (token mean, when given),
// completions/mean_length.
func GRPOLoss(cfg GRPOConfig, b GRPOBatch) (TokenLoss, error) {
	const what = "GRPO loss"
	lossType := cfg.LossType
	if lossType == "" {
		lossType = GRPOLossDAPO
	}
	epsLow, epsHigh := cfg.Epsilon, cfg.EpsilonHigh
	if epsHigh == 0 {
		epsHigh = epsLow
	}
	if !(epsLow > 0) || !(epsHigh > 0) || math.IsInf(epsHigh, 0) {
		return TokenLoss{}, fmt.Errorf("%s: epsilon = %v, epsilon_high = %v, want both > 0", what, cfg.Epsilon, cfg.EpsilonHigh)
	}
	if cfg.Beta < 0 || math.IsNaN(cfg.Beta) || math.IsInf(cfg.Beta, 0) {
		return TokenLoss{}, fmt.Errorf("%s: beta = %v, want a finite value ≥ 0", what, cfg.Beta)
	}
	B := len(b.Logp)
	if B == 0 {
		return TokenLoss{}, fmt.Errorf("%s: empty batch", what)
	}
	if err := checkTokens(what, "Logp", b.Logp, B, nil); err != nil {
		return TokenLoss{}, err
	}
	oldLogp := b.OldLogp
	if oldLogp == nil {
		oldLogp = b.Logp
	} else if err := checkTokens(what, "OldLogp", oldLogp, B, b.Logp); err != nil {
		return TokenLoss{}, err
	}
	if cfg.Beta != 0 {
		if err := checkTokens(what, "RefLogp", b.RefLogp, B, b.Logp); err != nil {
			return TokenLoss{}, err
		}
	}
	if b.Entropy != nil {
		if err := checkTokens(what, "Entropy", b.Entropy, B, b.Logp); err != nil {
			return TokenLoss{}, err
		}
	}
	if err := checkSeq(what, "Advantages", b.Advantages, B); err != nil {
		return TokenLoss{}, err
	}
	tokens := countTokens(b.Logp)

	// weight(i) is the aggregation weight w_{i,t} of every token of completion i.
	var weight func(i int) float64
	switch lossType {
	case GRPOLossDAPO:
		norm := tokens
		if cfg.NumItemsInBatch != 0 {
			if cfg.NumItemsInBatch < tokens {
				return TokenLoss{}, fmt.Errorf("%s: NumItemsInBatch = %d, fewer than the %d tokens in this batch", what, cfg.NumItemsInBatch, tokens)
			}
			norm = cfg.NumItemsInBatch
		}
		weight = func(int) float64 { return 1 / float64(norm) }
	case GRPOLossBNPO:
		weight = func(int) float64 { return 1 / float64(tokens) }
	case GRPOLossGRPO:
		weight = func(i int) float64 { return 1 / (float64(B) * float64(len(b.Logp[i]))) }
	case GRPOLossDrGRPO:
		if cfg.MaxCompletionLength <= 0 {
			return TokenLoss{}, fmt.Errorf("%s: loss_type dr_grpo needs MaxCompletionLength > 0, got %d", what, cfg.MaxCompletionLength)
		}
		weight = func(int) float64 { return 1 / (float64(B) * float64(cfg.MaxCompletionLength)) }
	default:
		return TokenLoss{}, fmt.Errorf("%s: loss_type %q, want %q, %q, %q or %q", what, lossType, GRPOLossDAPO, GRPOLossBNPO, GRPOLossGRPO, GRPOLossDrGRPO)
	}

	out := TokenLoss{Grad: zerosLike(b.Logp)}
	var loss, klSum, low, high, entropySum float64
	for i, row := range b.Logp {
		w := weight(i)
		A := b.Advantages[i]
		for t, lp := range row {
			// −min(ρA, clip(ρ)A)
			s, ds, clip := clippedSurrogate(lp-oldLogp[i][t], A, epsLow, epsHigh)
			l, dl := -s, -ds
			// + β k3
			if cfg.Beta != 0 {
				kl, dkl := K3.Token(lp, b.RefLogp[i][t])
				l += cfg.Beta * kl
				dl += cfg.Beta * dkl
				klSum += kl
			}
			loss += w * l
			out.Grad[i][t] = w * dl
			switch clip {
			case clippedLow:
				low++
			case clippedHigh:
				high++
			}
			if b.Entropy != nil {
				entropySum += b.Entropy[i][t]
			}
		}
	}
	tf := float64(tokens)
	out.Loss = loss
	out.Metrics = Metrics{
		"loss":                    loss,
		"clip_ratio/low_mean":     low / tf,
		"clip_ratio/high_mean":    high / tf,
		"clip_ratio/region_mean":  (low + high) / tf,
		"completions/mean_length": tf / float64(B),
	}
	if cfg.Beta != 0 {
		out.Metrics["kl"] = klSum / tf
	}
	if b.Entropy != nil {
		out.Metrics["entropy"] = entropySum / tf
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// The GRPO training loop (`roads grpo`).
//
// Every step samples num_generations completions for each prompt of the
// batch from the current policy (as RLOO), scores them with the verifier
// (less missing_eos_penalty), normalises the scores within each group into
// advantages, and takes ONE optimiser step on the loss above (num_iterations
// = 1: π_old = π, ρ = 1, nothing is clipped) with the per-token KL term
// β·k3 against π_ref differentiated in the loss.
//
// KL placement (kl.go): k3 in the loss, nothing in the reward. For
// comparability with RLOO and PPO the run still logs objective/kl as the
// mean per-sequence Σ_t k1_t of the samples (and objective/non_score_reward =
// −β·objective/kl, objective/rlhf_reward = scores + non_score_reward), next
// to the loss's own kl (token mean of k3). β defaults to 0.05, not TRL's 0,
// so that every trainer here regularises towards the same reference.

// GRPOTrainConfig is `roads grpo`'s configuration (TRL GRPOConfig names).
type GRPOTrainConfig struct {
	TrainArgs
	Inputs // the run's inputs: --model, --data, … (each command binds the ones it uses)
	GRPOConfig
	NumGenerations    int     `json:"num_generations" help:"samples per prompt (per_device_train_batch_size counts completions and must be a multiple)"`
	ScaleRewards      string  `json:"scale_rewards" help:"group, batch or none"`
	MissingEOSPenalty float64 `json:"missing_eos_penalty" help:"subtracted from the score of samples cut off before EOS"`
}

// DefaultGRPOTrainConfig: 4 generations, β = 0.05, ε = 0.2, dapo, group scaling, lr 1e-4.
func DefaultGRPOTrainConfig() GRPOTrainConfig {
	a := DefaultTrainArgs()
	a.LearningRate = 1e-4
	return GRPOTrainConfig{TrainArgs: a, GRPOConfig: GRPOConfig{Beta: DefaultDPOBeta, Epsilon: 0.2, LossType: GRPOLossDAPO}, NumGenerations: 4, ScaleRewards: ScaleGroup}
}

// TrainGRPO trains policy against verifier v with the k3 KL term to ref on
// the given prompts and writes the run into cfg.OutputDir.
func TrainGRPO(cfg GRPOTrainConfig, policy, ref *model.Model, v Verifier, prompts [][]int32, env Env) error {
	const what = "grpo"
	if err := cfg.Validate(); err != nil { // every setting, before any sampling
		return fmt.Errorf("%s: %w", what, err)
	}
	lossCfg := cfg.GRPOConfig
	if env.Task != nil {
		lossCfg.MaxCompletionLength = env.Task.Horizon() + 1 // EOS included
	}
	perStep, err := checkOnline(what, policy, ref, env, prompts, cfg.PerDeviceTrainBatchSize, cfg.NumGenerations)
	if err != nil {
		return err
	}
	r, err := newRun(runSpec{kind: what, args: cfg.TrainArgs, resolved: cfg, data: prompts, policy: policy, tk: env.Tokenizer,
		total: rlSteps(cfg.TrainArgs, len(prompts), perStep), progress: env.Progress})
	if err != nil {
		return err
	}
	defer r.release()
	if err := saveReference(cfg.OutputDir, ref, env.Tokenizer); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	r.onSave = func(step int) error { return writeSamples(cfg.OutputDir, step, policy, env, cfg.Seed) }
	var order orderCache
	for r.step < r.total {
		batch := rlPrompts(prompts, cfg.Seed, r.step, perStep, &order)
		roll, err := collectRollout(policy, ref, v, env.Task, batch, cfg.NumGenerations, stepSeed(cfg.Seed, what, r.step))
		if err != nil {
			return r.lossError(err)
		}
		scores, err := applyMissingEOSPenalty(what, roll.scores, roll.s.eos, cfg.MissingEOSPenalty)
		if err != nil {
			return err
		}
		// A_i = (r_i − mean_group r)/(std_group r + 1e-4)
		adv, advMetrics, err := GRPOAdvantages(scores, cfg.NumGenerations, cfg.ScaleRewards)
		if err != nil {
			return r.lossError(err)
		}
		policy.ZeroGrad()
		out, err := policy.Forward(model.Batch{Tokens: roll.s.seqs, PromptLen: roll.s.promptLens}, model.ForwardOptions{})
		if err != nil {
			return r.lossError(err)
		}
		logp := raggedTokens(out, out.LogProbs)
		// ℓ_{i,t} = −min(ρA, clip(ρ)A) + β k3_{i,t}, aggregated by loss_type.
		loss, err := GRPOLoss(lossCfg, GRPOBatch{Logp: logp, RefLogp: roll.refLogp, Advantages: adv, Entropy: raggedTokens(out, out.Entropy)})
		if err != nil {
			return r.lossError(err)
		}
		if err := policy.Backward(flatGrad(out, loss.Grad), nil); err != nil {
			return r.lossError(err)
		}
		m := loss.Metrics
		for k, val := range advMetrics {
			m[k] = val
		}
		var kl, ent float64
		for i, row := range logp {
			kl += K1.Sequence(row, roll.refLogp[i])
			ent -= sumRow(row)
		}
		nf := float64(len(logp))
		m["objective/scores"] = mean(scores)
		m["objective/kl"] = kl / nf
		m["objective/entropy"] = ent / nf
		m["objective/non_score_reward"] = -cfg.Beta * kl / nf
		m["objective/rlhf_reward"] = mean(scores) - cfg.Beta*kl/nf
		roll.healthMetrics(m)
		if err := r.update(loss.Loss, m); err != nil {
			return err
		}
	}
	return r.finish()
}
