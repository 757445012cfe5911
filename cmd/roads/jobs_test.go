package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for the roads binary: --jobs
// re-executes os.Executable(), which under `go test` is this binary.
func TestMain(m *testing.M) {
	if os.Getenv("ROADS_TEST_AS_CLI") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// recordMetrics reads every record of an experiment in a results store:
// cell ID → metrics.
func recordMetrics(t *testing.T, dir string) map[string]map[string]float64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, f := range files {
		var rec struct {
			ID      string             `json:"id"`
			Metrics map[string]float64 `json:"metrics"`
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if rec.ID == "" { // the store's spec copy, not a record
			continue
		}
		out[rec.ID] = rec.Metrics
	}
	return out
}

// TestRunJobsMatchesOneProcess: a sweep run as 2 local shard processes
// writes the same cells with bit-identical metrics as one process does, and
// a shard that fails is named with its log.
func TestRunJobsMatchesOneProcess(t *testing.T) {
	t.Setenv("ROADS_TEST_AS_CLI", "1")
	dir := t.TempDir()
	spec := filepath.Join(dir, "tiny.json")
	writeFile(t, spec, tinySFTSpec(`{"seed": [1, 2, 3], "method": ["sft"]}`))
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	var out bytes.Buffer
	if err := runRun([]string{spec, "--results", one, "--preset", "none", "--no_progress"}, &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runRun([]string{spec, "--results", two, "--preset", "none", "--no_progress", "--jobs", "2"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "tiny (preset none, 2 jobs): 3 of 3 cells have a record") {
		t.Fatalf("jobs summary: %s", out.String())
	}
	a, b := recordMetrics(t, filepath.Join(one, "tiny")), recordMetrics(t, filepath.Join(two, "tiny"))
	if len(a) != 3 || len(b) != 3 {
		t.Fatalf("records: one process %d, two jobs %d, want 3 each", len(a), len(b))
	}
	var ids []string
	for id := range a {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		ma, mb := a[id], b[id]
		if mb == nil {
			t.Fatalf("cell %s: no record from the jobs run", id)
		}
		if len(ma) == 0 || len(ma) != len(mb) {
			t.Fatalf("cell %s: %d metrics vs %d", id, len(ma), len(mb))
		}
		for k, v := range ma {
			if mb[k] != v {
				t.Errorf("cell %s: %s = %v in one process, %v with 2 jobs", id, k, v, mb[k])
			}
		}
	}
	for i := 0; i < 2; i++ {
		if _, err := os.Stat(filepath.Join(two, "_logs", "shard-"+string(rune('0'+i))+"-of-2.log")); err != nil {
			t.Errorf("shard log: %v", err)
		}
	}

	// A shard that fails (an unwired method, without --allow_missing) is
	// named, with its log.
	writeFile(t, spec, `{"name": "tiny", "title": "tiny", "inherit": "common", "axes": {"seed": [1], "method": ["not_wired"]}}`)
	err := runRun([]string{spec, "--results", filepath.Join(dir, "three"), "--preset", "none", "--no_progress", "--jobs", "2"}, &out)
	if err == nil || !strings.Contains(err.Error(), "method(s) not_wired not registered") {
		t.Fatalf("unwired method with --jobs: %v", err)
	}
	if err := runRun([]string{spec, "--jobs", "2", "--shard", "0/2"}, &out); err == nil || !strings.Contains(err.Error(), "do not combine") {
		t.Fatalf("--jobs with --shard: %v", err)
	}
}
