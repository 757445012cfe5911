package pft

import (
	"fmt"
	"math"
	"path/filepath"

	"roads/model"
)

// Proximal Policy Optimisation with a value head (Schulman et al. 2017; Ouyang et
// al. 2022), following TRL's PPOTrainer and the "N+ implementation details" TL;DR
// recipe (Huang et al. 2024).
//
// Rewards. Completion y = (a_0…a_{T−1}) of prompt x gets a per-token reward: the
// KL penalty at every token and the verifier score at the last one,
//
//	r_t = −β k1_t + 1{t = T−1} · s,   k1_t = log π_old(a_t|s_t) − log π_ref(a_t|s_t)
//
// (s less missing_eos_penalty when y has no EOS). Σ_t r_t is RLOO's R.
//
// Advantages: generalised advantage estimation (Schulman et al. 2016) with the
// value head's V_t = V(s_t) under π_old and V_T = 0 after the last token:
//
//	δ_t = r_t + γ V_{t+1} − V_t
//	Â_t = δ_t + γλ Â_{t+1},   Â_T = 0          (Â_t = Σ_{l≥0} (γλ)^l δ_{t+l})
//	R̂_t = Â_t + V_t                            (the value target, "returns")
//
// then whitened over all tokens of the batch: Â ← (Â − mean Â)/sqrt(var Â + 1e-8),
// var Bessel-corrected (TRL's masked_whiten). Returns are not whitened.
//
// Loss, per token, averaged over all N tokens of the batch, with
// ρ_t = exp(log π(a_t|s_t) − log π_old(a_t|s_t)):
//
//	L_clip = −(1/N) Σ min(ρ_t Â_t, clip(ρ_t, 1−ε, 1+ε) Â_t)
//	L_V    = ½ (1/N) Σ max((V_t − R̂_t)², (clip(V_t, V^old_t − ε_v, V^old_t + ε_v) − R̂_t)²)
//	L      = L_clip + c_v L_V                                     (c_v = vf_coef)
//
// Gradients: dL/d log π(a_t|s_t) = −ρ_t Â_t/N where the unclipped branch is the min, else 0;
// dL/dV_t = c_v (V_t − R̂_t)/N where the unclipped square is the max, else 0 (the clipped
// square can be strictly larger only when V_t is outside V^old_t ± ε_v, where clip(V_t) is constant).

// PPOConfig holds PPO's hyper-parameters (TRL PPOConfig names and defaults via
// DefaultPPOConfig).
type PPOConfig struct {
	KLCoef            float64 `json:"kl_coef" help:"β of the per-token k1 KL penalty in the reward"`                      // β ≥ 0 (TRL 0.05)
	MissingEOSPenalty float64 `json:"missing_eos_penalty" help:"subtracted from the score of samples cut off before EOS"` // 0 = off
	Gamma             float64 `json:"gamma" help:"discount γ"`                                                            // γ ∈ [0, 1] (TRL 1.0)
	Lambda            float64 `json:"lam" help:"GAE λ"`                                                                   // λ ∈ [0, 1] (TRL 0.95)
	ClipRange         float64 `json:"cliprange" help:"policy ratio clip range ε"`                                         // ε > 0 (TRL 0.2)
	ClipRangeValue    float64 `json:"cliprange_value" help:"value clip range"`                                            // ε_v > 0 (TRL 0.2)
	VFCoef            float64 `json:"vf_coef" help:"value loss coefficient"`                                              // c_v ≥ 0 (TRL 0.1)
}

// DefaultPPOConfig returns TRL's PPO defaults.
func DefaultPPOConfig() PPOConfig {
	return PPOConfig{KLCoef: 0.05, Gamma: 1, Lambda: 0.95, ClipRange: 0.2, ClipRangeValue: 0.2, VFCoef: 0.1}
}

// PPOTokenRewards is r_t above for one completion: −β k1_t per token plus the
// score at the last token, from the log-probs of π_old (logp) and π_ref.
func PPOTokenRewards(score float64, logp, refLogp []float64, klCoef float64) ([]float64, error) {
	if len(logp) == 0 || len(refLogp) != len(logp) {
		return nil, fmt.Errorf("PPO token rewards: %d log-probs and %d reference log-probs, want the same non-zero number", len(logp), len(refLogp))
	}
	r := make([]float64, len(logp))
	for t := range logp {
		kl, _ := K1.Token(logp[t], refLogp[t])
		r[t] = -klCoef * kl
	}
	r[len(r)-1] += score
	return r, nil
}

