package pft

import (
	"fmt"
	"log/slog"
	"math"
	"path/filepath"

	"roads/ckpt"
	"roads/engine"
	"roads/model"
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

// ---------------------------------------------------------------------------
// The reward-model training loop (`roads rm`).
//
// kind "global": a scalar-head model (model.Config.Head "scalar"), normally
// initialised from the SFT model's trunk with a fresh head (NewGlobalRM), the
// paper's RM. The score is the head's readout: "last" (the score after
// reading EOS, the HF/TRL convention), "sum" or "mean" of the per-token
// scores over the response.
// kind "local": a policy-class network (LM head) trained by the same BT loss
// on r(x, y) = Σ_t log π(a_t|s_t) with no reference (the paper's local RM).
//
// Each step scores the chosen and rejected completions of a batch (prompt +
// completion + EOS) in one forward pass and follows the BT loss above. With
// held-out pairs the loop evaluates every eval_steps and at the end, logging
// a metrics.jsonl line with
//
//	eval_loss               −mean log σ(r⁺ − r⁻)   (the BT loss on held-out pairs)
//	eval_bt_likelihood      mean σ(r⁺ − r⁻)        (the paper's "validation BT likelihood")
//	eval_bt_log_likelihood  mean log σ(r⁺ − r⁻)
//	eval_accuracy           fraction with r⁺ > r⁻ (ties ½)
//
// (eval_ prefix as the HF Trainer). load_best_model_at_end keeps the
// checkpoint with the highest eval_bt_likelihood (every evaluation writes a
// checkpoint, and the best one is never pruned) and makes it the final
// model; early_stopping_patience stops after that many evaluations without a
// new best. eval_results.json holds the final model's held-out metrics, its
// fit on (up to 2000) training pairs — the gap between the two is the
// memorisation the pilots warn about — and which step was kept.

// RM kinds.
const (
	RMGlobal = "global"
	RMLocal  = "local"
)

// RewardTrainConfig is `roads rm`'s configuration (TRL RewardConfig and HF
// TrainingArguments names).
type RewardTrainConfig struct {
	TrainArgs
	Inputs                           // the run's inputs: --model, --data, --task
	Kind                     string  `json:"kind" help:"global (scalar head on a trunk) or local (policy-class network, score Σ log π)"` // global or local
	Readout                  string  `json:"readout" help:"global RM readout: last (as TRL), sum or mean over the response"`             // last, sum or mean (global; recorded in the model's config too)
	CenterRewardsCoefficient float64 `json:"center_rewards_coefficient" help:"weight of the mean-reward centring term (0: off)"`
	EvalDataset              string  `json:"eval_dataset,omitempty" flag:"eval_data" help:"held-out preference JSONL (default: hold out --eval_fraction of --data)"`
	EvalFraction             float64 `json:"eval_fraction" help:"fraction of --data held out when there is no --eval_data (0: no evaluation)"` // held out of the training data when no eval_dataset
	EvalSteps                int     `json:"eval_steps" help:"steps between evaluations (0: logging_steps)"`                                   // 0: every logging_steps
	LoadBestModelAtEnd       bool    `json:"load_best_model_at_end" help:"keep the checkpoint with the best eval_bt_likelihood as the final model"`
	EarlyStoppingPatience    int     `json:"early_stopping_patience" help:"stop after this many evaluations without a better eval_bt_likelihood (0: off)"` // evaluations without a new best; 0: off
	Truncation
}

// DefaultRewardTrainConfig is the configuration `roads rm` starts from. Its
// readout is "last", the score at the last non-pad token, as TRL's
// RewardTrainer and Hugging Face's …ForSequenceClassification read it, so a
// reward model roads writes scores the same in transformers. The experiments
// ask for "sum" (experiments/common.json): "sum" and lr 1e-3 were the best of
// {last, sum, mean} × {1e-4, 3e-4, 1e-3} on the default task (7.7k
// BT-labelled pairs of a 2-layer, 64-wide SFT model's samples, 4 epochs,
// batch 32): held-out BT likelihood 0.609 for sum, 0.596 for last, 0.582 for
// mean at 1e-3, and sum ahead at every learning rate — the pilots' finding
// that a summed per-token head suits an additive reward.
func DefaultRewardTrainConfig() RewardTrainConfig {
	a := DefaultTrainArgs()
	a.LearningRate = 1e-3
	a.NumTrainEpochs = 4
	return RewardTrainConfig{TrainArgs: a, Kind: RMGlobal, Readout: "last", EvalFraction: 0.1, LoadBestModelAtEnd: true}
}

// RewardModelFrom is the model TrainRewardModel trains for cfg.Kind,
// starting from trunk. Kind global: trunk itself when it is already a
// scalar-head reward model with cfg.Readout (training continues), else a
// fresh head on its trunk (NewGlobalRM). Kind local: trunk, which must have
// an LM head (its Σ log π is the reward).
func RewardModelFrom(trunk *model.Model, cfg RewardTrainConfig) (*model.Model, error) {
	c := trunk.Config()
	switch {
	case cfg.Kind == RMGlobal && c.Head == "scalar":
		if c.ScalarReadout != cfg.Readout {
			return nil, fmt.Errorf("the model is a reward model with readout %q, not readout %q", c.ScalarReadout, cfg.Readout)
		}
		return trunk, nil
	case cfg.Kind == RMGlobal:
		return NewGlobalRM(trunk, cfg.Readout, cfg.Seed)
	case c.Head != "lm":
		return nil, fmt.Errorf("kind %s needs an LM-head model; this one has a %s head", cfg.Kind, c.Head)
	}
	return trunk, nil
}

// NewGlobalRM builds a scalar-head reward model whose trunk (embeddings,
// blocks, final LayerNorm) is a copy of trunk's and whose head score.weight ~
// N(0, init_std), score.bias = 0, drawn from seed.
func NewGlobalRM(trunk *model.Model, readout string, seed uint64) (*model.Model, error) {
	cfg := trunk.Config()
	cfg.Head, cfg.ScalarReadout, cfg.TieWordEmbeddings = "scalar", readout, false
	rm, err := model.New(cfg, seed)
	if err != nil {
		return nil, fmt.Errorf("global RM: %w", err)
	}
	src := map[string]model.Param{}
	for _, p := range trunk.Params() {
		src[p.Name] = p
	}
	for _, p := range rm.Params() {
		if s, ok := src[p.Name]; ok && len(s.Data) == len(p.Data) {
			copy(p.Data, s.Data)
		} else if p.Name != "score.weight" && p.Name != "score.bias" {
			return nil, fmt.Errorf("global RM: trunk has no tensor %s", p.Name)
		}
	}
	return rm, nil
}

// HoldOut splits pairs into training and held-out pairs: a seeded
// permutation, the last ⌈fraction·n⌉ held out.
func HoldOut(pairs []PreferencePair, fraction float64, seed uint64) (train, eval []PreferencePair, err error) {
	if !(fraction > 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("eval_fraction = %v, want in (0, 1)", fraction)
	}
	nEval := int(math.Ceil(fraction * float64(len(pairs))))
	if nEval >= len(pairs) {
		return nil, nil, fmt.Errorf("eval_fraction %v of %d pairs leaves none to train on", fraction, len(pairs))
	}
	perm := engine.NewRNG(seed ^ 0x686f6c646f7574).Perm(len(pairs))
	for k, i := range perm {
		if k < len(pairs)-nEval {
			train = append(train, pairs[i])
		} else {
			eval = append(eval, pairs[i])
		}
	}
	return train, eval, nil
}

// RewardResult is eval_results.json.
type RewardResult struct {
	Eval                BTEvalResult `json:"eval"`  // the final model on the held-out pairs
	Train               BTEvalResult `json:"train"` // the final model on (up to 2000) training pairs
	BestStep            int          `json:"best_step,omitempty"`
	BestModelCheckpoint string       `json:"best_model_checkpoint,omitempty"`
	EarlyStopped        bool         `json:"early_stopped"`
	Steps               int          `json:"steps"` // training steps run
}

// rmVerifier is the verifier a reward model being trained stands for.
func rmVerifier(kind string, m *model.Model) Verifier {
	if kind == RMLocal {
		return LocalRM{Model: m}
	}
	return GlobalRM{Model: m}
}

// TrainRewardModel trains rm by Bradley–Terry maximum likelihood on train,
// evaluating on eval (may be empty: no eval metrics, no best-model
// selection), and writes the run into cfg.OutputDir.
func TrainRewardModel(cfg RewardTrainConfig, rm *model.Model, train, eval []PreferencePair, env Env) (RewardResult, error) {
	if err := cfg.Validate(); err != nil {
		return RewardResult{}, fmt.Errorf("rm: %w", err)
	}
	const what = "rm"
	var err error
	var cut, cutEval int
	if train, cut, err = cfg.Truncation.Apply(what, train); err != nil {
		return RewardResult{}, err
	}
	if eval, cutEval, err = cfg.Truncation.Apply(what+" eval", eval); err != nil {
		return RewardResult{}, err
	}
	if cut+cutEval > 0 {
		slog.Warn("rm: pairs truncated to max_length / max_prompt_length", "train", cut, "eval", cutEval)
	}
	switch cfg.Kind {
	case RMGlobal:
		if rm.Config().Head != "scalar" {
			return RewardResult{}, fmt.Errorf("%s: kind global needs a scalar-head model (see NewGlobalRM)", what)
		}
	case RMLocal:
		if rm.Config().Head != "lm" {
			return RewardResult{}, fmt.Errorf("%s: kind local needs an LM-head (policy-class) model", what)
		}
	default:
		return RewardResult{}, fmt.Errorf("%s: kind %q, want %q or %q", what, cfg.Kind, RMGlobal, RMLocal)
	}
	lossCfg := RMConfig{CenterRewardsCoefficient: cfg.CenterRewardsCoefficient}
	if err := checkPairs(what, train, rm); err != nil {
		return RewardResult{}, err
	}
	if len(eval) > 0 {
		if err := checkPairs(what+" (eval)", eval, rm); err != nil {
			return RewardResult{}, err
		}
	}
	if (cfg.LoadBestModelAtEnd || cfg.EarlyStoppingPatience > 0) && len(eval) == 0 {
		return RewardResult{}, fmt.Errorf("%s: load_best_model_at_end and early_stopping_patience need held-out pairs", what)
	}
	evalSteps := cfg.EvalSteps
	if evalSteps == 0 {
		evalSteps = cfg.LoggingSteps
	}
	eos := rm.Config().EOSTokenID
	v := rmVerifier(cfg.Kind, rm)

	r, err := startRun(what, cfg.TrainArgs, cfg, train, rm, env.Tokenizer, len(train), env.Progress)
	if err != nil {
		return RewardResult{}, err
	}
	defer r.release()
	bestStep := 0
	if r.bestCheckpoint != "" {
		if _, err := fmt.Sscanf(filepath.Base(r.bestCheckpoint), ckpt.CheckpointPrefix+"%d", &bestStep); err != nil {
			return RewardResult{}, fmt.Errorf("%s: best_model_checkpoint %q: %w", what, r.bestCheckpoint, err)
		}
	}
	stopped := func() bool {
		return cfg.EarlyStoppingPatience > 0 && r.bestMetric != nil && (r.step-bestStep)/evalSteps >= cfg.EarlyStoppingPatience
	}
	lastEval := -1
	if r.step > 0 && (r.step%evalSteps == 0 || stopped()) {
		lastEval = r.step // evaluated before the checkpoint a run resumed from
	}
	evaluate := func() error {
		res, err := EvaluateVerifier(v, eval)
		if err != nil {
			return fmt.Errorf("%s: eval at step %d: %w", what, r.step, err)
		}
		lastEval = r.step
		if err := r.logLine(Metrics{"eval_loss": -res.LogLikelihood, "eval_bt_likelihood": res.Likelihood,
			"eval_bt_log_likelihood": res.LogLikelihood, "eval_accuracy": res.Accuracy}); err != nil {
			return err
		}
		// A new best is checkpointed, so best_model_checkpoint always exists
		// and a resumed run knows how long ago it was (early stopping).
		if (cfg.LoadBestModelAtEnd || cfg.EarlyStoppingPatience > 0) && (r.bestMetric == nil || res.Likelihood > *r.bestMetric) {
			b := res.Likelihood
			r.bestMetric, r.bestCheckpoint, bestStep = &b, ckpt.CheckpointDir(cfg.OutputDir, r.step), r.step
			r.saveNow = true
		}
		return nil
	}
	if len(eval) > 0 {
		r.afterStep = func() error {
			if r.step%evalSteps == 0 || r.step == r.total {
				return evaluate()
			}
			return nil
		}
	}

	var order orderCache
	for r.step < r.total && !stopped() {
		idx := batchAt(cfg.Seed, r.step, len(train), cfg.PerDeviceTrainBatchSize, &order)
		batch := make([]PreferencePair, len(idx))
		for b, i := range idx {
			batch[b] = train[i]
		}
		n := len(batch)
		seqs, plens := pairSequences(batch, eos)
		rm.ZeroGrad()
		out, err := rm.Forward(model.Batch{Tokens: seqs, PromptLen: plens}, model.ForwardOptions{})
		if err != nil {
			return RewardResult{}, r.lossError(err)
		}
		scores := out.Readout
		if cfg.Kind == RMLocal {
			scores = out.SeqLogProb
		}
		// L = −(1/n) Σ log σ(r⁺ − r⁻) (+ centring), equation above.
		loss, err := BradleyTerryLoss(lossCfg, scores[:n], scores[n:2*n], nil)
		if err != nil {
			return RewardResult{}, r.lossError(err)
		}
		grad := append(append(make([]float64, 0, 2*n), loss.GradChosen...), loss.GradRejected...)
		if cfg.Kind == RMLocal {
			err = rm.Backward(seqGradFlat(out, grad), nil)
		} else {
			err = rm.BackwardScalar(grad, nil)
		}
		if err != nil {
			return RewardResult{}, r.lossError(err)
		}
		if err := r.update(loss.Loss, loss.Metrics); err != nil {
			return RewardResult{}, err
		}
	}
	res := RewardResult{Steps: r.step, EarlyStopped: r.step < r.total}
	if len(eval) > 0 && lastEval != r.step {
		if err := evaluate(); err != nil {
			return RewardResult{}, err
		}
	}
	err = r.finishWith(func() error {
		if cfg.LoadBestModelAtEnd && r.bestCheckpoint != "" {
			views := rm.FileViews()
			if err := ckpt.LoadInto(filepath.Join(r.bestCheckpoint, ckpt.ModelFile), views); err != nil {
				return err
			}
			if err := rm.LoadFileViews(views); err != nil {
				return fmt.Errorf("load best model: %w", err)
			}
			res.BestStep, res.BestModelCheckpoint = bestStep, r.bestCheckpoint
		}
		return nil
	})
	if err != nil {
		return RewardResult{}, err
	}
	if len(eval) > 0 {
		if res.Eval, err = EvaluateVerifier(v, eval); err != nil {
			return RewardResult{}, fmt.Errorf("%s: final eval: %w", what, err)
		}
	}
	if res.Train, err = EvaluateVerifier(v, train[:min(len(train), 2000)]); err != nil {
		return RewardResult{}, fmt.Errorf("%s: final train eval: %w", what, err)
	}
	if err := ckpt.WriteJSON(filepath.Join(cfg.OutputDir, "eval_results.json"), res); err != nil {
		return RewardResult{}, fmt.Errorf("%s: %w", what, err)
	}
	return res, nil
}
