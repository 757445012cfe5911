package pft

// What the training loops share beyond the bookkeeping of trainer.go: the
// task interface, how a completion becomes a scored sequence, batched
// log-probabilities under a policy, sampling with the task's constraints, and
// the sample-completion files of a run directory.
//
// Completions follow the task convention: token ids WITHOUT EOS. Two scoring
// conventions follow from it, and each loop states which it uses:
//
//   - Preference data (DPO, reward models, verifiers, online DPO's pairs): a
//     completion is a finished text, so its sequence is prompt + completion +
//     EOS and the EOS token is scored, exactly as `roads sft` trains
//     demonstrations. A sample the sampler cut off at the horizon is scored
//     as if EOS had been written there.
//   - Policy-gradient rollouts (RLOO, GRPO, PPO): the sequence is exactly what
//     was sampled: prompt + completion, plus EOS only when the sampler emitted
//     it. Scoring a token that was never sampled would bias the gradient;
//     missing_eos_penalty is how a truncated completion is discouraged.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"roads/ckpt"
	"roads/engine"
	"roads/model"
	"roads/tok"
)

// Task is what the training loops need from a task: the gold reward and the
// sampling constraints. *task.Task implements it; tests use hand-written toys.
type Task interface {
	// Gold is the exact reward r*(prompt, completion); completion has no EOS.
	Gold(prompt, completion []int32) (float64, error)
	// AllowedOutput marks the ids a completion may contain (EOS included).
	AllowedOutput() []bool
	// Horizon is the longest completion in tokens, EOS excluded.
	Horizon() int
}

// PreferencePair is one comparison: completions without EOS (the trainers
// append the model's EOS when they score them).
type PreferencePair struct {
	Prompt, Chosen, Rejected []int32
}

// Inputs records where a run's inputs came from; every trainer's config
// embeds it, so training_config.json documents the run.
type Inputs struct {
	Model      string          `json:"model_name_or_path,omitempty" flag:"model" help:"model directory to start from: the policy to train (normally the SFT model, or a DPO run for the paper's Online DPO (DPO)), or a reward model's trunk (empty: a new model)"`
	RefModel   string          `json:"ref_model,omitempty" help:"reference policy directory (default: --model)"`
	Dataset    string          `json:"dataset,omitempty" flag:"data" help:"JSONL: preference rows (prompt, chosen, rejected); an online trainer reads only its \"prompt\" fields (default there: --num_prompts prompts of the task's train split)"`
	Task       string          `json:"task,omitempty" help:"task preset, preset with overrides (summarize,horizon=8) or task config .json: the tokenizer when the model has none, a new model's context, gold-scored samples and --eval_prompts (required by the online trainers)"`
	TaskConfig json.RawMessage `json:"task_config,omitempty" flag:"-"` // the task's resolved configuration (set by the code)
	Verifier   string          `json:"verifier,omitempty" help:"verifier: a reward-model directory, a DPO run (implicit reward), a model directory (Σ log π), or gold"`
}

// Env is what a training run needs besides its configuration and models.
type Env struct {
	// Tokenizer is saved with every model and decodes sample completions; nil
	// writes token ids.
	Tokenizer tok.Tokenizer
	// Task supplies gold rewards for samples (and, for online trainers, the
	// sampling constraints). Optional for offline trainers.
	Task Task
	// SamplePrompts are sampled once at every checkpoint into
	// samples/step-<N>.jsonl with their gold reward (needs Task).
	SamplePrompts [][]int32
	// Progress receives the progress bar (nil: none).
	Progress io.Writer
}

// scoreChunk bounds the sequences of one forward pass when a loop only needs
// scores (references, verifiers, evaluation), keeping activations small.
const scoreChunk = 64

// withEOS returns prompt + completion + EOS (no EOS when eos < 0).
func withEOS(prompt, completion []int32, eos int) []int32 {
	seq := make([]int32, 0, len(prompt)+len(completion)+1)
	seq = append(append(seq, prompt...), completion...)
	if eos >= 0 {
		seq = append(seq, int32(eos))
	}
	return seq
}

