package pft

// The training-loop scaffolding every algorithm shares: TRL-style training
// arguments, the run directory (resolved config, metrics.jsonl, checkpoint-N
// directories, the final model), resume from the last complete checkpoint,
// the guard against non-finite losses and gradients, and the progress bar.
// Each algorithm file keeps its own loop and loss; this file only keeps the
// bookkeeping out of their way.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"

	"roads/ckpt"
	"roads/engine"
	"roads/model"
	"roads/tok"
)

// TrainArgs are the optimisation settings shared by every trainer, named as
// TRL's / transformers' TrainingArguments fields.
type TrainArgs struct {
	OutputDir               string  `json:"output_dir" help:"run directory (metrics.jsonl, checkpoints, final model)"`
	LearningRate            float64 `json:"learning_rate" help:"peak AdamW learning rate"`
	NumTrainEpochs          int     `json:"num_train_epochs" help:"passes over the training data"`
	MaxSteps                int     `json:"max_steps" help:"optimiser updates (overrides num_train_epochs when > 0)"` // > 0 overrides num_train_epochs
	PerDeviceTrainBatchSize int     `json:"per_device_train_batch_size" help:"examples per update"`
	LRSchedulerType         string  `json:"lr_scheduler_type" help:"constant, constant_with_warmup, linear or cosine"` // constant, constant_with_warmup, linear, cosine
	WarmupSteps             int     `json:"warmup_steps" help:"linear warm-up updates"`
	WeightDecay             float64 `json:"weight_decay" help:"AdamW decoupled weight decay"`
	MaxGradNorm             float64 `json:"max_grad_norm" help:"global gradient-norm clip (0 disables)"` // 0 disables clipping
	Seed                    uint64  `json:"seed" help:"seed for initialisation and data order"`
	LoggingSteps            int     `json:"logging_steps" help:"updates between metrics.jsonl lines"`
	SaveSteps               int     `json:"save_steps" help:"updates between checkpoints (0: final only)"` // 0: only the final checkpoint
	SaveTotalLimit          int     `json:"save_total_limit" help:"checkpoints kept (0: all)"`             // 0 keeps every checkpoint
	DisableTQDM             bool    `json:"disable_tqdm" help:"no progress bar"`                           // no progress bar (TRL's name)
	Threads                 int     `json:"threads,omitempty" help:"engine threads (0: all cores)"`        // engine threads; 0 keeps the current setting
	// OverwriteOutputDir starts afresh in an output_dir that holds a run
	// started with other settings, data or initial weights (TRL's flag);
	// without it such a directory is refused (run_fingerprint.json).
	OverwriteOutputDir bool `json:"overwrite_output_dir,omitempty" help:"start afresh in an output_dir that holds a run started with other settings, data or initial model (otherwise refused)"`
	// Context, when set, stops the run at the end of the step in which it is
	// cancelled (Ctrl-C, SIGTERM, a cancelled experiment): a checkpoint is
	// written first, so the same command resumes from it. It is not a
	// setting: never saved, compared or hashed.
	Context context.Context `json:"-" flag:"-"`
}

// DefaultTrainArgs are sensible settings for the small models roads trains.
func DefaultTrainArgs() TrainArgs {
	return TrainArgs{
		LearningRate:            1e-3,
		NumTrainEpochs:          1,
		PerDeviceTrainBatchSize: 32,
		LRSchedulerType:         "linear",
		MaxGradNorm:             1,
		Seed:                    42,
		LoggingSteps:            10,
	}
}

