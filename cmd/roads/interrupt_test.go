package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMStopsTrainingWithACheckpoint: a `roads sft` child process that
// gets SIGTERM mid-run stops at the end of its step (not after its 100,000
// steps), exits with an error saying where it stopped, and leaves that
// step's checkpoint for the same command to resume from.
func TestSIGTERMStopsTrainingWithACheckpoint(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "demos.jsonl")
	mustRun(t, runData, "demos", "--task", "sorted", "--n", "32", "--out", data)
	out := filepath.Join(dir, "sft")
	cmd := exec.Command(os.Args[0], "sft", "--task", "sorted", "--data", data, "--output_dir", out, "--max_steps", "100000",
		"--d_model", "16", "--n_layer", "1", "--n_head", "2", "--per_device_train_batch_size", "4", "--logging_steps", "1", "--disable_tqdm")
	cmd.Env = append(os.Environ(), "ROADS_TEST_AS_CLI=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl")); bytes.Count(b, []byte("\n")) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("training never started:\n%s", stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a run stopped by SIGTERM exited 0")
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("SIGTERM did not stop training within 60 s:\n%s", stderr.String())
	}
	msg := stderr.String()
	i := strings.Index(msg, "stopped after step ")
	if i < 0 || !strings.Contains(msg, "context canceled") {
		t.Fatalf("stderr does not say where training stopped:\n%s", msg)
	}
	var step int
	var total int
	if _, err := fmt.Sscanf(msg[i:], "stopped after step %d of %d", &step, &total); err != nil || total != 100000 || step < 3 || step >= total {
		t.Fatalf("stopped at step %d of %d (%v):\n%s", step, total, err, msg)
	}
	b, err := os.ReadFile(filepath.Join(out, "checkpoint-"+strconv.Itoa(step), "trainer_state.json"))
	if err != nil {
		t.Fatalf("no checkpoint at the step it stopped: %v", err)
	}
	var st struct {
		GlobalStep int `json:"global_step"`
	}
	if err := json.Unmarshal(b, &st); err != nil || st.GlobalStep != step {
		t.Fatalf("trainer_state.json: global_step %d, want %d (%v)", st.GlobalStep, step, err)
	}
}