// seqGradFlat spreads per-sequence gradients (d loss / d Σ_t log π) over every
// scored token of each sequence, in the model's flat [B·T] layout: the
// derivative of a sum is the same at each of its terms.
func seqGradFlat(out *model.Output, grad []float64) []float32 {
	g := make([]float32, out.B*out.T)
	for i := range out.B {
		gi := float32(grad[i])
		for t := range out.T {
			if out.Mask[i*out.T+t] != 0 {
				g[i*out.T+t] = gi
			}
		}
	}
	return g
}

// seqScores are per-sequence results of a scoring pass.
type seqScores struct {
	Value  []float64 // Σ_t log π (LM head) or the readout (scalar head)
	Tokens []int     // scored tokens per sequence (LM head)
}

// scoreSequences runs m over the sequences in chunks of scoreChunk and returns
// each sequence's sum of response-token log-probs (LM head) or readout
// (scalar head). The chunks are fixed by position, so the result is a
// function of the inputs alone.
func scoreSequences(m *model.Model, seqs [][]int32, promptLens []int) (seqScores, error) {
	out := seqScores{Value: make([]float64, len(seqs)), Tokens: make([]int, len(seqs))}
	scalar := m.Config().Head == "scalar"
	for lo := 0; lo < len(seqs); lo += scoreChunk {
		hi := min(lo+scoreChunk, len(seqs))
		o, err := m.Forward(model.Batch{Tokens: seqs[lo:hi], PromptLen: promptLens[lo:hi]}, model.ForwardOptions{})
		if err != nil {
			return seqScores{}, fmt.Errorf("sequences %d–%d: %w", lo, hi-1, err)
		}
		for i := range hi - lo {
			if scalar {
				out.Value[lo+i] = o.Readout[i]
			} else {
				out.Value[lo+i] = o.SeqLogProb[i]
				out.Tokens[lo+i] = o.NumScored[i]
			}
		}
	}
	return out, nil
}

// tokenLogProbs runs an LM in chunks and returns the per-token log-probs of
// each sequence's response tokens (ragged rows).
func tokenLogProbs(m *model.Model, seqs [][]int32, promptLens []int) ([][]float64, error) {
	rows := make([][]float64, len(seqs))
	for lo := 0; lo < len(seqs); lo += scoreChunk {
		hi := min(lo+scoreChunk, len(seqs))
		o, err := m.Forward(model.Batch{Tokens: seqs[lo:hi], PromptLen: promptLens[lo:hi]}, model.ForwardOptions{})
		if err != nil {
			return nil, fmt.Errorf("sequences %d–%d: %w", lo, hi-1, err)
		}
		copy(rows[lo:hi], raggedTokens(o, o.LogProbs))
	}
	return rows, nil
}

// pairSequences lays out n pairs as one batch: the n chosen sequences, then
// the n rejected ones, each prompt + completion + EOS.
func pairSequences(pairs []PreferencePair, eos int) ([][]int32, []int) {
	n := len(pairs)
	seqs := make([][]int32, 2*n)
	plen := make([]int, 2*n)
	for i, p := range pairs {
		seqs[i], plen[i] = withEOS(p.Prompt, p.Chosen, eos), len(p.Prompt)
		seqs[n+i], plen[n+i] = withEOS(p.Prompt, p.Rejected, eos), len(p.Prompt)
	}
	return seqs, plen
}

// Truncation is TRL's max_length / max_prompt_length for preference data.
// The prompt keeps its last MaxPromptLength tokens (TRL's truncation_mode
// keep_end: the end of a prompt is what the completion answers), then each
// completion keeps its first tokens so that prompt + completion + EOS fits
// MaxLength. Zero means no limit; without limits a pair longer than the
// model's context is refused (checkPairs), never cut silently.
type Truncation struct {
	MaxLength       int `json:"max_length,omitempty" help:"truncate prompt + completion + EOS to this many tokens, completions keeping their start (0: no truncation; a pair longer than the model's context is refused)"`
	MaxPromptLength int `json:"max_prompt_length,omitempty" help:"truncate prompts to their last this-many tokens (0: no truncation)"`
}

