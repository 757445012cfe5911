package pft

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"roads/ckpt"
	"roads/engine"
	"roads/model"
	"roads/tok"
)

// Online DPO, the paper's one-round ("semi-online") variant (§4.1): for every
// training prompt sample K completions from a policy (K = 25 in the paper), score
// them with the global reward model, and keep (best, worst) as a new
// (chosen, rejected) pair; then train with the ordinary DPO loss (dpo.go) on
// those pairs. This file is the pair-selection rule.
//
// Rule "best_worst" (the paper's): chosen = argmax_j s_j, rejected = argmin_j s_j,
// ties broken towards the lowest index. A prompt is skipped when
//
//   - its top and bottom scores tie (s_max = s_min: the verifier expresses no
//     preference, and DPO would push on an arbitrary label),
//   - the two completions are token-for-token identical (h ≡ 0 for every policy,
//     so the pair carries no signal whatever the scores say), or
//   - s_max − s_min < MinScoreMargin (an optional confidence filter).
//
// Rule "best_random": chosen = argmax, rejected uniform among the other K−1
// samples (drawn from the caller's seeded generator, so runs repeat exactly);
// the same skip tests apply to that pair.
//
// TRL's OnlineDPOTrainer samples K = 2 and orders the pair by score; both rules
// reduce to that at K = 2.

// Pair-selection rules.
const (
	PairBestWorst  = "best_worst"
	PairBestRandom = "best_random"
)

// PairSelectConfig holds the pair-selection options.
type PairSelectConfig struct {
	NumGenerations int     // K ≥ 2 samples per prompt
	Rule           string  // PairBestWorst (default when empty) or PairBestRandom
	MinScoreMargin float64 // skip pairs with s⁺ − s⁻ below this; 0 skips only exact ties
}

// Pair is one selected preference pair; Chosen and Rejected index the flat,
// prompt-major sample list, Prompt is the prompt's index (sample index / K).
type Pair struct {
	Prompt, Chosen, Rejected int
}

// SelectPairs picks at most one (chosen, rejected) pair per prompt from K scored
// samples per prompt. completions are the samples' token ids (compared for
// identity); rng is used only by best_random and may be nil otherwise.
// Metrics: objective/scores (mean over all samples, as TRL), objective/scores_margin
// (mean s⁺ − s⁻ over selected pairs; absent when none is selected), and the
// roads-specific counts pairs/selected, pairs/skipped_tie, pairs/skipped_identical,
// pairs/skipped_margin.
func SelectPairs(cfg PairSelectConfig, scores []float64, completions [][]int32, rng *rand.Rand) ([]Pair, Metrics, error) {
	const what = "online DPO pair selection"
	K := cfg.NumGenerations
	if K < 2 {
		return nil, nil, fmt.Errorf("%s: num_generations = %d, want ≥ 2", what, K)
	}
	rule := cfg.Rule
	if rule == "" {
		rule = PairBestWorst
	}
	if rule != PairBestWorst && rule != PairBestRandom {
		return nil, nil, fmt.Errorf("%s: rule %q, want %q or %q", what, rule, PairBestWorst, PairBestRandom)
	}
	if rule == PairBestRandom && rng == nil {
		return nil, nil, fmt.Errorf("%s: rule %q needs a random generator", what, rule)
	}
	if !(cfg.MinScoreMargin >= 0) {
		return nil, nil, fmt.Errorf("%s: MinScoreMargin = %v, want ≥ 0", what, cfg.MinScoreMargin)
	}
	n := len(scores)
	if n == 0 || n%K != 0 {
		return nil, nil, fmt.Errorf("%s: %d scores is not a positive multiple of num_generations = %d", what, n, K)
	}
	if err := checkFinite(what, "scores", scores); err != nil {
		return nil, nil, err
	}
	if len(completions) != n {
		return nil, nil, fmt.Errorf("%s: len(completions) = %d, want %d (one per score)", what, len(completions), n)
	}

	var pairs []Pair
	var tie, identical, belowMargin int
	var marginSum float64
	for p := 0; p*K < n; p++ {
		group := scores[p*K : (p+1)*K]
		chosen, rejected := 0, 0
		for j, s := range group {
			if s > group[chosen] {
				chosen = j
			}
			if s < group[rejected] {
				rejected = j
			}
		}
		if rule == PairBestRandom {
			rejected = rng.IntN(K - 1) // uniform over the K−1 others
			if rejected >= chosen {
				rejected++
			}
		}
		gap := group[chosen] - group[rejected]
		chosen, rejected = p*K+chosen, p*K+rejected
		switch {
		case gap == 0:
			tie++
		case slices.Equal(completions[chosen], completions[rejected]):
			identical++
		case gap < cfg.MinScoreMargin:
			belowMargin++
		default:
			pairs = append(pairs, Pair{Prompt: p, Chosen: chosen, Rejected: rejected})
			marginSum += gap
		}
	}
	m := Metrics{
		"objective/scores":        mean(scores),
		"pairs/selected":          float64(len(pairs)),
		"pairs/skipped_tie":       float64(tie),
		"pairs/skipped_identical": float64(identical),
		"pairs/skipped_margin":    float64(belowMargin),
	}
	if len(pairs) > 0 {
		m["objective/scores_margin"] = marginSum / float64(len(pairs))
	}
	return pairs, m, nil
}

