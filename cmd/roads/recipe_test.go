package main

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"roads/data"
	"roads/exp"
	"roads/exp/methods"
	"roads/recipe"
	"roads/task"
)

// recipeSpec is one experiment cell small enough to train its SFT model in a
// test: task seed 3 (the cell's seed), length-matched wide pairs.
const recipeSpec = `{
  "name": "recipe", "title": "the CLI's data equals an experiment cell's", "inherit": "common",
  "params": {
    "policy_model": {"d_model": 16, "n_layer": 1, "n_head": 2},
    "demos": {"n": 48}, "sft": {"max_steps": 5, "per_device_train_batch_size": 16},
    "prefs": {"policy": "sft", "mode": "wide", "k": 4, "pairing": "length_matched"},
    "n_pairs": 40
  },
  "axes": {"task": ["sorted"], "seed": [3], "method": ["dpo"]}
}`

// TestDataGenEqualsExperimentPairs: `roads data demos --seed S` writes the
// demonstrations an experiment cell of seed S trains its SFT model on, and
// `roads data gen --seed S` with that SFT model writes the cell's preference
// pairs, token for token (one recipe, package recipe).
func TestDataGenEqualsExperimentPairs(t *testing.T) {
	spec, err := exp.ParseSpec("recipe.json", []byte(recipeSpec))
	if err != nil {
		t.Fatal(err)
	}
	cells, err := spec.Cells("")
	if err != nil || len(cells) != 1 {
		t.Fatalf("cells %v, %v", cells, err)
	}
	c := cells[0]
	root := t.TempDir()
	art := exp.NewArtifacts(filepath.Join(root, "artifacts"))
	ctx := methods.WithoutEmbedded(context.Background())
	pd, _, err := methods.TrainPairs(ctx, c, art)
	if err != nil {
		t.Fatal(err)
	}
	if len(pd.Pairs) < 5 {
		t.Fatalf("only %d pairs: the check would be weak", len(pd.Pairs))
	}
	sftDirs, _ := filepath.Glob(filepath.Join(root, "artifacts", "sft", "*", "config.json"))
	if len(sftDirs) != 1 {
		t.Fatalf("want one SFT artefact, found %v", sftDirs)
	}
	sftDir := filepath.Dir(sftDirs[0])
	tk, err := methods.Task(c)
	if err != nil {
		t.Fatal(err)
	}
	taskSpec := "sorted,seed=3"

	// Demonstrations.
	demosPath := filepath.Join(root, "demos.jsonl")
	mustRun(t, runData, "demos", "--task", taskSpec, "--seed", "3", "--n", "48", "--out", demosPath)
	rows, err := data.ReadPromptCompletions(demosPath, data.Keys{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := methods.Demonstrations(tk, task.Train, methods.Demos{N: 48}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) {
		t.Fatalf("CLI wrote %d demonstrations, the cell has %d", len(rows), len(want))
	}
	eos := tk.Tokenizer().EOS()
	for i, r := range rows {
		p, _ := tk.Tokenizer().Encode(r.Prompt)
		d, _ := tk.Tokenizer().Encode(r.Completion)
		if !reflect.DeepEqual(p, want[i].Prompt) || !reflect.DeepEqual(append(d, eos), want[i].Completion) {
			t.Fatalf("demonstration %d differs: CLI %q%q, cell %q%q", i, r.Prompt, r.Completion, tk.Decode(want[i].Prompt), tk.Decode(want[i].Completion))
		}
	}

	// Preference pairs, from the cell's own SFT model.
	prefsPath := filepath.Join(root, "prefs.jsonl")
	mustRun(t, runData, "gen", "--task", taskSpec, "--policy", sftDir, "--seed", "3", "--n", "40",
		"--mode", "wide", "--k", "4", "--pairing", "length_matched", "--out", prefsPath)
	got, err := recipe.ReadPreferencePairs(prefsPath, data.Keys{}, tk.Tokenizer())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(pd.Pairs) {
		t.Fatalf("CLI wrote %d pairs, the cell trains on %d", len(got), len(pd.Pairs))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], pd.Pairs[i]) {
			t.Fatalf("pair %d differs: CLI %q ≻ %q, cell %q ≻ %q", i, tk.Decode(got[i].Chosen), tk.Decode(got[i].Rejected),
				tk.Decode(pd.Pairs[i].Chosen), tk.Decode(pd.Pairs[i].Rejected))
		}
	}
	// The artefact's pairs.jsonl is itself TRL preference JSONL: the CLI
	// reads it to the same tokens.
	artPairs, _ := filepath.Glob(filepath.Join(root, "artifacts", "prefs", "*", "pairs.jsonl"))
	if len(artPairs) != 1 {
		t.Fatalf("want one pairs.jsonl artefact, found %v", artPairs)
	}
	fromArtifact, err := recipe.ReadPreferencePairs(artPairs[0], data.Keys{}, tk.Tokenizer())
	if err != nil || !reflect.DeepEqual(fromArtifact, got) {
		t.Fatalf("the artefact's pairs.jsonl read by the CLI: %v (equal: %v)", err, reflect.DeepEqual(fromArtifact, got))
	}
	// And another data seed gives other pairs (the check can fail).
	other := filepath.Join(root, "other.jsonl")
	mustRun(t, runData, "gen", "--task", taskSpec, "--policy", sftDir, "--seed", "4", "--n", "40",
		"--mode", "wide", "--k", "4", "--pairing", "length_matched", "--out", other)
	o, _ := recipe.ReadPreferencePairs(other, data.Keys{}, tk.Tokenizer())
	if reflect.DeepEqual(o, got) {
		t.Fatal("data seeds 3 and 4 wrote the same pairs")
	}
}
