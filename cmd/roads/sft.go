package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"roads/data"
	"roads/internal/cliflag"
	"roads/pft"
	"roads/recipe"
)

func init() {
	register("sft", "supervised fine-tuning on prompt/completion (or text) JSONL", runSFT)
}

// sftCLI is `roads sft`'s configuration (flags and --config file): the
// trainer's settings and the run's inputs.
type sftCLI struct {
	pft.SFTConfig
	recipe.SFTInputs
}

func runSFT(args []string, stdout io.Writer) error {
	cfg := sftCLI{SFTConfig: pft.DefaultSFTConfig(), SFTInputs: recipe.SFTInputs{Arch: defaultNewModelArch()}}
	if err := cliflag.LoadConfig(args, &cfg); err != nil {
		return err
	}
	fs := cliflag.New("sft")
	addConfigFlags(fs, &cfg.SFTConfig)
	cliflag.Bind(fs, &cfg.SFTInputs)
	var keys data.Keys
	keys.AddFlags(fs)
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if err := cfg.SFTConfig.Validate(); err != nil { // every setting, before any model or data is read
		return fmt.Errorf("sft: %w", err)
	}
	l, err := recipe.LoadSFT(&cfg.SFTInputs, cfg.Seed, keys)
	if err != nil {
		return err
	}
	policy, examples := l.Policy, l.Examples
	slog.Info("sft", "examples", len(examples), "params", policy.NumParams(), "output_dir", cfg.OutputDir)
	defer interruptible(&cfg.TrainArgs)()
	if err := pft.TrainSFT(cfg.SFTConfig, policy, l.Tok, examples, os.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sft: trained %d examples; model written to %s\n", len(examples), cfg.OutputDir)
	return nil
}