// ---------------------------------------------------------------------------
// The online DPO training loop (`roads online-dpo`).
//
// mode "one_round" (the paper's §4.1): sample K completions per training
// prompt ONCE from the starting policy π_start (temperature 1, the task's
// mask, max_new_tokens = horizon), score them with the verifier, select one
// pair per prompt with SelectPairs, write the pairs to pairs.jsonl, and run
// the ordinary DPO loop (TrainDPO's code) on them against π_ref. Starting the
// round from the SFT model gives the paper's "Online DPO (SFT)", from a DPO
// model "Online DPO (DPO)"; π_ref defaults to π_start and both are recorded
// in training_config.json. With K = 2 and the gold verifier this is exactly
// offline DPO on gold-labelled pairs of π_start's samples (a test pins it).
//
// mode "iterative" (TRL's OnlineDPOTrainer): every step samples K (default 2)
// fresh completions per prompt of the batch from the CURRENT policy, selects
// pairs the same way and takes one DPO step on them, with π_ref's log-probs
// computed on the fly.
//
// Besides DPO's metrics both modes log (for one_round once, as a step-0 line)
//
//	objective/scores            mean verifier score of all samples (after missing_eos_penalty)
//	objective/scores_margin     mean s⁺ − s⁻ of the selected pairs
//	objective/kl                mean Σ_t k1_t = log π(y) − log π_ref(y) of the samples (nats)
//	objective/entropy           mean −log π(y) of the samples
//	objective/non_score_reward  −β · objective/kl
//	objective/rlhf_reward       objective/scores + objective/non_score_reward
//	val/contain_eos_token       fraction of samples that ended with EOS
//	completions/mean_length     mean completion tokens (EOS excluded)
//	completions/disallowed_mass mean probability on ids the task forbids (see rollout.go)
//	pairs/selected, pairs/skipped_tie, pairs/skipped_identical, pairs/skipped_margin
//	pairs/gold_margin           mean gold(y⁺) − gold(y⁻) of the selected pairs: the
//	                            health check the pilots recommend (≈0 means the
//	                            verifier is picking noise)
//	objective/gold_scores       mean gold reward of all samples

// Online DPO modes.
const (
	OnlineOneRound  = "one_round"
	OnlineIterative = "iterative"
)

// OnlineDPOConfig is `roads online-dpo`'s configuration.
type OnlineDPOConfig struct {
	DPOTrainConfig
	Mode              string  `json:"mode" help:"one_round (sample once from --model, then DPO; the paper) or iterative (fresh on-policy pairs every step; TRL)"`
	NumGenerations    int     `json:"num_generations" help:"samples per prompt K (0: 25 for one_round, 2 for iterative)"` // K; 0: 25 (one_round, the paper) or 2 (iterative, TRL)
	PairRule          string  `json:"pair_rule" help:"best_worst (the paper) or best_random"`                             // best_worst or best_random
	MinScoreMargin    float64 `json:"min_score_margin" help:"skip pairs whose verifier scores differ by less"`
	MissingEOSPenalty float64 `json:"missing_eos_penalty" help:"subtracted from the score of samples cut off before EOS"`
}

// DefaultOnlineDPOConfig is the configuration `roads online-dpo` starts from:
// DPO's, one round, K = 25, best vs worst.
func DefaultOnlineDPOConfig() OnlineDPOConfig {
	return OnlineDPOConfig{DPOTrainConfig: DefaultDPOTrainConfig(), Mode: OnlineOneRound, PairRule: PairBestWorst}
}