// Apply truncates pairs (copies; the input is not modified) and reports how
// many were cut. A limit that leaves no room for a completion is an error.
func (tr Truncation) Apply(what string, pairs []PreferencePair) ([]PreferencePair, int, error) {
	if tr.MaxLength < 0 || tr.MaxPromptLength < 0 {
		return nil, 0, fmt.Errorf("%s: max_length %d / max_prompt_length %d: want ≥ 0", what, tr.MaxLength, tr.MaxPromptLength)
	}
	if tr.MaxLength == 0 && tr.MaxPromptLength == 0 {
		return pairs, 0, nil
	}
	out := make([]PreferencePair, len(pairs))
	cut := 0
	for i, p := range pairs {
		q := p
		if tr.MaxPromptLength > 0 && len(q.Prompt) > tr.MaxPromptLength {
			q.Prompt = q.Prompt[len(q.Prompt)-tr.MaxPromptLength:]
		}
		if tr.MaxLength > 0 {
			room := tr.MaxLength - len(q.Prompt) - 1 // EOS
			if room < 0 {
				return nil, 0, fmt.Errorf("%s: pair %d: the prompt alone has %d tokens, so max_length %d leaves no room for a completion and EOS (set max_prompt_length)", what, i, len(q.Prompt), tr.MaxLength)
			}
			if len(q.Chosen) > room {
				q.Chosen = q.Chosen[:room]
			}
			if len(q.Rejected) > room {
				q.Rejected = q.Rejected[:room]
			}
		}
		if len(q.Prompt) != len(p.Prompt) || len(q.Chosen) != len(p.Chosen) || len(q.Rejected) != len(p.Rejected) {
			cut++
		}
		out[i] = q
	}
	return out, cut, nil
}

// checkPairs rejects pairs that cannot be scored by m.
func checkPairs(what string, pairs []PreferencePair, m *model.Model) error {
	if len(pairs) == 0 {
		return fmt.Errorf("%s: no preference pairs", what)
	}
	limit := m.Config().NPositions
	if m.Config().Head == "lm" {
		limit++ // the last token is scored, never fed back
	}
	for i, p := range pairs {
		if len(p.Prompt) == 0 {
			return fmt.Errorf("%s: pair %d has an empty prompt", what, i)
		}
		if n := len(p.Prompt) + max(len(p.Chosen), len(p.Rejected)) + 1; n > limit {
			return fmt.Errorf("%s: pair %d needs %d positions (prompt, completion, EOS), more than the model's n_positions %d", what, i, n, m.Config().NPositions)
		}
	}
	return nil
}

// logitMask is the task's allowed-output mask as model.AllowedMask (the one
// mask evaluation uses too: EOS always allowed), after checking its size.
func logitMask(t Task, vocab, eos int) ([]float32, error) {
	allowed := t.AllowedOutput()
	if len(allowed) != vocab {
		return nil, fmt.Errorf("task allows %d ids but the model's vocab_size is %d", len(allowed), vocab)
	}
	return model.AllowedMask(allowed, vocab, eos), nil
}

// samples are K completions per prompt, prompt-major.
type samples struct {
	prompts     [][]int32 // prompt of each sample (shared slices)
	completions [][]int32 // without EOS
	eos         []bool    // the sampler emitted EOS
	seqs        [][]int32 // what was sampled: prompt + completion (+ EOS if emitted)
	promptLens  []int
	genLogp     []float64 // Σ_t log π(a_t|s_t) of the sampled tokens at temperature 1 (EOS included)
	// disallowedMass is the mean over sampled positions of the probability
	// π puts on ids the task's mask forbids (1 − Z_t, from the sampler's
	// masked and unmasked log-probs). The losses use the unmasked log π, so
	// while this is ~0 they are exactly the sampler's; if training moves mass
	// onto forbidden ids it grows, and k1 KL estimates become biased low.
	disallowedMass float64
}

// stepSeed is the seed of one training step's sampling: a function of
// (seed, purpose, step) alone, so a resumed run samples what an uninterrupted
// one did. Rows then draw by model.Sample's one rule, RowSeed(stepSeed, row).
func stepSeed(seed uint64, purpose string, step int) uint64 {
	h := seed ^ 0x6a09e667f3bcc908
	for _, c := range []byte(purpose) {
		h = (h ^ uint64(c)) * 0x100000001b3
	}
	h ^= uint64(step+1) * 0x9e3779b97f4a7c15
	return h
}