// GAE returns the advantages Â_t and value targets R̂_t = Â_t + V_t of one
// completion from its per-token rewards and values (V after the last token is 0:
// the episode ends there).
func GAE(rewards, values []float64, gamma, lambda float64) (advantages, returns []float64, err error) {
	if len(values) != len(rewards) {
		return nil, nil, fmt.Errorf("GAE: %d rewards and %d values, want one value per reward", len(rewards), len(values))
	}
	T := len(rewards)
	advantages = make([]float64, T)
	returns = make([]float64, T)
	last := 0.0 // Â_{t+1}
	for t := T - 1; t >= 0; t-- {
		next := 0.0 // V_{t+1}
		if t+1 < T {
			next = values[t+1]
		}
		delta := rewards[t] + gamma*next - values[t]
		last = delta + gamma*lambda*last
		advantages[t] = last
		returns[t] = last + values[t]
	}
	return advantages, returns, nil
}

// Whiten standardises all tokens of a ragged batch together, TRL's
// masked_whiten(shift_mean=True): (x − mean)/sqrt(var + 1e-8) with the
// Bessel-corrected variance (divisor N−1; 0 when N = 1).
func Whiten(x [][]float64) [][]float64 {
	var sum float64
	N := 0
	for _, row := range x {
		for _, v := range row {
			sum += v
			N++
		}
	}
	out := zerosLike(x)
	if N == 0 {
		return out
	}
	m := sum / float64(N)
	var ss float64
	for _, row := range x {
		for _, v := range row {
			ss += (v - m) * (v - m)
		}
	}
	variance := 0.0
	if N > 1 {
		variance = ss / float64(N-1)
	}
	scale := 1 / math.Sqrt(variance+1e-8)
	for i, row := range x {
		for t, v := range row {
			out[i][t] = (v - m) * scale
		}
	}
	return out
}

// PPORollout is what sampling produced, per completion: the verifier score,
// whether it ended with EOS, and per-token log-probs of π_old and π_ref and
// values of the value head under π_old.
type PPORollout struct {
	Scores      []float64
	ContainsEOS []bool // needed iff MissingEOSPenalty ≠ 0
	Logp        [][]float64
	RefLogp     [][]float64
	Values      [][]float64
}

// PPOAdvantageResult holds whitened advantages and value targets per token.
type PPOAdvantageResult struct {
	Advantages [][]float64 // whitened Â_t
	Returns    [][]float64 // R̂_t = Â_t + V_t (before whitening)
	Metrics    Metrics
}

