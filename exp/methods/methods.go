// Package methods wires the training algorithms of roads (package pft) into
// the experiment runner (package exp): each method reads its settings from
// the cell, builds or reuses the shared artefacts it needs (the SFT model of
// a (task, seed), …) through the artefact cache, and evaluates the result
// with the gold judge (package eval).
//
// Importing the package registers its methods in exp.DefaultRegistry: one
// per row of pft.Algorithms that names a method (sft, dpo, rloo, ppo, grpo),
// made by its family's method, and the variants wired by hand on the same
// helpers (Task, SFTModel, Evaluate): sft_stop*, dpo_2x, online_dpo_*,
// rm_eval, bon. This file holds the shared steps and the imitation family's
// method.
package methods

import (
	"context"
	"fmt"
	"path/filepath"

	"roads/eval"
	"roads/exp"
	"roads/model"
	"roads/pft"
	"roads/recipe"
	"roads/task"
)

func init() {
	for _, a := range pft.Algorithms {
		switch {
		case a.Method == "": // online-dpo: the online_dpo_* methods, with their source policies
		case a.Family == pft.Imitation:
			exp.Register(a.Method, exp.MethodFunc(runSFT))
		case a.Family == pft.Offline:
			exp.Register(a.Method, offlineMethod(a))
		case a.Family == pft.Online:
			exp.Register(a.Method, onlineMethod(a))
		case a.Family == pft.RewardFit: // no method: the verifier artefact (RewardModel) of the methods that use one
		default:
			panic("methods: no method for the " + string(a.Family) + " family of " + a.Method)
		}
	}
	// sft_stop1, sft_stop2, …: the SFT model stopped after truncate.max_tokens
	// tokens (set by method_params), the length-rule baseline.
	for l := 1; l <= 8; l++ {
		exp.Register(fmt.Sprintf("sft_stop%d", l), exp.MethodFunc(runSFTTruncated))
	}
}

// Task builds the cell's task: the "task" parameter (a preset, a preset
// with overrides such as "summarize,horizon=8", or a task config object)
// with its seed set to "task_seed" if given, else to the cell's seed, so
// that each seed is a fresh task instance and arms paired on a seed share it.
func Task(c exp.Cell) (*task.Task, error) {
	raw, err := c.Value("task")
	if err != nil {
		return nil, err
	}
	var cfg task.Config
	switch v := raw.(type) {
	case string:
		if cfg, err = task.ParseSpec(v); err != nil {
			return nil, fmt.Errorf("cell %s: %w", c.ID, err)
		}
	case map[string]any:
		if err := c.Decode("task", &cfg); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("cell %s: parameter \"task\": want a preset string or a task config object", c.ID)
	}
	cfg.Seed = c.Seed()
	if c.Has("task_seed") {
		s, err := c.Int("task_seed")
		if err != nil || s < 0 {
			return nil, fmt.Errorf("cell %s: task_seed must be a non-negative integer", c.ID)
		}
		cfg.Seed = uint64(s)
	}
	return exp.Memo(taskMemo, "task", cfg, func() (*task.Task, error) { return task.New(cfg) })
}

// taskMemo keeps built tasks process-wide (building one draws its tables;
// a task is immutable once built).
var taskMemo = exp.NewArtifacts("")

// ModelArch is a transformer's family and shape in the specs
// ("policy_model", "rm_model"): model.Arch's keys (model_type, default gpt2;
// d_model, n_layer, n_head, tie_word_embeddings, rotary_pct) and where a
// reward model starts.
type ModelArch struct {
	model.Arch
	// Init says where a reward model starts ("sft": an SFT model of this
	// shape; "scratch"); policies ignore it.
	Init string `json:"init,omitempty"`
}

// resolved is arch with model.Arch's defaults filled in, as keys record it
// (so a spec that names model_type gpt2 and one that leaves it out share
// their artefacts, and directories of the roads-gpt era never match).
func (arch ModelArch) resolved() ModelArch {
	arch.Arch = arch.Arch.Resolved()
	return arch
}

// Demos are the settings of the SFT demonstrations.
type Demos struct {
	N              int      `json:"n"`
	CorruptionRate *float64 `json:"corruption_rate,omitempty"` // nil: the task's documented rate
}

