package pft

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"roads/ckpt"
	"roads/model"
)

// Direct Preference Optimisation (Rafailov et al. 2023) and IPO (Azar et al. 2023).
//
// For a preference pair (x, y⁺, y⁻) define the log-ratio difference
//
//	h = [log π(y⁺|x) − log π_ref(y⁺|x)] − [log π(y⁻|x) − log π_ref(y⁻|x)]
//
// (TRL calls h "logits"). The losses, averaged over the batch of n pairs, are
//
//	sigmoid (DPO):  ℓ = −log σ(β h)
//	cDPO:           ℓ = −(1−ε) log σ(β h) − ε log σ(−β h)   (ε = label_smoothing)
//	ipo:            ℓ = (h − 1/(2β))²
//
// with L = (1/n) Σ_i ℓ_i. DPO is the paper's offline PFT objective with the
// regularised local reward r_π = β log π/π_ref plugged into the Bradley–Terry
// likelihood (paper §1.3); cDPO assumes labels are flipped with probability ε.
//
// IPO and token counts. TRL divides every IPO log-prob — policy and reference,
// chosen and rejected — by its completion's token count before forming h
// (DPOTrainer.concatenated_forward: `if "ipo" in self.loss_type: all_logps /=
// loss_mask.sum(-1)`). Our inputs are sums, so IPO needs ChosenTokens and
// RejectedTokens and forms h from per-token means, matching TRL; β keeps TRL's
// meaning (IPO's τ) under that normalisation. For the sequence-sum form of the IPO
// paper pass token counts of 1. The reward and logps metrics of IPO are computed
// on the same per-token means, as TRL's are.
//
// Gradients. With g_i = dℓ_i/dh_i,
//
//	sigmoid/cDPO: g = −β[(1−ε) σ(−β h) − ε σ(β h)]
//	ipo:          g = 2 (h − 1/(2β))
//
// and d L / d log π(y⁺_i|x_i) = g_i / (n·c⁺_i), d L / d log π(y⁻_i|x_i) = −g_i / (n·c⁻_i),
// where c = 1 for DPO and c = token count for IPO. The reference log-probs get no
// gradient (π_ref is frozen).

// DPO loss types, spelled as TRL's loss_type.
const (
	DPOSigmoid = "sigmoid"
	DPOIPO     = "ipo"
)

// DPOConfig holds the DPO hyper-parameters (TRL DPOConfig names): the loss's
// own settings, and the part of DPOTrainConfig every DPO-family trainer shares.
type DPOConfig struct {
	Beta           float64 `json:"beta" help:"β, strength of the KL regularisation to the reference (paper: 0.05)"` // β > 0; TRL default 0.1
	LossType       string  `json:"loss_type" help:"sigmoid (DPO) or ipo"`                                           // DPOSigmoid (default when empty) or DPOIPO
	LabelSmoothing float64 `json:"label_smoothing" help:"cDPO label-flip probability ε (sigmoid only)"`             // ε ∈ [0, 0.5); 0 is plain DPO
}

// PreferenceBatch holds the sequence log-probs of n preference pairs. Log-probs
// are sums over completion tokens; token counts are needed only for IPO.
type PreferenceBatch struct {
	Chosen, Rejected       []float64 // log π(y⁺|x), log π(y⁻|x)
	RefChosen, RefRejected []float64 // log π_ref(y⁺|x), log π_ref(y⁻|x)
	ChosenTokens           []int     // |y⁺| (IPO)
	RejectedTokens         []int     // |y⁻| (IPO)
}

