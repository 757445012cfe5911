package methods

import (
	"context"
	"fmt"
	"path/filepath"

	"roads/ckpt"
	"roads/exp"
	"roads/model"
	"roads/pft"
	"roads/recipe"
	"roads/task"
)

// The preference-based methods. Every policy arm starts from the cell's SFT
// model, keeps it as π_ref (so kl is KL to SFT for every arm), and records
// the standard gold metrics (Evaluate) plus pair_gold_margin; the arms that
// optimise a verifier also record how well the verifier fits held-out pairs
// (rm_val_likelihood, rm_val_accuracy): the paper's online gain exists only
// where the verifier is actually learned.

func init() {
	dpo, _ := pft.Lookup("dpo")
	exp.Register("dpo_2x", offlineMethod(dpo)) // dpo.num_train_epochs doubled by method_params
	for _, name := range []string{"online_dpo_sft", "online_dpo_dpo", "online_dpo_gold", "online_dpo_local", "online_dpo_sft_aug"} {
		exp.Register(name, exp.MethodFunc(runOnlineDPO)) // online.* set by method_params
	}
	exp.Register("rm_eval", exp.MethodFunc(runRMEval))
	exp.Register("bon", exp.MethodFunc(runBoN))
}

// policyBase is what every policy arm needs: the task, the SFT model (π_ref)
// and the training pairs.
type policyBase struct {
	task  *task.Task
	sft   *model.Model
	pairs *PrefData
}

func newPolicyBase(ctx context.Context, c exp.Cell, art *exp.Artifacts) (*policyBase, error) {
	t, err := Task(c)
	if err != nil {
		return nil, err
	}
	arch, err := policyArch(c)
	if err != nil {
		return nil, err
	}
	sft, _, err := SFTModel(ctx, c, art, arch)
	if err != nil {
		return nil, err
	}
	pairs, _, err := TrainPairs(ctx, c, art)
	if err != nil {
		return nil, err
	}
	return &policyBase{task: t, sft: sft, pairs: pairs}, nil
}

// finish evaluates a trained policy against π_ref = SFT and adds its
// training curves.
func (b *policyBase) finish(c exp.Cell, policy *model.Model, runDir string, curveKeys ...string) (exp.Result, error) {
	res, err := Evaluate(c, b.task, policy, b.sft)
	if err != nil {
		return exp.Result{}, err
	}
	if err := addTrainingCurves(&res, runDir, curveKeys...); err != nil {
		return exp.Result{}, err
	}
	return res, nil
}

// offlineMethod is the method of an offline row of pft.Algorithms ("dpo",
// and "dpo_2x" with doubled epochs): the algorithm trained on the cell's
// pairs from its SFT model, evaluated against it, with its training curves.
func offlineMethod(a pft.Algorithm) exp.Method {
	return exp.MethodFunc(func(ctx context.Context, c exp.Cell, art *exp.Artifacts) (exp.Result, error) {
		b, err := newPolicyBase(ctx, c, art)
		if err != nil {
			return exp.Result{}, err
		}
		policy, dir, err := OfflinePolicy(ctx, c, art, a)
		if err != nil {
			return exp.Result{}, err
		}
		res, err := b.finish(c, policy, dir, "loss", "rewards/accuracies")
		if err != nil {
			return exp.Result{}, err
		}
		res.Metrics["pair_gold_margin"] = meanOf(b.pairs.GoldMargins)
		res.Metrics["n_train_pairs"] = float64(len(b.pairs.Pairs))
		return res, nil
	})
}

// verifierFor builds the named verifier from the cell's shared artefacts:
// "global" and "local" (reward models fitted on the training pairs), "dpo"
// (the DPO policy's implicit reward β log π/π_ref) or "gold" (the task).
func verifierFor(ctx context.Context, c exp.Cell, art *exp.Artifacts, name string) (pft.Verifier, error) {
	switch name {
	case pft.RMGlobal, pft.RMLocal:
		v, _, err := RewardModel(ctx, c, art, name)
		return v, err
	case "dpo":
		arch, err := policyArch(c)
		if err != nil {
			return nil, err
		}
		sft, _, err := SFTModel(ctx, c, art, arch)
		if err != nil {
			return nil, err
		}
		policy, _, err := DPOPolicy(ctx, c, art)
		if err != nil {
			return nil, err
		}
		cfg, err := DPOSettings(c)
		if err != nil {
			return nil, err
		}
		return pft.DPOImplicit{Policy: policy, Ref: sft, Beta: cfg.Beta}, nil
	case "gold":
		t, err := Task(c)
		if err != nil {
			return nil, err
		}
		return pft.Gold{Task: t}, nil
	}
	return nil, fmt.Errorf("cell %s: verifier %q: want global, local, dpo or gold", c.ID, name)
}

