package pft

import (
	"fmt"
	"math"
)

// KL estimators (Schulman, "Approximating KL Divergence", 2020).
//
// For a token a_t ~ π(·|s_t), with log-ratio ℓ = log π(a_t|s_t) − log π_ref(a_t|s_t)
// and ratio r = π_ref/π = e^{−ℓ}, three single-sample estimators of
// KL(π‖π_ref) = E_π[ℓ] are
//
//	k1 = ℓ                       unbiased, can be negative, high variance
//	k2 = ½ ℓ²                    biased (its gradient is the true KL's at π = π_ref), ≥ 0
//	k3 = (r − 1) − log r         unbiased (E_π[r] = 1), ≥ 0 (since log r ≤ r − 1), low variance
//
// A per-sequence estimate sums the per-token ones: for the deterministic token MDP
// KL(P_π‖P_πref) over completions equals E_π[Σ_t KL_t] (chain rule), and Σ_t k1_t
// is the exact sequence log-ratio log π(y|x) − log π_ref(y|x).
//
// Which goes where (TRL's conventions, and OpenRLHF's warning in
// openrlhf/cli/train_ppo_ray.py):
//
//   - KL in the reward (RLOO, PPO, online DPO's objective/kl): k1. RLOO subtracts
//     β·Σ_t k1_t from each sequence's score; PPO adds −β·k1_t as a per-token
//     non-score reward. The penalty is computed from the sampling policy and
//     treated as a constant, so its gradient reaches π only through the policy
//     gradient — the REINFORCE-with-KL-reward estimator that is unbiased for the
//     KL-regularised objective.
//   - KL in the loss (GRPO, DeepSeekMath eq. 4): k3 per token, differentiated
//     directly. Its gradient d k3 / d log π = 1 − r is what KLEstimator.Token
//     returns, and GRPO adds β·k3_t to each token's loss.
//
// Known caveat, documented rather than patched: differentiating k3 on samples from
// π_old ≠ π gives a biased gradient of KL(π‖π_ref) (TRL's use_bias_correction_kl,
// PR #6503, multiplies by the importance ratio); with one update per rollout
// (num_iterations = 1, TRL's default) π = π_old and the two agree.
type KLEstimator int

const (
	K1 KLEstimator = iota + 1 // ℓ
	K2                        // ½ ℓ²
	K3                        // (r − 1) − log r, r = π_ref/π
)

// ParseKLEstimator reads TRL's kl_estimator spelling: "k1", "k2" or "k3".
func ParseKLEstimator(s string) (KLEstimator, error) {
	switch s {
	case "k1":
		return K1, nil
	case "k2":
		return K2, nil
	case "k3":
		return K3, nil
	}
	return 0, fmt.Errorf("kl_estimator %q: want k1, k2 or k3", s)
}

func (e KLEstimator) String() string {
	switch e {
	case K1:
		return "k1"
	case K2:
		return "k2"
	case K3:
		return "k3"
	}
	return fmt.Sprintf("KLEstimator(%d)", int(e))
}

// Token returns the estimator's value for one token and its derivative with
// respect to log π(a_t|s_t) (log π_ref held fixed):
//
//	k1: ℓ,              d/d log π = 1
//	k2: ½ ℓ²,           d/d log π = ℓ
//	k3: e^{−ℓ} − 1 + ℓ, d/d log π = 1 − e^{−ℓ} = 1 − r
//
// An unknown estimator returns NaN, which every loss here rejects loudly.
func (e KLEstimator) Token(logp, refLogp float64) (kl, dKLdLogp float64) {
	l := logp - refLogp
	switch e {
	case K1:
		return l, 1
	case K2:
		return 0.5 * l * l, l
	case K3:
		// r = e^{−ℓ}: (r − 1) − log r = expm1(−ℓ) + ℓ; expm1 keeps precision when ℓ ≈ 0.
		return math.Expm1(-l) + l, -math.Expm1(-l)
	}
	return math.NaN(), math.NaN()
}

// Sequence returns Σ_t k(a_t) over one completion's tokens; refLogp must be at
// least as long as logp.
func (e KLEstimator) Sequence(logp, refLogp []float64) float64 {
	s := 0.0
	for t := range logp {
		kl, _ := e.Token(logp[t], refLogp[t])
		s += kl
	}
	return s
}