func (c OnlineDPOConfig) k() int {
	switch {
	case c.NumGenerations > 0:
		return c.NumGenerations
	case c.Mode == OnlineIterative:
		return 2
	}
	return 25
}

// onlineRound is one sampling round: K samples per prompt, their scores and the selected pairs.
type onlineRound struct {
	s       *samples
	scores  []float64
	pairs   []Pair
	metrics Metrics
}

// sampleAndSelect draws K samples per prompt from policy, scores them and
// selects pairs, with the round's metrics (see above).
func sampleAndSelect(cfg OnlineDPOConfig, policy, ref *model.Model, v Verifier, t Task, prompts [][]int32, seed uint64) (*onlineRound, error) {
	k := cfg.k()
	s, err := sample(policy, t, prompts, k, seed)
	if err != nil {
		return nil, err
	}
	raw, err := v.Score(s.prompts, s.completions)
	if err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	scores, err := applyMissingEOSPenalty("online DPO", raw, s.eos, cfg.MissingEOSPenalty)
	if err != nil {
		return nil, err
	}
	rng := engine.NewRNG(seed ^ 0x7061697273) // "pairs": the pair rule's draws, apart from the samples'
	pairRNG := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	pairs, m, err := SelectPairs(PairSelectConfig{NumGenerations: k, Rule: cfg.PairRule, MinScoreMargin: cfg.MinScoreMargin}, scores, s.completions, pairRNG)
	if err != nil {
		return nil, err
	}
	refLogp, err := scoreSequences(ref, s.seqs, s.promptLens)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	var kl, ent, eos, length float64
	for j := range s.seqs {
		kl += s.genLogp[j] - refLogp.Value[j]
		ent -= s.genLogp[j]
		if s.eos[j] {
			eos++
		}
		length += float64(len(s.completions[j]))
	}
	nf := float64(len(s.seqs))
	m["objective/kl"] = kl / nf
	m["objective/entropy"] = ent / nf
	m["objective/non_score_reward"] = -cfg.Beta * kl / nf
	m["objective/rlhf_reward"] = m["objective/scores"] - cfg.Beta*kl/nf
	m["val/contain_eos_token"] = eos / nf
	m["completions/mean_length"] = length / nf
	m["completions/disallowed_mass"] = s.disallowedMass
	gold, err := goldScores(t, s.prompts, s.completions)
	if err != nil {
		return nil, err
	}
	m["objective/gold_scores"] = mean(gold)
	if len(pairs) > 0 {
		margin := 0.0
		for _, p := range pairs {
			margin += gold[p.Chosen] - gold[p.Rejected]
		}
		m["pairs/gold_margin"] = margin / float64(len(pairs))
	}
	return &onlineRound{s: s, scores: scores, pairs: pairs, metrics: m}, nil
}

func (o *onlineRound) preferencePairs() []PreferencePair {
	out := make([]PreferencePair, len(o.pairs))
	for i, p := range o.pairs {
		out[i] = PreferencePair{Prompt: o.s.prompts[p.Chosen], Chosen: o.s.completions[p.Chosen], Rejected: o.s.completions[p.Rejected]}
	}
	return out
}

// TrainOnlineDPO runs online DPO from policy (π_start) against the frozen
// reference ref, scoring samples with v, on the given training prompts, and
// writes the run into cfg.OutputDir. env.Task is required (sampling mask,
// horizon, gold health checks).
func TrainOnlineDPO(cfg OnlineDPOConfig, policy, ref *model.Model, v Verifier, prompts [][]int32, env Env) error {
	const what = "online-dpo"
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if env.Task == nil {
		return fmt.Errorf("%s: needs a task (sampling constraints and gold health checks)", what)
	}
	if len(prompts) == 0 {
		return fmt.Errorf("%s: no prompts", what)
	}
	switch cfg.Mode {
	case OnlineOneRound:
		round, err := sampleAndSelect(cfg, policy, ref, v, env.Task, prompts, stepSeed(cfg.Seed, "one_round", 0))
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		pairs := round.preferencePairs()
		if len(pairs) == 0 {
			return fmt.Errorf("%s: the verifier selected no pairs from %d prompts × %d samples (all ties or identical)", what, len(prompts), cfg.k())
		}
		if err := os.MkdirAll(cfg.OutputDir, 0o755); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := writePairs(filepath.Join(cfg.OutputDir, "pairs.jsonl"), round, env); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := ckpt.WriteJSON(filepath.Join(cfg.OutputDir, "online_round.json"), round.metrics); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return trainDPO(what, cfg.DPOTrainConfig, cfg, policy, ref, pairs, env, round.metrics)
	case OnlineIterative:
		return trainOnlineDPOIterative(cfg, policy, ref, v, prompts, env)
	}
	return fmt.Errorf("%s: mode %q, want %q or %q", what, cfg.Mode, OnlineOneRound, OnlineIterative)
}

