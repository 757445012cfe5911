package pft

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roads/model"
)

// tinySFT is a copy task: the completion repeats the prompt's two tokens, then EOS.
func tinySFT() ([]SFTExample, model.Config) {
	var ex []SFTExample
	for a := int32(3); a < 7; a++ {
		for b := int32(3); b < 7; b++ {
			ex = append(ex, SFTExample{Prompt: []int32{a, b, 2}, Completion: []int32{b, a, 1}})
		}
	}
	cfg := model.NewConfig(8, 8, 32, 1, 2)
	cfg.EOSTokenID, cfg.PadTokenID = 1, 0
	return ex, cfg
}

func readMetrics(t *testing.T, dir string) []map[string]float64 {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]float64
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("metrics.jsonl: %v", err)
		}
		out = append(out, m)
	}
	return out
}

func TestTrainSFTLearnsTinyTask(t *testing.T) {
	ex, mc := tinySFT()
	m, err := model.New(mc, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultSFTConfig()
	cfg.OutputDir = t.TempDir()
	cfg.LearningRate = 1e-2
	cfg.MaxSteps = 150
	cfg.PerDeviceTrainBatchSize = 8
	cfg.LRSchedulerType = "constant"
	cfg.LoggingSteps = 10
	cfg.DisableTQDM = true
	if err := TrainSFT(cfg, m, nil, ex, nil); err != nil {
		t.Fatal(err)
	}
	ms := readMetrics(t, cfg.OutputDir)
	if len(ms) != 15 {
		t.Fatalf("%d metric lines, want 15", len(ms))
	}
	first, last := ms[0]["loss"], ms[len(ms)-1]["loss"]
	if !(last < 0.05 && last < first/10) {
		t.Fatalf("loss went %.4f → %.4f, want near zero", first, last)
	}
	for _, k := range []string{"loss", "grad_norm", "learning_rate", "num_tokens", "entropy", "step", "wall_time"} {
		if _, ok := ms[0][k]; !ok {
			t.Errorf("metrics.jsonl lacks %q", k)
		}
	}
	// The output directory is itself a loadable model equal to the trained one.
	back, _, err := model.LoadDir(cfg.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	if !sameWeights(back, m) {
		t.Fatal("saved final model differs from the trained model")
	}
}

func sameWeights(a, b *model.Model) bool {
	pa, pb := a.Params(), b.Params()
	for i := range pa {
		for j := range pa[i].Data {
			if pa[i].Data[j] != pb[i].Data[j] {
				return false
			}
		}
	}
	return true
}

func TestTrainSFTResumeIsBitIdentical(t *testing.T) {
	ex, base := tinySFT()
	gpt2, neox := base, base
	gpt2.ModelType, gpt2.HeadBias, gpt2.TieWordEmbeddings = model.TypeGPT2, false, true
	neox.ModelType, neox.HeadBias, neox.Activation, neox.RotaryPct, neox.UseParallelResidual = model.TypeGPTNeoX, false, "gelu", 0.25, true
	// Checkpoints of HF-format models hold HF tensor names and layouts; a
	// resume must map them back exactly.
	for name, mc := range map[string]model.Config{"roads-gpt": base, "gpt2": gpt2, "gpt_neox": neox} {
		t.Run(name, func(t *testing.T) { sftResumeIsBitIdentical(t, ex, mc) })
	}
}

func sftResumeIsBitIdentical(t *testing.T, ex []SFTExample, mc model.Config) {
	base := DefaultSFTConfig()
	base.LearningRate = 5e-3
	base.MaxSteps = 12
	base.PerDeviceTrainBatchSize = 5 // 16 examples: a short last batch every epoch
	base.LRSchedulerType = "cosine"
	base.WarmupSteps = 2
	base.LoggingSteps = 1
	base.DisableTQDM = true

	full, _ := model.New(mc, 3)
	cfgFull := base
	cfgFull.OutputDir = t.TempDir()
	if err := TrainSFT(cfgFull, full, nil, ex, nil); err != nil {
		t.Fatal(err)
	}

	// An interrupted run: the same arguments, stopped after the step-5 checkpoint.
	dir := t.TempDir()
	part, _ := model.New(mc, 3)
	cfgPart := base
	cfgPart.OutputDir = dir
	cfgPart.SaveSteps = 5
	cfgPart.MaxSteps = 12
	stopAfter = 7 // dies two steps after its checkpoint; those steps are lost
	err := TrainSFT(cfgPart, part, nil, ex, nil)
	stopAfter = 0
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("simulated interruption: %v", err)
	}
	resumed, _ := model.New(mc, 3)  // the run's own init (it is fingerprinted)…
	scrambleAfterFingerprint(t, 99) // …then other weights: everything must come from the checkpoint
	if err := TrainSFT(cfgPart, resumed, nil, ex, nil); err != nil {
		t.Fatal(err)
	}
	if !sameWeights(full, resumed) {
		t.Fatal("resumed run's weights differ from the uninterrupted run's")
	}
	a, b := readMetrics(t, cfgFull.OutputDir), readMetrics(t, dir)
	if len(a) != len(b) {
		t.Fatalf("metrics lines: %d uninterrupted vs %d resumed", len(a), len(b))
	}
	for i := range a {
		if a[i]["loss"] != b[i]["loss"] || a[i]["step"] != b[i]["step"] {
			t.Fatalf("metrics line %d: %v vs %v", i, a[i], b[i])
		}
	}
}

func TestTrainSFTStopsOnNonFiniteLoss(t *testing.T) {
	ex, mc := tinySFT()
	m, _ := model.New(mc, 1)
	cfg := DefaultSFTConfig()
	cfg.OutputDir = t.TempDir()
	cfg.MaxSteps = 4
	cfg.SaveSteps = 2
	cfg.PerDeviceTrainBatchSize = 8
	cfg.DisableTQDM = true
	cfg.LearningRate = 1e-3
	poisonAt = 3
	err := TrainSFT(cfg, m, nil, ex, nil)
	poisonAt = 0
	if err == nil || !strings.Contains(err.Error(), "step 3") || !strings.Contains(err.Error(), "wte.weight") {
		t.Fatalf("error = %v, want it to name step 3 and tensor wte.weight", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.OutputDir, "checkpoint-2", "model.safetensors")); err != nil {
		t.Fatalf("last good checkpoint missing: %v", err)
	}
}

func TestTrainArgsValidate(t *testing.T) {
	a := DefaultTrainArgs()
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "output_dir") {
		t.Fatalf("missing output_dir: %v", err)
	}
	a.OutputDir = "x"
	a.LRSchedulerType = "exp"
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), `"exp"`) {
		t.Fatalf("bad schedule: %v", err)
	}
}