// DPOLoss computes the DPO/cDPO/IPO loss of a batch, its gradients on the
// policy's sequence log-probs, and TRL's DPO metrics:
//
//	loss
//	rewards/chosen     mean β (log π − log π_ref)(y⁺)   (the implicit reward)
//	rewards/rejected   mean β (log π − log π_ref)(y⁻)
//	rewards/margins    mean of their difference (= β·mean h)
//	rewards/accuracies fraction of pairs with reward(y⁺) > reward(y⁻) (strict, as TRL)
//	logps/chosen       mean log π(y⁺|x)
//	logps/rejected     mean log π(y⁻|x)
func DPOLoss(cfg DPOConfig, b PreferenceBatch) (PairLoss, error) {
	const what = "DPO"
	lossType := cfg.LossType
	if lossType == "" {
		lossType = DPOSigmoid
	}
	if !(cfg.Beta > 0) {
		return PairLoss{}, fmt.Errorf("%s: beta = %v, want > 0", what, cfg.Beta)
	}
	switch lossType {
	case DPOSigmoid:
		if cfg.LabelSmoothing < 0 || cfg.LabelSmoothing >= 0.5 {
			return PairLoss{}, fmt.Errorf("%s: label_smoothing = %v, want in [0, 0.5)", what, cfg.LabelSmoothing)
		}
	case DPOIPO:
		if cfg.LabelSmoothing != 0 {
			return PairLoss{}, fmt.Errorf("%s: label_smoothing = %v applies only to loss_type %q", what, cfg.LabelSmoothing, DPOSigmoid)
		}
	default:
		return PairLoss{}, fmt.Errorf("%s: loss_type %q, want %q or %q", what, lossType, DPOSigmoid, DPOIPO)
	}
	n := len(b.Chosen)
	if n == 0 {
		return PairLoss{}, fmt.Errorf("%s: empty batch", what)
	}
	for _, in := range []struct {
		name string
		xs   []float64
	}{{"Chosen", b.Chosen}, {"Rejected", b.Rejected}, {"RefChosen", b.RefChosen}, {"RefRejected", b.RefRejected}} {
		if err := checkSeq(what, in.name, in.xs, n); err != nil {
			return PairLoss{}, err
		}
	}

	// Per-token normalisation: c = 1 for DPO, the token count for IPO.
	normChosen := make([]float64, n)
	normRejected := make([]float64, n)
	for i := range n {
		normChosen[i], normRejected[i] = 1, 1
	}
	if lossType == DPOIPO {
		for _, in := range []struct {
			name   string
			counts []int
			norm   []float64
		}{{"ChosenTokens", b.ChosenTokens, normChosen}, {"RejectedTokens", b.RejectedTokens, normRejected}} {
			if len(in.counts) != n {
				return PairLoss{}, fmt.Errorf("%s: loss_type ipo needs %s for per-token log-probs: len = %d, want %d", what, in.name, len(in.counts), n)
			}
			for i, c := range in.counts {
				if c <= 0 {
					return PairLoss{}, fmt.Errorf("%s: %s[%d] = %d, want > 0", what, in.name, i, c)
				}
				in.norm[i] = float64(c)
			}
		}
	}

	beta, eps := cfg.Beta, cfg.LabelSmoothing
	out := PairLoss{GradChosen: make([]float64, n), GradRejected: make([]float64, n)}
	var loss, rewChosen, rewRejected, accuracy, logpsChosen, logpsRejected float64
	for i := range n {
		chosen := b.Chosen[i] / normChosen[i]
		rejected := b.Rejected[i] / normRejected[i]
		chosenRatio := chosen - b.RefChosen[i]/normChosen[i]         // log π/π_ref (y⁺)
		rejectedRatio := rejected - b.RefRejected[i]/normRejected[i] // log π/π_ref (y⁻)
		h := chosenRatio - rejectedRatio

		var l, g float64 // ℓ_i and dℓ_i/dh_i
		switch lossType {
		case DPOSigmoid:
			// ℓ = −(1−ε) log σ(βh) − ε log σ(−βh)
			l = -(1-eps)*logSigmoid(beta*h) - eps*logSigmoid(-beta*h)
			g = -beta * ((1-eps)*sigmoid(-beta*h) - eps*sigmoid(beta*h))
		case DPOIPO:
			// ℓ = (h − 1/(2β))²
			d := h - 1/(2*beta)
			l = d * d
			g = 2 * d
		}
		loss += l
		out.GradChosen[i] = g / (float64(n) * normChosen[i])
		out.GradRejected[i] = -g / (float64(n) * normRejected[i])

		rc, rr := beta*chosenRatio, beta*rejectedRatio
		rewChosen += rc
		rewRejected += rr
		if rc > rr {
			accuracy++
		}
		logpsChosen += chosen
		logpsRejected += rejected
	}
	nf := float64(n)
	out.Loss = loss / nf
	out.Metrics = Metrics{
		"loss":               out.Loss,
		"rewards/chosen":     rewChosen / nf,
		"rewards/rejected":   rewRejected / nf,
		"rewards/margins":    (rewChosen - rewRejected) / nf,
		"rewards/accuracies": accuracy / nf,
		"logps/chosen":       logpsChosen / nf,
		"logps/rejected":     logpsRejected / nf,
	}
	return out, nil
}

