package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"roads/data"
	"roads/model"
	"roads/pft"
	"roads/task"
	"roads/tok"
)

func init() {
	register("sft", "supervised fine-tuning on prompt/completion (or text) JSONL", runSFT)
}

// sftCLI is the resolved configuration of `roads sft`, written to the run
// directory as training_config.json.
type sftCLI struct {
	pft.SFTConfig
	Data  string `json:"data"`
	Model string `json:"model,omitempty"` // start from this model directory
	Task  string `json:"task,omitempty"`  // use this task's tokenizer
	// Architecture of a model built from scratch (ignored with --model).
	newModelArch
	NPositions int `json:"n_positions"` // 0: fit the longest example
	// MaxLength truncates prompt + completion to this many tokens, keeping
	// the start (TRL's max_length with truncation_mode keep_start); 0 keeps
	// every token, and an example longer than model.MaxPositions is refused.
	MaxLength int `json:"max_length,omitempty"`
}

func runSFT(args []string, stdout io.Writer) error {
	cfg := sftCLI{SFTConfig: pft.DefaultSFTConfig(), newModelArch: defaultNewModelArch()}
	if err := loadConfigFile(configFlagValue(args), &cfg); err != nil {
		return err
	}
	fs := newFlags("sft")
	addConfigFlags(fs, &cfg.SFTConfig)
	fs.StringVar(&cfg.Data, "data", cfg.Data, "training JSONL: prompt/completion rows, or text rows")
	fs.StringVar(&cfg.Model, "model", cfg.Model, "model directory to fine-tune (default: a new model)")
	fs.StringVar(&cfg.Task, "task", cfg.Task, "task preset or config file whose tokenizer to use (default: bytes)")
	cfg.newModelArch.addFlags(fs)
	fs.IntVar(&cfg.NPositions, "n_positions", cfg.NPositions, "context of a new model (0: longest example)")
	fs.IntVar(&cfg.MaxLength, "max_length", cfg.MaxLength, "truncate prompt + completion (EOS included) to this many tokens, keeping the start (0: no truncation; longer than the model's context is refused)")
	var keys data.Keys
	keys.AddFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.SFTConfig.Validate(); err != nil { // every setting, before any model or data is read
		return fmt.Errorf("sft: %w", err)
	}
	if cfg.Data == "" {
		return errors.New("--data is required")
	}

	var policy *model.Model
	var tk tok.Tokenizer
	var err error
	if cfg.Model != "" {
		if policy, tk, err = model.LoadDir(cfg.Model); err != nil {
			return err
		}
	}
	if tk == nil {
		if cfg.Model != "" && cfg.Task == "" {
			return fmt.Errorf("model %s has no tokenizer.json: pass --task to use a task's tokenizer", cfg.Model)
		}
		if tk, err = tokenizerFor(cfg.Task); err != nil {
			return err
		}
	}
	examples, err := readSFTExamples(cfg.Data, keys, tk)
	if err != nil {
		return err
	}
	if examples, err = truncateExamples(cfg.Data, examples, cfg.MaxLength); err != nil {
		return err
	}
	if policy == nil {
		longest := 0
		for _, ex := range examples {
			longest = max(longest, len(ex.Prompt)+len(ex.Completion))
		}
		if cfg.NPositions == 0 {
			cfg.NPositions = longest
			if cfg.Task != "" { // room for any prompt and completion of the task
				t, err := task.Load(cfg.Task)
				if err != nil {
					return err
				}
				cfg.NPositions = max(longest, t.MaxTotalLen())
			}
		}
		mc, err := cfg.newModelArch.config(tk, cfg.NPositions)
		if err != nil {
			return err
		}
		if policy, err = model.New(mc, cfg.Seed); err != nil {
			return err
		}
	}
	slog.Info("sft", "examples", len(examples), "params", policy.NumParams(), "output_dir", cfg.OutputDir)
	cfg.SFTConfig.TrainArgs = cfg.TrainArgs
	if err := pft.TrainSFT(cfg.SFTConfig, policy, tk, examples, os.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sft: trained %d examples; model written to %s\n", len(examples), cfg.OutputDir)
	return nil
}

// readSFTExamples reads prompt/completion rows (or text rows, as completions
// with an empty prompt) and tokenises them, appending EOS to each completion.
func readSFTExamples(path string, keys data.Keys, tk tok.Tokenizer) ([]pft.SFTExample, error) {
	recs, err := data.ReadRecords(path)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	var rows []data.PromptCompletion
	if _, conversational := recs[0].Fields["messages"]; conversational { // TRL's conversational SFT format
		conv, err := data.ReadConversations(path)
		if err != nil {
			return nil, err
		}
		tpl, err := chatTemplateOf(tk)
		if err != nil {
			return nil, err
		}
		for _, c := range conv {
			pc, err := tpl.Conversation(c)
			if err != nil {
				return nil, err
			}
			rows = append(rows, pc)
		}
	} else if _, err := recs[0].String(orDefault(keys.Completion, "completion")); err == nil {
		if rows, err = data.ReadPromptCompletions(path, keys); err != nil {
			return nil, err
		}
	} else {
		texts, err := data.ReadText(path, keys)
		if err != nil {
			return nil, fmt.Errorf("%s: rows are neither prompt/completion nor text: %w", path, err)
		}
		for _, t := range texts {
			rows = append(rows, data.PromptCompletion{Completion: t.Text})
		}
	}
	out := make([]pft.SFTExample, len(rows))
	for i, r := range rows {
		p, err := tk.Encode(r.Prompt)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: prompt: %w", path, i+1, err)
		}
		c, err := tk.Encode(r.Completion)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: completion: %w", path, i+1, err)
		}
		if len(p) == 0 && len(c) == 0 {
			return nil, fmt.Errorf("%s:%d: an empty row (no prompt, empty completion or text): nothing to learn from", path, i+1)
		}
		out[i] = pft.SFTExample{Prompt: p, Completion: append(c, tk.EOS())}
	}
	return out, nil
}

// truncateExamples applies --max_length (keep the start; an example whose
// completion would be cut away entirely is an error naming its line) and,
// without it, refuses an example too long for any model (model.MaxPositions),
// naming its line: the context is never grown silently to fit one long row.
func truncateExamples(path string, examples []pft.SFTExample, maxLength int) ([]pft.SFTExample, error) {
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

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
