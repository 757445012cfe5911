package main

import (
	"io"

	"roads/eval"
	"roads/internal/cliflag"
)

func init() {
	register("eval", "gold evaluation on held-out prompts: reward, win rate vs reference, KL, length, ROUGE-L", runEval)
}

func runEval(args []string, stdout io.Writer) error {
	cfg := eval.DefaultRunConfig()
	fs := cliflag.New("eval")
	cliflag.Bind(fs, &cfg)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	rep, err := eval.Run(cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}