// DPOImplicitReward is DPO's implicit verifier r(x, y) = β (log π(y|x) − log π_ref(y|x))
// (sequence sums), the score to hand to BTEval or BestOfN when a DPO policy is
// used as a reward model.
func DPOImplicitReward(beta float64, logp, refLogp []float64) ([]float64, error) {
	const what = "DPO implicit reward"
	if err := checkSeq(what, "logp", logp, len(logp)); err != nil {
		return nil, err
	}
	if err := checkSeq(what, "refLogp", refLogp, len(logp)); err != nil {
		return nil, err
	}
	r := make([]float64, len(logp))
	for i := range logp {
		r[i] = beta * (logp[i] - refLogp[i])
	}
	return r, nil
}

// ---------------------------------------------------------------------------
// The DPO training loop (`roads dpo`).
//
// Each step takes a batch of pairs, scores chosen and rejected completions
// (prompt + completion + EOS) under π in one forward pass, and follows the loss
// above with the reference log-probs computed ONCE before training (TRL's
// precompute_ref_log_probs): π_ref is frozen, so log π_ref(y|x) of every pair
// is a constant of the dataset. They are kept in memory and written to
// ref_logps.json in the run directory. The reference policy itself is copied to
// output_dir/ref_model, so the run directory also serves as a verifier (the
// implicit reward β log π/π_ref, see verifier.go).

// DPOTrainConfig is `roads dpo`'s configuration (TRL DPOConfig names).
type DPOTrainConfig struct {
	TrainArgs
	Inputs // the run's inputs: --model, --data, … (each command binds the ones it uses)
	DPOConfig
	Truncation
}

// DefaultDPOBeta is the paper's β (§4.1), shared by every DPO-family trainer.
const DefaultDPOBeta = 0.05

// DefaultDPOTrainConfig is the configuration `roads dpo` starts from. The
// learning rate 1e-4 was the best of {3e-5, 1e-4, 3e-4, 1e-3} for a 2-layer,
// 64-wide SFT model on the default task (2k pairs, 3 epochs, batch 32).
func DefaultDPOTrainConfig() DPOTrainConfig {
	a := DefaultTrainArgs()
	a.LearningRate = 1e-4
	return DPOTrainConfig{TrainArgs: a, DPOConfig: DPOConfig{Beta: DefaultDPOBeta, LossType: DPOSigmoid}}
}

// refLogps are the cached reference log-probs of a dataset.
type refLogps struct {
	Chosen   []float64 `json:"chosen"`
	Rejected []float64 `json:"rejected"`
}

// TrainDPO trains policy on preference pairs against the frozen reference ref
// and writes the run into cfg.OutputDir (training_config.json, ref_logps.json,
// ref_model/, metrics.jsonl, checkpoint-N/, samples/, final model files).
// Interrupted runs resume from their last checkpoint.
func TrainDPO(cfg DPOTrainConfig, policy, ref *model.Model, pairs []PreferencePair, env Env) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("dpo: %w", err)
	}
	pairs, cut, err := cfg.Truncation.Apply("dpo", pairs)
	if err != nil {
		return err
	}
	if cut > 0 {
		slog.Warn("dpo: pairs truncated to max_length / max_prompt_length", "pairs", cut, "of", len(pairs))
	}
	return trainDPO("dpo", cfg, cfg, policy, ref, pairs, env, nil)
}

