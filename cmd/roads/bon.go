package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"roads/ckpt"
	"roads/internal/cliflag"
	"roads/pft"
	"roads/recipe"
	"roads/task"
)

func init() {
	register("bon", "Best-of-N curve: gold reward of a verifier's best-of-N pick of a policy's samples", runBoN)
}

func runBoN(args []string, stdout io.Writer) error {
	fs := cliflag.New("bon")
	taskSpec := fs.String("task", task.DefaultTask, pftTaskHelp)
	dir := fs.String("model", "", "policy directory whose samples are picked from")
	verifier := fs.String("verifier", "", "verifier: a reward-model directory, a DPO run (implicit reward), a model directory (Σ log π), or gold (the oracle curve)")
	nList := fs.String("n", "1,2,4,8,16,32,64", "comma-separated N values; max(N) samples are drawn per prompt")
	numPrompts := fs.Int("num_prompts", 200, "prompts of the task's test split (stream 0)")
	seed := fs.Uint64("seed", 42, "sampling seed")
	out := fs.String("output_dir", "", "if set, write bon.json there")
	asJSON := fs.Bool("json", false, "print the curve as JSON")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *verifier == "" {
		return errors.New("--model and --verifier are required")
	}
	var ns []int
	for _, f := range strings.Split(*nList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("--n: %q is not a positive integer", f)
		}
		ns = append(ns, n)
	}
	if *numPrompts <= 0 {
		return fmt.Errorf("--num_prompts = %d, want > 0", *numPrompts)
	}
	t, err := task.Load(*taskSpec)
	if err != nil {
		return err
	}
	policy, _, err := recipe.LoadModel(*dir)
	if err != nil {
		return err
	}
	policy.Freeze()
	v, err := pft.LoadVerifier(*verifier, t)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bon: sampling %d × %d completions...\n", *numPrompts, slicesMax(ns))
	res, err := pft.BestOfNEval(policy, v, t, t.Prompts(task.Test, 0, *numPrompts), ns, *seed)
	if err != nil {
		return err
	}
	rec := map[string]any{"task": t.Name(), "model": *dir, "verifier": *verifier, "verifier_kind": fmt.Sprint(v), "seed": *seed, "result": res}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		if err := ckpt.WriteJSON(filepath.Join(*out, "bon.json"), rec); err != nil {
			return err
		}
	}
	if *asJSON {
		b, _ := json.Marshal(rec)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "best-of-N on %d test prompts of %s, policy %s, verifier %s (%v)\n", res.Prompts, t.Name(), *dir, *verifier, v)
	fmt.Fprintf(stdout, "%6s  %10s  %8s  %10s\n", "N", "gold", "± se", "score")
	for _, p := range res.Points {
		fmt.Fprintf(stdout, "%6d  %10.4f  %8.4f  %10.4f\n", p.N, p.Gold, p.GoldSE, p.Score)
	}
	return nil
}

func slicesMax(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