// writePairs writes the selected pairs as TRL preference JSONL with their
// verifier scores (score_chosen/score_rejected).
func writePairs(path string, round *onlineRound, env Env) error {
	var b strings.Builder
	for _, p := range round.pairs {
		line, err := json.Marshal(map[string]any{
			"prompt":         decode(env.Tokenizer, round.s.prompts[p.Chosen]),
			"chosen":         completionText(env.Tokenizer, round.s.completions[p.Chosen]),
			"rejected":       completionText(env.Tokenizer, round.s.completions[p.Rejected]),
			"score_chosen":   round.scores[p.Chosen],
			"score_rejected": round.scores[p.Rejected],
		})
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return ckpt.WriteFileAtomic(path, []byte(b.String()))
}

// completionText follows `roads data`: prompt + completion is the full text,
// so a non-empty completion starts with a space.
func completionText(tk tok.Tokenizer, ids []int32) string {
	if len(ids) == 0 {
		return ""
	}
	return " " + decode(tk, ids)
}

func trainOnlineDPOIterative(cfg OnlineDPOConfig, policy, ref *model.Model, v Verifier, prompts [][]int32, env Env) error {
	const what = "online-dpo"
	if _, err := DPOLoss(cfg.DPOConfig, PreferenceBatch{Chosen: []float64{0}, Rejected: []float64{0}, RefChosen: []float64{0}, RefRejected: []float64{0},
		ChosenTokens: []int{1}, RejectedTokens: []int{1}}); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if ref.Config() != policy.Config() {
		return fmt.Errorf("%s: the reference and the policy have different model configs", what)
	}
	// per_device_train_batch_size counts prompts: each gives at most one pair.
	r, err := startRun(what, cfg.TrainArgs, cfg, prompts, policy, env.Tokenizer, len(prompts), env.Progress)
	if err != nil {
		return err
	}
	defer r.release()
	if err := saveReference(cfg.OutputDir, ref, env.Tokenizer); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	r.onSave = func(step int) error { return writeSamples(cfg.OutputDir, step, policy, env, cfg.Seed) }
	eos := policy.Config().EOSTokenID
	var order orderCache
	for r.step < r.total {
		idx := batchAt(cfg.Seed, r.step, len(prompts), cfg.PerDeviceTrainBatchSize, &order)
		batchPrompts := make([][]int32, len(idx))
		for b, i := range idx {
			batchPrompts[b] = prompts[i]
		}
		round, err := sampleAndSelect(cfg, policy, ref, v, env.Task, batchPrompts, stepSeed(cfg.Seed, "iterative", r.step))
		if err != nil {
			return r.lossError(err)
		}
		pairs := round.preferencePairs()
		if len(pairs) == 0 { // nothing to learn from: the step passes without an update
			r.recordAll(round.metrics)
			if err := r.endStep(); err != nil {
				return err
			}
			continue
		}
		seqs, plens := pairSequences(pairs, eos)
		refScores, err := scoreSequences(ref, seqs, plens)
		if err != nil {
			return fmt.Errorf("%s: step %d: reference: %w", what, r.step+1, err)
		}
		n := len(pairs)
		policy.ZeroGrad()
		loss, err := dpoStep(cfg.DPOConfig, policy, pairs, refScores.Value[:n], refScores.Value[n:])
		if err != nil {
			return r.lossError(err)
		}
		for k, val := range round.metrics {
			loss.Metrics[k] = val
		}
		loss.Metrics["beta"] = cfg.Beta
		if err := r.update(loss.Loss, loss.Metrics); err != nil {
			return err
		}
	}
	return r.finish()
}
