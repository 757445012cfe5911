package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"roads/data"
	"roads/internal/cliflag"
	"roads/model"
	"roads/pft"
	"roads/recipe"
)

// rmCLI is the reward family's command configuration: the trainer's plus the
// architecture of a reward model built from scratch.
type rmCLI struct {
	pft.RewardTrainConfig
	model.Arch
	NPositions int `json:"n_positions"` // 0: the task's max_total_len
}

// runRM is the command of a reward row of pft.Algorithms (rm); `rm eval`
// scores any verifier.
func runRM(a pft.Algorithm, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "eval" {
		return runRMEval(args[1:], stdout)
	}
	cfg := rmCLI{RewardTrainConfig: *a.NewReward().(*pft.RewardTrainConfig), Arch: defaultNewModelArch()}
	if err := cliflag.LoadConfig(args, &cfg); err != nil {
		return err
	}
	fs := cliflag.New(a.Command)
	addConfigFlags(fs, &cfg.RewardTrainConfig, a.NotFlags...)
	cliflag.Bind(fs, &cfg.Arch)
	fs.IntVar(&cfg.NPositions, "n_positions", cfg.NPositions, "context of a new model (0: the task's max_total_len)")
	var keys data.Keys
	keys.AddFlags(fs)
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if err := cfg.RewardTrainConfig.Validate(); err != nil { // every setting, before any model or data is read
		return fmt.Errorf("%s: %w", a.Command, err)
	}
	l, err := recipe.LoadRewardModel(&cfg.RewardTrainConfig, cfg.Arch, cfg.NPositions, keys)
	if err != nil {
		return err
	}
	rm, train, eval := l.Policy, l.Pairs, l.Eval
	slog.Info(a.Command, "kind", cfg.Kind, "readout", cfg.Readout, "train_pairs", len(train), "eval_pairs", len(eval), "params", rm.NumParams(), "output_dir", cfg.OutputDir)
	defer interruptible(&cfg.TrainArgs)()
	res, err := cfg.RewardTrainConfig.Train(rm, train, eval, pft.Env{Tokenizer: l.Tok, Progress: os.Stderr})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (%s): %d steps; train BT likelihood %.4f, accuracy %.4f", a.Command, cfg.Kind, res.Steps, res.Train.Likelihood, res.Train.Accuracy)
	if len(eval) > 0 {
		fmt.Fprintf(stdout, "; held-out BT likelihood %.4f, accuracy %.4f (%d pairs)", res.Eval.Likelihood, res.Eval.Accuracy, res.Eval.Pairs)
	}
	if res.BestModelCheckpoint != "" {
		fmt.Fprintf(stdout, "; kept step %d", res.BestStep)
	}
	fmt.Fprintf(stdout, "\nmodel written to %s\n", cfg.OutputDir)
	return nil
}

// runRMEval scores held-out preference pairs with any verifier.
func runRMEval(args []string, stdout io.Writer) error {
	cfg := recipe.VerifierEvalConfig{Keys: data.DefaultKeys()}
	fs := cliflag.New("rm eval")
	cliflag.Bind(fs, &cfg)
	cfg.Keys.AddFlags(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	r, err := recipe.EvalVerifier(cfg)
	if err != nil || *asJSON {
		return printJSONOr(stdout, r, err)
	}
	fmt.Fprintf(stdout, "%s (%s) on %d pairs of %s: BT likelihood %.4f, log-likelihood %.4f, accuracy %.4f; best length-only rule (%s) %.4f\n",
		r.Verifier, r.Kind, r.Pairs, r.Data, r.Likelihood, r.LogLikelihood, r.Accuracy, r.LengthRule, r.LengthRuleAccuracy)
	return nil
}