// PPOAdvantages builds per-token rewards, runs GAE per completion and whitens
// the advantages, with TRL's rollout metrics: objective/scores, objective/kl
// (mean Σ_t k1_t), objective/non_score_reward (mean −β Σ_t k1_t),
// objective/rlhf_reward (scores + non_score_reward), objective/entropy (mean
// −Σ_t log π_old), completions/mean_length.
func PPOAdvantages(cfg PPOConfig, r PPORollout) (PPOAdvantageResult, error) {
	const what = "PPO advantages"
	if err := cfg.validate(what); err != nil {
		return PPOAdvantageResult{}, err
	}
	n := len(r.Scores)
	if n == 0 {
		return PPOAdvantageResult{}, fmt.Errorf("%s: empty batch", what)
	}
	if err := checkSeq(what, "Scores", r.Scores, n); err != nil {
		return PPOAdvantageResult{}, err
	}
	if err := checkTokens(what, "Logp", r.Logp, n, nil); err != nil {
		return PPOAdvantageResult{}, err
	}
	if err := checkTokens(what, "RefLogp", r.RefLogp, n, r.Logp); err != nil {
		return PPOAdvantageResult{}, err
	}
	if err := checkTokens(what, "Values", r.Values, n, r.Logp); err != nil {
		return PPOAdvantageResult{}, err
	}
	scores, err := applyMissingEOSPenalty(what, r.Scores, r.ContainsEOS, cfg.MissingEOSPenalty)
	if err != nil {
		return PPOAdvantageResult{}, err
	}

	adv := make([][]float64, n)
	ret := make([][]float64, n)
	var klSum, entropySum, lengthSum float64
	for i := range n {
		// Shapes were checked above, so these cannot fail.
		rewards, _ := PPOTokenRewards(scores[i], r.Logp[i], r.RefLogp[i], cfg.KLCoef)
		adv[i], ret[i], _ = GAE(rewards, r.Values[i], cfg.Gamma, cfg.Lambda)
		klSum += K1.Sequence(r.Logp[i], r.RefLogp[i])
		entropySum -= sumRow(r.Logp[i])
		lengthSum += float64(len(r.Logp[i]))
	}
	nf := float64(n)
	return PPOAdvantageResult{
		Advantages: Whiten(adv),
		Returns:    ret,
		Metrics: Metrics{
			"objective/scores":           mean(scores),
			"objective/kl":               klSum / nf,
			"objective/non_score_reward": -cfg.KLCoef * klSum / nf,
			"objective/rlhf_reward":      mean(scores) - cfg.KLCoef*klSum/nf,
			"objective/entropy":          entropySum / nf,
			"completions/mean_length":    lengthSum / nf,
		},
	}, nil
}

// PPOBatch holds one (mini)batch for the PPO update: the current policy's
// log-probs and value predictions (both differentiated) and the rollout's
// π_old log-probs, values, whitened advantages and value targets.
type PPOBatch struct {
	Logp       [][]float64 // log π(a_t|s_t)
	Values     [][]float64 // V(s_t) of the current value head
	OldLogp    [][]float64 // log π_old(a_t|s_t)
	OldValues  [][]float64 // V_old(s_t) at sampling time
	Advantages [][]float64 // Â_t (whitened)
	Returns    [][]float64 // R̂_t
	Entropy    [][]float64 // optional per-token entropies of π, for policy/entropy_avg
}

// PPOLossResult holds the PPO loss and its gradients on log-probs and values.
type PPOLossResult struct {
	Loss       float64
	GradLogp   [][]float64 // dL/d log π(a_t|s_t)
	GradValues [][]float64 // dL/dV(s_t)
	Metrics    Metrics
}