// stepRNG is a generator for a step's other draws (minibatch order, the
// trainer_state rng_state) from the same (seed, purpose, step).
func stepRNG(seed uint64, purpose string, step int) *engine.RNG {
	return engine.NewRNG(stepSeed(seed, purpose, step))
}

// sample draws k completions per prompt from m at temperature 1 with the
// task's logit mask and max_new_tokens = horizon, through model.Sample:
// sample j (prompt-major: prompt j/k, draw j%k) from RowSeed(seed, j).
func sample(m *model.Model, t Task, prompts [][]int32, k int, seed uint64) (*samples, error) {
	if len(prompts) == 0 {
		return nil, errors.New("sample: no prompts")
	}
	mask, err := logitMask(t, m.Config().VocabSize, m.Config().EOSTokenID)
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	eos := int32(m.Config().EOSTokenID)
	n := len(prompts) * k
	s := &samples{prompts: make([][]int32, n), completions: make([][]int32, n), eos: make([]bool, n),
		seqs: make([][]int32, n), promptLens: make([]int, n), genLogp: make([]float64, n)}
	batch := make([][]int32, 0, n)
	for _, p := range prompts {
		for range k {
			batch = append(batch, p)
		}
	}
	g, err := m.Sample(batch, model.SampleOptions{MaxNewTokens: t.Horizon(), Temperature: 1, LogitMask: mask, Seed: seed, Chunk: max(1, 256/k) * k})
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	var massSum float64
	var massN int
	for j := range batch {
		row := g.Row(j)
		s.prompts[j] = batch[j]
		s.eos[j] = g.EOS[j]
		comp := row
		if g.EOS[j] && len(row) > 0 && row[len(row)-1] == eos {
			comp = row[:len(row)-1]
		}
		s.completions[j] = append([]int32(nil), comp...)
		s.seqs[j] = append(append(make([]int32, 0, len(batch[j])+len(row)), batch[j]...), row...)
		s.promptLens[j] = len(batch[j])
		lp := 0.0
		for t := range row {
			lp += float64(g.LogProbs[j*g.MaxNew+t])
			// log Z_t = log π(a) − log π_masked(a) at temperature 1.
			massSum += -math.Expm1(float64(g.LogProbs[j*g.MaxNew+t] - g.SampleLogProbs[j*g.MaxNew+t]))
			massN++
		}
		s.genLogp[j] = lp
	}
	s.disallowedMass = massSum / float64(max(massN, 1))
	return s, nil
}

// goldScores scores completions with the task's gold reward.
func goldScores(t Task, prompts, completions [][]int32) ([]float64, error) {
	out := make([]float64, len(prompts))
	for i := range prompts {
		g, err := t.Gold(prompts[i], completions[i])
		if err != nil {
			return nil, fmt.Errorf("gold reward of sample %d: %w", i, err)
		}
		out[i] = g
	}
	return out, nil
}