// rate is the demonstrator's corruption rate: corruption_rate, or the
// task's documented rate when it is unset.
func (d Demos) rate(t *task.Task) (float64, error) {
	if d.CorruptionRate == nil {
		return t.DemoRate(), nil
	}
	if r := *d.CorruptionRate; r < 0 || r > 1 {
		return 0, fmt.Errorf("demos.corruption_rate = %v, want a rate in [0, 1]", r)
	}
	return *d.CorruptionRate, nil
}

// Demonstrations draws n prompts of split from the task's demonstration
// stream for the seed, each with one demonstration (EOS appended): on the
// train split, the cell's SFT data.
func Demonstrations(t *task.Task, split task.Split, d Demos, seed uint64) ([]pft.SFTExample, error) {
	if d.N <= 0 {
		return nil, fmt.Errorf("demos.n = %d, want a positive count", d.N)
	}
	rate, err := d.rate(t)
	if err != nil {
		return nil, err
	}
	demos, err := recipe.Demonstrations(t, split, seed, d.N, rate)
	if err != nil {
		return nil, err
	}
	out := make([]pft.SFTExample, len(demos))
	eos := t.Tokenizer().EOS()
	for i, demo := range demos {
		out[i] = pft.SFTExample{Prompt: demo.Prompt, Completion: append(append([]int32(nil), demo.Completion...), eos)}
	}
	return out, nil
}

// sftKey is everything the SFT model depends on: the resolved task, the
// demonstrations, the architecture and the resolved training arguments
// (code defaults included, so a changed default is a different artefact).
type sftKey struct {
	Task  task.Config   `json:"task"`
	Demos Demos         `json:"demos"`
	Arch  ModelArch     `json:"arch"`
	SFT   pft.SFTConfig `json:"sft"`
	Seed  uint64        `json:"seed"`
}

// SFTModel returns the cell's SFT model (frozen; Clone it to train) and its
// directory, training it on first use for this (task, seed, settings).
// arch is the shape to train ("policy_model" normally; a reward model of
// another size asks for its own).
func SFTModel(ctx context.Context, c exp.Cell, art *exp.Artifacts, arch ModelArch) (*model.Model, string, error) {
	t, err := Task(c)
	if err != nil {
		return nil, "", err
	}
	key, err := sftKeyOf(c, t, arch)
	if err != nil {
		return nil, "", err
	}
	demos, arch, cfg := key.Demos, key.Arch, key.SFT
	dir, err := art.Dir(ctx, "sft", key, func(ctx context.Context, dir string) error {
		if ok, err := restoreEmbedded(ctx, "sft", key, dir); ok || err != nil {
			return err
		}
		examples, err := Demonstrations(t, task.Train, demos, c.Seed())
		if err != nil {
			return err
		}
		tk := t.Tokenizer()
		mc, err := arch.Config(tk.VocabSize(), t.MaxTotalLen(), int(tk.EOS()), int(tk.PAD()))
		if err != nil {
			return fmt.Errorf("cell %s: new SFT model: %w", c.ID, err)
		}
		m, err := model.New(mc, c.Seed())
		if err != nil {
			return err
		}
		run := cfg
		run.OutputDir, run.Context = dir, ctx // a cancelled run stops at the end of its step
		return run.Train(m, tk, examples, nil)
	})
	if err != nil {
		return nil, "", err
	}
	m, err := exp.Memo(art, "sft-model", dir, func() (*model.Model, error) {
		m, _, err := model.LoadDir(dir)
		if err != nil {
			return nil, err
		}
		m.Freeze()
		return m, nil
	})
	return m, dir, err
}

// EvalSettings are the "eval" parameters.
type EvalSettings struct {
	Prompts          int `json:"prompts"`
	SamplesPerPrompt int `json:"samples_per_prompt"`
}

// Evaluate scores policy on the task's held-out test prompts (temperature
// 1, seeded by the cell) with the gold judge, with KL to ref (nil: none),
// and returns the metrics every policy-producing method records: gold
// (with its CI over prompts), reference_gold, gold_frac, win_rate and kl
// (each with its CI over prompts), rouge_l, mean_length, eos_rate, and a few
// samples.
func Evaluate(c exp.Cell, t *task.Task, policy, ref *model.Model) (exp.Result, error) {
	pol, err := eval.NewModelPolicy(policy, t)
	if err != nil {
		return exp.Result{}, err
	}
	var refPol eval.Policy
	if ref != nil {
		if refPol, err = eval.NewModelPolicy(ref, t); err != nil {
			return exp.Result{}, err
		}
	}
	return evaluatePolicy(c, t, pol, refPol)
}

