package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A small statistical experiment and no 10^5-trajectory case keep the test
// quick; the other exact checks run at their default sizes (about a second).
var smallTheoryStat = []string{"--large=false", "--ns", "10,100", "--datasets", "3", "--stat_vocab", "2", "--stat_horizon", "5"}

func TestTheoryTableJSONAndPlots(t *testing.T) {
	dir := t.TempDir()
	var stdout bytes.Buffer
	args := append([]string{"--out", dir, "--strict"}, smallTheoryStat...)
	if err := runTheory(args, &stdout); err != nil {
		t.Fatalf("roads theory --strict: %v\n%s", err, stdout.String())
	}
	table := stdout.String()
	for _, want := range []string{"thm2.2 DPO tabular: max|P_on-P_off|", "thm3.1 online(R_sim) = MLE over Pi(R_sim)", "sft = maxent-IRL", "all 13 checks passed", "J offline"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	for _, name := range []string{"theory_value.png", "theory_kl.png"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG", name)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary plot files left behind: %v", leftovers)
	}

	stdout.Reset()
	if err := runTheory(append([]string{"--out", "", "--json"}, smallTheoryStat...), &stdout); err != nil {
		t.Fatal(err)
	}
	var report struct {
		Checks []struct {
			Name   string  `json:"name"`
			Value  float64 `json:"value"`
			Status string  `json:"status"`
		} `json:"checks"`
		Stat struct {
			Rows []struct {
				N int `json:"N"`
			} `json:"rows"`
		} `json:"stat"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, stdout.String())
	}
	if len(report.Checks) != 13 || len(report.Stat.Rows) != 2 || report.Stat.Rows[1].N != 100 {
		t.Fatalf("JSON report: %d checks, rows %+v", len(report.Checks), report.Stat.Rows)
	}
	for _, c := range report.Checks {
		if c.Status != "pass" {
			t.Errorf("%s: %s", c.Name, c.Status)
		}
	}
}

// Starving the optimiser makes checks NOT CONVERGED: reported, exit code 0
// by default, an error under --strict.
func TestTheoryStrictFailsOnUnconvergedChecks(t *testing.T) {
	var stdout bytes.Buffer
	args := []string{"--stat=false", "--large=false", "--max_iterations", "2"}
	if err := runTheory(args, &stdout); err != nil {
		t.Fatalf("without --strict a failed check is reported, not an error: %v", err)
	}
	if !strings.Contains(stdout.String(), "NOT CONVERGED") || strings.Contains(stdout.String(), "all 12 checks passed") {
		t.Fatalf("starved run does not report NOT CONVERGED:\n%s", stdout.String())
	}
	err := runTheory(append(args, "--strict"), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--strict") || !strings.Contains(err.Error(), "did not pass") {
		t.Fatalf("--strict error = %v", err)
	}
}

func TestTheoryRejectsBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--ns", "10,x"}, `flag -ns: "x" is not an integer`},
		{[]string{"--alpha", "0"}, "alpha=0"},
		{[]string{"--max_iterations", "0"}, "max_iterations=0"},
		{[]string{"--stat_vocab", "1"}, "vocabulary size V=1"},
	} {
		err := runTheory(c.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("roads theory %v: error %v, want %q", c.args, err, c.want)
		}
	}
}