// PPOLoss computes L = L_clip + c_v L_V for a minibatch with TRL's metrics:
// loss/policy_avg (L_clip), loss/value_avg (L_V), policy/clipfrac_avg (token
// fraction where the clipped policy branch is taken), val/clipfrac_avg (token
// fraction where the clipped value loss is the larger), policy/approxkl_avg
// (token mean of ½(log π − log π_old)², k2 of the update), val/ratio (mean ρ),
// policy/entropy_avg (when Entropy is given), loss.
func PPOLoss(cfg PPOConfig, b PPOBatch) (PPOLossResult, error) {
	const what = "PPO loss"
	if err := cfg.validate(what); err != nil {
		return PPOLossResult{}, err
	}
	n := len(b.Logp)
	if n == 0 {
		return PPOLossResult{}, fmt.Errorf("%s: empty batch", what)
	}
	if err := checkTokens(what, "Logp", b.Logp, n, nil); err != nil {
		return PPOLossResult{}, err
	}
	for _, in := range []struct {
		name string
		xs   [][]float64
	}{{"Values", b.Values}, {"OldLogp", b.OldLogp}, {"OldValues", b.OldValues}, {"Advantages", b.Advantages}, {"Returns", b.Returns}} {
		if err := checkTokens(what, in.name, in.xs, n, b.Logp); err != nil {
			return PPOLossResult{}, err
		}
	}
	if b.Entropy != nil {
		if err := checkTokens(what, "Entropy", b.Entropy, n, b.Logp); err != nil {
			return PPOLossResult{}, err
		}
	}

	N := float64(countTokens(b.Logp))
	out := PPOLossResult{GradLogp: zerosLike(b.Logp), GradValues: zerosLike(b.Logp)}
	var pgLoss, vfLoss, pgClip, vfClip, approxKL, ratioSum, entropySum float64
	for i, row := range b.Logp {
		for t, lp := range row {
			// Policy: −min(ρÂ, clip(ρ)Â)
			logRatio := lp - b.OldLogp[i][t]
			s, ds, clip := clippedSurrogate(logRatio, b.Advantages[i][t], cfg.ClipRange, cfg.ClipRange)
			pgLoss -= s
			out.GradLogp[i][t] = -ds / N
			if clip != notClipped {
				pgClip++
			}
			approxKL += 0.5 * logRatio * logRatio
			ratioSum += math.Exp(logRatio)

			// Value: ½ max((V − R̂)², (clip(V, V_old ± ε_v) − R̂)²)
			v, vOld, R := b.Values[i][t], b.OldValues[i][t], b.Returns[i][t]
			vClipped := math.Max(vOld-cfg.ClipRangeValue, math.Min(v, vOld+cfg.ClipRangeValue))
			unclipped := (v - R) * (v - R)
			clipped := (vClipped - R) * (vClipped - R)
			if clipped > unclipped {
				// Only possible when V is outside V_old ± ε_v, where clip(V) is
				// constant: the term gives V no gradient.
				vfLoss += 0.5 * clipped
				vfClip++
			} else {
				vfLoss += 0.5 * unclipped
				out.GradValues[i][t] = cfg.VFCoef * (v - R) / N
			}
			if b.Entropy != nil {
				entropySum += b.Entropy[i][t]
			}
		}
	}
	pgLoss /= N
	vfLoss /= N
	out.Loss = pgLoss + cfg.VFCoef*vfLoss
	out.Metrics = Metrics{
		"loss":                out.Loss,
		"loss/policy_avg":     pgLoss,
		"loss/value_avg":      vfLoss,
		"policy/clipfrac_avg": pgClip / N,
		"val/clipfrac_avg":    vfClip / N,
		"policy/approxkl_avg": approxKL / N,
		"val/ratio":           ratioSum / N,
	}
	if b.Entropy != nil {
		out.Metrics["policy/entropy_avg"] = entropySum / N
	}
	return out, nil
}

