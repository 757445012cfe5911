package main

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roads/pft"
	"roads/recipe"
	"roads/task"
)

// roads score's numbers agree with the code paths that train on them: the
// policy directory used as a local RM scores Σ log π (= logp_sum), a
// reference equal to the policy gives implicit reward 0, per-token log-probs
// sum to logp_sum, and the gold reward is the task's.
func TestScorePerExample(t *testing.T) {
	dir, sft, prefs := tinySetup(t)
	tk, _ := task.Load(tinyTask)
	out := filepath.Join(dir, "scores.jsonl")
	mustRun(t, runScore, "--model", sft, "--ref", sft, "--verifier", sft, "--task", tinyTask, "--data", prefs, "--output", out, "--beta", "0.5")
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, _ := os.ReadFile(prefs)
	inLines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var row recipe.ScoredRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		n++
		ch, rj := row.Completion["chosen"], row.Completion["rejected"]
		for name, c := range map[string]pft.CompletionScore{"chosen": ch, "rejected": rj} {
			var s float64
			for _, lp := range c.Logps {
				s += float64(lp)
			}
			if math.Abs(s-c.LogpSum) > 1e-4 || c.Tokens != len(c.Logps) || c.Tokens != len(c.RefLogps) {
				t.Fatalf("line %d %s: Σ logps %g vs logp_sum %g (%d tokens)", row.Line, name, s, c.LogpSum, c.Tokens)
			}
			if c.ImplicitReward == nil || *c.ImplicitReward != 0 || c.Reward == nil || math.Abs(*c.Reward-c.LogpSum) > 1e-9 || c.Gold == nil {
				t.Fatalf("line %d %s: implicit %v, reward %v vs logp_sum %g, gold %v", row.Line, name, c.ImplicitReward, c.Reward, c.LogpSum, c.Gold)
			}
		}
		if row.GoldMargin == nil || math.Abs(*row.GoldMargin-(*ch.Gold-*rj.Gold)) > 1e-12 {
			t.Fatalf("line %d: gold margin %v", row.Line, row.GoldMargin)
		}
		// The gold reward is the task's, computed here from the input row.
		var in map[string]string
		json.Unmarshal([]byte(inLines[row.Line-1]), &in)
		p, err1 := tk.Tokenizer().Encode(in["prompt"])
		c, err2 := tk.Tokenizer().Encode(in["chosen"])
		if err1 != nil || err2 != nil || row.Prompt != in["prompt"] {
			t.Fatalf("line %d: %v %v", row.Line, err1, err2)
		}
		g, err := pft.Gold{Task: tk}.Score([][]int32{p}, [][]int32{c})
		if err != nil || math.Abs(g[0]-*ch.Gold) > 1e-12 {
			t.Fatalf("line %d: gold %v, the task says %v (%v)", row.Line, *ch.Gold, g, err)
		}
	}
	if n != 24 {
		t.Fatalf("%d rows scored, want 24", n)
	}
	// Without a reference, verifier or task there is only the policy's part.
	plain := mustRun(t, runScore, "--model", sft, "--data", prefs)
	if strings.Contains(plain, "implicit_reward") || strings.Contains(plain, `"gold"`) || !strings.Contains(plain, `"logp_sum"`) {
		t.Fatalf("score without --ref/--task: %.300s", plain)
	}
}
