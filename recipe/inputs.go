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

// Loaded is a training run's inputs, as far as its trainer needs them: the
// task (nil when none was given), the model to train and its frozen
// reference, the tokenizer, and the data: an online run's verifier and
// prompts, a preference run's pairs (train and held out), an SFT run's
// examples.
type Loaded struct {
	Task     *task.Task
	Policy   *model.Model
	Ref      *model.Model
	Tok      tok.Tokenizer
	Verifier pft.Verifier
	Prompts  [][]int32
	Pairs    []pft.PreferencePair
	Eval     []pft.PreferencePair
	Examples []pft.SFTExample
}

// LoadOnline loads an online run's inputs and records what it resolved in
// in (the task's config, the reference directory). The prompts are in.Dataset's,
// or else numPrompts of the task's train split from stream seed.
func LoadOnline(in *pft.Inputs, numPrompts int, keys data.Keys, seed uint64) (*Loaded, error) {
	if in.Task == "" || in.Model == "" || in.Verifier == "" {
		return nil, errors.New("--task, --model and --verifier are required")
	}
	if in.Dataset == "" && numPrompts <= 0 {
		return nil, fmt.Errorf("--num_prompts = %d, want > 0", numPrompts)
	}
	o, err := loadPolicyRun(in)
	if err != nil {
		return nil, err
	}
	if o.Verifier, err = pft.LoadVerifier(in.Verifier, o.Task); err != nil {
		return nil, err
	}
	if in.Dataset != "" {
		o.Prompts, err = ReadPrompts(in.Dataset, keys, o.Tok)
	} else {
		o.Prompts = o.Task.Prompts(task.Train, seed, numPrompts)
	}
	return o, err
}

// loadPolicyRun loads what a policy trainer starts from: the task (nil when
// in.Task is empty), the policy and its frozen reference (recorded as
// ref_model) and the tokenizer, the model directory's or else the task's.
func loadPolicyRun(in *pft.Inputs) (*Loaded, error) {
	t, err := ResolveTask(in)
	if err != nil {
		return nil, err
	}
	l := &Loaded{Task: t}
	if l.Policy, l.Ref, l.Tok, err = LoadPolicyAndRef(in.Model, in.RefModel); err != nil {
		return nil, err
	}
	if in.RefModel == "" {
		in.RefModel = in.Model
	}
	if l.Tok == nil {
		if t == nil {
			return nil, fmt.Errorf("%s has no tokenizer.json; pass --task to use the task's tokenizer", in.Model)
		}
		l.Tok = t.Tokenizer()
	}
	return l, nil
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

// LoadDPO loads an offline preference run's inputs: the policy and its
// frozen reference (recorded as ref_model), the task when given (nil
// otherwise), the tokenizer (the model directory's, else the task's) and the
// pairs of in.Dataset.
func LoadDPO(in *pft.Inputs, keys data.Keys) (*Loaded, error) {
	if in.Dataset == "" || in.Model == "" {
		return nil, errors.New("--data and --model are required")
	}
	l, err := loadPolicyRun(in)
	if err != nil {
		return nil, err
	}
	l.Pairs, err = ReadPreferencePairs(in.Dataset, keys, l.Tok)
	return l, err
}

// LoadRewardModel loads a reward-model run's inputs: the pairs of
// cfg.Dataset and the held-out ones (cfg.EvalDataset's, else
// cfg.EvalFraction of the data, else none, and then load_best_model_at_end
// is switched off: there is nothing to select on), and the model to train
// (Loaded.Policy): pft.RewardModelFrom of cfg.Model's model, or of a new
// model of arch whose context is nPositions (0: the task's max_total_len).
func LoadRewardModel(cfg *pft.RewardTrainConfig, arch model.Arch, nPositions int, keys data.Keys) (*Loaded, error) {
	if cfg.Dataset == "" {
		return nil, errors.New("--data is required")
	}
	t, err := ResolveTask(&cfg.Inputs)
	if err != nil {
		return nil, err
	}
	l := &Loaded{Task: t}
	var trunk *model.Model
	if cfg.Model != "" {
		if trunk, l.Tok, err = LoadModel(cfg.Model); err != nil {
			return nil, err
		}
	}
	if l.Tok == nil {
		if t == nil {
			return nil, errors.New("no tokenizer: pass --model with a tokenizer.json, or --task")
		}
		l.Tok = t.Tokenizer()
	}
	pairs, err := ReadPreferencePairs(cfg.Dataset, keys, l.Tok)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.EvalDataset != "":
		l.Pairs = pairs
		if l.Eval, err = ReadPreferencePairs(cfg.EvalDataset, keys, l.Tok); err != nil {
			return nil, err
		}
	case cfg.EvalFraction > 0:
		if l.Pairs, l.Eval, err = pft.HoldOut(pairs, cfg.EvalFraction, cfg.Seed); err != nil {
			return nil, err
		}
	default:
		l.Pairs = pairs
		cfg.LoadBestModelAtEnd = false
	}
	if trunk == nil {
		n := nPositions
		if n == 0 {
			n = t.MaxTotalLen() // without a model directory, the tokenizer is the task's
		}
		if trunk, err = NewModel(arch, l.Tok, n, cfg.Seed); err != nil {
			return nil, err
		}
	}
	if l.Policy, err = pft.RewardModelFrom(trunk, *cfg); err != nil {
		return nil, fmt.Errorf("--model %s: %w", cfg.Model, err)
	}
	if cfg.Kind == pft.RMLocal {
		cfg.Readout = "" // a local RM has no readout: record none
	}
	return l, nil
}

