package ckpt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// File names inside a model or checkpoint directory, as in the Hugging Face convention.
const (
	ConfigFile       = "config.json"
	ModelFile        = "model.safetensors"
	OptimizerFile    = "optimizer.safetensors"
	TrainerStateFile = "trainer_state.json"
	TokenizerFile    = "tokenizer.json"
)

// CheckpointPrefix starts every checkpoint directory name: output_dir/checkpoint-<global_step>.
const CheckpointPrefix = "checkpoint-"

// ResumeFiles are the files a checkpoint needs to resume training; LatestCheckpoint requires them by default.
var ResumeFiles = []string{ConfigFile, ModelFile, OptimizerFile, TrainerStateFile}

// View is a caller-owned float32 tensor (a model parameter, an optimizer moment) to save from or load into.
type View struct {
	Name  string
	Shape []int
	Data  []float32
}

// F32Tensors encodes views as F32 tensors (copying the data).
func F32Tensors(views []View) []Tensor {
	out := make([]Tensor, len(views))
	for i, v := range views {
		out[i] = NewF32(v.Name, v.Shape, v.Data)
	}
	return out
}

// LoadInto reads the safetensors file at path and copies each tensor into the view of the same name. Every
// view must be matched by a tensor of the same shape and every tensor by a view; F16 and BF16 are widened.
func LoadInto(path string, dst []View) error {
	f, err := ReadSafetensors(path)
	if err != nil {
		return err
	}
	return f.loadInto(path, dst, f.Tensors)
}

// LoadInto fills dst from the file's tensors (source names the file in
// errors), erroring on any missing, unexpected or misshapen one.
func (f *File) LoadInto(source string, dst []View) error { return f.loadInto(source, dst, f.Tensors) }

// loadInto fills dst from tensors (a subset of f's), erroring on any missing, unexpected or misshapen one.
func (f *File) loadInto(source string, dst []View, tensors []Tensor) error {
	byName := make(map[string]Tensor, len(tensors))
	for _, t := range tensors {
		byName[t.Name] = t
	}
	var missing []string
	wanted := make(map[string]bool, len(dst))
	for _, v := range dst {
		wanted[v.Name] = true
		t, ok := byName[v.Name]
		if !ok {
			missing = append(missing, v.Name)
			continue
		}
		if !slices.Equal(t.Shape, v.Shape) {
			return fmt.Errorf("%s: tensor %q has shape %v in the file but %v is expected", source, v.Name, t.Shape, v.Shape)
		}
		if len(v.Data) != t.Numel() {
			return fmt.Errorf("%s: tensor %q: destination holds %d values but shape %v has %d", source, v.Name, len(v.Data), v.Shape, t.Numel())
		}
		if err := t.decodeFloat32sInto(v.Data); err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: missing tensor(s) %s", source, quoteList(missing))
	}
	var unexpected []string
	for _, t := range tensors {
		if !wanted[t.Name] {
			unexpected = append(unexpected, t.Name)
		}
	}
	if len(unexpected) > 0 {
		return fmt.Errorf("%s: unexpected tensor(s) %s", source, quoteList(unexpected))
	}
	return nil
}

// quoteList quotes up to 8 names and counts the rest, to keep errors readable for large models.
func quoteList(names []string) string {
	const show = 8
	q := make([]string, 0, show)
	for _, n := range names[:min(len(names), show)] {
		q = append(q, strconv.Quote(n))
	}
	s := strings.Join(q, ", ")
	if len(names) > show {
		s += fmt.Sprintf(" and %d more", len(names)-show)
	}
	return s
}

// AdamState is the AdamW optimizer state: the step count and, per parameter, the first and second moment
// estimates (torch's exp_avg and exp_avg_sq), named like the parameters.
type AdamState struct {
	Step int64
	M, V []View
	// Hyper records hyper-parameters (lr, betas, eps, weight_decay) as strings in the file's __metadata__.
	Hyper map[string]string
}