// Validate checks the arguments and names the first bad field.
func (a TrainArgs) Validate() error {
	switch {
	case a.OutputDir == "":
		return errors.New("output_dir is required")
	case !(a.LearningRate > 0) || math.IsInf(a.LearningRate, 0):
		return fmt.Errorf("learning_rate must be positive and finite, got %v", a.LearningRate)
	case a.MaxSteps <= 0 && a.NumTrainEpochs <= 0:
		return fmt.Errorf("num_train_epochs (%d) or max_steps (%d) must be positive", a.NumTrainEpochs, a.MaxSteps)
	case a.PerDeviceTrainBatchSize <= 0:
		return fmt.Errorf("per_device_train_batch_size must be positive, got %d", a.PerDeviceTrainBatchSize)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"weight_decay", a.WeightDecay}, {"max_grad_norm", a.MaxGradNorm}, {"warmup_steps", float64(a.WarmupSteps)},
		{"save_steps", float64(a.SaveSteps)}, {"save_total_limit", float64(a.SaveTotalLimit)}, {"logging_steps", float64(a.LoggingSteps)}} {
		if f.v < 0 {
			return fmt.Errorf("%s must not be negative, got %v", f.name, f.v)
		}
	}
	return engine.Schedule{Kind: a.LRSchedulerType, WarmupSteps: a.WarmupSteps, TotalSteps: 1}.Validate()
}

// totalSteps is the number of optimiser updates for n examples.
func (a TrainArgs) totalSteps(n int) int {
	if a.MaxSteps > 0 {
		return a.MaxSteps
	}
	return a.NumTrainEpochs * stepsPerEpoch(n, a.PerDeviceTrainBatchSize)
}

func stepsPerEpoch(n, batch int) int { return (n + batch - 1) / batch }

// epochOrder is the example order of one epoch: a permutation drawn from
// (seed, epoch) alone, so a resumed run visits the same batches as an
// uninterrupted one without replaying an RNG.
func epochOrder(seed uint64, epoch, n int) []int {
	return engine.NewRNG(seed ^ (0x9e3779b97f4a7c15 * uint64(epoch+1))).Perm(n)
}

// batchAt returns the example indices of update `step` (epoch-major; the last
// batch of an epoch may be short).
func batchAt(seed uint64, step, n, batch int, cache *orderCache) []int {
	spe := stepsPerEpoch(n, batch)
	epoch, b := step/spe, step%spe
	if cache.epoch != epoch || cache.order == nil {
		cache.epoch, cache.order = epoch, epochOrder(seed, epoch, n)
	}
	return cache.order[b*batch : min((b+1)*batch, n)]
}

type orderCache struct {
	epoch int
	order []int
}

// run is one training run's state outside the model: optimiser, schedule,
// step counter, metrics file and progress bar.
type run struct {
	unlock func() // releases output_dir's lock (release)
	// firstLoss is the first loss this process saw (the divergence test).
	firstLoss     float64
	haveFirstLoss bool
	args          TrainArgs
	kind          string // "sft", "dpo", ...
	policy        *model.Model
	tk            tok.Tokenizer
	opt           *engine.AdamW
	aux           []*auxModel // further trained models (PPO's value model)
	sched         engine.Schedule
	step          int // completed training steps (one optimiser update each, except PPO's several)
	total         int
	start         time.Time
	metrics       *os.File
	bar           *progressbar.ProgressBar
	window        map[string][]float64 // metrics since the last log line
	log           io.Writer            // where the progress bar goes (stderr)

	// resumed is the trainer state of the checkpoint the run resumed from
	// (zero for a fresh run): trainers that track a best model read it back.
	resumed ckpt.TrainerState
	// best is written into every checkpoint's trainer_state.json
	// (best_metric, best_model_checkpoint), and its checkpoint is never pruned.
	bestMetric     *float64
	bestCheckpoint string
	// onSave, if set, runs after every checkpoint (writing sample completions).
	onSave func(step int) error
	// afterStep, if set, runs when a step ends, before its metrics line and
	// checkpoint (evaluation); setting saveNow there forces a checkpoint.
	afterStep func() error
	saveNow   bool
}

// auxModel is a model trained alongside the policy with its own AdamW (PPO's
// value model). Its weights and moments are saved inside each checkpoint as
// <name>_model.safetensors, <name>_optimizer.safetensors and <name>_config.json.
type auxModel struct {
	name  string
	model *model.Model
	opt   *engine.AdamW
}

