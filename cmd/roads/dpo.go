package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"roads/chat"
	"roads/ckpt"
	"roads/data"
	"roads/eval"
	"roads/model"
	"roads/pft"
	"roads/task"
	"roads/tok"
)

func init() {
	register("dpo", "offline DPO/IPO on preference JSONL against a frozen reference", runDPO)
}

func runDPO(args []string, stdout io.Writer) error {
	cfg := pft.DefaultDPOTrainConfig()
	if err := loadConfigFile(configFlagValue(args), &cfg); err != nil {
		return err
	}
	fs := newFlags("dpo")
	addConfigFlags(fs, &cfg)
	fs.StringVar(&cfg.Dataset, "data", cfg.Dataset, "preference JSONL (prompt, chosen, rejected)")
	fs.StringVar(&cfg.Model, "model", cfg.Model, "model directory to train (normally the SFT model)")
	fs.StringVar(&cfg.RefModel, "ref_model", cfg.RefModel, "reference model directory (default: --model)")
	fs.StringVar(&cfg.Task, "task", cfg.Task, pftTaskHelp+" (optional: gold-scored samples and --eval_prompts)")
	ev := addEvalFlags(fs)
	var keys data.Keys
	keys.AddFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil { // every setting, before any model or data is read
		return fmt.Errorf("dpo: %w", err)
	}
	if cfg.Dataset == "" || cfg.Model == "" {
		return errors.New("--data and --model are required")
	}
	policy, ref, tk, err := loadPolicyAndRef(cfg.Model, cfg.RefModel)
	if err != nil {
		return err
	}
	if cfg.RefModel == "" {
		cfg.RefModel = cfg.Model
	}
	t, err := resolveTask(&cfg.Inputs)
	if err != nil {
		return err
	}
	if tk == nil {
		if t == nil {
			return fmt.Errorf("%s has no tokenizer.json; pass --task to use the task's tokenizer", cfg.Model)
		}
		tk = t.Tokenizer()
	}
	pairs, err := readPairs(cfg.Dataset, keys, tk)
	if err != nil {
		return err
	}
	env := pft.Env{Tokenizer: tk, Progress: os.Stderr}
	setTaskEnv(&env, t, ev.samplePrompts)
	slog.Info("dpo", "pairs", len(pairs), "beta", cfg.Beta, "loss_type", cfg.LossType, "output_dir", cfg.OutputDir)
	if err := pft.TrainDPO(cfg, policy, ref, pairs, env); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dpo: trained on %d pairs; model written to %s\n", len(pairs), cfg.OutputDir)
	return ev.report(stdout, cfg.OutputDir, policy, ref, t, cfg.Seed)
}

// ---------------------------------------------------------------------------
// Helpers shared by the preference fine-tuning commands (dpo, rm, online-dpo,
// rloo, ppo, grpo, bon).

// loadModel reads a model directory for training.
func loadModel(dir string) (*model.Model, tok.Tokenizer, error) {
	m, tk, err := model.LoadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("model %s: %w", dir, err)
	}
	return m, tk, nil
}

// loadPolicyAndRef loads the policy to train and its frozen reference
// (refDir, or a frozen copy of the policy when refDir is empty).
func loadPolicyAndRef(dir, refDir string) (policy, ref *model.Model, tk tok.Tokenizer, err error) {
	if policy, tk, err = loadModel(dir); err != nil {
		return nil, nil, nil, err
	}
	if policy.Config().Head != "lm" {
		return nil, nil, nil, fmt.Errorf("model %s has a %q head; a policy needs an LM head", dir, policy.Config().Head)
	}
	if refDir == "" || refDir == dir {
		ref = policy.Clone()
	} else if ref, _, err = loadModel(refDir); err != nil {
		return nil, nil, nil, err
	}
	ref.Freeze()
	return policy, ref, tk, nil
}

// resolveTask loads in.Task (nil when empty) and records its resolved config.
func resolveTask(in *pft.Inputs) (*task.Task, error) {
	if in.Task == "" {
		return nil, nil
	}
	t, err := task.Load(in.Task)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(t.Config())
	if err != nil {
		return nil, err
	}
	in.TaskConfig = raw
	return t, nil
}

// setTaskEnv sets env.Task (only for a non-nil task, so the interface stays
// nil otherwise) and the prompts sampled at every checkpoint: the first n of
// the task's test split, stream 0.
func setTaskEnv(env *pft.Env, t *task.Task, n int) {
	if t == nil {
		return
	}
	env.Task = t
	if n > 0 {
		env.SamplePrompts = t.Prompts(task.Test, 0, n)
	}
}