// evaluatePolicy is Evaluate for any eval.Policy.
func evaluatePolicy(c exp.Cell, t *task.Task, pol, refPol eval.Policy) (exp.Result, error) {
	var es EvalSettings
	if err := c.Decode("eval", &es); err != nil {
		return exp.Result{}, err
	}
	rep, err := eval.Evaluate(t, pol, refPol, eval.Options{N: es.Prompts, SamplesPerPrompt: es.SamplesPerPrompt, Seed: recipe.EvalSeed(c.Seed())})
	if err != nil {
		return exp.Result{}, err
	}
	return ResultFromReport(rep), nil
}

// ResultFromReport converts a gold evaluation into record metrics.
func ResultFromReport(rep *eval.Report) exp.Result {
	m := map[string]float64{
		"gold": rep.Gold.Mean, "gold_ci_low": rep.Gold.Low, "gold_ci_high": rep.Gold.High,
		"reference_gold": rep.ReferenceGold, "win_rate": rep.WinRate.Mean, "win_rate_ci_low": rep.WinRate.Low,
		"win_rate_ci_high": rep.WinRate.High, "rouge_l": rep.RougeL.Mean,
		"mean_length": rep.MeanLength, "reference_mean_length": rep.ReferenceMeanLength, "eos_rate": rep.EOSRate,
	}
	if rep.ReferenceGold != 0 {
		m["gold_frac"] = rep.Gold.Mean / rep.ReferenceGold
	}
	if rep.KL != nil {
		m["kl"], m["kl_ci_low"], m["kl_ci_high"] = rep.KL.Mean, rep.KL.Low, rep.KL.High
	}
	res := exp.Result{Metrics: m}
	for _, s := range rep.Samples {
		res.Samples = append(res.Samples, exp.Sample{Prompt: s.Prompt, Completion: s.Completion, Gold: s.Reward,
			Reference: s.Reference, ReferenceGold: s.ReferenceReward, EndedWithEOS: s.EndedWithEOS})
	}
	if rep.KLNote != "" && rep.KL == nil {
		res.Notes = append(res.Notes, "kl: "+rep.KLNote)
	}
	return res
}

// addTrainingCurves adds a run directory's metrics.jsonl curves as
// "train/<key>".
func addTrainingCurves(res *exp.Result, runDir string, keys ...string) error {
	curves, err := exp.TrainingCurves(filepath.Join(runDir, "metrics.jsonl"), "train/", keys...)
	if err != nil {
		return err
	}
	if res.Curves == nil {
		res.Curves = map[string][]exp.Point{}
	}
	for k, v := range curves {
		res.Curves[k] = v
	}
	return nil
}

// cellSFT returns the cell's SFT model at policy_model's shape, its
// directory and the cell's task.
func cellSFT(ctx context.Context, c exp.Cell, art *exp.Artifacts) (*model.Model, string, *task.Task, error) {
	var arch ModelArch
	if err := c.Decode("policy_model", &arch); err != nil {
		return nil, "", nil, err
	}
	m, dir, err := SFTModel(ctx, c, art, arch)
	if err != nil {
		return nil, "", nil, err
	}
	t, err := Task(c)
	return m, dir, t, err
}

// runSFT is the "sft" method: the SFT model itself, evaluated (KL to itself
// is 0 by definition and is measured as such).
func runSFT(ctx context.Context, c exp.Cell, art *exp.Artifacts) (exp.Result, error) {
	m, dir, t, err := cellSFT(ctx, c, art)
	if err != nil {
		return exp.Result{}, err
	}
	res, err := Evaluate(c, t, m, m)
	if err != nil {
		return exp.Result{}, err
	}
	if err := addTrainingCurves(&res, dir, "loss"); err != nil {
		return exp.Result{}, err
	}
	if err := addDemoFit(&res, c, t, m); err != nil {
		return exp.Result{}, err
	}
	res.Metrics["sft_embedded"] = 0
	if IsEmbedded(dir) {
		res.Metrics["sft_embedded"] = 1
		res.Notes = append(res.Notes, "SFT model restored from the binary (experiments/checkpoints/sft/"+filepath.Base(dir)+"), not trained in this run")
	}
	return res, nil
}

