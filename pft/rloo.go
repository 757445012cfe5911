package pft

import (
	"fmt"
	"math"

	"roads/model"
)

// REINFORCE Leave-One-Out (Kool et al. 2019; Ahmadian et al. 2024), as TRL's RLOOTrainer.
//
// For each prompt x sample k completions y_1…y_k from π_old. Each gets the
// KL-regularised sequence reward (k1 in the reward, see kl.go)
//
//	R_j = s_j − β Σ_t [log π_old(a_{j,t}|s_{j,t}) − log π_ref(a_{j,t}|s_{j,t})]
//
// where s_j is the verifier score, less missing_eos_penalty when y_j was cut off
// before EOS. The baseline for sample j is the mean reward of the other k−1
// samples of the same prompt, so the advantage is unbiased and sums to zero
// within a group:
//
//	A_j = R_j − (1/(k−1)) Σ_{i≠j} R_i  =  (k/(k−1)) (R_j − mean_i R_i)
//
// (optionally standardised over the batch: (A − mean A)/(std A + 1e-4), TRL's
// normalize_advantages). The policy loss works at sequence level with the
// PPO-style clipped ratio ρ_j = π(y_j|x)/π_old(y_j|x) = exp(log π(y_j|x) − log π_old(y_j|x)):
//
//	L = −(1/n) Σ_j min(ρ_j A_j, clip(ρ_j, 1−ε, 1+ε) A_j)
//
// This is TRL's RLOO loss (rloo_trainer.py `_compute_loss`). On the first update
// after sampling ρ = 1, nothing is clipped, and ∇L = −(1/n) Σ_j A_j ∇log π(y_j|x):
// exactly the gradient of the REINFORCE loss −(1/n) Σ_j A_j log π(y_j|x). Later
// updates on the same rollout (num_iterations > 1) are kept near π_old by the clip.
//
// Gradient on the sequence log-prob: d L / d log π(y_j|x) = −ρ_j A_j / n unless the
// clipped branch is strictly smaller (A_j > 0 and ρ_j > 1+ε, or A_j < 0 and
// ρ_j < 1−ε), where it is 0. The model's backward spreads it to every token of y_j.

// RLOOConfig holds the RLOO hyper-parameters (TRL names).
type RLOOConfig struct {
	NumGenerations      int     `json:"num_generations" help:"samples per prompt k (per_device_train_batch_size counts completions and must be a multiple)"` // k ≥ 2 (TRL num_generations; rloo_k before 0.22)
	Beta                float64 `json:"beta" help:"KL coefficient β: R = score − β Σ_t (log π − log π_ref)"`                                                 // β ≥ 0 (TRL beta; kl_coef before 0.22)
	MissingEOSPenalty   float64 `json:"missing_eos_penalty" help:"subtracted from the score of samples cut off before EOS"`                                  // 0 = off
	NormalizeAdvantages bool    `json:"normalize_advantages" help:"standardise the advantages over the batch"`
}

// RLOORollout is what sampling produced: scores and per-token log-probs of the
// sampling policy π_old and the reference, prompt-major (see package doc).
type RLOORollout struct {
	Scores      []float64   // verifier score s_j per completion
	ContainsEOS []bool      // whether completion j ended with EOS; needed iff MissingEOSPenalty ≠ 0
	Logp        [][]float64 // log π_old(a_t|s_t)
	RefLogp     [][]float64 // log π_ref(a_t|s_t); may be nil when Beta = 0
}

// RLOOAdvantageResult holds the leave-one-out advantages and the per-sequence rewards.
type RLOOAdvantageResult struct {
	Advantages []float64 // A_j
	Rewards    []float64 // R_j = score − β·KL
	Metrics    Metrics
}