// addVerifierFit records the verifier's validation Bradley–Terry likelihood
// and accuracy on the cell's held-out validation pairs.
func addVerifierFit(ctx context.Context, c exp.Cell, art *exp.Artifacts, v pft.Verifier, res *exp.Result) error {
	val, _, err := ValPairs(ctx, c, art)
	if err != nil {
		return err
	}
	fit, err := pft.EvaluateVerifier(v, val.Pairs)
	if err != nil {
		return err
	}
	res.Metrics["rm_val_likelihood"] = fit.Likelihood
	res.Metrics["rm_val_log_likelihood"] = fit.LogLikelihood
	res.Metrics["rm_val_accuracy"] = fit.Accuracy
	res.Metrics["rm_val_pairs"] = float64(fit.Pairs)
	return nil
}

// OnlineSettings are the "online" parameters.
type OnlineSettings struct {
	Init             string `json:"init"`     // sft or dpo: the starting policy
	Verifier         string `json:"verifier"` // global, local, dpo or gold
	SamplesPerPrompt int    `json:"samples_per_prompt"`
	ExtraPrompts     int    `json:"extra_prompts"` // unlabelled train prompts added to the pairs' prompts
}

// onlinePrompts are the prompts of the training pairs (the same n_pairs
// prompts the labelled data came from) plus extra unlabelled ones.
func onlinePrompts(c exp.Cell, t *task.Task, extra int) ([][]int32, error) {
	n, err := c.Int("n_pairs")
	if err != nil {
		return nil, err
	}
	prompts := recipe.Prompts(t, task.Train, recipe.StreamPrefs, c.Seed(), n)
	if extra > 0 {
		prompts = append(prompts, recipe.Prompts(t, task.Train, recipe.StreamPrompts, c.Seed(), extra)...)
	}
	return prompts, nil
}

// runOnlineDPO is the paper's one-round online DPO: K samples per prompt from
// the starting policy (SFT or DPO), the verifier's best versus worst as
// pairs, then the shared DPO loop against π_ref = SFT.
func runOnlineDPO(ctx context.Context, c exp.Cell, art *exp.Artifacts) (exp.Result, error) {
	b, err := newPolicyBase(ctx, c, art)
	if err != nil {
		return exp.Result{}, err
	}
	var on OnlineSettings
	if err := c.Decode("online", &on); err != nil {
		return exp.Result{}, err
	}
	if on.SamplesPerPrompt < 2 {
		return exp.Result{}, fmt.Errorf("cell %s: online.samples_per_prompt = %d, want ≥ 2", c.ID, on.SamplesPerPrompt)
	}
	var start *model.Model
	switch on.Init {
	case "sft":
		start = b.sft
	case "dpo":
		if start, _, err = DPOPolicy(ctx, c, art); err != nil {
			return exp.Result{}, err
		}
	default:
		return exp.Result{}, fmt.Errorf("cell %s: online.init %q: want sft or dpo", c.ID, on.Init)
	}
	v, err := verifierFor(ctx, c, art, on.Verifier)
	if err != nil {
		return exp.Result{}, err
	}
	prompts, err := onlinePrompts(c, b.task, on.ExtraPrompts)
	if err != nil {
		return exp.Result{}, err
	}
	dpo, err := DPOSettings(c)
	if err != nil {
		return exp.Result{}, err
	}
	cfg := pft.DefaultOnlineDPOConfig()
	cfg.DPOTrainConfig = dpo
	cfg.NumGenerations = on.SamplesPerPrompt
	// The run is keyed by the cell's resolved parameters (not its
	// experiment), so a killed cell resumes from its last checkpoint and an
	// identical cell of another experiment (h1 and h4 repeat main's online
	// arms) reuses the run instead of training it again.
	dir, err := art.Dir(ctx, "online_dpo", runKey{c.Params}, func(ctx context.Context, dir string) error {
		policy, err := trainable(start, c.Seed())
		if err != nil {
			return err
		}
		run := cfg
		run.OutputDir, run.Context = dir, ctx // a cancelled run stops at the end of its step
		return pft.TrainOnlineDPO(run, policy, b.sft, v, prompts, pft.Env{Tokenizer: b.task.Tokenizer(), Task: b.task})
	})
	if err != nil {
		return exp.Result{}, err
	}
	policy, err := loadFrozen(art, dir)
	if err != nil {
		return exp.Result{}, err
	}
	res, err := b.finish(c, policy, dir, "loss", "rewards/accuracies")
	if err != nil {
		return exp.Result{}, err
	}
	var round map[string]float64
	if err := ckpt.ReadJSON(filepath.Join(dir, "online_round.json"), &round); err != nil {
		return exp.Result{}, err
	}
	for k, name := range map[string]string{"pairs/gold_margin": "pair_gold_margin", "objective/gold_scores": "online_sample_gold", "objective/scores": "online_sample_score"} {
		if x, ok := round[k]; ok {
			res.Metrics[name] = x
		}
	}
	res.Metrics["online_prompts"] = float64(len(prompts))
	if on.Verifier != "gold" {
		if err := addVerifierFit(ctx, c, art, v, &res); err != nil {
			return exp.Result{}, err
		}
	}
	if err := addVerifierPanel(ctx, c, art, policy, &res); err != nil {
		return exp.Result{}, err
	}
	res.Notes = append(res.Notes, fmt.Sprintf("online DPO one round from %s, verifier %s, K=%d, %d prompts, π_ref = SFT", on.Init, on.Verifier, on.SamplesPerPrompt, len(prompts)))
	return res, nil
}

