package pft

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roads/model"
)

// A run directory is keyed by what was asked: another setting, other data or
// another initial model is refused before anything in the directory changes;
// --overwrite_output_dir starts afresh and gives the fresh run's result.
func TestRunDirectoryIsKeyedByWhatWasAsked(t *testing.T) {
	ex, mc := tinySFT()
	base := DefaultSFTConfig()
	base.MaxSteps, base.SaveSteps, base.PerDeviceTrainBatchSize, base.DisableTQDM = 6, 2, 8, true
	dir := t.TempDir()
	cfg := base
	cfg.OutputDir = dir
	m, _ := model.New(mc, 1)
	stopAfter = 3 // half done: checkpoint-2 on disk
	err := TrainSFT(cfg, m, nil, ex, nil)
	stopAfter = 0
	if err == nil {
		t.Fatal("simulated interruption did not stop the run")
	}
	record := func() string {
		b, err := os.ReadFile(filepath.Join(dir, "training_config.json"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := record()

	other := cfg
	other.LearningRate *= 2
	fresh := func(seed uint64) *model.Model { m, _ := model.New(mc, seed); return m }
	wantRefusal := func(err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--overwrite_output_dir") {
			t.Fatalf("got %v, want a refusal naming %q", err, want)
		}
		if record() != before {
			t.Fatal("a refused run rewrote training_config.json")
		}
	}
	wantRefusal(TrainSFT(other, fresh(1), nil, ex, nil), fmt.Sprintf("setting learning_rate is %v in the run, %v now", cfg.LearningRate, other.LearningRate))
	wantRefusal(TrainSFT(cfg, fresh(1), nil, ex[:len(ex)-1], nil), "the training data differs")
	wantRefusal(TrainSFT(cfg, fresh(2), nil, ex, nil), "the initial model differs")

	// What cannot change a result may change: the thread count, the progress bar.
	same := cfg
	same.Threads, same.DisableTQDM = 1, false
	resumed := fresh(1)
	if err := TrainSFT(same, resumed, nil, ex, nil); err != nil {
		t.Fatalf("resume with only volatile settings changed: %v", err)
	}

	// Overwrite: start afresh with the new learning rate; equal to a fresh run.
	over := other
	over.OverwriteOutputDir = true
	a := fresh(1)
	if err := TrainSFT(over, a, nil, ex, nil); err != nil {
		t.Fatal(err)
	}
	ref := other
	ref.OutputDir = t.TempDir()
	b := fresh(1)
	if err := TrainSFT(ref, b, nil, ex, nil); err != nil {
		t.Fatal(err)
	}
	if !sameWeights(a, b) {
		t.Fatal("--overwrite_output_dir did not start afresh")
	}
}

// A directory with checkpoints but no fingerprint (what an older roads wrote,
// or a copied run) is refused: what it was trained on is unknown.
func TestRunDirectoryWithoutFingerprintIsRefused(t *testing.T) {
	ex, mc, cfg := tinyRun(t, 2)
	m, _ := model.New(mc, 1)
	if err := TrainSFT(cfg, m, nil, ex, nil); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(cfg.OutputDir, FingerprintFile))
	m2, _ := model.New(mc, 1)
	if err := TrainSFT(cfg, m2, nil, ex, nil); err == nil || !strings.Contains(err.Error(), "no "+FingerprintFile) {
		t.Fatalf("run directory without a fingerprint: %v", err)
	}
}

// A second writer of one output_dir is refused at once, naming the holder;
// the lock is given back when the holder finishes or fails.
func TestRunDirectoryLock(t *testing.T) {
	ex, mc, cfg := tinyRun(t, 2)
	release, err := lockRunDir(cfg.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := model.New(mc, 1)
	err = TrainSFT(cfg, m, nil, ex, nil)
	if runDirLocking && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("is in use by pid %d", os.Getpid()))) {
		t.Fatalf("second writer: %v, want a refusal naming pid %d", err, os.Getpid())
	}
	release()
	stopAfter = 1 // a run that fails midway must give the lock back too
	err = TrainSFT(cfg, m, nil, ex, nil)
	stopAfter = 0
	if err == nil {
		t.Fatal("simulated interruption did not stop the run")
	}
	m2, _ := model.New(mc, 1)
	if err := TrainSFT(cfg, m2, nil, ex, nil); err != nil {
		t.Fatalf("after the holder released: %v", err)
	}
}