// RLOOAdvantages computes the RLOO advantages of a rollout and these metrics
// (TRL's pre-0.22 RLOO/PPO names, which the paper-era TL;DR runs log):
//
//	objective/scores            mean verifier score (after missing_eos_penalty)
//	objective/kl                mean Σ_t k1_t per sequence
//	objective/non_score_reward  mean −β Σ_t k1_t
//	objective/rlhf_reward       mean R_j (scores + non_score_reward)
//	objective/entropy           mean −Σ_t log π_old(a_t|s_t): the sampled-token entropy estimate TRL logs
//	completions/mean_length     mean tokens per completion
//	reward_std                  mean within-group std of R (TRL ≥ 0.22 name)
//	frac_reward_zero_std        fraction of groups whose R are all equal (TRL ≥ 0.22 name)
func RLOOAdvantages(cfg RLOOConfig, r RLOORollout) (RLOOAdvantageResult, error) {
	const what = "RLOO advantages"
	k := cfg.NumGenerations
	if k < 2 {
		return RLOOAdvantageResult{}, fmt.Errorf("%s: num_generations = %d, want ≥ 2 (the leave-one-out baseline needs another sample)", what, k)
	}
	if cfg.Beta < 0 || math.IsNaN(cfg.Beta) {
		return RLOOAdvantageResult{}, fmt.Errorf("%s: beta = %v, want ≥ 0", what, cfg.Beta)
	}
	n := len(r.Scores)
	if n == 0 || n%k != 0 {
		return RLOOAdvantageResult{}, fmt.Errorf("%s: %d scores is not a positive multiple of num_generations = %d", what, n, k)
	}
	if err := checkSeq(what, "Scores", r.Scores, n); err != nil {
		return RLOOAdvantageResult{}, err
	}
	if err := checkTokens(what, "Logp", r.Logp, n, nil); err != nil {
		return RLOOAdvantageResult{}, err
	}
	if cfg.Beta != 0 {
		if err := checkTokens(what, "RefLogp", r.RefLogp, n, r.Logp); err != nil {
			return RLOOAdvantageResult{}, err
		}
	}
	scores, err := applyMissingEOSPenalty(what, r.Scores, r.ContainsEOS, cfg.MissingEOSPenalty)
	if err != nil {
		return RLOOAdvantageResult{}, err
	}

	// R_j = s_j − β Σ_t k1_t
	rewards := make([]float64, n)
	var klSum, entropySum, lengthSum float64
	for j := range n {
		kl := 0.0
		if cfg.Beta != 0 {
			kl = K1.Sequence(r.Logp[j], r.RefLogp[j])
		}
		rewards[j] = scores[j] - cfg.Beta*kl
		klSum += kl
		entropySum -= sumRow(r.Logp[j])
		lengthSum += float64(len(r.Logp[j]))
	}

	// A_j = R_j − (Σ_{i in group} R_i − R_j)/(k−1)
	adv := make([]float64, n)
	var stdSum, zeroStd float64
	for g := 0; g < n; g += k {
		group := rewards[g : g+k]
		sum := 0.0
		for _, R := range group {
			sum += R
		}
		for j, R := range group {
			adv[g+j] = R - (sum-R)/float64(k-1)
		}
		std := sampleStd(group)
		stdSum += std
		if allEqual(group) {
			zeroStd++
		}
	}
	if cfg.NormalizeAdvantages {
		m, s := mean(adv), sampleStd(adv)
		for j := range adv {
			adv[j] = (adv[j] - m) / (s + 1e-4)
		}
	}

	nf, groups := float64(n), float64(n/k)
	return RLOOAdvantageResult{
		Advantages: adv,
		Rewards:    rewards,
		Metrics: Metrics{
			"objective/scores":           mean(scores),
			"objective/kl":               klSum / nf,
			"objective/non_score_reward": -cfg.Beta * klSum / nf,
			"objective/rlhf_reward":      mean(rewards),
			"objective/entropy":          entropySum / nf,
			"completions/mean_length":    lengthSum / nf,
			"reward_std":                 stdSum / groups,
			"frac_reward_zero_std":       zeroStd / groups,
		},
	}, nil
}

