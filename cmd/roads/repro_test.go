package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReproSmoke runs `roads repro --smoke` in-process (the CI job): every
// arm of the main table trains and is evaluated, the table and the report are
// written, and a second call with --json reuses the records (resumable) and
// agrees with the table.
func TestReproSmoke(t *testing.T) {
	dir := t.TempDir()
	results, out := filepath.Join(dir, "results"), filepath.Join(dir, "report")
	var stdout bytes.Buffer
	if err := runRepro([]string{"--smoke", "--results", results, "--out", out, "--no_progress"}, &stdout); err != nil {
		t.Fatal(err)
	}
	text := stdout.String()
	for _, want := range []string{
		"(preset smoke)",
		"| method | n | gold (95% CI) | gold / reference | win rate vs reference | KL to SFT | mean length | EOS rate |",
		"over held-out test prompts (one seed)",
		"| verifier | accuracy, offline pairs | BT log-lik., offline | accuracy, on-policy pairs | BT log-lik., on-policy |",
		"| global RM (Bradley–Terry, sum readout) | 0.",
		"| best length-only rule | 0.",
		"main contrast online_sft_vs_dpo, online DPO (SFT) − DPO, on gold:",
		"SFT models: all 1 trained",
		"full report: " + filepath.Join(out, "report.md"),
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("stdout lacks %q:\n%s", want, text)
		}
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Split(line, "|")
		if len(f) == 10 && !strings.Contains(line, "---") && strings.TrimSpace(f[1]) != "method" {
			var cells []string
			for _, c := range f[2:9] {
				cells = append(cells, strings.TrimSpace(c))
			}
			rows[strings.TrimSpace(f[1])] = cells
		}
	}
	arms := []string{"sft", "sft_stop2", "dpo", "dpo_2x", "online_dpo_sft", "online_dpo_dpo", "rloo", "ppo", "grpo"}
	for _, m := range arms {
		r, ok := rows[m]
		if !ok {
			t.Fatalf("no row for %s:\n%s", m, text)
		}
		if r[0] != "1" || !strings.Contains(r[1], " ± ") || !strings.Contains(r[4], " ± ") {
			t.Fatalf("%s: want n = 1 and gold and KL with a CI: %v", m, r)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "report.md")); err != nil {
		t.Fatal(err)
	}
	recs, _ := filepath.Glob(filepath.Join(results, "main", "*.json"))
	if len(recs) != 10 { // 9 records + spec.json
		t.Fatalf("%d files in the store, want 9 records and spec.json", len(recs))
	}

	stdout.Reset()
	if err := runRepro([]string{"--preset", "smoke", "--results", results, "--out", out, "--json"}, &stdout); err != nil {
		t.Fatal(err)
	}
	var js map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &js); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout.String())
	}
	for _, m := range arms {
		var arm map[string]any
		if err := json.Unmarshal(js[m], &arm); err != nil {
			t.Fatalf("%s: %v in %s", m, err, js[m])
		}
		for _, k := range []string{"gold", "gold_frac", "win_rate", "kl", "mean_length", "n_seeds"} {
			if _, ok := arm[k].(float64); !ok {
				t.Fatalf("%s lacks a number %q: %v", m, k, arm)
			}
		}
		if want := strings.Split(rows[m][1], " ± ")[0]; fmt.Sprintf("%.3f", arm["gold"]) != want || arm["n_seeds"] != 1.0 {
			t.Fatalf("%s: --json %v, table %q", m, arm, rows[m])
		}
		if lo, hi := arm["gold_ci95_low"].(float64), arm["gold_ci95_high"].(float64); !(lo <= arm["gold"].(float64) && arm["gold"].(float64) <= hi) || arm["gold_ci_over"] != "prompts" {
			t.Fatalf("%s: gold CI %v", m, arm)
		}
	}
	var num float64
	for _, k := range []string{"reference_mean_length", "global_rm_accuracy", "local_rm_accuracy", "dpo_rm_accuracy", "length_rule_accuracy",
		"global_rm_onpolicy_accuracy", "length_rule_onpolicy_accuracy", "global_rm_log_likelihood"} {
		if err := json.Unmarshal(js[k], &num); err != nil || !(num == num) {
			t.Fatalf("--json %s = %s (%v)", k, js[k], err)
		}
		if strings.Contains(k, "accuracy") && !(num >= 0 && num <= 1) {
			t.Fatalf("--json %s = %v, not an accuracy", k, num)
		}
	}
	var mc struct {
		ID, Verdict string
		N           int
	}
	if err := json.Unmarshal(js["main_contrast"], &mc); err != nil || mc.ID != "online_sft_vs_dpo" || mc.Verdict != "inconclusive" || mc.N != 1 {
		t.Fatalf("main_contrast %s (%v)", js["main_contrast"], err)
	}
	if string(js["verdict"]) != `"inconclusive"` {
		t.Fatalf("verdict %s", js["verdict"])
	}
	if after, _ := filepath.Glob(filepath.Join(results, "main", "*.json")); len(after) != len(recs) {
		t.Fatalf("rerun wrote new records: %d files, was %d", len(after), len(recs))
	}
}

func TestReproFlags(t *testing.T) {
	var out bytes.Buffer
	if err := runRepro([]string{"--preset", "huge"}, &out); err == nil || !strings.Contains(err.Error(), `--preset "huge": want quick, full or smoke`) {
		t.Fatalf("bad preset: %v", err)
	}
	if err := runRepro([]string{"extra"}, &out); err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Fatalf("stray argument: %v", err)
	}
}
