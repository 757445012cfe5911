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

// sftCLI is the imitation family's command configuration (flags and
// --config file): the trainer's settings and the run's inputs.
type sftCLI struct {
	pft.SFTConfig
	recipe.SFTInputs
}

// runSFT is the command of an imitation row of pft.Algorithms (sft).
func runSFT(a pft.Algorithm, args []string, stdout io.Writer) error {
	cfg := sftCLI{SFTConfig: *a.NewSFT().(*pft.SFTConfig), SFTInputs: recipe.SFTInputs{Arch: defaultNewModelArch()}}
	if err := cliflag.LoadConfig(args, &cfg); err != nil {
		return err
	}
	fs := cliflag.New(a.Command)
	addConfigFlags(fs, &cfg.SFTConfig, a.NotFlags...)
	cliflag.Bind(fs, &cfg.SFTInputs)
	var keys data.Keys
	keys.AddFlags(fs)
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if err := cfg.SFTConfig.Validate(); err != nil { // every setting, before any model or data is read
		return fmt.Errorf("%s: %w", a.Command, err)
	}
	l, err := recipe.LoadSFT(&cfg.SFTInputs, cfg.Seed, keys)
	if err != nil {
		return err
	}
	policy, examples := l.Policy, l.Examples
	slog.Info(a.Command, "examples", len(examples), "params", policy.NumParams(), "output_dir", cfg.OutputDir)
	defer interruptible(&cfg.TrainArgs)()
	if err := cfg.SFTConfig.Train(policy, l.Tok, examples, os.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: trained %d examples; model written to %s\n", a.Command, len(examples), cfg.OutputDir)
	return nil
}
