package pft

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"roads/model"
)

// rlToyRun trains a fresh toy policy with train (the gold verifier, KL
// coefficient beta) and checks the two things every policy-gradient trainer
// must do on the toy task:
//
//   - the held-out gold reward rises well above evaluation noise
//     (requireGoldRise), and
//   - KL(π‖π_ref) stays under the bound of the KL-regularised objective
//     J(π) = E_π[r] − β KL(π‖π_ref): a run that improved J over the
//     reference (J(π_ref) = E_ref[r]) has KL ≤ (E_π[r] − E_ref[r])/β. The
//     check allows 0.5 nats and 3 standard errors of the gold estimates for
//     evaluation noise.
func rlToyRun(t *testing.T, beta float64, train func(policy, ref *model.Model, prompts [][]int32, env Env) error) {
	t.Helper()
	task := newToyTask()
	trainPrompts, heldOut := toyPrompts()
	start := newToyPolicy(t, 61)
	before, err := EvaluateGold(start, start, task, heldOut, 64, 5)
	mustNoErr(t, err)
	policy := start.Clone()
	ref := start.Clone()
	ref.Freeze()
	env := Env{Tokenizer: task.tk, Task: task, SamplePrompts: heldOut}
	mustNoErr(t, train(policy, ref, trainPrompts, env))
	after, err := EvaluateGold(policy, start, task, heldOut, 64, 5)
	mustNoErr(t, err)
	bound := (after.Gold-before.Gold+3*(before.GoldSE+after.GoldSE))/beta + 0.5
	t.Logf("gold %.3f → %.3f (se %.3f); KL %.3f nats, bound %.3f", before.Gold, after.Gold, after.GoldSE, after.KL, bound)
	requireGoldRise(t, before, after)
	if after.KL > bound {
		t.Errorf("KL(π‖π_ref) = %.3f nats, above (gain in gold)/β + slack = %.3f", after.KL, bound)
	}
}

// requireMetrics fails unless some metrics line carries each name.
func requireMetrics(t *testing.T, dir string, names ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range readMetrics(t, dir) {
		for k := range m {
			seen[k] = true
		}
	}
	for _, k := range names {
		if !seen[k] {
			t.Errorf("metrics.jsonl lacks %q", k)
		}
	}
}

// rlMetricNames are the names the issue requires of every policy-gradient trainer.
var rlMetricNames = []string{"loss", "objective/kl", "objective/entropy", "objective/non_score_reward", "objective/rlhf_reward",
	"objective/scores", "completions/mean_length", "objective/gold_scores", "val/contain_eos_token", "grad_norm", "learning_rate"}

func rlTestArgs(t *testing.T) TrainArgs {
	a := quietArgs(t)
	a.LearningRate = 3e-3
	a.PerDeviceTrainBatchSize = 32
	a.MaxSteps = 200
	return a
}

func TestRLOORaisesGoldWithBoundedKL(t *testing.T) {
	cfg := DefaultRLOOTrainConfig()
	cfg.TrainArgs = rlTestArgs(t)
	cfg.Beta = 0.5
	rlToyRun(t, cfg.Beta, func(policy, ref *model.Model, prompts [][]int32, env Env) error {
		return TrainRLOO(cfg, policy, ref, Gold{Task: env.Task}, prompts, env)
	})
	requireMetrics(t, cfg.OutputDir, append(rlMetricNames, "reward_std", "frac_reward_zero_std")...)
}

// Same seed, same thread count: identical metrics.jsonl (wall_time aside) and weights.
func TestRLOOIsDeterministic(t *testing.T) {
	task := newToyTask()
	train, _ := toyPrompts()
	var runs [2][]map[string]float64
	var models [2]*model.Model
	for i := range runs {
		cfg := DefaultRLOOTrainConfig()
		cfg.TrainArgs = rlTestArgs(t)
		cfg.MaxSteps = 6
		cfg.LoggingSteps = 1
		models[i] = newToyPolicy(t, 71)
		ref := models[i].Clone()
		ref.Freeze()
		mustNoErr(t, TrainRLOO(cfg, models[i], ref, Gold{Task: task}, train, Env{Task: task}))
		runs[i] = readMetrics(t, cfg.OutputDir)
		for _, m := range runs[i] {
			delete(m, "wall_time")
		}
	}
	if !reflect.DeepEqual(runs[0], runs[1]) {
		t.Errorf("two runs with the same seed logged different metrics:\n%v\n%v", runs[0], runs[1])
	}
	if !sameWeights(models[0], models[1]) {
		t.Error("two runs with the same seed ended with different weights")
	}
}