func (cfg PPOConfig) validate(what string) error {
	for _, p := range []struct {
		name     string
		v, lo    float64
		hi       float64
		loStrict bool
	}{
		{"kl_coef", cfg.KLCoef, 0, math.Inf(1), false},
		{"gamma", cfg.Gamma, 0, 1, false},
		{"lam", cfg.Lambda, 0, 1, false},
		{"cliprange", cfg.ClipRange, 0, math.Inf(1), true},
		{"cliprange_value", cfg.ClipRangeValue, 0, math.Inf(1), true},
		{"vf_coef", cfg.VFCoef, 0, math.Inf(1), false},
	} {
		bad := math.IsNaN(p.v) || math.IsInf(p.v, 0) || p.v < p.lo || p.v > p.hi || (p.loStrict && p.v == p.lo)
		if bad {
			op := "≥"
			if p.loStrict {
				op = ">"
			}
			if math.IsInf(p.hi, 1) {
				return fmt.Errorf("%s: %s = %v, want a finite value %s %v", what, p.name, p.v, op, p.lo)
			}
			return fmt.Errorf("%s: %s = %v, want in [%v, %v]", what, p.name, p.v, p.lo, p.hi)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// The PPO training loop (`roads ppo`).
//
// Every step samples one completion per prompt of the batch from the current
// policy π_old (temperature 1, the task's mask, max_new_tokens = horizon) and
// scores it with the verifier. A forward pass of π_old gives log π_old per
// token, one of π_ref the k1 penalty (KL in the reward: r_t = −β k1_t, the
// score at the last token), and one of the value model V_old(s_t). GAE turns
// them into advantages and returns, and the step then makes num_ppo_epochs ×
// num_mini_batches optimiser updates of the clipped loss above — the ratio ρ
// moves away from 1 after the first update, which is what the clip is for
// (policy/clipfrac_avg). The learning rate follows the schedule by step.
//
// The value model is a separate scalar-head transformer trained jointly (one
// global gradient-norm clip over policy and value, like TRL's
// PolicyAndValueWrapper). Its value V(s_t) for the state before token t is
// the head's per-token score after reading the token before t. It is
// initialised from the reward model when the verifier is a global RM (TRL's
// convention: value_model_path = reward_model_path), otherwise from the
// policy's trunk with a fresh head (NewValueModel); training_config.json
// records which. It is checkpointed with the policy and written to
// output_dir/value_model at the end.

// PPOTrainConfig is `roads ppo`'s configuration (TRL PPOConfig names).
type PPOTrainConfig struct {
	TrainArgs
	Inputs // the run's inputs: --model, --data, … (each command binds the ones it uses)
	PPOConfig
	NumPPOEpochs   int    `json:"num_ppo_epochs" help:"passes over each rollout"`
	NumMiniBatches int    `json:"num_mini_batches" help:"minibatches per pass (one optimiser update each)"`
	ValueModelInit string `json:"value_model_init,omitempty" flag:"-"` // "reward_model" or "policy" (set by NewValueModel's caller)
}

// DefaultPPOTrainConfig: TRL's PPO defaults (γ 1, λ 0.95, clip 0.2, vf_coef
// 0.1, 4 PPO epochs, 1 minibatch) with kl_coef = 0.05 (also the paper's DPO
// β), lr 1e-4 and 32 prompts per step.
func DefaultPPOTrainConfig() PPOTrainConfig {
	a := DefaultTrainArgs()
	a.LearningRate = 1e-4
	return PPOTrainConfig{TrainArgs: a, PPOConfig: DefaultPPOConfig(), NumPPOEpochs: 4, NumMiniBatches: 1}
}

// NewValueModel returns a trainable value model for PPO and says how it was
// initialised: a copy of the verifier's model when it is a global RM,
// otherwise the policy's trunk with a fresh scalar head.
func NewValueModel(policy *model.Model, v Verifier, seed uint64) (*model.Model, string, error) {
	if rm, ok := v.(GlobalRM); ok {
		m, err := model.New(rm.Model.Config(), seed)
		if err != nil {
			return nil, "", err
		}
		if err := m.CopyWeightsFrom(rm.Model); err != nil {
			return nil, "", err
		}
		return m, "reward_model", nil
	}
	m, err := NewGlobalRM(policy, "last", seed)
	return m, "policy", err
}

// valueRows gathers the value model's V(s_t) for every response token t of
// each sequence: the per-token score after reading token t−1. Rows line up
// with raggedTokens of an LM forward pass over the same batch.
func valueRows(out *model.Output) [][]float64 {
	rows := make([][]float64, out.B)
	for i := range out.B {
		for t := max(1, out.PromptLen[i]); t < out.Lens[i]; t++ {
			rows[i] = append(rows[i], float64(out.Scores[i*out.T+t-1]))
		}
	}
	return rows
}

// valueGradFlat scatters dL/dV(s_t) back onto the scores they were read
// from (the inverse of valueRows), in the scalar head's [B·T] layout.
func valueGradFlat(out *model.Output, grad [][]float64) []float32 {
	g := make([]float32, out.B*out.T)
	for i := range out.B {
		k := 0
		for t := max(1, out.PromptLen[i]); t < out.Lens[i]; t++ {
			g[i*out.T+t-1] = float32(grad[i][k])
			k++
		}
	}
	return g
}

// TrainPPO trains policy and its value model against verifier v with a k1
// KL penalty to ref, on the given prompts, and writes the run into
// cfg.OutputDir. per_device_train_batch_size counts prompts (one completion
// each).
func TrainPPO(cfg PPOTrainConfig, policy, ref, value *model.Model, v Verifier, prompts [][]int32, env Env) error {
	const what = "ppo"
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	lossCfg := cfg.PPOConfig
	if cfg.NumMiniBatches > cfg.PerDeviceTrainBatchSize {
		return fmt.Errorf("%s: num_mini_batches = %d: at most per_device_train_batch_size (%d) minibatches", what, cfg.NumMiniBatches, cfg.PerDeviceTrainBatchSize)
	}
	if value.Config().Head != "scalar" || value.Config().VocabSize != policy.Config().VocabSize {
		return fmt.Errorf("%s: the value model needs a scalar head and the policy's vocabulary", what)
	}
	perStep, err := checkOnline(what, policy, ref, env, prompts, cfg.PerDeviceTrainBatchSize, 1)
	if err != nil {
		return err
	}
	r, err := newRun(runSpec{kind: what, args: cfg.TrainArgs, resolved: cfg, data: prompts, policy: policy, tk: env.Tokenizer,
		total: rlSteps(cfg.TrainArgs, len(prompts), perStep), aux: []*model.Model{value}, auxNames: []string{"value"}, progress: env.Progress})
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
		roll, err := collectRollout(policy, ref, v, env.Task, batch, 1, stepSeed(cfg.Seed, what, r.step))
		if err != nil {
			return r.lossError(err)
		}
		seqs, plens := roll.s.seqs, roll.s.promptLens
		oldLogp, err := tokenLogProbs(policy, seqs, plens)
		if err != nil {
			return r.lossError(err)
		}
		oldValues := make([][]float64, len(seqs))
		for lo := 0; lo < len(seqs); lo += scoreChunk {
			hi := min(lo+scoreChunk, len(seqs))
			out, err := value.Forward(model.Batch{Tokens: seqs[lo:hi], PromptLen: plens[lo:hi]}, model.ForwardOptions{})
			if err != nil {
				return fmt.Errorf("%s: step %d: value model: %w", what, r.step+1, err)
			}
			copy(oldValues[lo:hi], valueRows(out))
		}
		// r_t = −β k1_t (+ score at the end), GAE, whitened advantages (equations above).
		adv, err := PPOAdvantages(lossCfg, PPORollout{Scores: roll.scores, ContainsEOS: roll.s.eos, Logp: oldLogp, RefLogp: roll.refLogp, Values: oldValues})
		if err != nil {
			return r.lossError(err)
		}
		n := len(seqs)
		for epoch := range cfg.NumPPOEpochs {
			perm := stepRNG(cfg.Seed, "ppo_minibatch", r.step*cfg.NumPPOEpochs+epoch).Perm(n)
			for mb := range cfg.NumMiniBatches {
				idx := perm[mb*n/cfg.NumMiniBatches : (mb+1)*n/cfg.NumMiniBatches]
				mbBatch := model.Batch{Tokens: make([][]int32, len(idx)), PromptLen: make([]int, len(idx))}
				pick := func(x [][]float64) [][]float64 {
					out := make([][]float64, len(idx))
					for b, i := range idx {
						out[b] = x[i]
					}
					return out
				}
				for b, i := range idx {
					mbBatch.Tokens[b], mbBatch.PromptLen[b] = seqs[i], plens[i]
				}
				policy.ZeroGrad()
				value.ZeroGrad()
				outP, err := policy.Forward(mbBatch, model.ForwardOptions{})
				if err != nil {
					return r.lossError(err)
				}
				outV, err := value.Forward(mbBatch, model.ForwardOptions{})
				if err != nil {
					return fmt.Errorf("%s: step %d: value model: %w", what, r.step+1, err)
				}
				// L = L_clip + c_v L_V over the minibatch's tokens.
				loss, err := PPOLoss(lossCfg, PPOBatch{Logp: raggedTokens(outP, outP.LogProbs), Values: valueRows(outV),
					OldLogp: pick(oldLogp), OldValues: pick(oldValues), Advantages: pick(adv.Advantages), Returns: pick(adv.Returns),
					Entropy: raggedTokens(outP, outP.Entropy)})
				if err != nil {
					return r.lossError(err)
				}
				if err := policy.Backward(flatGrad(outP, loss.GradLogp), nil); err != nil {
					return r.lossError(err)
				}
				if err := value.BackwardScalar(nil, valueGradFlat(outV, loss.GradValues)); err != nil {
					return fmt.Errorf("%s: step %d: value model: %w", what, r.step+1, err)
				}
				if err := r.applyGradients(loss.Loss, loss.Metrics); err != nil {
					return err
				}
			}
		}
		m := adv.Metrics
		roll.healthMetrics(m)
		r.recordAll(m)
		if err := r.endStep(); err != nil {
			return err
		}
	}
	return r.finishWith(func() error {
		return model.SaveDir(filepath.Join(cfg.OutputDir, "value_model"), value, env.Tokenizer)
	})
}
