package main

import (
	"fmt"
	"io"
	"log/slog"

	"roads/pft"
)

func init() {
	register("grpo", "GRPO: group-normalised advantages, clipped ratio, k3 KL term in the loss", runGRPO)
}

func runGRPO(args []string, stdout io.Writer) error {
	cfg := pft.DefaultGRPOTrainConfig()
	if err := loadConfigFile(configFlagValue(args), &cfg); err != nil {
		return err
	}
	fs := newFlags("grpo")
	addConfigFlags(fs, &cfg)
	var o onlineCLI
	addOnlineInputFlags(fs, &cfg.Inputs, &o)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil { // every setting, before any model or data is read
		return fmt.Errorf("grpo: %w", err)
	}
	st, err := setupOnline(&cfg.Inputs, &o, cfg.Seed)
	if err != nil {
		return err
	}
	slog.Info("grpo", "prompts", len(st.prompts), "num_generations", cfg.NumGenerations, "beta", cfg.Beta, "verifier", fmt.Sprint(st.verifier), "output_dir", cfg.OutputDir)
	if err := pft.TrainGRPO(cfg, st.policy, st.ref, st.verifier, st.prompts, st.env); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "grpo: model written to %s\n", cfg.OutputDir)
	return o.eval.report(stdout, cfg.OutputDir, st.policy, st.ref, st.task, cfg.Seed)
}