func (a *auxModel) files() (modelFile, optFile, configFile string) {
	return a.name + "_model.safetensors", a.name + "_optimizer.safetensors", a.name + "_config.json"
}

// runSpec describes a run for newRun.
type runSpec struct {
	kind     string
	args     TrainArgs
	resolved any // written to training_config.json
	data     any // what the run trains on (examples, pairs or prompts): fingerprinted
	policy   *model.Model
	tk       tok.Tokenizer
	total    int            // training steps
	aux      []*model.Model // trained alongside the policy, in this order
	auxNames []string
	progress io.Writer
}

// startRun prepares output_dir: it takes the directory's lock, checks the
// run's fingerprint (settings, data, initial weights) against the one
// recorded there, either resumes from the newest complete checkpoint
// (weights, AdamW moments, step; metrics.jsonl is cut back to that step) or
// starts fresh, and only then writes training_config.json and the
// fingerprint.
func startRun(kind string, args TrainArgs, resolved, data any, policy *model.Model, tk tok.Tokenizer, nExamples int, progress io.Writer) (*run, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return newRun(runSpec{kind: kind, args: args, resolved: resolved, data: data, policy: policy, tk: tk, total: args.totalSteps(nExamples), progress: progress})
}

// newRun is startRun with an explicit step count and optional auxiliary models.
func newRun(spec runSpec) (*run, error) {
	kind, args, resolved, policy := spec.kind, spec.args, spec.resolved, spec.policy
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	if policy.Frozen() {
		return nil, fmt.Errorf("%s: the policy is frozen; pass a trainable model", kind)
	}
	for i, m := range spec.aux {
		if m.Frozen() {
			return nil, fmt.Errorf("%s: the %s model is frozen; pass a trainable model", kind, spec.auxNames[i])
		}
	}
	if args.Threads > 0 {
		engine.SetThreads(args.Threads)
	}
	total := spec.total
	if total <= 0 {
		return nil, fmt.Errorf("%s: no training steps", kind)
	}
	models := append([]*model.Model{policy}, spec.aux...)
	fp, err := newFingerprint(resolved, spec.data, models...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	if afterFingerprint != nil {
		afterFingerprint(models)
	}
	if err := os.MkdirAll(args.OutputDir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	unlock, err := lockRunDir(args.OutputDir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	r, err := openRun(spec, fp, total)
	if err != nil {
		unlock()
		return nil, err
	}
	r.unlock = unlock
	return r, nil
}

// openRun is newRun once output_dir is locked: check the fingerprint, build
// the optimisers, resume, and only then record the configuration.
func openRun(spec runSpec, fp runFingerprint, total int) (*run, error) {
	kind, args, resolved, policy, tk, progress := spec.kind, spec.args, spec.resolved, spec.policy, spec.tk, spec.progress
	if err := prepareRunDir(kind, args.OutputDir, fp, args.OverwriteOutputDir); err != nil {
		return nil, err
	}
	adamCfg := engine.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: args.WeightDecay}
	opt, err := engine.NewAdamW(policy.Params(), adamCfg, model.DecayParam)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	r := &run{args: args, kind: kind, policy: policy, tk: tk, opt: opt, total: total, start: time.Now(),
		sched:  engine.Schedule{Kind: args.LRSchedulerType, WarmupSteps: args.WarmupSteps, TotalSteps: total},
		window: map[string][]float64{}, log: progress}
	for i, m := range spec.aux {
		aopt, err := engine.NewAdamW(m.Params(), adamCfg, model.DecayParam)
		if err != nil {
			return nil, fmt.Errorf("%s: %s model: %w", kind, spec.auxNames[i], err)
		}
		r.aux = append(r.aux, &auxModel{name: spec.auxNames[i], model: m, opt: aopt})
	}
	if err := r.resume(); err != nil {
		return nil, fmt.Errorf("%s: resume from %s: %w", kind, args.OutputDir, err)
	}
	// The run is valid and resumable: now record what it was asked.
	if err := ckpt.WriteJSON(filepath.Join(args.OutputDir, "training_config.json"), resolved); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	if err := ckpt.WriteJSON(filepath.Join(args.OutputDir, FingerprintFile), fp); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	if err := r.openMetrics(); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	if !args.DisableTQDM && progress != nil {
		r.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(progress),
			progressbar.OptionSetDescription(kind),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish())
		_ = r.bar.Set(r.step)
	}
	return r, nil
}

// lossError wraps an error from a loss at this step. When the loss was fed a
// non-finite input, the cause is almost always that training diverged and a
// weight went non-finite in an earlier update: the message then names the
// first such parameter tensor and index, not the internal array.
func (r *run) lossError(err error) error {
	models := []*model.Model{r.policy}
	names := []string{""}
	for _, a := range r.aux {
		models, names = append(models, a.model), append(names, a.name+" model ")
	}
	for k, m := range models {
		for _, p := range m.Params() {
			for i, v := range p.Data {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("%s: step %d: %w: training diverged: weight tensor %s%s holds %v at index %d (last good checkpoint kept in %s; lower --learning_rate or set --max_grad_norm)",
						r.kind, r.step+1, err, names[k], p.Name, v, i, r.args.OutputDir)
				}
			}
		}
	}
	return fmt.Errorf("%s: step %d: %w", r.kind, r.step+1, err)
}