// readPairs reads preference JSONL and tokenises it (completions without EOS).
func readPairs(path string, keys data.Keys, tk tok.Tokenizer) ([]pft.PreferencePair, error) {
	rows, err := readPreferenceRows(path, keys, tk)
	if err != nil {
		return nil, err
	}
	pairs := make([]pft.PreferencePair, len(rows))
	var identical []int // 1-based rows whose two sides are the same tokens
	for i, r := range rows {
		var p pft.PreferencePair
		for _, f := range []struct {
			name string
			text string
			dst  *[]int32
		}{{"prompt", r.Prompt, &p.Prompt}, {"chosen", r.Chosen, &p.Chosen}, {"rejected", r.Rejected, &p.Rejected}} {
			if *f.dst, err = tk.Encode(f.text); err != nil {
				return nil, fmt.Errorf("%s: row %d: field %q: %w", path, i+1, f.name, err)
			}
		}
		pairs[i] = p
		if slices.Equal(p.Chosen, p.Rejected) {
			identical = append(identical, i+1)
		}
	}
	switch {
	case len(identical) == len(pairs):
		return nil, fmt.Errorf("%s: every one of the %d rows has chosen == rejected (after tokenisation): a preference loss learns nothing from them", path, len(pairs))
	case len(identical) > 0:
		slog.Warn("preference rows with chosen == rejected carry no preference", "file", path, "rows", len(identical), "of", len(pairs), "first_line", identical[0])
	}
	return pairs, nil
}

// readPreferenceRows reads preference JSONL in TRL's standard format, or in
// its conversational format (message lists), which the tokenizer's chat
// template (ChatML when it has none) turns into text.
func readPreferenceRows(path string, keys data.Keys, tk tok.Tokenizer) ([]data.Preference, error) {
	rows, conv, err := data.ReadAnyPreferences(path, keys)
	if err != nil || conv == nil {
		return rows, err
	}
	tpl, err := chatTemplateOf(tk)
	if err != nil {
		return nil, err
	}
	rows = make([]data.Preference, len(conv))
	for i, c := range conv {
		if rows[i], err = tpl.Preference(c); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// chatTemplateOf is the tokenizer's chat template, or ChatML.
func chatTemplateOf(tk tok.Tokenizer) (*chat.Template, error) {
	src := ""
	if ct, ok := tk.(tok.ChatTemplater); ok {
		src = ct.ChatTemplate()
	}
	return chat.New(src)
}

// evalFlags are the optional gold evaluation every policy trainer offers.
type evalFlags struct {
	samplePrompts int
	evalPrompts   int
	evalSamples   int
}

func addEvalFlags(fs *flag.FlagSet) *evalFlags {
	e := &evalFlags{}
	fs.IntVar(&e.samplePrompts, "num_sample_prompts", 16, "test prompts sampled (with gold reward) into samples/step-N.jsonl at each checkpoint (needs --task)")
	fs.IntVar(&e.evalPrompts, "eval_prompts", 0, "after training, gold reward and KL on this many test prompts, written to gold_eval.json (needs --task; 0: skip)")
	fs.IntVar(&e.evalSamples, "eval_samples", 4, "samples per prompt for --eval_prompts")
	return e
}

// report runs the --eval_prompts gold evaluation of the reference and the
// trained policy with eval.Evaluate, the one gold evaluator roads has (the
// same estimator as `roads eval` and the experiments), and writes
// gold_eval.json: {"prompts", "samples_per_prompt", "reference": eval report,
// "policy": eval report with KL to the reference}.
func (e *evalFlags) report(stdout io.Writer, dir string, policy, ref *model.Model, t *task.Task, seed uint64) error {
	if e.evalPrompts <= 0 || t == nil {
		return nil
	}
	refPolicy, err := eval.NewModelPolicy(ref, t)
	if err != nil {
		return fmt.Errorf("--eval_prompts: reference: %w", err)
	}
	trained, err := eval.NewModelPolicy(policy, t)
	if err != nil {
		return fmt.Errorf("--eval_prompts: policy: %w", err)
	}
	opt := eval.Options{Prompts: t.Prompts(task.Test, 0, e.evalPrompts), SamplesPerPrompt: e.evalSamples, Seed: seed}
	before, err := eval.Evaluate(t, refPolicy, nil, opt)
	if err != nil {
		return fmt.Errorf("--eval_prompts: reference: %w", err)
	}
	after, err := eval.Evaluate(t, trained, refPolicy, opt)
	if err != nil {
		return fmt.Errorf("--eval_prompts: policy: %w", err)
	}
	res := map[string]any{"prompts": e.evalPrompts, "samples_per_prompt": e.evalSamples, "reference": before, "policy": after}
	if err := ckpt.WriteJSON(filepath.Join(dir, "gold_eval.json"), res); err != nil {
		return err
	}
	kl := "no KL"
	if after.KL != nil {
		kl = fmt.Sprintf("KL(π‖π_ref) %.4f nats (k1)", after.KL.Mean)
	}
	fmt.Fprintf(stdout, "gold reward on %d test prompts: reference %s → policy %s; win rate vs the task's reference %.3f → %.3f; %s\n",
		e.evalPrompts, before.Gold, after.Gold, before.WinRate.Mean, after.WinRate.Mean, kl)
	return nil
}

const pftTaskHelp = "task preset, preset with overrides (summarize,horizon=8) or task config .json"