// rlArm runs an RL trainer (RLOO, PPO) against the block's verifier on the
// pairs' prompts, from and regularised to the SFT model.
func rlArm(ctx context.Context, c exp.Cell, art *exp.Artifacts, kind, verifierName string,
	train func(policy, ref *model.Model, v pft.Verifier, prompts [][]int32, env pft.Env, dir string) error) (exp.Result, error) {
	b, err := newPolicyBase(ctx, c, art)
	if err != nil {
		return exp.Result{}, err
	}
	if verifierName == "" {
		verifierName = pft.RMGlobal
	}
	v, err := verifierFor(ctx, c, art, verifierName)
	if err != nil {
		return exp.Result{}, err
	}
	prompts, err := onlinePrompts(c, b.task, 0)
	if err != nil {
		return exp.Result{}, err
	}
	dir, err := art.Dir(ctx, kind, runKey{c.Params}, func(ctx context.Context, dir string) error { // see runOnlineDPO
		policy, err := trainable(b.sft, c.Seed())
		if err != nil {
			return err
		}
		return train(policy, b.sft, v, prompts, pft.Env{Tokenizer: b.task.Tokenizer(), Task: b.task}, dir)
	})
	if err != nil {
		return exp.Result{}, err
	}
	policy, err := loadFrozen(art, dir)
	if err != nil {
		return exp.Result{}, err
	}
	res, err := b.finish(c, policy, dir, "loss", "objective/scores", "objective/kl")
	if err != nil {
		return exp.Result{}, err
	}
	if verifierName != "gold" {
		if err := addVerifierFit(ctx, c, art, v, &res); err != nil {
			return exp.Result{}, err
		}
	}
	res.Metrics["pair_gold_margin"] = meanOf(b.pairs.GoldMargins) // the labelled data the verifier learned from
	return res, nil
}

// onlineMethod is the method of an online row of pft.Algorithms (rloo, ppo,
// grpo): the cell's block named after it decoded into the row's config
// ("verifier" lands in its inputs record), trained in rlArm with the cell's
// seed and output directory.
func onlineMethod(a pft.Algorithm) exp.Method {
	return exp.MethodFunc(func(ctx context.Context, c exp.Cell, art *exp.Artifacts) (exp.Result, error) {
		return runRL(ctx, c, art, a.Method, a.NewOnline())
	})
}

