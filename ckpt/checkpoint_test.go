package ckpt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type testConfig struct {
	ModelType string `json:"model_type"`
	NEmbd     int    `json:"n_embd"`
}

// params builds views shaped like a tiny model, with values that depend on seed so two saves differ.
func params(seed float32) []View {
	return []View{
		{"wte", []int{4, 2}, []float32{1, 2, 3, 4, 5, 6, 7, 8}},
		{"h.0.attn.w", []int{2, 2}, []float32{-1, -2, -3, -4}},
		{"ln_f.b", []int{2}, []float32{0.5, seed}},
	}
}

// zeroed returns views with the same names and shapes and zero data, to load into.
func zeroed(views []View) []View {
	out := make([]View, len(views))
	for i, v := range views {
		out[i] = View{v.Name, slices.Clone(v.Shape), make([]float32, len(v.Data))}
	}
	return out
}

func checkpoint(step int, seed float32) Checkpoint {
	best := 1.25
	return Checkpoint{
		Config: testConfig{"roads-gpt", 2},
		Model:  params(seed),
		Optimizer: &AdamState{Step: int64(step), M: params(seed + 1), V: params(seed + 2),
			Hyper: map[string]string{"lr": "0.001", "betas": "0.9,0.999"}},
		State: TrainerState{GlobalStep: step, Epoch: 0.5, RNGState: []byte{0, 1, 2, 255}, LRSchedulerStep: step,
			LogHistory: []map[string]float64{{"loss": 2.5, "step": float64(step)}}, BestMetric: &best},
		Tokenizer: []byte(`{"version":"1.0","model":{"type":"BPE"}}`),
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	out := t.TempDir()
	want := checkpoint(7, 9)
	dir, err := SaveCheckpoint(out, want)
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(out, "checkpoint-7") {
		t.Fatalf("dir %s", dir)
	}
	// Exactly the five files, and no temp leftovers next to the directory.
	if names := dirNames(t, dir); !slices.Equal(names, []string{ConfigFile, ModelFile, OptimizerFile, TokenizerFile, TrainerStateFile}) {
		t.Fatalf("files %v", names)
	}
	if names := dirNames(t, out); !slices.Equal(names, []string{"checkpoint-7"}) {
		t.Fatalf("output dir holds %v", names)
	}
	var cfg testConfig
	got := Checkpoint{Config: &cfg, Model: zeroed(want.Model),
		Optimizer: &AdamState{M: zeroed(want.Optimizer.M), V: zeroed(want.Optimizer.V)}}
	if err := LoadCheckpoint(dir, &got); err != nil {
		t.Fatal(err)
	}
	if cfg != want.Config.(testConfig) {
		t.Fatalf("config %+v", cfg)
	}
	for i := range want.Model {
		if !slices.Equal(got.Model[i].Data, want.Model[i].Data) || !slices.Equal(got.Optimizer.M[i].Data, want.Optimizer.M[i].Data) ||
			!slices.Equal(got.Optimizer.V[i].Data, want.Optimizer.V[i].Data) {
			t.Fatalf("tensor %q differs", want.Model[i].Name)
		}
	}
	if got.Optimizer.Step != 7 || got.Optimizer.Hyper["lr"] != "0.001" || len(got.Optimizer.Hyper) != 2 {
		t.Fatalf("optimizer step %d hyper %v", got.Optimizer.Step, got.Optimizer.Hyper)
	}
	s := got.State
	if s.GlobalStep != 7 || s.Epoch != 0.5 || !bytes.Equal(s.RNGState, []byte{0, 1, 2, 255}) || s.LRSchedulerStep != 7 ||
		*s.BestMetric != 1.25 || s.LogHistory[0]["loss"] != 2.5 {
		t.Fatalf("trainer state %+v", s)
	}
	if !bytes.Equal(got.Tokenizer, want.Tokenizer) {
		t.Fatalf("tokenizer %q", got.Tokenizer)
	}
	// The RNG state is base64 in the JSON, HF field names are used, and model.safetensors carries format=pt.
	raw, _ := os.ReadFile(filepath.Join(dir, TrainerStateFile))
	for _, frag := range []string{`"rng_state": "AAEC/w=="`, `"global_step": 7`, `"best_metric": 1.25`, `"log_history": [`} {
		if !strings.Contains(string(raw), frag) {
			t.Errorf("trainer_state.json lacks %s:\n%s", frag, raw)
		}
	}
	if f, err := ReadSafetensors(filepath.Join(dir, ModelFile)); err != nil || f.Metadata["format"] != "pt" {
		t.Fatalf("model metadata %v, %v", f, err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestLoadIntoErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), ModelFile)
	if err := WriteSafetensors(path, F32Tensors(params(0)), nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		dst  []View
		want string
	}{
		{"missing", append(zeroed(params(0)), View{"lm_head", []int{1}, make([]float32, 1)}),
			path + `: missing tensor(s) "lm_head"`},
		{"unexpected", zeroed(params(0))[:2], path + `: unexpected tensor(s) "ln_f.b"`},
		{"shape", []View{{"wte", []int{2, 4}, make([]float32, 8)}, zeroed(params(0))[1], zeroed(params(0))[2]},
			path + `: tensor "wte" has shape [4 2] in the file but [2 4] is expected`},
		{"buffer", []View{{"wte", []int{4, 2}, make([]float32, 7)}, zeroed(params(0))[1], zeroed(params(0))[2]},
			`tensor "wte": destination holds 7 values but shape [4 2] has 8`},
	}
	for _, c := range cases {
		if err := LoadInto(path, c.dst); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	// Many missing names are summarized rather than listed in full.
	var many []View
	for i := range 12 {
		many = append(many, View{fmt.Sprintf("x%d", i), []int{1}, make([]float32, 1)})
	}
	if err := LoadInto(path, many); err == nil || !strings.Contains(err.Error(), `"x7" and 4 more`) {
		t.Errorf("many missing: %v", err)
	}
}

// BF16 weights (as published HF checkpoints often are) load into float32 buffers.
func TestLoadIntoWidensBF16(t *testing.T) {
	path := filepath.Join(t.TempDir(), ModelFile)
	bf := Tensor{Name: "w", DType: BF16, Shape: []int{3}, Raw: []byte{0x80, 0x3f, 0x40, 0xc0, 0x00, 0x00}}
	if err := WriteSafetensors(path, []Tensor{bf}, nil); err != nil {
		t.Fatal(err)
	}
	dst := []View{{"w", []int{3}, []float32{9, 9, 9}}}
	if err := LoadInto(path, dst); err != nil || !slices.Equal(dst[0].Data, []float32{1, -3, 0}) {
		t.Fatalf("%v %v", dst[0].Data, err)
	}
	if err := WriteSafetensors(path, []Tensor{NewI64("w", []int{3}, []int64{1, 2, 3})}, nil); err != nil {
		t.Fatal(err)
	}
	if err := LoadInto(path, dst); err == nil || !strings.Contains(err.Error(), `tensor "w": dtype I64 cannot be read as float32`) {
		t.Fatalf("I64 into float32: %v", err)
	}
}

func TestLoadAdamIntoErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, OptimizerFile)
	if err := WriteSafetensors(path, F32Tensors(params(0)), map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	st := &AdamState{M: zeroed(params(0)), V: zeroed(params(0))}
	if err := LoadAdamInto(path, st); err == nil || !strings.Contains(err.Error(), `__metadata__ optimizer is "", want "AdamW"`) {
		t.Fatalf("model file as optimizer: %v", err)
	}
	full := checkpoint(3, 0).Optimizer
	tensors, meta := full.Tensors()
	if err := WriteSafetensors(path, tensors[:len(tensors)-1], meta); err != nil { // drop the last exp_avg_sq
		t.Fatal(err)
	}
	if err := LoadAdamInto(path, st); err == nil || !strings.Contains(err.Error(), `(exp_avg_sq): missing tensor(s) "ln_f.b"`) {
		t.Fatalf("missing moment: %v", err)
	}
	if err := WriteSafetensors(path, append(tensors, NewF32("stray", []int{1}, []float32{1})), meta); err != nil {
		t.Fatal(err)
	}
	if err := LoadAdamInto(path, st); err == nil || !strings.Contains(err.Error(), `unexpected tensor(s) "stray"`) {
		t.Fatalf("stray tensor: %v", err)
	}
}

// failOn makes the write of the named file fail after its content is written, as a full disk or a crash
// would, and restores the hook when the test ends.
func failOn(t *testing.T, name string) {
	t.Helper()
	testHookWrite = func(path string) error {
		if filepath.Base(path) == name {
			return errors.New("injected failure")
		}
		return nil
	}
	t.Cleanup(func() { testHookWrite = nil })
}

func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range dirNames(t, dir) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	return files
}

