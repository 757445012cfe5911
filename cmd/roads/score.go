package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"roads/data"
	"roads/internal/atomicfile"
	"roads/internal/cliflag"
	"roads/model"
	"roads/pft"
	"roads/recipe"
	"roads/task"
)

func init() {
	register("score", "per-example log-probs, DPO implicit rewards, verifier and gold scores of a JSONL file, as JSONL", runScore)
}

func runScore(args []string, stdout io.Writer) error {
	fs := cliflag.New("score")
	modelDir := fs.String("model", "", "policy model directory whose log-probs to report")
	refDir := fs.String("ref", "", "reference model directory (log π_ref and the DPO implicit reward); optional")
	verifier := fs.String("verifier", "", "verifier to score with: a reward-model, DPO-run or model directory, or gold; optional")
	path := fs.String("data", "", "JSONL: preference rows (prompt, chosen, rejected) or prompt/completion rows")
	taskSpec := fs.String("task", "", pftTaskHelp+" (gold rewards; the tokenizer when the model directory has none)")
	beta := fs.Float64("beta", 0.1, "β of the implicit reward β (log π − log π_ref)")
	out := fs.String("output", "", "write the JSONL here (atomically) instead of stdout")
	var keys data.Keys
	keys.AddFlags(fs)
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if *modelDir == "" || *path == "" {
		return errors.New("--model and --data are required")
	}
	if !(*beta > 0) {
		return fmt.Errorf("--beta %v: want > 0", *beta)
	}
	policy, tk, err := recipe.LoadModel(*modelDir)
	if err != nil {
		return err
	}
	if policy.Config().Head != "lm" {
		return fmt.Errorf("--model %s has a %q head; log-probs need an LM head", *modelDir, policy.Config().Head)
	}
	var t *task.Task
	var pt pft.Task
	if *taskSpec != "" {
		if t, err = task.Load(*taskSpec); err != nil {
			return err
		}
		pt = t
		if tk == nil {
			tk = t.Tokenizer()
		}
	}
	if tk == nil {
		return fmt.Errorf("model %s has no tokenizer.json: pass --task to use a task's tokenizer", *modelDir)
	}
	var ref *model.Model
	if *refDir != "" {
		if ref, _, err = recipe.LoadModel(*refDir); err != nil {
			return err
		}
		if ref.Config().VocabSize != policy.Config().VocabSize {
			return fmt.Errorf("--ref %s: vocab_size %d, the policy's is %d", *refDir, ref.Config().VocabSize, policy.Config().VocabSize)
		}
	}
	var v pft.Verifier
	if *verifier != "" {
		if v, err = pft.LoadVerifier(*verifier, pt); err != nil {
			return err
		}
	}
	var gold pft.Verifier
	if t != nil {
		gold = pft.Gold{Task: t}
	}

	rows, err := recipe.ReadScoreRows(*path, keys, tk)
	if err != nil {
		return err
	}
	lines, err := recipe.ScoreRows(*path, rows, policy, ref, v, gold, *beta, policy.Config().EOSTokenID)
	if err != nil {
		return err
	}
	write := func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return bw.Flush()
	}
	if *out == "" {
		return write(stdout)
	}
	if err := atomicfile.Write(*out, write); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "score: %d rows of %s written to %s\n", len(lines), *path, *out)
	return nil
}