func TestGRPORaisesGoldWithBoundedKL(t *testing.T) {
	cfg := DefaultGRPOTrainConfig()
	cfg.TrainArgs = rlTestArgs(t)
	cfg.Beta = 0.5
	rlToyRun(t, cfg.Beta, func(policy, ref *model.Model, prompts [][]int32, env Env) error {
		return TrainGRPO(cfg, policy, ref, Gold{Task: env.Task}, prompts, env)
	})
	requireMetrics(t, cfg.OutputDir, append(rlMetricNames, "kl", "entropy", "reward", "reward_std", "frac_reward_zero_std", "clip_ratio/region_mean")...)
}

// The GRPO step's per-token gradient reaches the weights intact: compare with
// finite differences of the GRPO loss (with β > 0, so the k3 term counts).
func TestGRPOStepGradientMatchesFiniteDifferences(t *testing.T) {
	task := newToyTask()
	train, _ := toyPrompts()
	policy := newToyPolicy(t, 81)
	ref := newToyPolicy(t, 82)
	roll, err := collectRollout(policy, ref, Gold{Task: task}, task, train[:4], 4, stepSeed(1, "test", 0))
	mustNoErr(t, err)
	adv, _, err := GRPOAdvantages(roll.scores, 4, ScaleGroup)
	mustNoErr(t, err)
	cfg := GRPOConfig{Beta: 0.3, Epsilon: 0.2, LossType: GRPOLossGRPO}
	batch := model.Batch{Tokens: roll.s.seqs, PromptLen: roll.s.promptLens}
	policy.ZeroGrad()
	out, err := policy.Forward(batch, model.ForwardOptions{})
	mustNoErr(t, err)
	old := raggedTokens(out, out.LogProbs)
	loss, err := GRPOLoss(cfg, GRPOBatch{Logp: old, RefLogp: roll.refLogp, Advantages: adv})
	mustNoErr(t, err)
	mustNoErr(t, policy.Backward(flatGrad(out, loss.Grad), nil))
	data, grad := flatParams(policy)
	checkParamGradient(t, policy, grad, data, func() float64 {
		out, err := policy.Forward(batch, model.ForwardOptions{})
		mustNoErr(t, err)
		l, err := GRPOLoss(cfg, GRPOBatch{Logp: raggedTokens(out, out.LogProbs), OldLogp: old, RefLogp: roll.refLogp, Advantages: adv})
		mustNoErr(t, err)
		return l.Loss
	})
}

func TestPPORaisesGoldWithBoundedKL(t *testing.T) {
	cfg := DefaultPPOTrainConfig()
	cfg.TrainArgs = rlTestArgs(t)
	cfg.PerDeviceTrainBatchSize = 32
	cfg.NumMiniBatches = 2
	cfg.KLCoef = 0.5
	rlToyRun(t, cfg.KLCoef, func(policy, ref *model.Model, prompts [][]int32, env Env) error {
		value, init, err := NewValueModel(policy, Gold{Task: env.Task}, 5)
		mustNoErr(t, err)
		cfg.ValueModelInit = init
		return TrainPPO(cfg, policy, ref, value, Gold{Task: env.Task}, prompts, env)
	})
	requireMetrics(t, cfg.OutputDir, append(rlMetricNames, "policy/clipfrac_avg", "policy/approxkl_avg", "loss/policy_avg", "loss/value_avg",
		"val/clipfrac_avg", "val/ratio", "policy/entropy_avg")...)
	clipped := false
	for _, m := range readMetrics(t, cfg.OutputDir) {
		clipped = clipped || m["policy/clipfrac_avg"] > 0
	}
	if !clipped {
		t.Error("policy/clipfrac_avg is 0 throughout: the later PPO epochs never moved the ratio out of the trust region")
	}
}

