package pft

import (
	"errors"
	"fmt"
	"io"

	"roads/model"
	"roads/tok"
)

// Supervised fine-tuning, completion-only (TRL's completion_only_loss).
//
// Maximum likelihood on the completion tokens only (prompt tokens carry no loss):
//
//	L = −(1/N) Σ_i Σ_t log π(a_{i,t} | s_{i,t}),    N = number of completion tokens
//
// a token-level mean, as TRL's SFTTrainer (and the cross-entropy it calls) takes.
// With gradient accumulation TRL divides by the token count of the whole
// accumulated batch (num_items_in_batch) so that micro-batch gradients add up to
// the full batch's; SFTBatch.NumItemsInBatch is that count (0 = this batch's).
//
// Gradient: dL/d log π(a_{i,t}|s_{i,t}) = −1/N for every token.

// SFTBatch holds the per-token log-probs of the completion tokens of a batch.
type SFTBatch struct {
	Logp            [][]float64 // log π(a_t|s_t), one row per sequence
	Entropy         [][]float64 // optional per-token entropies H(π(·|s_t)), for the entropy metric
	NumItemsInBatch int         // normaliser N; 0 means Σ_i T_i of this batch
}

// SFTLoss computes the completion-only NLL, its per-token gradient, and TRL's
// SFT metrics: loss, num_tokens (tokens in this batch), entropy (mean per-token
// entropy, when Entropy is given). TRL's mean_token_accuracy needs the model's
// argmax and is left to the training loop.
func SFTLoss(b SFTBatch) (TokenLoss, error) {
	const what = "SFT"
	n := len(b.Logp)
	if n == 0 {
		return TokenLoss{}, fmt.Errorf("%s: empty batch", what)
	}
	if err := checkTokens(what, "Logp", b.Logp, n, nil); err != nil {
		return TokenLoss{}, err
	}
	if b.Entropy != nil {
		if err := checkTokens(what, "Entropy", b.Entropy, n, b.Logp); err != nil {
			return TokenLoss{}, err
		}
	}
	tokens := countTokens(b.Logp)
	norm := tokens
	if b.NumItemsInBatch != 0 {
		if b.NumItemsInBatch < tokens {
			return TokenLoss{}, fmt.Errorf("%s: NumItemsInBatch = %d, fewer than the %d tokens in this batch", what, b.NumItemsInBatch, tokens)
		}
		norm = b.NumItemsInBatch
	}

	out := TokenLoss{Grad: zerosLike(b.Logp)}
	nll := 0.0
	for i, row := range b.Logp {
		for t, lp := range row {
			nll -= lp
			out.Grad[i][t] = -1 / float64(norm)
		}
	}
	out.Loss = nll / float64(norm)
	out.Metrics = Metrics{"loss": out.Loss, "num_tokens": float64(tokens)}
	if b.Entropy != nil {
		h := 0.0
		for _, row := range b.Entropy {
			h += sumRow(row)
		}
		out.Metrics["entropy"] = h / float64(tokens)
	}
	return out, nil
}

// SFTExample is one demonstration: prompt tokens and completion tokens (the
// completion normally ends with EOS, so the policy learns to stop).
type SFTExample struct {
	Prompt, Completion []int32
}

// SFTConfig is `roads sft`'s configuration (TRL SFTConfig names).
type SFTConfig struct {
	TrainArgs
	// CompletionOnlyLoss scores completion tokens only (TRL's default for
	// prompt-completion data); false scores every token after the first.
	CompletionOnlyLoss bool `json:"completion_only_loss" help:"score completion tokens only"`
}

// DefaultSFTConfig is the configuration `roads sft` starts from.
func DefaultSFTConfig() SFTConfig {
	return SFTConfig{TrainArgs: DefaultTrainArgs(), CompletionOnlyLoss: true}
}

// TrainSFT fine-tunes policy on the demonstrations by maximum likelihood and
// writes the run into cfg.OutputDir (training_config.json, metrics.jsonl,
// checkpoint-N/, and the final model files). A run interrupted after a
// checkpoint resumes from it when called again with the same arguments, and
// then ends bit-identical to an uninterrupted run. progress receives the
// progress bar (nil for none).
func TrainSFT(cfg SFTConfig, policy *model.Model, tk tok.Tokenizer, train []SFTExample, progress io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("sft: %w", err)
	}
	if len(train) == 0 {
		return errors.New("sft: no training examples")
	}
	for i, ex := range train {
		if len(ex.Completion) == 0 {
			return fmt.Errorf("sft: example %d has an empty completion", i)
		}
		if len(ex.Prompt) == 0 && len(ex.Completion) < 2 {
			// The first token of a sequence is never predicted: with no prompt
			// a one-token completion (an empty text row's EOS) has nothing to
			// learn from.
			return fmt.Errorf("sft: example %d has a single token and no prompt: nothing to predict", i)
		}
		if n := len(ex.Prompt) + len(ex.Completion); n > policy.Config().NPositions {
			return fmt.Errorf("sft: example %d has %d tokens, more than the model's n_positions %d", i, n, policy.Config().NPositions)
		}
	}
	r, err := startRun("sft", cfg.TrainArgs, cfg, train, policy, tk, len(train), progress)
	if err != nil {
		return err
	}
	defer r.release()
	var order orderCache
	batch := model.Batch{}
	for r.step < r.total {
		idx := batchAt(cfg.Seed, r.step, len(train), cfg.PerDeviceTrainBatchSize, &order)
		batch.Tokens, batch.PromptLen = batch.Tokens[:0], batch.PromptLen[:0]
		for _, i := range idx {
			ex := train[i]
			batch.Tokens = append(batch.Tokens, append(append(make([]int32, 0, len(ex.Prompt)+len(ex.Completion)), ex.Prompt...), ex.Completion...))
			batch.PromptLen = append(batch.PromptLen, len(ex.Prompt))
		}
		policy.ZeroGrad()
		out, err := policy.Forward(batch, model.ForwardOptions{ScoreAll: !cfg.CompletionOnlyLoss})
		if err != nil {
			return r.lossError(err)
		}
		// L = −(1/N) Σ log π(a_t|s_t) over the scored tokens (equation above).
		loss, err := SFTLoss(SFTBatch{Logp: raggedTokens(out, out.LogProbs), Entropy: raggedTokens(out, out.Entropy)})
		if err != nil {
			return r.lossError(err)
		}
		if err := policy.Backward(flatGrad(out, loss.Grad), nil); err != nil {
			return r.lossError(err)
		}
		if err := r.update(loss.Loss, loss.Metrics); err != nil {
			return err
		}
	}
	return r.finish()
}
