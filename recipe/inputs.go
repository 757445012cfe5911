package recipe

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"roads/data"
	"roads/model"
	"roads/pft"
	"roads/task"
	"roads/tok"
)

// A training run's inputs, loaded one way for every command: model
// directories (policy and frozen reference), the task and its recorded
// config, the tokenizer, and the prompts of an online run.

// LoadModel reads a model directory for training; the error names it.
func LoadModel(dir string) (*model.Model, tok.Tokenizer, error) {
	m, tk, err := model.LoadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("model %s: %w", dir, err)
	}
	return m, tk, nil
}

// LoadPolicyAndRef loads the policy to train (it needs an LM head) and its
// frozen reference: refDir, or a frozen copy of the policy when refDir is
// empty or the same directory.
func LoadPolicyAndRef(dir, refDir string) (policy, ref *model.Model, tk tok.Tokenizer, err error) {
	if policy, tk, err = LoadModel(dir); err != nil {
		return nil, nil, nil, err
	}
	if policy.Config().Head != "lm" {
		return nil, nil, nil, fmt.Errorf("model %s has a %q head; a policy needs an LM head", dir, policy.Config().Head)
	}
	if refDir == "" || refDir == dir {
		ref = policy.Clone()
	} else if ref, _, err = LoadModel(refDir); err != nil {
		return nil, nil, nil, err
	}
	ref.Freeze()
	return policy, ref, tk, nil
}

// ResolveTask loads in.Task (nil when empty) and records its resolved
// config in in.TaskConfig, so the run directory says which task it was.
func ResolveTask(in *pft.Inputs) (*task.Task, error) {
	if in.Task == "" {
		return nil, nil
	}
	t, err := task.Load(in.Task)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(t.Config())
	if err != nil {
		return nil, err
	}
	in.TaskConfig = raw
	return t, nil
}

// TokenizerFor returns the tokenizer of a task spec (preset name or config
// file), or the byte-level tokenizer when spec is empty.
func TokenizerFor(spec string) (tok.Tokenizer, error) {
	if spec == "" {
		return tok.Bytes{}, nil
	}
	t, err := task.Load(spec)
	if err != nil {
		return nil, err
	}
	return t.Tokenizer(), nil
}

// TruncateSFTExamples applies TRL's max_length (keep the start; an example
// whose completion would be cut away entirely is an error naming its line)
// and, without it (maxLength 0), refuses an example too long for any model
// (model.MaxPositions), naming its line: the context is never grown silently
// to fit one long row. path names the file in errors.
func TruncateSFTExamples(path string, examples []pft.SFTExample, maxLength int) ([]pft.SFTExample, error) {
	if maxLength < 0 {
		return nil, fmt.Errorf("--max_length %d: want 0 (no truncation) or a positive length", maxLength)
	}
	cut := 0
	for i, ex := range examples {
		n := len(ex.Prompt) + len(ex.Completion)
		switch {
		case maxLength == 0 && n > model.MaxPositions:
			return nil, fmt.Errorf("%s:%d: %d tokens, more than any model's context (%d); pass --max_length to truncate", path, i+1, n, model.MaxPositions)
		case maxLength > 0 && n > maxLength:
			if len(ex.Prompt) >= maxLength {
				return nil, fmt.Errorf("%s:%d: the prompt alone has %d tokens, so --max_length %d leaves no completion", path, i+1, len(ex.Prompt), maxLength)
			}
			examples[i].Completion = ex.Completion[:maxLength-len(ex.Prompt)]
			cut++
		}
	}
	if cut > 0 {
		slog.Warn("sft: examples truncated to --max_length (their EOS is cut too)", "examples", cut, "of", len(examples), "max_length", maxLength)
	}
	return examples, nil
}

// ReadPrompts reads the "prompt" field of every row of a JSONL file (any
// TRL format with a prompt) as tokens.
func ReadPrompts(path string, keys data.Keys, tk tok.Tokenizer) ([][]int32, error) {
	rows, err := data.ReadPrompts(path, keys)
	if err != nil {
		return nil, err
	}
	prompts := make([][]int32, len(rows))
	for i, r := range rows {
		if prompts[i], err = tk.Encode(r.Prompt); err != nil {
			return nil, fmt.Errorf("%s: row %d: prompt: %w", path, i+1, err)
		}
	}
	return prompts, nil
}

// Online is what an online trainer needs: the task, the starting policy and
// its frozen reference, the tokenizer, the verifier and the training prompts.
type Online struct {
	Task     *task.Task
	Policy   *model.Model
	Ref      *model.Model
	Tok      tok.Tokenizer
	Verifier pft.Verifier
	Prompts  [][]int32
}

// LoadOnline loads an online run's inputs and records what it resolved in
// in (the task's config, the reference directory). The prompts are in.Dataset's,
// or else numPrompts of the task's train split from stream seed.
func LoadOnline(in *pft.Inputs, numPrompts int, keys data.Keys, seed uint64) (*Online, error) {
	if in.Task == "" || in.Model == "" || in.Verifier == "" {
		return nil, errors.New("--task, --model and --verifier are required")
	}
	if in.Dataset == "" && numPrompts <= 0 {
		return nil, fmt.Errorf("--num_prompts = %d, want > 0", numPrompts)
	}
	t, err := ResolveTask(in)
	if err != nil {
		return nil, err
	}
	o := &Online{Task: t}
	if o.Policy, o.Ref, o.Tok, err = LoadPolicyAndRef(in.Model, in.RefModel); err != nil {
		return nil, err
	}
	if in.RefModel == "" {
		in.RefModel = in.Model
	}
	if o.Tok == nil {
		o.Tok = t.Tokenizer()
	}
	if o.Verifier, err = pft.LoadVerifier(in.Verifier, t); err != nil {
		return nil, err
	}
	if in.Dataset != "" {
		o.Prompts, err = ReadPrompts(in.Dataset, keys, o.Tok)
	} else {
		o.Prompts = t.Prompts(task.Train, seed, numPrompts)
	}
	return o, err
}

// SetTaskEnv sets env.Task (only for a non-nil task, so the interface stays
// nil otherwise) and the prompts sampled at every checkpoint: the first n of
// the task's test split, stream 0.
func SetTaskEnv(env *pft.Env, t *task.Task, n int) {
	if t == nil {
		return
	}
	env.Task = t
	if n > 0 {
		env.SamplePrompts = t.Prompts(task.Test, 0, n)
	}
}
