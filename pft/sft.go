package pft

import "fmt"

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
