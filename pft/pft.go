// Package pft holds the preference fine-tuning algorithms of roads: SFT, DPO/IPO,
// Bradley–Terry reward models, online DPO, RLOO, PPO, GRPO and Best-of-N, one file
// per algorithm (sft.go, dpo.go, rm.go, onlinedpo.go, rloo.go, ppo.go, grpo.go,
// bon.go, kl.go), each stating its loss as an equation next to the code.
//
// Two layers. The loss/advantage layer: pure functions from what a transformer
// forward pass yields to (loss value, upstream gradients, metrics); they know
// nothing about the model. The training loops (TrainSFT, TrainDPO,
// TrainRewardModel, TrainOnlineDPO, TrainRLOO, TrainGRPO, TrainPPO, and
// BestOfNEval), each at the end of its algorithm's file, feed them and hand
// the gradients to the model's backward pass; trainer.go keeps their shared
// bookkeeping and rollout.go their shared sampling and scoring.
//
// Every loop takes the same TrainArgs (TRL names) and writes a run directory:
// training_config.json (the resolved config, with where its inputs came from),
// metrics.jsonl (one object per logging step: step, wall_time, loss,
// grad_norm, learning_rate and the algorithm's TRL-named metrics; evaluation
// lines carry eval_ names), checkpoint-N/ (resumable bit-identically),
// samples/step-N.jsonl (gold-scored sample completions at each checkpoint,
// when the run has a task), ref_model/ (the frozen reference of a policy
// run) and the final model files at the top, so the directory loads as a
// model — and, through LoadVerifier, as a verifier. A non-finite loss or
// gradient stops a run naming the step and the tensor; the last checkpoint
// stays.
//
// KL placement (kl.go): k1 in the reward (RLOO, PPO, the logged objective/kl
// of every online trainer), k3 in the loss (GRPO). DPO-family β and every
// online trainer's KL coefficient default to the paper's 0.05.
//
// Symbols (the paper's, §1.2): x (or s_0) is the prompt, y = (a_0, …, a_{T−1}) a
// completion, s_t = (x, a_0, …, a_{t−1}) the state before token t, π the policy
// being trained, π_ref the frozen reference (usually the SFT model), π_old the
// policy that sampled the rollout, r(x, y) a verifier score, β the KL coefficient.
//
// Layout conventions shared by every function:
//
//   - A per-sequence quantity is a []float64 indexed by example i; log π(y|x)
//     always means the SUM over the completion's tokens, Σ_t log π(a_t|s_t).
//   - A per-token quantity is a ragged [][]float64: row i holds the T_i completion
//     tokens of sequence i (prompt and padding excluded). Every row must be
//     non-empty; gradients come back with the same shape as the input they
//     differentiate.
//   - Grouped samples (RLOO, GRPO, online DPO) are prompt-major: the K samples
//     of prompt p sit at indices p·K … p·K+K−1.
//   - Loss arithmetic is float64. Gradients are d loss / d input for the loss as
//     returned (batch means included), ready to be used as upstream gradients.
//   - Metrics use TRL's logged names (rewards/chosen, objective/kl, …) so curves
//     compare with TRL runs; names TRL does not have are documented where made.
package pft

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Metrics maps TRL-style metric names to values. A metric that is undefined for
// a batch (e.g. a mean over zero selected pairs) is left out rather than NaN,
// so every value can be written to JSON.
type Metrics map[string]float64

// String lists the metrics sorted by name, for logs and test failures.
func (m Metrics) String() string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%.6g", k, m[k])
	}
	return b.String()
}

// PairLoss is the result of a loss over (chosen, rejected) pairs: DPO/IPO on
// sequence log-probs, Bradley–Terry on reward-model scores.
type PairLoss struct {
	Loss         float64
	GradChosen   []float64 // d Loss / d input for y⁺, per example
	GradRejected []float64 // d Loss / d input for y⁻, per example
	Metrics      Metrics
}

// SequenceLoss is a loss over per-sequence inputs (RLOO's sequence log-probs).
type SequenceLoss struct {
	Loss    float64
	Grad    []float64 // d Loss / d log π(y_i|x_i)
	Metrics Metrics
}

// TokenLoss is a loss over per-token inputs (SFT, GRPO).
type TokenLoss struct {
	Loss    float64
	Grad    [][]float64 // d Loss / d log π(a_t|s_t), same shape as the input
	Metrics Metrics
}

// sigmoid is σ(x) = 1/(1+e^{−x}), evaluated without overflow for large |x|.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// logSigmoid is log σ(x) = −softplus(−x), accurate for large |x| of either sign.
func logSigmoid(x float64) float64 {
	return -(math.Max(-x, 0) + math.Log1p(math.Exp(-math.Abs(x))))
}