func TestResumeRefusesAnotherSeed(t *testing.T) {
	ex, mc := tinySFT()
	cfg := DefaultSFTConfig()
	cfg.OutputDir = t.TempDir()
	cfg.MaxSteps = 4
	cfg.SaveSteps = 2
	cfg.PerDeviceTrainBatchSize = 8
	cfg.DisableTQDM = true
	m, _ := model.New(mc, 1)
	stopAfter = 3
	err := TrainSFT(cfg, m, nil, ex, nil)
	stopAfter = 0
	if err == nil {
		t.Fatal("simulated interruption did not stop the run")
	}
	var st struct {
		RNGState []byte `json:"rng_state"`
	}
	raw, err := os.ReadFile(filepath.Join(cfg.OutputDir, "checkpoint-2", "trainer_state.json"))
	if err != nil || json.Unmarshal(raw, &st) != nil || len(st.RNGState) == 0 {
		t.Fatalf("checkpoint-2/trainer_state.json has no rng_state (%v)", err)
	}
	cfg.Seed++
	m2, _ := model.New(mc, 1)
	// The fingerprint refuses first, naming the setting; the checkpoint's
	// rng_state check behind it guards checkpoints copied between runs.
	if err := TrainSFT(cfg, m2, nil, ex, nil); err == nil || !strings.Contains(err.Error(), "setting seed is 42 in the run, 43 now") {
		t.Fatalf("resume under another seed: %v", err)
	}
}

// A cancelled TrainArgs.Context stops a run at the end of its step with a
// checkpoint (not after the whole run), the error wraps context.Canceled, and
// the same command without the context resumes to the uninterrupted result.
func TestCancelledContextStopsWithACheckpoint(t *testing.T) {
	ex, mc := tinySFT()
	base := DefaultSFTConfig()
	base.MaxSteps, base.PerDeviceTrainBatchSize, base.LoggingSteps, base.DisableTQDM = 6, 5, 1, true
	full, _ := model.New(mc, 3)
	cfgFull := base
	cfgFull.OutputDir = t.TempDir()
	if err := TrainSFT(cfgFull, full, nil, ex, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C before the first step ends
	cfg := base
	cfg.OutputDir, cfg.Context = t.TempDir(), ctx
	part, _ := model.New(mc, 3)
	err := TrainSFT(cfg, part, nil, ex, nil)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped after step 1 of 6, checkpoint-1 written") {
		t.Fatalf("cancelled run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.OutputDir, "checkpoint-1", "trainer_state.json")); err != nil {
		t.Fatalf("no checkpoint after the stop: %v", err)
	}
	cfg.Context = nil
	resumed, _ := model.New(mc, 3)
	if err := TrainSFT(cfg, resumed, nil, ex, nil); err != nil {
		t.Fatal(err)
	}
	if !sameWeights(full, resumed) {
		t.Fatal("resumed after a cancelled context: weights differ from the uninterrupted run")
	}
}