// The value path: dL/dV reaches the value model's weights through the
// one-token shift between states and scores.
func TestPPOValueGradientMatchesFiniteDifferences(t *testing.T) {
	task := newToyTask()
	train, _ := toyPrompts()
	policy := newToyPolicy(t, 91)
	value, init, err := NewValueModel(policy, Gold{Task: task}, 92)
	mustNoErr(t, err)
	if init != "policy" {
		t.Errorf("value model initialised from %q, want policy (the verifier is not a global RM)", init)
	}
	roll, err := collectRollout(policy, policy, Gold{Task: task}, task, train[:6], 1, stepSeed(1, "test", 0))
	mustNoErr(t, err)
	batch := model.Batch{Tokens: roll.s.seqs, PromptLen: roll.s.promptLens}
	logp, err := tokenLogProbs(policy, roll.s.seqs, roll.s.promptLens)
	mustNoErr(t, err)
	cfg := DefaultPPOConfig()
	cfg.VFCoef = 1
	cfg.ClipRangeValue = 100 // no value clipping: the plain squared error
	returns := zerosLike(logp)
	for i := range returns {
		for j := range returns[i] {
			returns[i][j] = float64(i+j) / 4
		}
	}
	lossOf := func(values [][]float64) float64 {
		l, err := PPOLoss(cfg, PPOBatch{Logp: logp, Values: values, OldLogp: logp, OldValues: values, Advantages: zerosLike(logp), Returns: returns})
		mustNoErr(t, err)
		return l.Loss
	}
	value.ZeroGrad()
	out, err := value.Forward(batch, model.ForwardOptions{})
	mustNoErr(t, err)
	values := valueRows(out)
	l, err := PPOLoss(cfg, PPOBatch{Logp: logp, Values: values, OldLogp: logp, OldValues: values, Advantages: zerosLike(logp), Returns: returns})
	mustNoErr(t, err)
	mustNoErr(t, value.BackwardScalar(nil, valueGradFlat(out, l.GradValues)))
	data, grad := flatParams(value)
	checkParamGradient(t, value, grad, data, func() float64 {
		out, err := value.Forward(batch, model.ForwardOptions{})
		mustNoErr(t, err)
		return lossOf(valueRows(out))
	})
}

// An interrupted PPO run resumes from its checkpoint — policy, value model
// and both optimisers — and ends bit-identical to an uninterrupted one.
func TestPPOResumeIsBitIdentical(t *testing.T) {
	task := newToyTask()
	train, _ := toyPrompts()
	run := func(dir string, seed uint64) (*model.Model, *model.Model, error) {
		cfg := DefaultPPOTrainConfig()
		cfg.TrainArgs = rlTestArgs(t)
		cfg.OutputDir = dir
		cfg.MaxSteps = 6
		cfg.SaveSteps = 3
		cfg.LoggingSteps = 1
		cfg.PerDeviceTrainBatchSize = 8
		cfg.NumMiniBatches = 2
		policy := newToyPolicy(t, seed)
		ref := newToyPolicy(t, 93)
		ref.Freeze()
		value, _, err := NewValueModel(policy, Gold{Task: task}, seed+1)
		mustNoErr(t, err)
		return policy, value, TrainPPO(cfg, policy, ref, value, Gold{Task: task}, train, Env{Task: task})
	}
	full := t.TempDir()
	p1, v1, err := run(full, 93)
	mustNoErr(t, err)
	dir := t.TempDir()
	stopAfter = 5
	_, _, err = run(dir, 93)
	stopAfter = 0
	wantErr(t, err, "interrupted")
	scrambleAfterFingerprint(t, 7) // other weights after the fingerprint: everything must come from checkpoint-3
	p2, v2, err := run(dir, 93)
	mustNoErr(t, err)
	if !sameWeights(p1, p2) || !sameWeights(v1, v2) {
		t.Fatal("resumed PPO run's policy or value weights differ from the uninterrupted run's")
	}
	a, b := readMetrics(t, full), readMetrics(t, dir)
	if len(a) != len(b) {
		t.Fatalf("%d metrics lines uninterrupted, %d resumed", len(a), len(b))
	}
	for i := range a {
		if a[i]["loss"] != b[i]["loss"] || a[i]["objective/kl"] != b[i]["objective/kl"] {
			t.Errorf("line %d: %v vs %v", i, a[i], b[i])
		}
	}
}

// A NaN gradient stops the run naming the step and the tensor — here one of
// the value model's, which the guard covers as well as the policy's.
func TestPPOStopsOnNonFiniteValueGradient(t *testing.T) {
	task := newToyTask()
	train, _ := toyPrompts()
	cfg := DefaultPPOTrainConfig()
	cfg.TrainArgs = rlTestArgs(t)
	cfg.MaxSteps = 4
	cfg.SaveSteps = 2
	cfg.PerDeviceTrainBatchSize = 8
	policy := newToyPolicy(t, 95)
	ref := policy.Clone()
	ref.Freeze()
	value, _, err := NewValueModel(policy, Gold{Task: task}, 96)
	mustNoErr(t, err)
	poisonValueAt = 3
	err = TrainPPO(cfg, policy, ref, value, Gold{Task: task}, train, Env{Task: task})
	poisonValueAt = 0
	wantErr(t, err, "step 3")
	wantErr(t, err, "value model wte.weight")
	if _, err := os.Stat(filepath.Join(cfg.OutputDir, "checkpoint-2", "value_model.safetensors")); err != nil {
		t.Errorf("last good checkpoint missing: %v", err)
	}
}