func TestFailedSaveKeepsOldCheckpoint(t *testing.T) {
	out := t.TempDir()
	dir, err := SaveCheckpoint(out, checkpoint(5, 1))
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)

	// Re-saving the same step with new content fails half-way: the old checkpoint must be untouched.
	failOn(t, OptimizerFile)
	if _, err := SaveCheckpoint(out, checkpoint(5, 2)); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("save should fail: %v", err)
	}
	after := snapshot(t, dir)
	if len(after) != len(before) {
		t.Fatalf("files changed: %d -> %d", len(before), len(after))
	}
	for name, data := range before {
		if !bytes.Equal(after[name], data) {
			t.Fatalf("%s changed after a failed save", name)
		}
	}
	// A failed save of a new step leaves no checkpoint-10 and no temp directory; the latest is still 5.
	if _, err := SaveCheckpoint(out, checkpoint(10, 2)); err == nil {
		t.Fatal("save should fail")
	}
	if names := dirNames(t, out); !slices.Equal(names, []string{"checkpoint-5"}) {
		t.Fatalf("output dir holds %v", names)
	}
	if latest, err := LatestCheckpoint(out); err != nil || latest.Step != 5 {
		t.Fatalf("latest %+v %v", latest, err)
	}

	// Once writes succeed, re-saving replaces the directory as a whole.
	testHookWrite = nil
	if _, err := SaveCheckpoint(out, checkpoint(5, 2)); err != nil {
		t.Fatal(err)
	}
	got := Checkpoint{Model: zeroed(params(0))}
	if err := LoadCheckpoint(dir, &got); err != nil || got.Model[2].Data[1] != 2 {
		t.Fatalf("replaced checkpoint holds %v (%v)", got.Model[2].Data, err)
	}
	if names := dirNames(t, out); !slices.Equal(names, []string{"checkpoint-5"}) {
		t.Fatalf("output dir holds %v after replace", names)
	}
}

func TestSaveDirReplacesWholeDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	if err := SaveDir(dir, BytesFile("a.txt", []byte("old a")), BytesFile("stale.txt", []byte("x"))); err != nil {
		t.Fatal(err)
	}
	if err := SaveDir(dir, BytesFile("a.txt", []byte("new a"))); err != nil {
		t.Fatal(err)
	}
	if files := snapshot(t, dir); len(files) != 1 || string(files["a.txt"]) != "new a" {
		t.Fatalf("files %q", files)
	}
	for _, bad := range []string{"", "..", "sub/x", "a.txt"} {
		if err := SaveDir(dir, BytesFile("a.txt", nil), BytesFile(bad, nil)); err == nil || !strings.Contains(err.Error(), "invalid or duplicate file name") {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	if files := snapshot(t, dir); string(files["a.txt"]) != "new a" {
		t.Fatal("a rejected save changed the directory")
	}
}

func TestFailedFileWriteKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ModelFile)
	if err := WriteSafetensors(path, F32Tensors(params(1)), nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	// The file gets the usual permissions (0644 under the umask), not CreateTemp's 0600.
	ref := filepath.Join(t.TempDir(), "ref")
	if err := os.WriteFile(ref, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if st, ref := mustStat(t, path), mustStat(t, ref); st.Mode().Perm() != ref.Mode().Perm() {
		t.Fatalf("mode %v, want %v", st.Mode().Perm(), ref.Mode().Perm())
	}
	failOn(t, ModelFile)
	if err := WriteSafetensors(path, F32Tensors(params(2)), nil); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("write should fail: %v", err)
	}
	if err := WriteJSON(path, 1); err == nil {
		t.Fatal("JSON write should fail too")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("old file changed after a failed write")
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{ModelFile}) {
		t.Fatalf("temp files left behind: %v", names)
	}
}

