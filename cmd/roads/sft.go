package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"roads/data"
	"roads/internal/cliflag"
	"roads/model"
	"roads/pft"
	"roads/recipe"
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
	model.Arch
	NPositions int `json:"n_positions"` // 0: fit the longest example
	// MaxLength truncates prompt + completion to this many tokens, keeping
	// the start (TRL's max_length with truncation_mode keep_start); 0 keeps
	// every token, and an example longer than model.MaxPositions is refused.
	MaxLength int `json:"max_length,omitempty"`
}

func runSFT(args []string, stdout io.Writer) error {
	cfg := sftCLI{SFTConfig: pft.DefaultSFTConfig(), Arch: defaultNewModelArch()}
	if err := cliflag.LoadConfig(args, &cfg); err != nil {
		return err
	}
	fs := cliflag.New("sft")
	addConfigFlags(fs, &cfg.SFTConfig)
	fs.StringVar(&cfg.Data, "data", cfg.Data, "training JSONL: prompt/completion rows, or text rows")
	fs.StringVar(&cfg.Model, "model", cfg.Model, "model directory to fine-tune (default: a new model)")
	fs.StringVar(&cfg.Task, "task", cfg.Task, "task preset or config file whose tokenizer to use (default: bytes)")
	cliflag.Bind(fs, &cfg.Arch)
	fs.IntVar(&cfg.NPositions, "n_positions", cfg.NPositions, "context of a new model (0: longest example)")
	fs.IntVar(&cfg.MaxLength, "max_length", cfg.MaxLength, "truncate prompt + completion (EOS included) to this many tokens, keeping the start (0: no truncation; longer than the model's context is refused)")
	var keys data.Keys
	keys.AddFlags(fs)
	if err := cliflag.Parse(fs, args); err != nil {
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
		if tk, err = recipe.TokenizerFor(cfg.Task); err != nil {
			return err
		}
	}
	examples, err := recipe.ReadSFTExamples(cfg.Data, keys, tk)
	if err != nil {
		return err
	}
	if examples, err = recipe.TruncateSFTExamples(cfg.Data, examples, cfg.MaxLength); err != nil {
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
		mc, err := newModelConfig(cfg.Arch, tk, cfg.NPositions)
		if err != nil {
			return err
		}
		if policy, err = model.New(mc, cfg.Seed); err != nil {
			return err
		}
	}
	slog.Info("sft", "examples", len(examples), "params", policy.NumParams(), "output_dir", cfg.OutputDir)
	defer interruptible(&cfg.TrainArgs)()
	if err := pft.TrainSFT(cfg.SFTConfig, policy, tk, examples, os.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sft: trained %d examples; model written to %s\n", len(examples), cfg.OutputDir)
	return nil
}
