package pft

import (
	"fmt"
	"math"
)

// Bradley–Terry reward modelling (paper §1.2–1.3, stage 1 of online PFT).
//
// A scalar-head model scores each completion, r⁺ = r(x, y⁺) and r⁻ = r(x, y⁻). The
// BT model says P(y⁺ ≻ y⁻ | x) = σ(r⁺ − r⁻); maximum likelihood over n pairs is
//
//	L = −(1/n) Σ_i log σ(r⁺_i − r⁻_i − m_i)  +  c · (1/n) Σ_i (r⁺_i + r⁻_i)²
//
// where m_i is TRL's optional per-pair `margin` column (Llama-2 style: demand that
// the chosen score exceed the rejected one by m) and c is TRL's
// center_rewards_coefficient (Eisenstein et al. 2023), which pins the mean
// reward near 0 because BT only identifies score differences. Both default off.
//
// Gradients, with d_i = r⁺_i − r⁻_i − m_i:
//
//	dL/dr⁺_i = [−σ(−d_i) + 2c (r⁺_i + r⁻_i)] / n
//	dL/dr⁻_i = [+σ(−d_i) + 2c (r⁺_i + r⁻_i)] / n

// RMConfig holds the reward-model loss options (TRL RewardConfig names).
type RMConfig struct {
	CenterRewardsCoefficient float64 // c ≥ 0; 0 disables (TRL: None)
}

// BradleyTerryLoss computes the BT loss of n scored pairs, its gradients on the
// scores, and TRL RewardTrainer's metrics:
//
//	loss
//	accuracy     fraction of pairs with r⁺ > r⁻ (strict, as TRL; see BTEval for ties)
//	margin       mean (r⁺ − r⁻)                  (raw scores, margin column not subtracted)
//	min_reward, mean_reward, max_reward          over all 2n scores
//
// margin may be nil (no margin column).
func BradleyTerryLoss(cfg RMConfig, chosen, rejected, margin []float64) (PairLoss, error) {
	const what = "Bradley-Terry loss"
	n := len(chosen)
	if n == 0 {
		return PairLoss{}, fmt.Errorf("%s: empty batch", what)
	}
	if err := checkSeq(what, "chosen", chosen, n); err != nil {
		return PairLoss{}, err
	}
	if err := checkSeq(what, "rejected", rejected, n); err != nil {
		return PairLoss{}, err
	}
	if margin != nil {
		if err := checkSeq(what, "margin", margin, n); err != nil {
			return PairLoss{}, err
		}
	}
	c := cfg.CenterRewardsCoefficient
	if c < 0 || math.IsNaN(c) || math.IsInf(c, 0) {
		return PairLoss{}, fmt.Errorf("%s: center_rewards_coefficient = %v, want a finite value ≥ 0", what, c)
	}

	nf := float64(n)
	out := PairLoss{GradChosen: make([]float64, n), GradRejected: make([]float64, n)}
	var loss, center, accuracy, marginSum, rewardSum float64
	minReward, maxReward := math.Inf(1), math.Inf(-1)
	for i := range n {
		d := chosen[i] - rejected[i]
		if margin != nil {
			d -= margin[i]
		}
		loss += -logSigmoid(d)
		sum := chosen[i] + rejected[i]
		center += sum * sum
		// d(−log σ(d))/dd = −σ(−d)
		gd := -sigmoid(-d)
		out.GradChosen[i] = (gd + 2*c*sum) / nf
		out.GradRejected[i] = (-gd + 2*c*sum) / nf

		if chosen[i] > rejected[i] {
			accuracy++
		}
		marginSum += chosen[i] - rejected[i]
		rewardSum += sum
		minReward = math.Min(minReward, math.Min(chosen[i], rejected[i]))
		maxReward = math.Max(maxReward, math.Max(chosen[i], rejected[i]))
	}
	out.Loss = loss/nf + c*center/nf
	out.Metrics = Metrics{
		"loss":        out.Loss,
		"accuracy":    accuracy / nf,
		"margin":      marginSum / nf,
		"min_reward":  minReward,
		"mean_reward": rewardSum / (2 * nf),
		"max_reward":  maxReward,
	}
	return out, nil
}

// BTEvalResult is a verifier's agreement with held-out preference pairs.
type BTEvalResult struct {
	Likelihood    float64 // mean σ(r⁺ − r⁻): the paper's "validation BT likelihood"
	LogLikelihood float64 // mean log σ(r⁺ − r⁻) (= −BT loss without margin/centring)
	Accuracy      float64 // fraction with r⁺ > r⁻, ties counting ½
	Pairs         int
}

// Metrics names the result for logging: bt_likelihood, bt_log_likelihood,
// accuracy (prefix with eval_ as TRL does for evaluation metrics).
func (r BTEvalResult) Metrics() Metrics {
	return Metrics{
		"bt_likelihood":     r.Likelihood,
		"bt_log_likelihood": r.LogLikelihood,
		"accuracy":          r.Accuracy,
	}
}

// BTEval scores any verifier on preference pairs: a global RM's scalar scores,
// a local RM's Σ_t log π(a_t|s_t), or DPO's implicit β log π/π_ref
// (DPOImplicitReward). Ties count half toward accuracy, so a constant verifier
// scores exactly 0.5 (TRL's training accuracy counts them as wrong).
func BTEval(chosen, rejected []float64) (BTEvalResult, error) {
	const what = "BT eval"
	n := len(chosen)
	if n == 0 {
		return BTEvalResult{}, fmt.Errorf("%s: no pairs", what)
	}
	if err := checkSeq(what, "chosen", chosen, n); err != nil {
		return BTEvalResult{}, err
	}
	if err := checkSeq(what, "rejected", rejected, n); err != nil {
		return BTEvalResult{}, err
	}
	var lik, logLik, acc float64
	for i := range n {
		d := chosen[i] - rejected[i]
		lik += sigmoid(d)
		logLik += logSigmoid(d)
		switch {
		case d > 0:
			acc++
		case d == 0:
			acc += 0.5
		}
	}
	nf := float64(n)
	return BTEvalResult{Likelihood: lik / nf, LogLikelihood: logLik / nf, Accuracy: acc / nf, Pairs: n}, nil
}