// RLOOLoss is the sequence-level clipped policy loss above. logp are the current
// policy's sequence log-probs log π(y_j|x), oldLogp those of the sampling policy
// (pass logp itself for a purely on-policy step), clipRange ε > 0 (TRL epsilon,
// default 0.2). Metrics: loss, clip_ratio/low_mean, clip_ratio/high_mean,
// clip_ratio/region_mean (fractions of sequences whose clipped branch was
// taken, TRL's definitions).
func RLOOLoss(logp, oldLogp, advantages []float64, clipRange float64) (SequenceLoss, error) {
	const what = "RLOO loss"
	n := len(logp)
	if n == 0 {
		return SequenceLoss{}, fmt.Errorf("%s: empty batch", what)
	}
	if !(clipRange > 0) {
		return SequenceLoss{}, fmt.Errorf("%s: clip range = %v, want > 0", what, clipRange)
	}
	for _, in := range []struct {
		name string
		xs   []float64
	}{{"logp", logp}, {"oldLogp", oldLogp}, {"advantages", advantages}} {
		if err := checkSeq(what, in.name, in.xs, n); err != nil {
			return SequenceLoss{}, err
		}
	}
	out := SequenceLoss{Grad: make([]float64, n)}
	nf := float64(n)
	var loss, low, high float64
	for j := range n {
		s, ds, clip := clippedSurrogate(logp[j]-oldLogp[j], advantages[j], clipRange, clipRange)
		loss -= s
		out.Grad[j] = -ds / nf
		switch clip {
		case clippedLow:
			low++
		case clippedHigh:
			high++
		}
	}
	out.Loss = loss / nf
	out.Metrics = Metrics{
		"loss":                   out.Loss,
		"clip_ratio/low_mean":    low / nf,
		"clip_ratio/high_mean":   high / nf,
		"clip_ratio/region_mean": (low + high) / nf,
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// The RLOO training loop (`roads rloo`).
//
// Every step draws the prompts of the batch (per_device_train_batch_size
// completions = prompts × num_generations), samples k completions per prompt
// from the current policy (temperature 1, the task's mask, max_new_tokens =
// horizon), scores them with the verifier, computes per-token log-probs
// under π (one forward pass, kept for the backward) and π_ref, and takes ONE
// optimiser step (TRL's num_iterations = 1): π_old = π, so ρ = 1 and the loss
// above reduces to REINFORCE with the leave-one-out baseline,
//
//	∇L = −(1/n) Σ_j A_j ∇ log π(y_j|x_j),   A_j from R_j = s_j − β Σ_t k1_t.
//
// KL placement (kl.go): k1 in the reward, a constant of the rollout; no KL
// term in the loss.

// RLOOTrainConfig is `roads rloo`'s configuration.
type RLOOTrainConfig struct {
	TrainArgs
	Inputs // the run's inputs: --model, --data, … (each command binds the ones it uses)
	RLOOConfig
	Epsilon float64 `json:"epsilon" help:"clip range of the probability ratio"` // inactive with one update per rollout
}

// DefaultRLOOTrainConfig: k = 4, β = 0.05 (the paper's DPO β, for like-for-like
// comparisons), lr 1e-4, batch 32 completions.
func DefaultRLOOTrainConfig() RLOOTrainConfig {
	a := DefaultTrainArgs()
	a.LearningRate = 1e-4
	return RLOOTrainConfig{TrainArgs: a, RLOOConfig: RLOOConfig{NumGenerations: 4, Beta: DefaultDPOBeta}, Epsilon: 0.2}
}

// TrainRLOO trains policy against verifier v with a KL penalty to ref on the
// given prompts and writes the run into cfg.OutputDir.
func TrainRLOO(cfg RLOOTrainConfig, policy, ref *model.Model, v Verifier, prompts [][]int32, env Env) error {
	const what = "rloo"
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	advCfg := cfg.RLOOConfig
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
		policy.ZeroGrad()
		out, err := policy.Forward(model.Batch{Tokens: roll.s.seqs, PromptLen: roll.s.promptLens}, model.ForwardOptions{})
		if err != nil {
			return r.lossError(err)
		}
		// R_j = s_j − β Σ_t k1_t and the leave-one-out advantages (equations above).
		adv, err := RLOOAdvantages(advCfg, RLOORollout{Scores: roll.scores, ContainsEOS: roll.s.eos,
			Logp: raggedTokens(out, out.LogProbs), RefLogp: roll.refLogp})
		if err != nil {
			return r.lossError(err)
		}
		seqLogp := append([]float64(nil), out.SeqLogProb...)
		loss, err := RLOOLoss(seqLogp, seqLogp, adv.Advantages, cfg.Epsilon)
		if err != nil {
			return r.lossError(err)
		}
		if err := policy.Backward(seqGradFlat(out, loss.Grad), nil); err != nil {
			return r.lossError(err)
		}
		for k, val := range adv.Metrics {
			loss.Metrics[k] = val
		}
		roll.healthMetrics(loss.Metrics)
		if err := r.update(loss.Loss, loss.Metrics); err != nil {
			return err
		}
	}
	return r.finish()
}
