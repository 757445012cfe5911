package main

import (
	"fmt"
	"io"
	"os"

	"roads/internal/cliflag"
	"roads/recipe"
)

func init() {
	register("bon", "Best-of-N curve: gold reward of a verifier's best-of-N pick of a policy's samples", runBoN)
}

func runBoN(args []string, stdout io.Writer) error {
	cfg := recipe.DefaultBoNConfig()
	fs := cliflag.New("bon")
	cliflag.Bind(fs, &cfg)
	asJSON := fs.Bool("json", false, "print the curve as JSON")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	rec, err := recipe.BestOfN(cfg, os.Stderr)
	if err != nil || *asJSON {
		return printJSONOr(stdout, rec, err)
	}
	res := rec.Result
	fmt.Fprintf(stdout, "best-of-N on %d test prompts of %s, policy %s, verifier %s (%s)\n", res.Prompts, rec.Task, rec.Model, rec.Verifier, rec.VerifierKind)
	fmt.Fprintf(stdout, "%6s  %10s  %8s  %10s\n", "N", "gold", "± se", "score")
	for _, p := range res.Points {
		fmt.Fprintf(stdout, "%6d  %10.4f  %8.4f  %10.4f\n", p.N, p.Gold, p.GoldSE, p.Score)
	}
	return nil
}
