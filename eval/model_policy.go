package eval

import (
	"fmt"

	"roads/model"
	"roads/task"
)

// ModelPolicy adapts a trained transformer to Policy for one task. Sampling
// forbids every token outside the task's allowed outputs (EOS stays allowed);
// the log-probabilities it reports, in Generate and LogProbs alike, are the
// model's own temperature-1 probabilities without that mask, so the two
// methods agree exactly and KL and DPO quantities compare like for like.
type ModelPolicy struct {
	M     *model.Model
	Task  *task.Task
	Chunk int // prompts per forward/generate call (memory bound); 0 means 256
	mask  []float32
}

// NewModelPolicy checks that the model fits the task (vocabulary, context,
// EOS id) and builds the sampling mask.
func NewModelPolicy(m *model.Model, t *task.Task) (*ModelPolicy, error) {
	cfg := m.Config()
	tk := t.Tokenizer()
	if cfg.Head != "lm" {
		return nil, fmt.Errorf("model has a %q head; a policy needs an LM head", cfg.Head)
	}
	if cfg.VocabSize != tk.VocabSize() {
		return nil, fmt.Errorf("model vocab_size %d differs from task %s's vocabulary (%d words)", cfg.VocabSize, t.Name(), tk.VocabSize())
	}
	if cfg.NPositions < t.MaxTotalLen() {
		return nil, fmt.Errorf("model n_positions %d is shorter than task %s's longest sequence (%d)", cfg.NPositions, t.Name(), t.MaxTotalLen())
	}
	if cfg.EOSTokenID != int(tk.EOS()) {
		return nil, fmt.Errorf("model eos_token_id %d differs from the task's EOS id %d", cfg.EOSTokenID, tk.EOS())
	}
	return &ModelPolicy{M: m, Task: t, mask: model.AllowedMask(t.AllowedOutput(), cfg.VocabSize, int(tk.EOS()))}, nil
}

// LogitMask is the additive sampling mask (0 allowed, −Inf forbidden).
func (p *ModelPolicy) LogitMask() []float32 { return p.mask }

func (p *ModelPolicy) chunk() int {
	if p.Chunk > 0 {
		return p.Chunk
	}
	return 256
}

// Generate samples completions with model.Sample: row i draws from the
// stream model.RowSeed(Seed, i).
func (p *ModelPolicy) Generate(prompts [][]int32, opt GenOptions) ([][]int32, []bool, [][]float32, error) {
	maxNew := opt.MaxNewTokens
	if maxNew == 0 {
		maxNew = p.Task.Horizon()
	}
	eos := int32(p.M.Config().EOSTokenID)
	g, err := p.M.Sample(prompts, model.SampleOptions{MaxNewTokens: maxNew, Temperature: opt.Temperature, LogitMask: p.mask,
		Seed: opt.Seed, Chunk: p.chunk()})
	if err != nil {
		return nil, nil, nil, err
	}
	comps := make([][]int32, len(prompts))
	ended := make([]bool, len(prompts))
	logps := make([][]float32, len(prompts))
	for i := range prompts {
		row := g.Row(i)
		logps[i] = append([]float32(nil), g.LogProbs[i*g.MaxNew:i*g.MaxNew+len(row)]...)
		if g.EOS[i] && len(row) > 0 && row[len(row)-1] == eos {
			row = row[:len(row)-1]
			ended[i] = true
		}
		comps[i] = append([]int32(nil), row...)
	}
	return comps, ended, logps, nil
}

// LogProbs returns Σ_t log π(completion_t | prompt, completion_<t).
func (p *ModelPolicy) LogProbs(prompts, completions [][]int32) ([]float64, error) {
	if len(prompts) != len(completions) {
		return nil, fmt.Errorf("LogProbs: %d prompts but %d completions", len(prompts), len(completions))
	}
	out := make([]float64, len(prompts))
	for lo := 0; lo < len(prompts); lo += p.chunk() {
		hi := min(lo+p.chunk(), len(prompts))
		b := model.Batch{Tokens: make([][]int32, hi-lo), PromptLen: make([]int, hi-lo)}
		for i := range hi - lo {
			b.Tokens[i] = append(append([]int32(nil), prompts[lo+i]...), completions[lo+i]...)
			b.PromptLen[i] = len(prompts[lo+i])
		}
		o, err := p.M.Forward(b, model.ForwardOptions{})
		if err != nil {
			return nil, err
		}
		copy(out[lo:hi], o.SeqLogProb)
	}
	return out, nil
}

// BeforeAfter is a trained policy's gold evaluation next to its reference
// model's, on the same test prompts and seed: what `--eval_prompts` of every
// policy trainer writes to gold_eval.json.
type BeforeAfter struct {
	Prompts          int     `json:"prompts"`
	SamplesPerPrompt int     `json:"samples_per_prompt"`
	Reference        *Report `json:"reference"`
	Policy           *Report `json:"policy"` // with KL to the reference
}

// EvaluateAgainstReference evaluates ref, then policy with KL to ref, on
// the first n test prompts of t (stream 0), samples completions each.
func EvaluateAgainstReference(t *task.Task, policy, ref *model.Model, n, samples int, seed uint64) (*BeforeAfter, error) {
	refPolicy, err := NewModelPolicy(ref, t)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	trained, err := NewModelPolicy(policy, t)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	opt := Options{Prompts: t.Prompts(task.Test, 0, n), SamplesPerPrompt: samples, Seed: seed}
	res := &BeforeAfter{Prompts: n, SamplesPerPrompt: samples}
	if res.Reference, err = Evaluate(t, refPolicy, nil, opt); err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	if res.Policy, err = Evaluate(t, trained, refPolicy, opt); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return res, nil
}
