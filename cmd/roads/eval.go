package main

import (
	"errors"
	"io"

	"roads/eval"
	"roads/internal/cliflag"
	"roads/task"
)

func init() {
	register("eval", "gold evaluation on held-out prompts: reward, win rate vs reference, KL, length, ROUGE-L", runEval)
}

func runEval(args []string, stdout io.Writer) error {
	fs := cliflag.New("eval")
	taskSpec := fs.String("task", task.DefaultTask, taskHelp)
	modelSpec := fs.String("model", "", "evaluated "+eval.PolicyHelp)
	refSpec := fs.String("ref", "", "reference policy for KL(π‖π_ref), normally the SFT model (same values as --model); empty = no KL")
	n := fs.Int("n", 500, "number of held-out prompts")
	samples := fs.Int("samples_per_prompt", 2, "completions sampled per prompt")
	temperature := fs.Float64("temperature", 1, "sampling temperature (0 = greedy; KL is only estimated at 1)")
	maxNew := fs.Int("max_new_tokens", 0, "completion cap (0 = the task's horizon)")
	seed := fs.Uint64("seed", 0, "sampling seed")
	splitName := fs.String("split", "test", "held-out split: test (default) or validation (for tuning)")
	stream := fs.Uint64("stream", 0, "prompt stream of the split (0 = the standard evaluation set)")
	rows := fs.Int("table_rows", 5, "rows of the sample table")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if *modelSpec == "" {
		return errors.New("eval: --model is required (" + eval.PolicyHelp + ")")
	}
	t, err := task.Load(*taskSpec)
	if err != nil {
		return err
	}
	split, err := task.ParseSplit(*splitName)
	if err != nil {
		return err
	}
	if split == task.Train {
		return errors.New("eval: --split train is not held out; use test or validation")
	}
	model, err := eval.LoadPolicy(*modelSpec, t)
	if err != nil {
		return err
	}
	var ref eval.Policy
	if *refSpec != "" {
		if ref, err = eval.LoadPolicy(*refSpec, t); err != nil {
			return err
		}
	}
	opt := eval.Options{
		Prompts: t.Prompts(split, *stream, *n), SamplesPerPrompt: *samples, Temperature: *temperature,
		Greedy: *temperature == 0, MaxNewTokens: *maxNew, Seed: *seed, TableRows: *rows,
	}
	rep, err := eval.Evaluate(t, model, ref, opt)
	if err != nil {
		return err
	}
	rep.Model, rep.Ref = *modelSpec, *refSpec
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}
