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
	addTrainFlags(fs, &cfg.TrainArgs)
	var o onlineCLI
	addOnlineInputFlags(fs, &cfg.Inputs, &o)
	fs.IntVar(&cfg.NumGenerations, "num_generations", cfg.NumGenerations, "samples per prompt (per_device_train_batch_size counts completions and must be a multiple)")
	fs.Float64Var(&cfg.Beta, "beta", cfg.Beta, "coefficient of the per-token k3 KL term in the loss")
	fs.Float64Var(&cfg.Epsilon, "epsilon", cfg.Epsilon, "lower clip range of the ratio")
	fs.Float64Var(&cfg.EpsilonHigh, "epsilon_high", cfg.EpsilonHigh, "upper clip range (0: --epsilon)")
	fs.StringVar(&cfg.LossType, "loss_type", cfg.LossType, "dapo, bnpo, grpo or dr_grpo")
	fs.StringVar(&cfg.ScaleRewards, "scale_rewards", cfg.ScaleRewards, "group, batch or none")
	fs.Float64Var(&cfg.MissingEOSPenalty, "missing_eos_penalty", cfg.MissingEOSPenalty, "subtracted from the score of samples cut off before EOS")
	if err := parseFlags(fs, args); err != nil {
		return err
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
