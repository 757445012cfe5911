package main

import (
	"fmt"
	"io"
	"log/slog"

	"roads/pft"
)

func init() {
	register("ppo", "PPO: clipped ratio, value model and GAE, k1 KL penalty in the reward", runPPO)
}

func runPPO(args []string, stdout io.Writer) error {
	cfg := pft.DefaultPPOTrainConfig()
	if err := loadConfigFile(configFlagValue(args), &cfg); err != nil {
		return err
	}
	fs := newFlags("ppo")
	addConfigFlags(fs, &cfg)
	var o onlineCLI
	addOnlineInputFlags(fs, &cfg.Inputs, &o)
	fs.Float64Var(&cfg.KLCoef, "beta", cfg.KLCoef, "alias of --kl_coef (the other trainers' name)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil { // every setting, before any model or data is read
		return fmt.Errorf("ppo: %w", err)
	}
	st, err := setupOnline(&cfg.Inputs, &o, cfg.Seed)
	if err != nil {
		return err
	}
	value, init, err := pft.NewValueModel(st.policy, st.verifier, cfg.Seed)
	if err != nil {
		return err
	}
	cfg.ValueModelInit = init
	slog.Info("ppo", "prompts", len(st.prompts), "kl_coef", cfg.KLCoef, "verifier", fmt.Sprint(st.verifier), "value_model_init", init, "output_dir", cfg.OutputDir)
	if err := pft.TrainPPO(cfg, st.policy, st.ref, value, st.verifier, st.prompts, st.env); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ppo: model written to %s (value model in %s/value_model)\n", cfg.OutputDir, cfg.OutputDir)
	return o.eval.report(stdout, cfg.OutputDir, st.policy, st.ref, st.task, cfg.Seed)
}
