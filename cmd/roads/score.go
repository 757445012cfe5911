package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"roads/internal/cliflag"

	"roads/data"
	"roads/internal/atomicfile"
	"roads/model"
	"roads/pft"
	"roads/recipe"
	"roads/task"
	"roads/tok"
)

func init() {
	register("score", "per-example log-probs, DPO implicit rewards, verifier and gold scores of a JSONL file, as JSONL", runScore)
}

type scoredRow struct {
	Line       int                            `json:"line"`
	Prompt     string                         `json:"prompt"`
	Completion map[string]pft.CompletionScore `json:"completions"` // "completion", or "chosen" and "rejected"
	// Preference rows: chosen − rejected of each score present.
	ImplicitMargin *float64 `json:"implicit_reward_margin,omitempty"`
	RewardMargin   *float64 `json:"reward_margin,omitempty"`
	GoldMargin     *float64 `json:"gold_margin,omitempty"`
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
	policy, tk, err := loadModel(*modelDir)
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
		if ref, _, err = loadModel(*refDir); err != nil {
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

	rows, err := readScoreRows(*path, keys, tk)
	if err != nil {
		return err
	}
	eos := policy.Config().EOSTokenID
	var lines []scoredRow
	for _, r := range rows {
		sr := scoredRow{Line: r.line, Prompt: r.promptText, Completion: map[string]pft.CompletionScore{}}
		for k, name := range r.names {
			c, err := pft.ScoreCompletion(policy, ref, v, gold, *beta, eos, r.prompt, r.completions[k])
			if err != nil {
				return fmt.Errorf("%s:%d: %s: %w", *path, r.line, name, err)
			}
			sr.Completion[name] = c
		}
		if len(r.names) == 2 {
			ch, rj := sr.Completion["chosen"], sr.Completion["rejected"]
			sr.ImplicitMargin = diff(ch.ImplicitReward, rj.ImplicitReward)
			sr.RewardMargin = diff(ch.Reward, rj.Reward)
			sr.GoldMargin = diff(ch.Gold, rj.Gold)
		}
		lines = append(lines, sr)
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

func diff(a, b *float64) *float64 {
	if a == nil || b == nil {
		return nil
	}
	d := *a - *b
	return &d
}

// scoreRow is one input row, tokenised: one completion or a chosen/rejected pair.
type scoreRow struct {
	line        int
	promptText  string
	prompt      []int32
	names       []string
	completions [][]int32
}

// readScoreRows reads preference rows if the file has them, else
// prompt/completion rows (both TRL formats, standard and conversational).
func readScoreRows(path string, keys data.Keys, tk tok.Tokenizer) ([]scoreRow, error) {
	recs, err := data.ReadRecords(path)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	encode := func(line int, field, text string) ([]int32, error) {
		ids, err := tk.Encode(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: field %q: %w", path, line, field, err)
		}
		return ids, nil
	}
	var out []scoreRow
	if _, ok := recs[0].Fields[keys.WithDefaults().Rejected]; ok {
		prefs, err := recipe.ReadPreferenceRows(path, keys, tk)
		if err != nil {
			return nil, err
		}
		for i, p := range prefs {
			r := scoreRow{line: i + 1, promptText: p.Prompt, names: []string{"chosen", "rejected"}}
			if r.prompt, err = encode(i+1, "prompt", p.Prompt); err != nil {
				return nil, err
			}
			for _, f := range []struct{ name, text string }{{"chosen", p.Chosen}, {"rejected", p.Rejected}} {
				ids, err := encode(i+1, f.name, f.text)
				if err != nil {
					return nil, err
				}
				r.completions = append(r.completions, ids)
			}
			out = append(out, r)
		}
		return out, nil
	}
	pcs, err := data.ReadPromptCompletions(path, keys)
	if err != nil {
		return nil, fmt.Errorf("%s: rows are neither preference nor prompt/completion rows: %w", path, err)
	}
	for i, pc := range pcs {
		r := scoreRow{line: i + 1, promptText: pc.Prompt, names: []string{"completion"}}
		if r.prompt, err = encode(i+1, "prompt", pc.Prompt); err != nil {
			return nil, err
		}
		ids, err := encode(i+1, "completion", pc.Completion)
		if err != nil {
			return nil, err
		}
		r.completions = [][]int32{ids}
		out = append(out, r)
	}
	return out, nil
}
