package pft

import (
	"fmt"
	"math"
	"slices"
)

// One Validate per algorithm's config: the CLI calls it right after parsing
// its flags, before any model or data is read, and each error names the
// setting (TRL's name) and what it wants. The trainers check again (their
// loss functions are public and validate their own arguments).

// checks keeps the first failed check.
type checks struct{ err error }

func (c *checks) want(ok bool, format string, a ...any) {
	if c.err == nil && !ok {
		c.err = fmt.Errorf(format, a...)
	}
}

func (c *checks) atLeast(name string, v, lo float64) {
	c.want(!math.IsNaN(v) && !math.IsInf(v, 0) && v >= lo, "%s = %v, want a finite value ≥ %v", name, v, lo)
}

func (c *checks) finite(name string, v float64) {
	c.want(!math.IsNaN(v) && !math.IsInf(v, 0), "%s = %v, want a finite value", name, v)
}

func (c *checks) positive(name string, v float64) {
	c.want(!math.IsInf(v, 0) && v > 0, "%s = %v, want a finite value > 0", name, v)
}

func (c *checks) oneOf(name, v string, allowed ...string) {
	c.want(slices.Contains(allowed, v), "%s %q, want one of %q", name, v, allowed)
}

func (c *checks) truncation(t Truncation) {
	c.want(t.MaxLength >= 0, "max_length = %d, want 0 (no truncation) or a positive length", t.MaxLength)
	c.want(t.MaxPromptLength >= 0, "max_prompt_length = %d, want 0 (no truncation) or a positive length", t.MaxPromptLength)
}

// groupSampling checks the settings RLOO and GRPO share: k ≥ 2 samples a
// prompt, a KL coefficient, a ratio clip and the missing-EOS penalty.
func (c *checks) groupSampling(numGenerations int, beta, epsilon, missingEOS float64) {
	c.want(numGenerations >= 2, "num_generations = %d, want ≥ 2", numGenerations)
	c.atLeast("beta", beta, 0)
	c.positive("epsilon", epsilon)
	c.finite("missing_eos_penalty", missingEOS)
}

// Validate checks the SFT settings.
func (c SFTConfig) Validate() error { return c.TrainArgs.Validate() }

// Validate checks the DPO settings.
func (c DPOTrainConfig) Validate() error {
	if err := c.TrainArgs.Validate(); err != nil {
		return err
	}
	var k checks
	k.positive("beta", c.Beta)
	k.oneOf("loss_type", orDefault(c.LossType, DPOSigmoid), DPOSigmoid, DPOIPO)
	if orDefault(c.LossType, DPOSigmoid) == DPOSigmoid {
		k.want(c.LabelSmoothing >= 0 && c.LabelSmoothing < 0.5, "label_smoothing = %v, want in [0, 0.5)", c.LabelSmoothing)
	} else {
		k.want(c.LabelSmoothing == 0, "label_smoothing = %v applies only to loss_type %q", c.LabelSmoothing, DPOSigmoid)
	}
	k.truncation(c.Truncation)
	return k.err
}

// Validate checks the online DPO settings.
func (c OnlineDPOConfig) Validate() error {
	if err := c.DPOTrainConfig.Validate(); err != nil {
		return err
	}
	var k checks
	k.oneOf("mode", c.Mode, OnlineOneRound, OnlineIterative)
	k.want(c.NumGenerations == 0 || c.NumGenerations >= 2, "num_generations = %d, want ≥ 2 (or 0 for the mode's default)", c.NumGenerations)
	k.oneOf("pair_rule", c.PairRule, PairBestWorst, PairBestRandom)
	k.atLeast("min_score_margin", c.MinScoreMargin, 0)
	k.finite("missing_eos_penalty", c.MissingEOSPenalty)
	k.want(c.MaxLength == 0 && c.MaxPromptLength == 0, "max_length / max_prompt_length apply to offline pairs; online samples fit the context by construction")
	return k.err
}

// Validate checks the reward-model settings.
func (c RewardTrainConfig) Validate() error {
	if err := c.TrainArgs.Validate(); err != nil {
		return err
	}
	var k checks
	k.oneOf("kind", c.Kind, RMGlobal, RMLocal)
	if c.Kind == RMGlobal {
		k.oneOf("readout", c.Readout, "last", "sum", "mean")
	}
	k.atLeast("center_rewards_coefficient", c.CenterRewardsCoefficient, 0)
	k.want(c.EvalFraction >= 0 && c.EvalFraction < 1, "eval_fraction = %v, want in [0, 1)", c.EvalFraction)
	k.want(c.EvalSteps >= 0, "eval_steps = %d, want ≥ 0", c.EvalSteps)
	k.want(c.EarlyStoppingPatience >= 0, "early_stopping_patience = %d, want ≥ 0", c.EarlyStoppingPatience)
	k.truncation(c.Truncation)
	return k.err
}

// Validate checks the RLOO settings.
func (c RLOOTrainConfig) Validate() error {
	if err := c.TrainArgs.Validate(); err != nil {
		return err
	}
	var k checks
	k.groupSampling(c.NumGenerations, c.Beta, c.Epsilon, c.MissingEOSPenalty)
	return k.err
}

// Validate checks the PPO settings.
func (c PPOTrainConfig) Validate() error {
	if err := c.TrainArgs.Validate(); err != nil {
		return err
	}
	if err := c.PPOConfig.validate("ppo"); err != nil {
		return err
	}
	var k checks
	k.want(c.NumPPOEpochs >= 1, "num_ppo_epochs = %d, want ≥ 1", c.NumPPOEpochs)
	k.want(c.NumMiniBatches >= 1, "num_mini_batches = %d, want ≥ 1", c.NumMiniBatches)
	k.finite("missing_eos_penalty", c.MissingEOSPenalty)
	return k.err
}

// Validate checks the GRPO settings.
func (c GRPOTrainConfig) Validate() error {
	if err := c.TrainArgs.Validate(); err != nil {
		return err
	}
	var k checks
	k.groupSampling(c.NumGenerations, c.Beta, c.Epsilon, c.MissingEOSPenalty)
	k.atLeast("epsilon_high", c.EpsilonHigh, 0)
	k.oneOf("loss_type", orDefault(c.LossType, GRPOLossDAPO), GRPOLossDAPO, GRPOLossBNPO, GRPOLossGRPO, GRPOLossDrGRPO)
	k.oneOf("scale_rewards", orDefault(c.ScaleRewards, ScaleGroup), ScaleGroup, ScaleBatch, ScaleNone)
	return k.err
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