// trainDPO is the DPO loop shared with one-round online DPO: resolved is what
// training_config.json records, first (optional) is logged once as a step-0
// line of a fresh run.
func trainDPO(kind string, cfg DPOTrainConfig, resolved any, policy, ref *model.Model, pairs []PreferencePair, env Env, first Metrics) error {
	// The settings passed cfg.Validate in TrainDPO / TrainOnlineDPO.
	if err := checkPairs(kind, pairs, policy); err != nil {
		return err
	}
	if ref.Config() != policy.Config() {
		return fmt.Errorf("%s: the reference and the policy have different model configs", kind)
	}
	eos := policy.Config().EOSTokenID

	r, err := startRun(kind, cfg.TrainArgs, resolved, pairs, policy, env.Tokenizer, len(pairs), env.Progress)
	if err != nil {
		return err
	}
	defer r.release()
	if err := saveReference(cfg.OutputDir, ref, env.Tokenizer); err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	// log π_ref of every pair, once.
	seqs, plens := pairSequences(pairs, eos)
	refScores, err := scoreSequences(ref, seqs, plens)
	if err != nil {
		return fmt.Errorf("%s: reference log-probs: %w", kind, err)
	}
	n := len(pairs)
	cache := refLogps{Chosen: refScores.Value[:n], Rejected: refScores.Value[n:]}
	if err := ckpt.WriteJSON(filepath.Join(cfg.OutputDir, "ref_logps.json"), cache); err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	if first != nil && r.step == 0 {
		if err := r.logLine(first); err != nil {
			return err
		}
	}
	r.onSave = func(step int) error { return writeSamples(cfg.OutputDir, step, policy, env, cfg.Seed) }

	var order orderCache
	for r.step < r.total {
		idx := batchAt(cfg.Seed, r.step, n, cfg.PerDeviceTrainBatchSize, &order)
		batch := make([]PreferencePair, len(idx))
		refC, refR := make([]float64, len(idx)), make([]float64, len(idx))
		for b, i := range idx {
			batch[b], refC[b], refR[b] = pairs[i], cache.Chosen[i], cache.Rejected[i]
		}
		policy.ZeroGrad()
		loss, err := dpoStep(cfg.DPOConfig, policy, batch, refC, refR)
		if err != nil {
			return r.lossError(err)
		}
		if err := r.update(loss.Loss, loss.Metrics); err != nil {
			return err
		}
	}
	return r.finish()
}

// dpoStep scores a batch of pairs under the policy (one forward pass over the
// chosen then the rejected sequences), computes the DPO loss against the given
// reference log-probs and accumulates its gradient into the policy.
func dpoStep(cfg DPOConfig, policy *model.Model, batch []PreferencePair, refChosen, refRejected []float64) (PairLoss, error) {
	n := len(batch)
	seqs, plens := pairSequences(batch, policy.Config().EOSTokenID)
	out, err := policy.Forward(model.Batch{Tokens: seqs, PromptLen: plens}, model.ForwardOptions{})
	if err != nil {
		return PairLoss{}, err
	}
	loss, err := DPOLoss(cfg, PreferenceBatch{
		Chosen: out.SeqLogProb[:n], Rejected: out.SeqLogProb[n : 2*n],
		RefChosen: refChosen, RefRejected: refRejected,
		ChosenTokens: out.NumScored[:n], RejectedTokens: out.NumScored[n : 2*n],
	})
	if err != nil {
		return PairLoss{}, err
	}
	// d L / d log π(y|x) reaches every token of y.
	grad := append(append(make([]float64, 0, 2*n), loss.GradChosen...), loss.GradRejected...)
	if err := policy.Backward(seqGradFlat(out, grad), nil); err != nil {
		return PairLoss{}, err
	}
	return loss, nil
}