// Names of the optimizer tensors: "<param>.exp_avg", "<param>.exp_avg_sq", and the I64 scalar "step".
const (
	adamStepName  = "step"
	adamMSuffix   = ".exp_avg"
	adamVSuffix   = ".exp_avg_sq"
	adamKindKey   = "optimizer"
	adamKindValue = "AdamW"
)

// Tensors lays the state out as safetensors tensors, with the hyper-parameters as metadata.
func (s AdamState) Tensors() ([]Tensor, map[string]string) {
	tensors := []Tensor{NewI64(adamStepName, []int{}, []int64{s.Step})}
	for _, m := range s.M {
		tensors = append(tensors, NewF32(m.Name+adamMSuffix, m.Shape, m.Data))
	}
	for _, v := range s.V {
		tensors = append(tensors, NewF32(v.Name+adamVSuffix, v.Shape, v.Data))
	}
	meta := map[string]string{adamKindKey: adamKindValue}
	for k, v := range s.Hyper {
		meta[k] = v
	}
	return tensors, meta
}

// LoadAdamInto reads an optimizer file written from an AdamState into the moment buffers s.M and s.V
// (matched by parameter name and shape) and sets s.Step and s.Hyper.
func LoadAdamInto(path string, s *AdamState) error {
	f, err := ReadSafetensors(path)
	if err != nil {
		return err
	}
	if kind := f.Metadata[adamKindKey]; kind != adamKindValue {
		return fmt.Errorf("%s: __metadata__ %s is %q, want %q", path, adamKindKey, kind, adamKindValue)
	}
	stepTensor, ok := f.Tensor(adamStepName)
	if !ok {
		return fmt.Errorf("%s: missing tensor %q", path, adamStepName)
	}
	step, err := stepTensor.Int64s()
	if err != nil || len(step) != 1 {
		return fmt.Errorf("%s: tensor %q must be an I64 scalar (dtype %s, shape %v)", path, adamStepName, stepTensor.DType, stepTensor.Shape)
	}
	// Rename the file's tensors to parameter names per moment so one matching routine checks both.
	var ms, vs []Tensor
	var unexpected []string
	for _, t := range f.Tensors {
		switch {
		case t.Name == adamStepName:
		case strings.HasSuffix(t.Name, adamVSuffix):
			t.Name = strings.TrimSuffix(t.Name, adamVSuffix)
			vs = append(vs, t)
		case strings.HasSuffix(t.Name, adamMSuffix):
			t.Name = strings.TrimSuffix(t.Name, adamMSuffix)
			ms = append(ms, t)
		default:
			unexpected = append(unexpected, t.Name)
		}
	}
	if len(unexpected) > 0 {
		return fmt.Errorf("%s: unexpected tensor(s) %s", path, quoteList(unexpected))
	}
	if err := f.loadInto(path+" (exp_avg)", s.M, ms); err != nil {
		return err
	}
	if err := f.loadInto(path+" (exp_avg_sq)", s.V, vs); err != nil {
		return err
	}
	s.Step = step[0]
	s.Hyper = map[string]string{}
	for k, v := range f.Metadata {
		if k != adamKindKey {
			s.Hyper[k] = v
		}
	}
	return nil
}

// TrainerState is trainer_state.json: HF Trainer's field names where the concept matches, plus the RNG
// state and the LR-schedule position that HF keeps in separate pickles.
type TrainerState struct {
	GlobalStep int     `json:"global_step"`
	Epoch      float64 `json:"epoch"`
	MaxSteps   int     `json:"max_steps,omitempty"`
	// RNGState is the caller's serialized random-generator state (base64 in the JSON).
	RNGState []byte `json:"rng_state"`
	// LRSchedulerStep is the learning-rate schedule's position (the number of scheduler steps taken).
	LRSchedulerStep     int                  `json:"lr_scheduler_step"`
	LogHistory          []map[string]float64 `json:"log_history,omitempty"`
	BestMetric          *float64             `json:"best_metric,omitempty"`
	BestModelCheckpoint string               `json:"best_model_checkpoint,omitempty"`
}