// mean is the arithmetic mean, summed in index order (deterministic).
func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// sampleStd is the Bessel-corrected standard deviation (divisor n−1), which is
// torch.std's default and therefore what TRL's advantage code uses. It is 0 for
// fewer than two values.
func sampleStd(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m := mean(xs)
	ss := 0.0
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(xs)-1))
}

// checkFinite rejects NaN and ±Inf in a per-sequence input, naming it.
func checkFinite(what, name string, xs []float64) error {
	for i, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s: %s[%d] = %v, want a finite number", what, name, i, x)
		}
	}
	return nil
}

// checkSeq checks a per-sequence input has length n and finite entries.
func checkSeq(what, name string, xs []float64, n int) error {
	if len(xs) != n {
		return fmt.Errorf("%s: len(%s) = %d, want %d", what, name, len(xs), n)
	}
	return checkFinite(what, name, xs)
}

// checkTokens checks a per-token input: n non-empty rows of finite values and,
// when like is non-nil, the same row lengths as like.
func checkTokens(what, name string, xs [][]float64, n int, like [][]float64) error {
	if len(xs) != n {
		return fmt.Errorf("%s: len(%s) = %d sequences, want %d", what, name, len(xs), n)
	}
	for i, row := range xs {
		if len(row) == 0 {
			return fmt.Errorf("%s: %s[%d] has no tokens; every completion needs at least one", what, name, i)
		}
		if like != nil && len(row) != len(like[i]) {
			return fmt.Errorf("%s: len(%s[%d]) = %d tokens, want %d", what, name, i, len(row), len(like[i]))
		}
		for t, x := range row {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("%s: %s[%d][%d] = %v, want a finite number", what, name, i, t, x)
			}
		}
	}
	return nil
}

// countTokens is Σ_i T_i.
func countTokens(xs [][]float64) int {
	n := 0
	for _, row := range xs {
		n += len(row)
	}
	return n
}

// zerosLike allocates a ragged slice with the shape of xs.
func zerosLike(xs [][]float64) [][]float64 {
	out := make([][]float64, len(xs))
	for i, row := range xs {
		out[i] = make([]float64, len(row))
	}
	return out
}

// sumRow is Σ_t row[t] in index order.
func sumRow(row []float64) float64 {
	s := 0.0
	for _, x := range row {
		s += x
	}
	return s
}

// clipState says which side of the trust region clipped a surrogate term.
type clipState int

const (
	notClipped  clipState = iota
	clippedLow            // A < 0 and ρ < 1−ε_low: the clipped branch is the minimum
	clippedHigh           // A > 0 and ρ > 1+ε_high
)

// clippedSurrogate is PPO's clipped objective term for one log-ratio
// logRatio = log π − log π_old and advantage A:
//
//	s = min(ρ A, clip(ρ, 1−ε_low, 1+ε_high) A),   ρ = e^{logRatio}
//
// with ds/dlogRatio = ρ A where the unclipped branch is the minimum and 0 where
// the clipped (constant) branch is strictly smaller. Where both branches are
// equal (inside the trust region or exactly on its edge) the gradient is ρ A,
// as torch's min/clamp give.
func clippedSurrogate(logRatio, A, epsLow, epsHigh float64) (s, ds float64, clip clipState) {
	rho := math.Exp(logRatio)
	switch {
	case A > 0 && rho > 1+epsHigh:
		return (1 + epsHigh) * A, 0, clippedHigh
	case A < 0 && rho < 1-epsLow:
		return (1 - epsLow) * A, 0, clippedLow
	}
	return rho * A, rho * A, notClipped
}

// applyMissingEOSPenalty returns scores with penalty subtracted wherever the
// completion did not end with EOS (TRL's missing_eos_penalty).
func applyMissingEOSPenalty(what string, scores []float64, containsEOS []bool, penalty float64) ([]float64, error) {
	out := append([]float64(nil), scores...)
	if penalty == 0 {
		return out, nil
	}
	if math.IsNaN(penalty) || math.IsInf(penalty, 0) {
		return nil, fmt.Errorf("%s: missing_eos_penalty = %v, want a finite number", what, penalty)
	}
	if len(containsEOS) != len(scores) {
		return nil, fmt.Errorf("%s: missing_eos_penalty needs ContainsEOS: len = %d, want %d", what, len(containsEOS), len(scores))
	}
	for j, eos := range containsEOS {
		if !eos {
			out[j] -= penalty
		}
	}
	return out, nil
}

// allEqual reports whether every value equals the first (a zero-std group).
func allEqual(xs []float64) bool {
	for _, x := range xs {
		if x != xs[0] {
			return false
		}
	}
	return true
}