// writeCheckpointDir fakes a checkpoint directory by hand, with only the given files.
func writeCheckpointDir(t *testing.T, out, name string, files map[string]string) {
	t.Helper()
	dir := filepath.Join(out, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func resumeFiles(step int) map[string]string {
	return map[string]string{ConfigFile: "{}", ModelFile: "", OptimizerFile: "", TrainerStateFile: fmt.Sprintf(`{"global_step": %d}`, step)}
}

func TestLatestCheckpointSkipsIncomplete(t *testing.T) {
	out := t.TempDir()
	if _, err := LatestCheckpoint(out); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("empty dir: %v", err)
	}
	for _, step := range []int{2, 3, 10} { // 10 > 3 numerically, though "10" < "3" as text
		if _, err := SaveCheckpoint(out, checkpoint(step, 0)); err != nil {
			t.Fatal(err)
		}
	}
	noOptimizer := resumeFiles(11)
	delete(noOptimizer, OptimizerFile)
	writeCheckpointDir(t, out, "checkpoint-11", noOptimizer)
	writeCheckpointDir(t, out, "checkpoint-12", resumeFiles(99))
	truncated := resumeFiles(13)
	truncated[TrainerStateFile] = `{"global_step": 1`
	writeCheckpointDir(t, out, "checkpoint-13", truncated)
	writeCheckpointDir(t, out, ".checkpoint-14.tmp-123", resumeFiles(14)) // an unfinished save
	writeCheckpointDir(t, out, "checkpoint-015", resumeFiles(15))
	writeCheckpointDir(t, out, "checkpoint-x", resumeFiles(16))
	if err := os.WriteFile(filepath.Join(out, "checkpoint-17"), nil, 0o644); err != nil { // a file, not a dir
		t.Fatal(err)
	}

	latest, err := LatestCheckpoint(out)
	if err != nil || latest.Step != 10 || latest.Dir != filepath.Join(out, "checkpoint-10") {
		t.Fatalf("latest %+v %v", latest, err)
	}
	all, err := ListCheckpoints(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range all {
		got = append(got, fmt.Sprintf("%d:%v:%s", c.Step, c.Complete, c.Problem))
	}
	want := []string{"2:true:", "3:true:", "10:true:", "11:false:missing optimizer.safetensors",
		"12:false:trainer_state.json has global_step 99, the directory name says 12"}
	if len(got) != 6 || !slices.Equal(got[:5], want) || !strings.HasPrefix(got[5], "13:false:") || !strings.Contains(got[5], "invalid JSON") {
		t.Fatalf("list\n got %q\nwant %q + 13 invalid JSON", got, want)
	}
	// A caller saving without an optimizer asks for fewer files; then 11 is complete.
	if latest, err := LatestCheckpoint(out, ConfigFile, ModelFile, TrainerStateFile); err != nil || latest.Step != 11 {
		t.Fatalf("latest without optimizer %+v %v", latest, err)
	}
}

func TestPruneCheckpoints(t *testing.T) {
	out := t.TempDir()
	for step := 1; step <= 5; step++ {
		if _, err := SaveCheckpoint(out, checkpoint(step, 0)); err != nil {
			t.Fatal(err)
		}
	}
	noOptimizer := resumeFiles(6)
	delete(noOptimizer, OptimizerFile)
	writeCheckpointDir(t, out, "checkpoint-6", noOptimizer)

	if removed, err := PruneCheckpoints(out, 0); err != nil || removed != nil {
		t.Fatalf("keep 0 must keep all: %v %v", removed, err)
	}
	removed, err := PruneCheckpoints(out, 2, CheckpointDir(out, 1))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{CheckpointDir(out, 2), CheckpointDir(out, 3)}; !slices.Equal(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	if names := dirNames(t, out); !slices.Equal(names, []string{"checkpoint-1", "checkpoint-4", "checkpoint-5", "checkpoint-6"}) {
		t.Fatalf("left %v", names)
	}
	if removed, err := PruneCheckpoints(out, 5); err != nil || removed != nil {
		t.Fatalf("fewer complete than keep: %v %v", removed, err)
	}
}

func mustStat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