// Checkpoint is everything written to, or read back from, one checkpoint directory.
type Checkpoint struct {
	Config        any               // config.json: any JSON-serialisable value (a pointer to decode into on load; nil skips)
	Model         []View            // model.safetensors
	ModelMetadata map[string]string // its __metadata__; nil means {"format": "pt"} as transformers expects
	Optimizer     *AdamState        // optimizer.safetensors; nil omits it
	State         TrainerState      // trainer_state.json; State.GlobalStep names the directory
	Tokenizer     []byte            // tokenizer.json, written verbatim; nil omits it
}

func (c *Checkpoint) files() []DirFile {
	meta := c.ModelMetadata
	if meta == nil {
		meta = map[string]string{"format": "pt"}
	}
	files := []DirFile{JSONFile(ConfigFile, c.Config), SafetensorsFile(ModelFile, F32Tensors(c.Model), meta)}
	if c.Optimizer != nil {
		tensors, meta := c.Optimizer.Tensors()
		files = append(files, SafetensorsFile(OptimizerFile, tensors, meta))
	}
	files = append(files, JSONFile(TrainerStateFile, c.State))
	if c.Tokenizer != nil {
		files = append(files, BytesFile(TokenizerFile, c.Tokenizer))
	}
	return files
}

// CheckpointDir is the directory of the checkpoint at a global step: outputDir/checkpoint-<step>.
func CheckpointDir(outputDir string, step int) string {
	return filepath.Join(outputDir, CheckpointPrefix+strconv.Itoa(step))
}

// SaveCheckpoint writes c atomically to outputDir/checkpoint-<c.State.GlobalStep> and returns that path.
func SaveCheckpoint(outputDir string, c Checkpoint) (string, error) {
	if c.State.GlobalStep < 0 {
		return "", fmt.Errorf("save checkpoint in %s: negative global_step %d", outputDir, c.State.GlobalStep)
	}
	dir := CheckpointDir(outputDir, c.State.GlobalStep)
	return dir, SaveDir(dir, c.files()...)
}

// SaveModel writes a final model directory (config.json, model.safetensors, tokenizer.json if non-nil)
// atomically, the shape transformers' from_pretrained reads.
func SaveModel(dir string, config any, model []View, tokenizer []byte) error {
	files := []DirFile{JSONFile(ConfigFile, config), SafetensorsFile(ModelFile, F32Tensors(model), map[string]string{"format": "pt"})}
	if tokenizer != nil {
		files = append(files, BytesFile(TokenizerFile, tokenizer))
	}
	return SaveDir(dir, files...)
}

// LoadCheckpoint reads the checkpoint directory dir into c: the weights into c.Model's buffers, the moments
// into c.Optimizer's (when non-nil), config.json into c.Config (when non-nil, a pointer), trainer_state.json
// into c.State, and tokenizer.json into c.Tokenizer when the file exists.
func LoadCheckpoint(dir string, c *Checkpoint) error {
	if c.Config != nil {
		if err := ReadJSON(filepath.Join(dir, ConfigFile), c.Config); err != nil {
			return err
		}
	}
	if err := LoadInto(filepath.Join(dir, ModelFile), c.Model); err != nil {
		return err
	}
	if c.Optimizer != nil {
		if err := LoadAdamInto(filepath.Join(dir, OptimizerFile), c.Optimizer); err != nil {
			return err
		}
	}
	c.State = TrainerState{}
	if err := ReadJSON(filepath.Join(dir, TrainerStateFile), &c.State); err != nil {
		return err
	}
	tok, err := os.ReadFile(filepath.Join(dir, TokenizerFile))
	switch {
	case err == nil:
		c.Tokenizer = tok
	case errors.Is(err, os.ErrNotExist):
		c.Tokenizer = nil
	default:
		return fmt.Errorf("load checkpoint: %w", err)
	}
	return nil
}

// CheckpointInfo describes one checkpoint-N directory found in an output directory.
type CheckpointInfo struct {
	Dir      string
	Step     int
	Complete bool
	Problem  string // why it is incomplete
}