// release gives output_dir's lock back; trainers defer it, so a run that
// fails midway frees the directory too. It is safe to call twice.
func (r *run) release() {
	if r.unlock != nil {
		r.unlock()
		r.unlock = nil
	}
}

func (r *run) adamState() *ckpt.AdamState { return r.adamStateOf(r.opt) }

func (r *run) adamStateOf(opt *engine.AdamW) *ckpt.AdamState {
	step, tensors := opt.State()
	s := &ckpt.AdamState{Step: int64(step), Hyper: map[string]string{
		"lr": fmt.Sprint(r.args.LearningRate), "weight_decay": fmt.Sprint(r.args.WeightDecay), "betas": "0.9,0.999", "eps": "1e-08"}}
	for _, t := range tensors {
		v := ckpt.View{Name: t.Name, Shape: t.Shape, Data: t.Data}
		if n := len(t.Name); n > 11 && t.Name[n-11:] == ".exp_avg_sq" {
			v.Name = t.Name[:n-11]
			s.V = append(s.V, v)
		} else {
			v.Name = t.Name[:n-8] // ".exp_avg"
			s.M = append(s.M, v)
		}
	}
	return s
}

// resume loads the newest complete checkpoint in output_dir, if any.
func (r *run) resume() error {
	required := append([]string(nil), ckpt.ResumeFiles...)
	for _, a := range r.aux {
		mf, of, cf := a.files()
		required = append(required, mf, of, cf)
	}
	info, err := ckpt.LatestCheckpoint(r.args.OutputDir, required...)
	if errors.Is(err, ckpt.ErrNoCheckpoint) {
		return nil
	} else if err != nil {
		return err
	}
	adam := r.adamState()
	files := r.policy.FileViews() // the checkpoint's layout (HF names for gpt2 / gpt_neox)
	c := ckpt.Checkpoint{Model: files, Optimizer: adam}
	if err := ckpt.LoadCheckpoint(info.Dir, &c); err != nil {
		return err
	}
	if err := sameModelConfig(filepath.Join(info.Dir, ckpt.ConfigFile), r.policy); err != nil {
		return err
	}
	if err := r.policy.LoadFileViews(files); err != nil {
		return fmt.Errorf("%s: %w", info.Dir, err)
	}
	_, tensors := r.opt.State()
	if err := r.opt.LoadState(int(adam.Step), tensors); err != nil {
		return err
	}
	if c.State.GlobalStep > r.total {
		return fmt.Errorf("%s: checkpoint step %d is past this run's %d steps", info.Dir, c.State.GlobalStep, r.total)
	}
	if want, err := rngStateAt(r.args.Seed, c.State.GlobalStep); err != nil {
		return err
	} else if len(c.State.RNGState) > 0 && !bytes.Equal(c.State.RNGState, want) {
		return fmt.Errorf("%s: trainer_state.json rng_state does not match seed %d: the checkpoint was written by a run with another --seed", info.Dir, r.args.Seed)
	}
	for _, a := range r.aux {
		mf, of, cf := a.files()
		if err := sameModelConfig(filepath.Join(info.Dir, cf), a.model); err != nil {
			return fmt.Errorf("%s model: %w", a.name, err)
		}
		views := a.model.FileViews()
		if err := ckpt.LoadInto(filepath.Join(info.Dir, mf), views); err != nil {
			return err
		}
		if err := a.model.LoadFileViews(views); err != nil {
			return fmt.Errorf("%s: %w", info.Dir, err)
		}
		st := r.adamStateOf(a.opt)
		if err := ckpt.LoadAdamInto(filepath.Join(info.Dir, of), st); err != nil {
			return err
		}
		_, tensors := a.opt.State()
		if err := a.opt.LoadState(int(st.Step), tensors); err != nil {
			return err
		}
	}
	r.step = c.State.GlobalStep
	r.resumed = c.State
	r.bestMetric, r.bestCheckpoint = c.State.BestMetric, c.State.BestModelCheckpoint
	return nil
}

