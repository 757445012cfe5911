package main

import (
	"fmt"
	"io"
	"log/slog"

	"roads/pft"
)

func init() {
	register("rloo", "RLOO: k samples per prompt, leave-one-out baseline, k1 KL penalty in the reward", runRLOO)
}

func runRLOO(args []string, stdout io.Writer) error {
	cfg := pft.DefaultRLOOTrainConfig()
	if err := loadConfigFile(configFlagValue(args), &cfg); err != nil {
		return err
	}
	fs := newFlags("rloo")
	addConfigFlags(fs, &cfg)
	var o onlineCLI
	addOnlineInputFlags(fs, &cfg.Inputs, &o)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil { // every setting, before any model or data is read
		return fmt.Errorf("rloo: %w", err)
	}
	st, err := setupOnline(&cfg.Inputs, &o, cfg.Seed)
	if err != nil {
		return err
	}
	slog.Info("rloo", "prompts", len(st.prompts), "k", cfg.NumGenerations, "beta", cfg.Beta, "verifier", fmt.Sprint(st.verifier), "output_dir", cfg.OutputDir)
	if err := pft.TrainRLOO(cfg, st.policy, st.ref, st.verifier, st.prompts, st.env); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rloo: model written to %s\n", cfg.OutputDir)
	return o.eval.report(stdout, cfg.OutputDir, st.policy, st.ref, st.task, cfg.Seed)
}
