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
		"| method | gold (95% CI) | n | KL to SFT | win rate | mean length | RM val. accuracy | pair gold margin |",
		"over held-out test prompts (one seed)",
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
	for _, m := range []string{"sft", "sft_stop2", "dpo", "dpo_2x", "online_dpo_sft", "online_dpo_dpo", "rloo", "ppo"} {
		r, ok := rows[m]
		if !ok {
			t.Fatalf("no row for %s:\n%s", m, text)
		}
		if r[1] != "1" || !strings.Contains(r[0], " ± ") || !strings.Contains(r[2], " ± ") {
			t.Fatalf("%s: want gold and KL with a CI and n = 1: %v", m, r)
		}
		// The verifier's held-out accuracy appears exactly on the arms that optimise a learned verifier.
		learned := strings.HasPrefix(m, "online_dpo") || m == "rloo" || m == "ppo"
		if (r[5] != "–") != learned {
			t.Fatalf("%s: RM accuracy cell %q", m, r[5])
		}
	}
	if _, err := os.Stat(filepath.Join(out, "report.md")); err != nil {
		t.Fatal(err)
	}
	recs, _ := filepath.Glob(filepath.Join(results, "main", "*.json"))
	if len(recs) != 9 { // 8 records + spec.json
		t.Fatalf("%d files in the store, want 8 records and spec.json", len(recs))
	}

	stdout.Reset()
	if err := runRepro([]string{"--preset", "smoke", "--results", results, "--out", out, "--json"}, &stdout); err != nil {
		t.Fatal(err)
	}
	var js map[string]struct {
		Mean   float64  `json:"mean"`
		Low    *float64 `json:"ci95_low"`
		High   *float64 `json:"ci95_high"`
		N      int      `json:"n"`
		CIOver string   `json:"ci_over"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &js); err != nil || len(js) != 8 {
		t.Fatalf("--json: %v\n%s", err, stdout.String())
	}
	for m, s := range js {
		if s.N != 1 || s.CIOver != "prompts" || s.Low == nil || s.High == nil || !(*s.Low <= s.Mean && s.Mean <= *s.High) {
			t.Fatalf("%s: %+v", m, s)
		}
		if want := strings.Split(rows[m][0], " ± ")[0]; fmt.Sprintf("%.3f", s.Mean) != want {
			t.Fatalf("%s: --json mean %v, table %q", m, s.Mean, rows[m][0])
		}
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
