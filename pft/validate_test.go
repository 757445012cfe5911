package pft

import (
	"math"
	"strings"
	"testing"
)

// Each algorithm's defaults validate; each bad setting is refused naming it.
func TestConfigValidate(t *testing.T) {
	type validator interface{ Validate() error }
	withDir := func(a *TrainArgs) { a.OutputDir = "out" }
	sft, dpo, rm, odpo := DefaultSFTConfig(), DefaultDPOTrainConfig(), DefaultRewardTrainConfig(), DefaultOnlineDPOConfig()
	rloo, ppo, grpo := DefaultRLOOTrainConfig(), DefaultPPOTrainConfig(), DefaultGRPOTrainConfig()
	for _, a := range []*TrainArgs{&sft.TrainArgs, &dpo.TrainArgs, &rm.TrainArgs, &odpo.TrainArgs, &rloo.TrainArgs, &ppo.TrainArgs, &grpo.TrainArgs} {
		withDir(a)
	}
	for name, v := range map[string]validator{"sft": sft, "dpo": dpo, "rm": rm, "online-dpo": odpo, "rloo": rloo, "ppo": ppo, "grpo": grpo} {
		if err := v.Validate(); err != nil {
			t.Errorf("%s defaults: %v", name, err)
		}
	}
	bad := func(edit func(), v func() validator, want string) {
		t.Helper()
		edit()
		if err := v().Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error containing %q", err, want)
		}
	}
	d := dpo
	bad(func() { d.Beta = 0 }, func() validator { return d }, "beta = 0, want a finite value > 0")
	d = dpo
	bad(func() { d.LossType, d.LabelSmoothing = DPOIPO, 0.1 }, func() validator { return d }, `label_smoothing = 0.1 applies only to loss_type "sigmoid"`)
	d = dpo
	bad(func() { d.MaxPromptLength = -1 }, func() validator { return d }, "max_prompt_length = -1")
	d = dpo
	bad(func() { d.LearningRate = math.NaN() }, func() validator { return d }, "learning_rate must be positive and finite")
	o := odpo
	bad(func() { o.Mode = "twice" }, func() validator { return o }, `mode "twice", want one of`)
	o = odpo
	bad(func() { o.NumGenerations = 1 }, func() validator { return o }, "num_generations = 1, want ≥ 2")
	o = odpo
	bad(func() { o.MaxLength = 8 }, func() validator { return o }, "apply to offline pairs")
	r := rm
	bad(func() { r.EvalFraction = 1 }, func() validator { return r }, "eval_fraction = 1, want in [0, 1)")
	r = rm
	bad(func() { r.Readout = "max" }, func() validator { return r }, `readout "max"`)
	l := rloo
	bad(func() { l.Epsilon = 0 }, func() validator { return l }, "epsilon = 0, want a finite value > 0")
	p := ppo
	bad(func() { p.NumMiniBatches = 0 }, func() validator { return p }, "num_mini_batches = 0, want ≥ 1")
	p = ppo
	bad(func() { p.Gamma = 1.5 }, func() validator { return p }, "gamma")
	g := grpo
	bad(func() { g.ScaleRewards = "sometimes" }, func() validator { return g }, `scale_rewards "sometimes"`)
	g = grpo
	bad(func() { g.MissingEOSPenalty = math.Inf(1) }, func() validator { return g }, "missing_eos_penalty = +Inf, want a finite value")
}