// NewModel builds a new model of arch for tk's vocabulary and a context of
// positions tokens, initialised from seed.
func NewModel(arch model.Arch, tk tok.Tokenizer, positions int, seed uint64) (*model.Model, error) {
	mc, err := arch.Config(tk.VocabSize(), positions, int(tk.EOS()), int(tk.PAD()))
	if err != nil {
		return nil, fmt.Errorf("new model: %w", err)
	}
	return model.New(mc, seed)
}

// SFTInputs are the inputs of an SFT run besides the trainer's settings
// (JSON as written into the run's training_config.json).
type SFTInputs struct {
	Data  string `json:"data" help:"training JSONL: prompt/completion rows, or text rows"`
	Model string `json:"model,omitempty" help:"model directory to fine-tune (default: a new model)"`
	Task  string `json:"task,omitempty" help:"task preset or config file whose tokenizer to use (default: bytes)"`
	// Architecture of a model built from scratch (ignored with Model).
	model.Arch
	NPositions int `json:"n_positions" help:"context of a new model (0: longest example)"`
	// MaxLength truncates prompt + completion to this many tokens, keeping
	// the start (TRL's max_length with truncation_mode keep_start); 0 keeps
	// every token, and an example longer than model.MaxPositions is refused.
	MaxLength int `json:"max_length,omitempty" help:"truncate prompt + completion (EOS included) to this many tokens, keeping the start (0: no truncation; longer than the model's context is refused)"`
}

// LoadSFT loads an SFT run's inputs: the model to train (in.Model's, or a
// new one of in.Arch initialised from seed, whose context in.NPositions is
// resolved and recorded), the tokenizer (the model directory's, else the
// task's, else bytes) and the examples of in.Data, truncated to
// in.MaxLength.
func LoadSFT(in *SFTInputs, seed uint64, keys data.Keys) (*Loaded, error) {
	if in.Data == "" {
		return nil, errors.New("--data is required")
	}
	l := &Loaded{}
	var err error
	if in.Model != "" {
		if l.Policy, l.Tok, err = model.LoadDir(in.Model); err != nil {
			return nil, err
		}
	}
	if l.Tok == nil {
		if in.Model != "" && in.Task == "" {
			return nil, fmt.Errorf("model %s has no tokenizer.json: pass --task to use a task's tokenizer", in.Model)
		}
		if l.Tok, err = TokenizerFor(in.Task); err != nil {
			return nil, err
		}
	}
	if l.Examples, err = ReadSFTExamples(in.Data, keys, l.Tok); err != nil {
		return nil, err
	}
	if l.Examples, err = TruncateSFTExamples(in.Data, l.Examples, in.MaxLength); err != nil {
		return nil, err
	}
	if l.Policy != nil {
		return l, nil
	}
	if in.NPositions == 0 {
		for _, ex := range l.Examples {
			in.NPositions = max(in.NPositions, len(ex.Prompt)+len(ex.Completion))
		}
		if in.Task != "" { // room for any prompt and completion of the task
			t, err := task.Load(in.Task)
			if err != nil {
				return nil, err
			}
			in.NPositions = max(in.NPositions, t.MaxTotalLen())
		}
	}
	l.Policy, err = NewModel(in.Arch, l.Tok, in.NPositions, seed)
	return l, err
}