// ListCheckpoints returns the checkpoint-N directories of outputDir in increasing step order, each checked for
// completeness: every required file (ResumeFiles when none are given) present and trainer_state.json
// readable with global_step equal to N. Hidden temp directories of unfinished saves are not listed.
func ListCheckpoints(outputDir string, required ...string) ([]CheckpointInfo, error) {
	if len(required) == 0 {
		required = ResumeFiles
	}
	entries, err := os.ReadDir(outputDir)
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	var out []CheckpointInfo
	for _, e := range entries {
		digits, ok := strings.CutPrefix(e.Name(), CheckpointPrefix)
		step, err := strconv.Atoi(digits)
		if !ok || err != nil || step < 0 || strconv.Itoa(step) != digits || !e.IsDir() {
			continue
		}
		info := CheckpointInfo{Dir: filepath.Join(outputDir, e.Name()), Step: step}
		info.Problem = checkComplete(info.Dir, step, required)
		info.Complete = info.Problem == ""
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b CheckpointInfo) int { return a.Step - b.Step })
	return out, nil
}

func checkComplete(dir string, step int, required []string) string {
	for _, name := range required {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || !st.Mode().IsRegular() {
			return "missing " + name
		}
	}
	var state TrainerState
	if err := ReadJSON(filepath.Join(dir, TrainerStateFile), &state); err != nil {
		return err.Error()
	}
	if state.GlobalStep != step {
		return fmt.Sprintf("%s has global_step %d, the directory name says %d", TrainerStateFile, state.GlobalStep, step)
	}
	return ""
}

// ErrNoCheckpoint is returned by LatestCheckpoint when outputDir holds no complete checkpoint.
var ErrNoCheckpoint = errors.New("no complete checkpoint")

// LatestCheckpoint returns the complete checkpoint with the highest step in outputDir (see ListCheckpoints
// for completeness), skipping incomplete ones.
func LatestCheckpoint(outputDir string, required ...string) (CheckpointInfo, error) {
	all, err := ListCheckpoints(outputDir, required...)
	if err != nil {
		return CheckpointInfo{}, err
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Complete {
			return all[i], nil
		}
	}
	return CheckpointInfo{}, fmt.Errorf("%s: %w", outputDir, ErrNoCheckpoint)
}

// PruneCheckpoints keeps the newest keep complete checkpoints (keep <= 0 keeps everything, like HF's
// save_total_limit=None) and removes every checkpoint directory older than the oldest one kept, except the
// directories named in protect (e.g. the best model's). Incomplete checkpoints newer than that are left
// alone. Each victim is first renamed to a hidden name so a crash mid-delete never leaves a half-removed
// checkpoint-N behind. It returns the removed directories.
func PruneCheckpoints(outputDir string, keep int, protect ...string) ([]string, error) {
	if keep <= 0 {
		return nil, nil
	}
	all, err := ListCheckpoints(outputDir)
	if err != nil {
		return nil, err
	}
	kept, cutoff := 0, -1
	for i := len(all) - 1; i >= 0 && kept < keep; i-- {
		if all[i].Complete {
			kept++
			cutoff = all[i].Step
		}
	}
	if kept < keep {
		return nil, nil // fewer complete checkpoints than the limit: nothing to prune
	}
	var removed []string
	for _, c := range all {
		if c.Step >= cutoff || slices.ContainsFunc(protect, func(p string) bool { return filepath.Clean(p) == filepath.Clean(c.Dir) }) {
			continue
		}
		trash := filepath.Join(outputDir, "."+filepath.Base(c.Dir)+".deleting")
		if err := os.Rename(c.Dir, trash); err != nil {
			return removed, fmt.Errorf("prune %s: %w", c.Dir, err)
		}
		if err := os.RemoveAll(trash); err != nil {
			return removed, fmt.Errorf("prune %s: %w", c.Dir, err)
		}
		removed = append(removed, c.Dir)
	}
	return removed, nil
}