func runRL(ctx context.Context, c exp.Cell, art *exp.Artifacts, name string, run pft.OnlineRun) (exp.Result, error) {
	if err := c.Decode(name, run); err != nil {
		return exp.Result{}, err
	}
	inputs, args := run.Shared()
	verifier := inputs.Verifier
	*inputs = pft.Inputs{Verifier: verifier}
	args.Seed, args.DisableTQDM, args.Context = c.Seed(), true, ctx
	return rlArm(ctx, c, art, name, verifier, func(policy, ref *model.Model, v pft.Verifier, prompts [][]int32, env pft.Env, dir string) error {
		args.OutputDir = dir
		return run.Train(policy, ref, v, prompts, env)
	})
}

// runRMEval is "rm_eval": the "verifier" parameter's validation BT
// likelihood and accuracy on held-out pairs (H5), and its fit on the
// training pairs.
func runRMEval(ctx context.Context, c exp.Cell, art *exp.Artifacts) (exp.Result, error) {
	name, err := c.String("verifier")
	if err != nil {
		return exp.Result{}, err
	}
	v, err := verifierFor(ctx, c, art, name)
	if err != nil {
		return exp.Result{}, err
	}
	res := exp.Result{Metrics: map[string]float64{}}
	if err := addVerifierFit(ctx, c, art, v, &res); err != nil {
		return exp.Result{}, err
	}
	train, _, err := TrainPairs(ctx, c, art)
	if err != nil {
		return exp.Result{}, err
	}
	fit, err := pft.EvaluateVerifier(v, train.Pairs)
	if err != nil {
		return exp.Result{}, err
	}
	res.Metrics["rm_train_likelihood"] = fit.Likelihood
	res.Metrics["rm_train_accuracy"] = fit.Accuracy
	res.Metrics["pair_gold_margin"] = meanOf(train.GoldMargins)
	res.Metrics["n_train_pairs"] = float64(len(train.Pairs))
	if err := addVerifierPanel(ctx, c, art, nil, &res); err != nil { // offline pairs only: there is no final policy
		return exp.Result{}, err
	}
	return res, nil
}

// BoNSettings are the "bon" parameters.
type BoNSettings struct {
	N       []int `json:"n"`
	Prompts int   `json:"prompts"`
}

// runBoN is "bon": the gold reward of the "verifier" parameter's best-of-N
// pick among the SFT model's samples on held-out test prompts, for each N.
func runBoN(ctx context.Context, c exp.Cell, art *exp.Artifacts) (exp.Result, error) {
	name, err := c.String("verifier")
	if err != nil {
		return exp.Result{}, err
	}
	var bs BoNSettings
	if err := c.Decode("bon", &bs); err != nil {
		return exp.Result{}, err
	}
	if len(bs.N) == 0 || bs.Prompts <= 0 {
		return exp.Result{}, fmt.Errorf("cell %s: bon needs a non-empty n list and prompts > 0", c.ID)
	}
	t, err := Task(c)
	if err != nil {
		return exp.Result{}, err
	}
	arch, err := policyArch(c)
	if err != nil {
		return exp.Result{}, err
	}
	sft, _, err := SFTModel(ctx, c, art, arch)
	if err != nil {
		return exp.Result{}, err
	}
	v, err := verifierFor(ctx, c, art, name)
	if err != nil {
		return exp.Result{}, err
	}
	out, err := pft.BestOfNEval(sft, v, t, t.Prompts(task.Test, 0, bs.Prompts), bs.N, recipe.BestOfNSeed(c.Seed()))
	if err != nil {
		return exp.Result{}, err
	}
	res := exp.Result{Metrics: map[string]float64{}, Curves: map[string][]exp.Point{}}
	best := out.Points[0]
	for _, p := range out.Points {
		res.Curves["bon"] = append(res.Curves["bon"], exp.Point{X: float64(p.N), Y: p.Gold})
		if p.N >= best.N {
			best = p
		}
	}
	res.Metrics["bon_gold_max"] = best.Gold
	res.Metrics["bon_gold_max_se"] = best.GoldSE
	res.Metrics["bon_n_max"] = float64(best.N)
	if name != "gold" {
		if err := addVerifierFit(ctx, c, art, v, &res); err != nil {
			return exp.Result{}, err
		}
	}
	return res, nil
}

// runKey is the artefact key of a cell's own training run: the cell's
// resolved parameters, whatever experiment the cell belongs to.
type runKey struct {
	Params exp.Params `json:"params"`
}
