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
	addTrainFlags(fs, &cfg.TrainArgs)
	var o onlineCLI
	addOnlineInputFlags(fs, &cfg.Inputs, &o)
	fs.Float64Var(&cfg.KLCoef, "kl_coef", cfg.KLCoef, "β of the per-token k1 KL penalty in the reward")
	fs.Float64Var(&cfg.KLCoef, "beta", cfg.KLCoef, "alias of --kl_coef (the other trainers' name)")
	fs.Float64Var(&cfg.Gamma, "gamma", cfg.Gamma, "discount γ")
	fs.Float64Var(&cfg.Lam, "lam", cfg.Lam, "GAE λ")
	fs.Float64Var(&cfg.ClipRange, "cliprange", cfg.ClipRange, "policy ratio clip range ε")
	fs.Float64Var(&cfg.ClipRangeValue, "cliprange_value", cfg.ClipRangeValue, "value clip range")
	fs.Float64Var(&cfg.VFCoef, "vf_coef", cfg.VFCoef, "value loss coefficient")
	fs.IntVar(&cfg.NumPPOEpochs, "num_ppo_epochs", cfg.NumPPOEpochs, "passes over each rollout")
	fs.IntVar(&cfg.NumMiniBatches, "num_mini_batches", cfg.NumMiniBatches, "minibatches per pass (one optimiser update each)")
	fs.Float64Var(&cfg.MissingEOSPenalty, "missing_eos_penalty", cfg.MissingEOSPenalty, "subtracted from the score of samples cut off before EOS")
	if err := parseFlags(fs, args); err != nil {
		return err
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