// decode renders ids with the tokenizer, or as space-separated ids without one.
func decode(tk tok.Tokenizer, ids []int32) string {
	if tk != nil {
		return tk.Decode(ids)
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return strings.Join(parts, " ")
}

// SampleRow is one line of a run's samples/step-<N>.jsonl.
type SampleRow struct {
	Step       int      `json:"step"`
	Prompt     string   `json:"prompt"`
	Completion string   `json:"completion"`
	EOS        bool     `json:"eos"`
	Logprob    float64  `json:"logprob"` // Σ_t log π over the sampled tokens (EOS included), temperature 1
	Gold       *float64 `json:"gold,omitempty"`
}

// writeSamples samples one completion per env.SamplePrompts prompt from the
// policy (seeded by step) and writes samples/step-<N>.jsonl atomically. It
// does nothing without a task or prompts.
func writeSamples(dir string, step int, policy *model.Model, env Env, seed uint64) error {
	if env.Task == nil || len(env.SamplePrompts) == 0 {
		return nil
	}
	s, err := sample(policy, env.Task, env.SamplePrompts, 1, stepSeed(seed, "samples", step))
	if err != nil {
		return err
	}
	gold, err := goldScores(env.Task, s.prompts, s.completions)
	if err != nil {
		return err
	}
	var b strings.Builder
	for i := range s.prompts {
		g := gold[i]
		line, err := json.Marshal(SampleRow{Step: step, Prompt: decode(env.Tokenizer, s.prompts[i]), Completion: decode(env.Tokenizer, s.completions[i]),
			EOS: s.eos[i], Logprob: s.genLogp[i], Gold: &g})
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	sdir := filepath.Join(dir, "samples")
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return err
	}
	return ckpt.WriteFileAtomic(filepath.Join(sdir, fmt.Sprintf("step-%d.jsonl", step)), []byte(b.String()))
}

// saveReference copies the reference policy into output_dir/ref_model, so a
// run directory carries everything its implicit reward β log π/π_ref needs.
func saveReference(dir string, ref *model.Model, tk tok.Tokenizer) error {
	return model.SaveDir(filepath.Join(dir, RefModelDir), ref, tk)
}

// RefModelDir is the subdirectory of a run directory holding its reference policy.
const RefModelDir = "ref_model"

// rlRollout is one batch of on-policy samples scored for a policy-gradient
// step: the samples, the verifier's scores, π_ref's per-token log-probs and
// the gold rewards (a health metric only; never used by the loss unless the
// verifier is gold).
type rlRollout struct {
	s       *samples
	scores  []float64
	refLogp [][]float64
	gold    []float64
}

// collectRollout samples k completions per prompt from policy and scores
// them with the verifier, π_ref and the gold reward. The sequences are
// exactly what was sampled (EOS only where emitted, see the top of this file).
func collectRollout(policy, ref *model.Model, v Verifier, t Task, prompts [][]int32, k int, seed uint64) (*rlRollout, error) {
	s, err := sample(policy, t, prompts, k, seed)
	if err != nil {
		return nil, err
	}
	scores, err := v.Score(s.prompts, s.completions)
	if err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	refLogp, err := tokenLogProbs(ref, s.seqs, s.promptLens)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	gold, err := goldScores(t, s.prompts, s.completions)
	if err != nil {
		return nil, err
	}
	return &rlRollout{s: s, scores: scores, refLogp: refLogp, gold: gold}, nil
}

// healthMetrics are the roads-specific rollout metrics every online trainer logs:
// objective/gold_scores (mean gold reward of the samples), val/contain_eos_token
// and completions/disallowed_mass (see samples).
func (r *rlRollout) healthMetrics(m Metrics) {
	m["objective/gold_scores"] = mean(r.gold)
	eos := 0.0
	for _, e := range r.s.eos {
		if e {
			eos++
		}
	}
	m["val/contain_eos_token"] = eos / float64(len(r.s.eos))
	m["completions/disallowed_mass"] = r.s.disallowedMass
}

// rlPrompts is the prompt batch of a policy-gradient step: a seeded
// permutation of the prompt pool per epoch, promptsPerStep at a time.
func rlPrompts(prompts [][]int32, seed uint64, step, promptsPerStep int, cache *orderCache) [][]int32 {
	idx := batchAt(seed, step, len(prompts), promptsPerStep, cache)
	out := make([][]int32, len(idx))
	for b, i := range idx {
		out[b] = prompts[i]
	}
	return out
}

// rlSteps is the number of steps of a policy-gradient run: max_steps, or
// num_train_epochs passes over the prompts at promptsPerStep per step.
func rlSteps(a TrainArgs, nPrompts, promptsPerStep int) int {
	if a.MaxSteps > 0 {
		return a.MaxSteps
	}
	return a.NumTrainEpochs * stepsPerEpoch(nPrompts, promptsPerStep)
}

// checkOnline checks what every policy-gradient trainer needs.
func checkOnline(what string, policy, ref *model.Model, env Env, prompts [][]int32, batch, k int) (promptsPerStep int, err error) {
	switch {
	case env.Task == nil:
		return 0, fmt.Errorf("%s: needs a task (sampling mask, horizon)", what)
	case len(prompts) == 0:
		return 0, fmt.Errorf("%s: no prompts", what)
	case ref.Config() != policy.Config():
		return 0, fmt.Errorf("%s: the reference and the policy have different model configs", what)
	case k < 1 || batch%k != 0:
		return 0, fmt.Errorf("%s: per_device_train_batch_size %d (completions per step) is not a multiple of num_generations %d", what, batch, k)
	}
	return batch / k, nil
}
