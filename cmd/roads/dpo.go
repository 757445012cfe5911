package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"roads/ckpt"
	"roads/data"
	"roads/eval"
	"roads/internal/cliflag"
	"roads/model"
	"roads/pft"
	"roads/recipe"
	"roads/task"
)

// runOffline is the command of an offline row of pft.Algorithms (dpo): the
// config (flags from the struct, Validate), the shared inputs
// (recipe.LoadDPO: policy, frozen reference, task, pairs), the row's trainer
// and the shared gold report.
func runOffline(a pft.Algorithm, args []string, stdout io.Writer) error {
	cfg := a.NewOffline()
	in, targs := cfg.Shared()
	if err := cliflag.LoadConfig(args, cfg); err != nil {
		return err
	}
	fs := cliflag.New(a.Command)
	addConfigFlags(fs, cfg, a.NotFlags...)
	ev := addEvalFlags(fs)
	var keys data.Keys
	keys.AddFlags(fs)
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil { // every setting, before any model or data is read
		return fmt.Errorf("%s: %w", a.Command, err)
	}
	l, err := recipe.LoadDPO(in, keys)
	if err != nil {
		return err
	}
	env := pft.Env{Tokenizer: l.Tok, Progress: os.Stderr}
	recipe.SetTaskEnv(&env, l.Task, ev.samplePrompts)
	slog.Info(a.Command, "pairs", len(l.Pairs), "output_dir", targs.OutputDir)
	defer interruptible(targs)()
	if err := cfg.Train(l.Policy, l.Ref, l.Pairs, env); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: trained on %d pairs; model written to %s\n", a.Command, len(l.Pairs), targs.OutputDir)
	return ev.report(stdout, targs.OutputDir, l.Policy, l.Ref, l.Task, targs.Seed)
}

// ---------------------------------------------------------------------------
// Helpers shared by the preference fine-tuning commands (dpo, rm, online-dpo,
// rloo, ppo, grpo, bon).

// evalFlags are the optional gold evaluation every policy trainer offers.
type evalFlags struct {
	samplePrompts int
	evalPrompts   int
	evalSamples   int
}

func addEvalFlags(fs *flag.FlagSet) *evalFlags {
	e := &evalFlags{}
	fs.IntVar(&e.samplePrompts, "num_sample_prompts", 16, "test prompts sampled (with gold reward) into samples/step-N.jsonl at each checkpoint (needs --task)")
	fs.IntVar(&e.evalPrompts, "eval_prompts", 0, "after training, gold reward and KL on this many test prompts, written to gold_eval.json (needs --task; 0: skip)")
	fs.IntVar(&e.evalSamples, "eval_samples", 4, "samples per prompt for --eval_prompts")
	return e
}

// report runs the --eval_prompts gold evaluation of the reference and the
// trained policy (eval.EvaluateAgainstReference: eval.Evaluate, the one gold
// evaluator, as in `roads eval` and the experiments) and writes it to
// gold_eval.json.
func (e *evalFlags) report(stdout io.Writer, dir string, policy, ref *model.Model, t *task.Task, seed uint64) error {
	if e.evalPrompts <= 0 || t == nil {
		return nil
	}
	res, err := eval.EvaluateAgainstReference(t, policy, ref, e.evalPrompts, e.evalSamples, seed)
	if err != nil {
		return fmt.Errorf("--eval_prompts: %w", err)
	}
	if err := ckpt.WriteJSON(filepath.Join(dir, "gold_eval.json"), res); err != nil {
		return err
	}
	before, after := res.Reference, res.Policy
	kl := "no KL"
	if after.KL != nil {
		kl = fmt.Sprintf("KL(π‖π_ref) %.4f nats (k1)", after.KL.Mean)
	}
	fmt.Fprintf(stdout, "gold reward on %d test prompts: reference %s → policy %s; win rate vs the task's reference %.3f → %.3f; %s\n",
		e.evalPrompts, before.Gold, after.Gold, before.WinRate.Mean, after.WinRate.Mean, kl)
	return nil
}

const pftTaskHelp = "task preset, preset with overrides (summarize,horizon=8) or task config .json"
