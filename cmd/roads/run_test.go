package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinySFTSpec is a spec named "tiny" whose SFT stage trains a width-16
// model for 4 steps, over the given axes (a JSON object).
func tinySFTSpec(axes string) string {
	return `{
  "name": "tiny", "title": "tiny", "inherit": "common",
  "params": {"policy_model": {"d_model": 16, "n_layer": 1, "n_head": 2}, "demos": {"n": 32},
             "sft": {"max_steps": 4, "per_device_train_batch_size": 8}, "eval": {"prompts": 8, "samples_per_prompt": 1}},
  "axes": ` + axes + `
}`
}

// TestRunThenReport drives `roads run` and `roads report` on a tiny grid of
// the wired sft method: list, run (flags after the name), rerun (nothing to
// do), shards, report.
func TestRunThenReport(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "tiny.json")
	writeFile(t, spec, tinySFTSpec(`{"seed": [1, 2], "method": ["sft", "dpo_not_wired"]}`))
	results := filepath.Join(dir, "results")
	var out bytes.Buffer
	if err := runRun([]string{spec, "--results", results, "--preset", "none", "--list", "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	var cells []struct {
		ID    string `json:"id"`
		Done  bool   `json:"done"`
		Wired bool   `json:"method_wired"`
	}
	if err := json.Unmarshal(out.Bytes(), &cells); err != nil || len(cells) != 4 || cells[0].Done || !cells[0].Wired || cells[1].Wired {
		t.Fatalf("--list: %s %v", out.String(), err)
	}
	out.Reset()
	err := runRun([]string{spec, "--results", results, "--preset", "none", "--no_progress"}, &out)
	if err == nil || !strings.Contains(err.Error(), `method(s) dpo_not_wired not registered`) {
		t.Fatalf("unwired method: %v", err)
	}
	out.Reset()
	if err := runRun([]string{spec, "--results", results, "--preset", "none", "--no_progress", "--allow_missing", "--shard", "0/2"}, &out); err != nil {
		t.Fatal(err)
	}
	// Grid order: seed 1 sft, seed 1 dpo_not_wired, seed 2 sft, …; shard 0/2 holds both sft cells.
	if !strings.Contains(out.String(), "tiny (preset none, shard 0/2): 4 cells in the grid, 2 in this shard: 0 already done, 2 run, 0 failed, 0 skipped") {
		t.Fatalf("shard 0/2: %s", out.String())
	}
	out.Reset()
	if err := runRun([]string{spec, "--results", results, "--preset", "none", "--no_progress", "--allow_missing", "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"already_done": 2`) || !strings.Contains(out.String(), `"ran": 0`) || !strings.Contains(out.String(), `"skipped": 2`) {
		t.Fatalf("rerun: %s", out.String())
	}
	if err := runRun([]string{spec, "--shard", "2/2"}, &out); err == nil || !strings.Contains(err.Error(), "0 ≤ i < n") {
		t.Fatalf("bad shard: %v", err)
	}

	out.Reset()
	rep := filepath.Join(dir, "report")
	if err := runReport([]string{"--results", results, "--out", rep, "--table", "tiny"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| method | gold | win_rate | kl | seeds |") || !strings.Contains(out.String(), "| sft |") ||
		!strings.Contains(out.String(), "H6 inconclusive") {
		t.Fatalf("report stdout:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(rep, "report.md")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runReport([]string{"--results", results, "--out", rep, "--table", "tiny", "--json", "--metric", "gold"}, &out); err != nil {
		t.Fatal(err)
	}
	var sum map[string]struct {
		Mean float64 `json:"mean"`
		N    int     `json:"n"`
	}
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil || sum["sft"].N != 2 {
		t.Fatalf("--json --metric gold: %s %v", out.String(), err)
	}
}