// A loss fed non-finite log-probs because a weight went non-finite names the
// parameter tensor and index, not the loss's internal array.
func TestDivergedWeightsAreNamed(t *testing.T) {
	ex, mc, cfg := tinyRun(t, 2)
	m, _ := model.New(mc, 1)
	for _, p := range m.Params() {
		if p.Name == "h.0.attn.v_proj.weight" {
			p.Data[5] = float32(math.Inf(1))
		}
	}
	err := TrainSFT(cfg, m, nil, ex, nil)
	if err == nil || !strings.Contains(err.Error(), "training diverged: weight tensor h.0.attn.v_proj.weight holds +Inf at index 5") {
		t.Fatalf("diverged weights: %v", err)
	}
}

// The explosion test: a loss over DivergenceFactor × the first one stops the
// run as diverged, naming the step, instead of finishing with rc 0.
func TestDivergingLossStopsTheRun(t *testing.T) {
	ex, mc, cfg := tinyRun(t, 4)
	m, _ := model.New(mc, 1)
	r, err := startRun("sft", cfg.TrainArgs, cfg, ex, m, nil, len(ex), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.release()
	if err := r.update(4.6, Metrics{}); err != nil {
		t.Fatal(err)
	}
	if err := r.update(4000, Metrics{}); err != nil { // large but under 1000 × 4.6
		t.Fatal(err)
	}
	err = r.update(7.6e6, Metrics{})
	if err == nil || !strings.Contains(err.Error(), "sft: step 3: loss 7.6e+06 is over 1000× the first step's (4.6): training diverged") {
		t.Fatalf("diverging loss: %v", err)
	}
}

// tinyRun is a small SFT run: examples, a model config and an SFTConfig of
// steps steps, batch 8, no progress bar, in a fresh output_dir.
func tinyRun(t *testing.T, steps int) ([]SFTExample, model.Config, SFTConfig) {
	t.Helper()
	ex, mc := tinySFT()
	cfg := DefaultSFTConfig()
	cfg.MaxSteps, cfg.PerDeviceTrainBatchSize, cfg.DisableTQDM = steps, 8, true
	cfg.OutputDir = t.TempDir()
	return ex, mc, cfg
}

// TRL's truncation of preference data: the prompt keeps its end, each
// completion its start, so that prompt + completion + EOS fits max_length;
// a limit with no room for a completion is an error naming the pair.
func TestTruncation(t *testing.T) {
	pairs := []PreferencePair{
		{Prompt: []int32{1, 2, 3, 4, 5}, Chosen: []int32{6, 7, 8}, Rejected: []int32{9}},
		{Prompt: []int32{1}, Chosen: []int32{2}, Rejected: []int32{3}},
	}
	got, cut, err := Truncation{MaxLength: 5, MaxPromptLength: 2}.Apply("dpo", pairs)
	if err != nil || cut != 1 {
		t.Fatalf("cut %d, %v", cut, err)
	}
	want := PreferencePair{Prompt: []int32{4, 5}, Chosen: []int32{6, 7}, Rejected: []int32{9}}
	if fmt.Sprint(got[0]) != fmt.Sprint(want) || fmt.Sprint(got[1]) != fmt.Sprint(pairs[1]) {
		t.Fatalf("truncated %v, want %v and the second pair unchanged", got, want)
	}
	if len(pairs[0].Prompt) != 5 {
		t.Fatal("Apply modified its input")
	}
	if _, _, err := (Truncation{MaxLength: 4}).Apply("dpo", pairs); err == nil || !strings.Contains(err.Error(), "dpo: pair 0: the prompt alone has 5 tokens, so max_length 4") {
		t.Fatalf("no room: %v", err)
	}
	same, cut, _ := Truncation{}.Apply("dpo", pairs)
	if cut != 0 || &same[0] != &pairs[0] {
		t.Fatal("zero limits must leave the pairs as they are")
	}
}