// heldOutDemos is how many demonstrations of each split addDemoFit scores.
const heldOutDemos = 1000

// addDemoFit adds how well the SFT model fits its demonstrator, in nats per
// demonstration (completion + EOS): sft_train_nll on the first heldOutDemos
// of its own training demonstrations, sft_val_nll on heldOutDemos fresh ones
// (validation split, same seed and rate), and demo_val_nll, the demonstrator's
// own exact NLL on those (task.Script.LogProb): the floor that a model of the
// demonstrator reaches. train ≪ val means the model memorised its data
// (TRL's train loss against eval_loss); val − demo is what it has not learned.
func addDemoFit(res *exp.Result, c exp.Cell, t *task.Task, m *model.Model) error {
	var d Demos
	if err := c.Decode("demos", &d); err != nil {
		return err
	}
	// The first n of the train stream are the first n of the cell's data
	// (task.Prompts and the corruption draws are prefix-stable).
	train, err := Demonstrations(t, task.Train, Demos{N: min(d.N, heldOutDemos), CorruptionRate: d.CorruptionRate}, c.Seed())
	if err != nil {
		return err
	}
	val, err := Demonstrations(t, task.Validation, Demos{N: heldOutDemos, CorruptionRate: d.CorruptionRate}, c.Seed())
	if err != nil {
		return err
	}
	pol, err := eval.NewModelPolicy(m, t)
	if err != nil {
		return err
	}
	nll := func(ex []pft.SFTExample) (float64, error) {
		prompts, comps := make([][]int32, len(ex)), make([][]int32, len(ex))
		for i, e := range ex {
			prompts[i], comps[i] = e.Prompt, e.Completion
		}
		lp, err := pol.LogProbs(prompts, comps)
		if err != nil {
			return 0, err
		}
		sum := 0.0
		for _, v := range lp {
			sum -= v
		}
		return sum / float64(len(lp)), nil
	}
	if res.Metrics["sft_train_nll"], err = nll(train); err != nil {
		return err
	}
	if res.Metrics["sft_val_nll"], err = nll(val); err != nil {
		return err
	}
	rate, err := d.rate(t)
	if err != nil {
		return err
	}
	demo := 0.0
	for _, e := range val {
		sc, err := t.DemoScript(e.Prompt, rate)
		if err != nil {
			return err
		}
		demo -= sc.LogProb(e.Completion[:len(e.Completion)-1], true) // Completion ends with EOS
	}
	res.Metrics["demo_val_nll"] = demo / float64(len(val))
	return nil
}

// Truncate is the "truncate" parameter of the length-rule baseline.
type Truncate struct {
	MaxTokens *int `json:"max_tokens"`
}

// runSFTTruncated is the length-rule baseline: the SFT model's samples cut
// after truncate.max_tokens tokens with a forced EOS (eval.Truncated), KL to
// the SFT model measured exactly as for the trained arms. On summarize a
// preference-trained arm must beat it before its gain is more than "stop
// early" (docs/results/summarize-findings-2026-11-28.md, "Length").
func runSFTTruncated(ctx context.Context, c exp.Cell, art *exp.Artifacts) (exp.Result, error) {
	var tr Truncate
	if err := c.Decode("truncate", &tr); err != nil {
		return exp.Result{}, err
	}
	if tr.MaxTokens == nil || *tr.MaxTokens < 0 {
		return exp.Result{}, fmt.Errorf("cell %s: method %s needs truncate.max_tokens ≥ 0", c.ID, c.Method())
	}
	m, _, t, err := cellSFT(ctx, c, art)
	if err != nil {
		return exp.Result{}, err
	}
	base, err := eval.NewModelPolicy(m, t)
	if err != nil {
		return exp.Result{}, err
	}
	pol := &eval.Truncated{Base: base, MaxTokens: *tr.MaxTokens, Horizon: t.Horizon(), EOS: t.Tokenizer().EOS()}
	res, err := evaluatePolicy(c, t, pol, base)
	if err != nil {
		return exp.Result{}, err
	}
	res.Notes = append(res.Notes, fmt.Sprintf("SFT samples stopped after %d tokens (forced EOS): the length-rule baseline", *tr.MaxTokens))
	return res, nil
}
