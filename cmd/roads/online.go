package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"roads/pft"
)

// The online trainers, one row each: a command is its config (flags from the
// struct, Validate), the shared inputs (task, policy, reference, verifier,
// prompts), its pft trainer and the shared gold report. A new online
// algorithm is its pft file and a row here (plus its experiment method).
func init() {
	for _, t := range []struct {
		name, summary string
		run           func(args []string, stdout io.Writer) error
	}{
		{"online-dpo", "online DPO: pairs of the policy's samples ranked by a verifier (one_round as the paper, or iterative)", runOnlineDPO},
		{"rloo", "RLOO: k samples per prompt, leave-one-out baseline, k1 KL penalty in the reward", runRLOO},
		{"ppo", "PPO: clipped ratio, value model and GAE, k1 KL penalty in the reward", runPPO},
		{"grpo", "GRPO: group-normalised advantages, clipped ratio, k3 KL term in the loss", runGRPO},
	} {
		register(t.name, t.summary, t.run)
	}
}

func runOnlineDPO(args []string, stdout io.Writer) error {
	cfg := pft.DefaultOnlineDPOConfig()
	return onlineCommand{name: "online-dpo", cfg: &cfg, in: &cfg.Inputs, args: &cfg.TrainArgs,
		skip: []string{"max_length", "max_prompt_length"}, // online samples fit the context by construction
	}.run(args, stdout, func(st *onlineSetup) (string, error) {
		slog.Info("online-dpo", "mode", cfg.Mode, "prompts", len(st.prompts), "verifier", fmt.Sprint(st.verifier), "output_dir", cfg.OutputDir)
		return fmt.Sprintf("(%s) model written to %s", cfg.Mode, cfg.OutputDir), pft.TrainOnlineDPO(cfg, st.policy, st.ref, st.verifier, st.prompts, st.env)
	})
}

func runRLOO(args []string, stdout io.Writer) error {
	cfg := pft.DefaultRLOOTrainConfig()
	return onlineCommand{name: "rloo", cfg: &cfg, in: &cfg.Inputs, args: &cfg.TrainArgs}.run(args, stdout, func(st *onlineSetup) (string, error) {
		slog.Info("rloo", "prompts", len(st.prompts), "k", cfg.NumGenerations, "beta", cfg.Beta, "verifier", fmt.Sprint(st.verifier), "output_dir", cfg.OutputDir)
		return "model written to " + cfg.OutputDir, pft.TrainRLOO(cfg, st.policy, st.ref, st.verifier, st.prompts, st.env)
	})
}

func runGRPO(args []string, stdout io.Writer) error {
	cfg := pft.DefaultGRPOTrainConfig()
	return onlineCommand{name: "grpo", cfg: &cfg, in: &cfg.Inputs, args: &cfg.TrainArgs}.run(args, stdout, func(st *onlineSetup) (string, error) {
		slog.Info("grpo", "prompts", len(st.prompts), "num_generations", cfg.NumGenerations, "beta", cfg.Beta, "verifier", fmt.Sprint(st.verifier), "output_dir", cfg.OutputDir)
		return "model written to " + cfg.OutputDir, pft.TrainGRPO(cfg, st.policy, st.ref, st.verifier, st.prompts, st.env)
	})
}

func runPPO(args []string, stdout io.Writer) error {
	cfg := pft.DefaultPPOTrainConfig()
	return onlineCommand{name: "ppo", cfg: &cfg, in: &cfg.Inputs, args: &cfg.TrainArgs, extra: func(fs *flag.FlagSet) {
		fs.Float64Var(&cfg.KLCoef, "beta", cfg.KLCoef, "alias of --kl_coef (the other trainers' name)")
	}}.run(args, stdout, func(st *onlineSetup) (string, error) {
		value, init, err := pft.NewValueModel(st.policy, st.verifier, cfg.Seed)
		if err != nil {
			return "", err
		}
		cfg.ValueModelInit = init
		slog.Info("ppo", "prompts", len(st.prompts), "kl_coef", cfg.KLCoef, "verifier", fmt.Sprint(st.verifier), "value_model_init", init, "output_dir", cfg.OutputDir)
		return fmt.Sprintf("model written to %s (value model in %s/value_model)", cfg.OutputDir, cfg.OutputDir),
			pft.TrainPPO(cfg, st.policy, st.ref, value, st.verifier, st.prompts, st.env)
	})
}

// onlineCommand is what the online trainers' commands share.
type onlineCommand struct {
	name  string
	cfg   interface{ Validate() error } // a pointer to the trainer's config
	in    *pft.Inputs                   // its inputs
	args  *pft.TrainArgs                // its TrainingArguments
	skip  []string                      // config flags the command does not offer
	extra func(fs *flag.FlagSet)        // command-only flags (aliases)
}

// run parses args over the config (--config file first, then flags),
// validates every setting, loads the inputs, trains and reports.
func (c onlineCommand) run(args []string, stdout io.Writer, train func(st *onlineSetup) (string, error)) error {
	if err := loadConfigFile(configFlagValue(args), c.cfg); err != nil {
		return err
	}
	fs := newFlags(c.name)
	addConfigFlags(fs, c.cfg, c.skip...)
	var o onlineCLI
	addOnlineInputFlags(fs, c.in, &o)
	if c.extra != nil {
		c.extra(fs)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := c.cfg.Validate(); err != nil { // every setting, before any model or data is read
		return fmt.Errorf("%s: %w", c.name, err)
	}
	st, err := setupOnline(c.in, &o, c.args.Seed)
	if err != nil {
		return err
	}
	done, err := train(st)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s\n", c.name, done)
	return o.eval.report(stdout, c.args.OutputDir, st.policy, st.ref, st.task, c.args.Seed)
}
