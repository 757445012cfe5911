package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roads/data"
	"roads/task"
)

func TestDataDemosGenPromptsAndEval(t *testing.T) {
	dir := t.TempDir()
	demos := filepath.Join(dir, "demos.jsonl")
	var out bytes.Buffer
	if err := runData([]string{"demos", "--task", "summarize", "--n", "50", "--seed", "3", "--out", demos}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "wrote 50 demonstrations") {
		t.Fatalf("demos output %q", out.String())
	}
	rows, err := data.ReadPromptCompletions(demos, data.Keys{})
	if err != nil || len(rows) != 50 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	tk, _ := task.Load("summarize")
	for _, r := range rows {
		p, err := tk.Encode(r.Prompt)
		if err != nil || tk.SplitOf(p) != task.Train || !strings.HasSuffix(r.Prompt, "TL;DR:") {
			t.Fatalf("prompt %q: %v", r.Prompt, err)
		}
		if r.Completion != "" && !strings.HasPrefix(r.Completion, " ") {
			t.Fatalf("completion %q lacks TRL's leading space", r.Completion)
		}
	}
	// Same seed, same bytes; the rerun replaces the file.
	first, _ := os.ReadFile(demos)
	if err := runData([]string{"demos", "--task", "summarize", "--n", "50", "--seed", "3", "--out", demos}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if second, _ := os.ReadFile(demos); !bytes.Equal(first, second) {
		t.Fatal("demos differ between two runs with the same seed")
	}

	prefs := filepath.Join(dir, "prefs.jsonl")
	out.Reset()
	if err := runData([]string{"gen", "--task", "summarize", "--policy", "corrupt:0.5", "--n", "60", "--seed", "1", "--out", prefs,
		"--chosen_key", "good", "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	var summary struct {
		Stats struct{ Pairs int } `json:"stats"`
	}
	if err := json.Unmarshal(out.Bytes(), &summary); err != nil || summary.Stats.Pairs == 0 {
		t.Fatalf("gen summary %q: %v", out.String(), err)
	}
	pairs, err := data.ReadPreferences(prefs, data.Keys{Chosen: "good"})
	if err != nil || len(pairs) != summary.Stats.Pairs || !pairs[0].HasScores {
		t.Fatalf("%d pairs, %v", len(pairs), err)
	}
	// The written scores are the gold rewards of the written texts.
	for _, p := range pairs[:10] {
		prompt, _ := tk.Encode(p.Prompt)
		chosen, _ := tk.Encode(p.Chosen)
		if g, _ := tk.Gold(prompt, chosen); g != p.ScoreChosen {
			t.Fatalf("score_chosen %v, gold %v", p.ScoreChosen, g)
		}
	}

	promptsPath := filepath.Join(dir, "prompts.jsonl")
	if err := runData([]string{"prompts", "--task", "mdp_sparse", "--n", "20", "--out", promptsPath}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if ps, err := data.ReadPrompts(promptsPath, data.Keys{}); err != nil || len(ps) != 20 || !strings.HasSuffix(ps[0].Prompt, ">") {
		t.Fatalf("prompts %v %v", ps, err)
	}

	out.Reset()
	if err := runData([]string{"task", "--task", "two_word"}, &out); err != nil || !strings.Contains(out.String(), "gap closed by horizon") {
		t.Fatalf("task output %q, %v", out.String(), err)
	}
	out.Reset()
	if err := runData([]string{"task", "--task", "summarize,horizon=14", "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "task.json")
	os.WriteFile(cfgPath, out.Bytes(), 0o644)
	if tk2, err := task.Load(cfgPath); err != nil || tk2.Horizon() != 14 {
		t.Fatalf("resolved config does not load back: %v", err)
	}

	out.Reset()
	if err := runEval([]string{"--task", cfgPath, "--model", "reference", "--ref", "demo", "--n", "30", "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep["kl"] == nil || rep["model"] != "reference" {
		t.Fatalf("eval JSON %q: %v", out.String(), err)
	}
}

func TestDataAndEvalErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		run  func([]string, *bytes.Buffer) error
		args []string
		want string
	}{
		{dataCmd, []string{"gen", "--policy", dir, "--out", filepath.Join(dir, "p.jsonl")}, "config.json: no such file"},
		{dataCmd, []string{"gen", "--policy", "gpt4", "--out", filepath.Join(dir, "p.jsonl")}, `policy "gpt4": not a built-in policy`},
		{dataCmd, []string{"gen", "--policy", "corrupt:2", "--out", filepath.Join(dir, "p.jsonl")}, "rate in [0, 1]"},
		{dataCmd, []string{"gen", "--policy", "reference", "--out", filepath.Join(dir, "p.jsonl"), "--mode", "wild"}, `unknown preference mode "wild"`},
		{dataCmd, []string{"demos", "--task", "nope", "--out", filepath.Join(dir, "d.jsonl")}, `unknown preset "nope"`},
		{dataCmd, []string{"demos", "--n", "5"}, "--out and a positive --n are required"},
		{dataCmd, []string{"frob"}, `unknown data subcommand "frob"`},
		{dataCmd, []string{"prompts", "--split", "dev", "--out", filepath.Join(dir, "x.jsonl")}, `unknown split "dev"`},
		{evalCmd, []string{"--model", "reference", "--split", "train"}, "not held out"},
		{evalCmd, []string{}, "--model is required"},
	}
	for _, c := range cases {
		err := c.run(c.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
	// A failed gen never creates its output.
	if _, err := os.Stat(filepath.Join(dir, "p.jsonl")); !os.IsNotExist(err) {
		t.Fatalf("failed gen left an output: %v", err)
	}
}

func dataCmd(args []string, out *bytes.Buffer) error { return runData(args, out) }
func evalCmd(args []string, out *bytes.Buffer) error { return runEval(args, out) }