// openMetrics opens metrics.jsonl for appending after dropping lines logged
// after the resumed step (and a torn last line from a crash).
func (r *run) openMetrics() error {
	path := filepath.Join(r.args.OutputDir, "metrics.jsonl")
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var kept bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(old))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var rec struct {
			Step *int `json:"step"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Step == nil || *rec.Step > r.step {
			continue
		}
		kept.Write(sc.Bytes())
		kept.WriteByte('\n')
	}
	if err := ckpt.WriteFileAtomic(path, kept.Bytes()); err != nil {
		return err
	}
	r.metrics, err = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	return err
}

// lr is the learning rate of the next update.
func (r *run) lr() float64 { return r.args.LearningRate * r.sched.Factor(r.step) }

// update finishes one training step after the caller has accumulated the
// gradients of `loss`: applyGradients, then endStep.
func (r *run) update(loss float64, m Metrics) error {
	if err := r.applyGradients(loss, m); err != nil {
		return err
	}
	return r.endStep()
}

// applyGradients makes one optimiser update from the accumulated gradients of
// every trained model: it refuses non-finite losses and gradients (naming the
// step and the tensor; the last checkpoint is left as it was), clips the
// global norm over all trained models together, steps AdamW at this step's
// learning rate and records the metrics. PPO calls it once per minibatch and
// endStep once per rollout; everyone else calls update.
func (r *run) applyGradients(loss float64, m Metrics) error {
	if poisonAt > 0 && r.step+1 == poisonAt {
		r.policy.Params()[0].Grad[0] = float32(math.NaN())
	}
	if poisonValueAt > 0 && r.step+1 == poisonValueAt && len(r.aux) > 0 {
		r.aux[0].model.Params()[0].Grad[0] = float32(math.NaN())
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Errorf("%s: step %d: loss is %v; stopping (last good checkpoint kept in %s)", r.kind, r.step+1, loss, r.args.OutputDir)
	}
	// The explosion test: a loss over DivergenceFactor × max(|first loss of
	// this process|, 1) means training diverged (a learning rate far too
	// high); stop rather than finish with rc 0 and a useless model.
	if !r.haveFirstLoss {
		r.firstLoss, r.haveFirstLoss = loss, true
	} else if limit := DivergenceFactor * math.Max(math.Abs(r.firstLoss), 1); math.Abs(loss) > limit {
		return fmt.Errorf("%s: step %d: loss %.4g is over %g× the first step's (%.4g): training diverged; stopping (last good checkpoint kept in %s; lower --learning_rate or set --max_grad_norm)",
			r.kind, r.step+1, loss, DivergenceFactor, r.firstLoss, r.args.OutputDir)
	}
	params := r.policy.Params()
	for _, a := range r.aux {
		params = append(params, a.model.Params()...)
	}
	for i, p := range params {
		for _, g := range p.Grad {
			if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
				name := p.Name
				if i >= len(r.policy.Params()) {
					name = r.auxOf(i) + " model " + p.Name
				}
				return fmt.Errorf("%s: step %d: gradient of tensor %s is %v; stopping (last good checkpoint kept in %s)", r.kind, r.step+1, name, g, r.args.OutputDir)
			}
		}
	}
	var gradNorm float64
	if r.args.MaxGradNorm > 0 {
		gradNorm = engine.ClipGradNorm(params, r.args.MaxGradNorm)
	} else {
		gradNorm = engine.GradNorm(params)
	}
	lr := r.lr()
	r.opt.Step(lr)
	for _, a := range r.aux {
		a.opt.Step(lr)
	}
	r.record("loss", loss)
	r.record("grad_norm", gradNorm)
	r.record("learning_rate", lr)
	r.recordAll(m)
	return nil
}

// auxOf names the auxiliary model that parameter index i (in the policy-then-
// aux order of applyGradients) belongs to.
func (r *run) auxOf(i int) string {
	i -= len(r.policy.Params())
	for _, a := range r.aux {
		if n := len(a.model.Params()); i < n {
			return a.name
		} else {
			i -= n
		}
	}
	return "?"
}

// recordAll adds metrics (except loss, which applyGradients records) to the
// current logging window.
func (r *run) recordAll(m Metrics) {
	for k, v := range m {
		if k != "loss" {
			r.record(k, v)
		}
	}
}

// endStep closes a training step: it advances the step counter and the
// progress bar, writes a metrics line every logging_steps and a checkpoint
// every save_steps.
func (r *run) endStep() error {
	r.step++
	if r.bar != nil {
		_ = r.bar.Set(r.step)
	}
	if r.afterStep != nil {
		if err := r.afterStep(); err != nil {
			return err
		}
	}
	if r.args.LoggingSteps > 0 && (r.step%r.args.LoggingSteps == 0 || r.step == r.total) {
		if err := r.flushLog(); err != nil {
			return err
		}
	}
	saved := (r.saveNow || r.args.SaveSteps > 0 && r.step%r.args.SaveSteps == 0) && r.step < r.total
	if saved {
		if err := r.checkpoint(); err != nil {
			return err
		}
	}
	r.saveNow = false
	if ctx := r.args.Context; ctx != nil && ctx.Err() != nil && r.step < r.total {
		if !saved {
			if err := r.checkpoint(); err != nil {
				return err
			}
		}
		r.metrics.Close()
		return fmt.Errorf("%s: stopped after step %d of %d, checkpoint-%d written (the same command resumes from it): %w", r.kind, r.step, r.total, r.step, ctx.Err())
	}
	if stopAfter > 0 && r.step == stopAfter {
		r.metrics.Close()
		return fmt.Errorf("%s: interrupted after step %d (test hook)", r.kind, r.step)
	}
	return nil
}

// DivergenceFactor is the explosion test's bound: a step whose |loss|
// exceeds it times max(|first loss|, 1) stops the run as diverged.
const DivergenceFactor = 1000.0

// afterFingerprint (tests only) runs once the initial weights are
// fingerprinted: resume tests scramble the weights there to prove that a
// resumed run takes everything from its checkpoint.
var afterFingerprint func(models []*model.Model)

// Test hooks: stopAfter simulates a crash after that many steps; poisonAt
// (poisonValueAt) puts a NaN into the first gradient of the policy (the first
// auxiliary model) at that step.
var stopAfter, poisonAt, poisonValueAt int

func (r *run) record(name string, v float64) { r.window[name] = append(r.window[name], v) }

// flushLog writes one metrics.jsonl line: the mean of each metric since the
// last line, plus step, epoch and wall_time.
func (r *run) flushLog() error {
	if len(r.window) == 0 {
		return nil
	}
	rec := map[string]float64{"step": float64(r.step), "wall_time": time.Since(r.start).Seconds()}
	for k, vs := range r.window {
		s := 0.0
		for _, v := range vs {
			s += v
		}
		rec[k] = s / float64(len(vs))
	}
	clear(r.window)
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("%s: metrics at step %d: %w", r.kind, r.step, err)
	}
	_, err = r.metrics.Write(append(line, '\n'))
	return err
}

// logLine writes one extra metrics.jsonl line at the current step (eval
// metrics, one-off statistics); the names should carry their eval_ or other
// prefix already.
func (r *run) logLine(m Metrics) error {
	rec := map[string]float64{"step": float64(r.step), "wall_time": time.Since(r.start).Seconds()}
	for k, v := range m {
		rec[k] = v
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("%s: metrics at step %d: %w", r.kind, r.step, err)
	}
	_, err = r.metrics.Write(append(line, '\n'))
	return err
}

// rngStateAt is trainer_state.json's rng_state: the serialised generator
// that step `step` draws from. Every random choice of a run (data order,
// sampling streams) is a function of (seed, purpose, step), so this state is
// re-derivable; storing it lets resume refuse a checkpoint written under
// another seed, which would otherwise continue silently on different data.
func rngStateAt(seed uint64, step int) ([]byte, error) {
	return stepRNG(seed, "trainer_state", step).MarshalBinary()
}

// checkpoint saves output_dir/checkpoint-<step> and prunes old ones.
func (r *run) checkpoint() error {
	var tokJSON []byte
	if r.tk != nil {
		var err error
		if tokJSON, err = tok.Marshal(r.tk); err != nil {
			return err
		}
	}
	rngState, err := rngStateAt(r.args.Seed, r.step)
	if err != nil {
		return err
	}
	state := ckpt.TrainerState{GlobalStep: r.step, MaxSteps: r.total, LRSchedulerStep: r.step, RNGState: rngState,
		BestMetric: r.bestMetric, BestModelCheckpoint: r.bestCheckpoint}
	c := ckpt.Checkpoint{Config: r.policy.Config().FileConfig(), Model: r.policy.FileViews(), Optimizer: r.adamState(), State: state, Tokenizer: tokJSON}
	if len(r.aux) == 0 {
		if _, err := ckpt.SaveCheckpoint(r.args.OutputDir, c); err != nil {
			return fmt.Errorf("%s: checkpoint at step %d: %w", r.kind, r.step, err)
		}
	} else {
		// The same files SaveCheckpoint writes, plus each auxiliary model's,
		// in one atomically renamed directory.
		adamTensors, adamMeta := c.Optimizer.Tensors()
		files := []ckpt.DirFile{
			ckpt.JSONFile(ckpt.ConfigFile, c.Config),
			ckpt.SafetensorsFile(ckpt.ModelFile, ckpt.F32Tensors(c.Model), map[string]string{"format": "pt"}),
			ckpt.SafetensorsFile(ckpt.OptimizerFile, adamTensors, adamMeta),
			ckpt.JSONFile(ckpt.TrainerStateFile, c.State),
		}
		if tokJSON != nil {
			files = append(files, ckpt.BytesFile(ckpt.TokenizerFile, tokJSON))
		}
		for _, a := range r.aux {
			mf, of, cf := a.files()
			at, am := r.adamStateOf(a.opt).Tensors()
			files = append(files,
				ckpt.SafetensorsFile(mf, ckpt.F32Tensors(a.model.FileViews()), map[string]string{"format": "pt"}),
				ckpt.SafetensorsFile(of, at, am),
				ckpt.JSONFile(cf, a.model.Config().FileConfig()))
		}
		if err := ckpt.SaveDir(ckpt.CheckpointDir(r.args.OutputDir, r.step), files...); err != nil {
			return fmt.Errorf("%s: checkpoint at step %d: %w", r.kind, r.step, err)
		}
	}
	var protect []string
	if r.bestCheckpoint != "" {
		protect = append(protect, r.bestCheckpoint)
	}
	if _, err := ckpt.PruneCheckpoints(r.args.OutputDir, r.args.SaveTotalLimit, protect...); err != nil {
		return fmt.Errorf("%s: prune checkpoints: %w", r.kind, err)
	}
	if r.onSave != nil {
		if err := r.onSave(r.step); err != nil {
			return fmt.Errorf("%s: step %d: %w", r.kind, r.step, err)
		}
	}
	return nil
}

// finish writes the final checkpoint and the final model files (config.json,
// model.safetensors, tokenizer.json) at the top of output_dir, each atomically,
// so output_dir itself loads as a model directory.
func (r *run) finish() error { return r.finishWith(nil) }

// finishWith is finish with a hook that runs after the final checkpoint and
// before the model files are written: loading the best checkpoint's weights
// into the policy (load_best_model_at_end) and writing auxiliary models.
func (r *run) finishWith(beforeModelFiles func() error) error {
	defer r.release()
	if err := r.flushLog(); err != nil {
		return err
	}
	if r.bar != nil {
		_ = r.bar.Finish()
	}
	if err := r.metrics.Close(); err != nil {
		return err
	}
	if err := r.checkpoint(); err != nil {
		return err
	}
	if beforeModelFiles != nil {
		if err := beforeModelFiles(); err != nil {
			return fmt.Errorf("%s: %w", r.kind, err)
		}
	}
	return saveModelFiles(r.args.OutputDir, r.policy, r.tk)
}

// saveModelFiles writes a model's three files into dir one by one, each
// atomically, leaving the rest of dir (checkpoints, metrics) alone.
func saveModelFiles(dir string, m *model.Model, tk tok.Tokenizer) error {
	if err := ckpt.WriteSafetensors(filepath.Join(dir, ckpt.ModelFile), ckpt.F32Tensors(m.FileViews()), map[string]string{"format": "pt"}); err != nil {
		return err
	}
	if tk != nil {
		data, err := tok.Marshal(tk)
		if err != nil {
			return err
		}
		if err := ckpt.WriteFileAtomic(filepath.Join(dir, ckpt.TokenizerFile), data); err != nil {
			return err
		}
	}
	// config.json last: a directory with a config always has matching weights.
	return ckpt.WriteJSON(filepath.Join(dir, ckpt.ConfigFile), m.Config().FileConfig())
}

// sameModelConfig checks that a checkpoint's config.json describes m.
func sameModelConfig(path string, m *model.Model) error {
	cfg, err := model.LoadConfig(path)
	if err != nil {
		return err
	}
	if cfg != m.Config() {
		return fmt.Errorf("%s: model config differs from the model being trained", path)
	}
	return nil
}

// flatGrad scatters per-token upstream gradients (ragged rows of response
// tokens, as the pft losses return) into the model's flat [B·T] layout.
func flatGrad(out *model.Output, grad [][]float64) []float32 {
	g := make([]float32, out.B*out.T)
	for i, row := range grad {
		k := 0
		for t := 0; t < out.T && k < len(row); t++ {
			if out.Mask[i*out.T+t] != 0 {
				g[i*out.T+t] = float32(row[k])
				k++
			}
		}
	}
	return g
}

// raggedTokens gathers a flat per-token array ([B·T], Output layout) into
// ragged float64 rows of the scored tokens.
func raggedTokens(out *model.Output, flat []float32) [][]float64 {
	rows := make([][]float64, out.B)
	for i := range rows {
		for t := 0; t < out.T; t++ {
			if out.Mask[i*out.T+t] != 0 {
				rows[i] = append(rows[i], float64(flat[i*out.T+t]))
			}
		}
	}
	return rows
}
