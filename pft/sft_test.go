package pft

import "testing"

func TestSFTHandValues(t *testing.T) {
	b := SFTBatch{
		Logp:    [][]float64{{-1, -2}, {-3}},
		Entropy: [][]float64{{0.5, 1.5}, {1}},
	}
	res, err := SFTLoss(b)
	mustNoErr(t, err)
	near(t, "loss", res.Loss, 2, 1e-15) // (1+2+3)/3
	for _, row := range res.Grad {
		for _, g := range row {
			near(t, "grad", g, -1.0/3, 1e-15)
		}
	}
	near(t, "num_tokens", res.Metrics["num_tokens"], 3, 0)
	near(t, "entropy", res.Metrics["entropy"], 1, 1e-15)

	// Normalising by the accumulated batch's 6 tokens halves loss and gradient.
	b.NumItemsInBatch = 6
	res, err = SFTLoss(b)
	mustNoErr(t, err)
	near(t, "loss over 6 tokens", res.Loss, 1, 1e-15)
	near(t, "grad over 6 tokens", res.Grad[1][0], -1.0/6, 1e-15)
}

func TestSFTGradientMatchesFiniteDifferences(t *testing.T) {
	b := SFTBatch{Logp: [][]float64{{-0.3, -2.2, -1.1}, {-4.0}, {-0.01, -0.5}}}
	loss := func() float64 {
		r, err := SFTLoss(b)
		if err != nil {
			t.Fatal(err)
		}
		return r.Loss
	}
	res, err := SFTLoss(b)
	mustNoErr(t, err)
	checkGradTokens(t, "Logp", loss, b.Logp, res.Grad)
}

func TestSFTMicroBatchesAddUpToTheBatch(t *testing.T) {
	full := SFTBatch{Logp: [][]float64{{-1, -2}, {-3}, {-0.5, -0.5, -4}}}
	whole, err := SFTLoss(full)
	mustNoErr(t, err)
	a, err := SFTLoss(SFTBatch{Logp: full.Logp[:1], NumItemsInBatch: 6})
	mustNoErr(t, err)
	b, err := SFTLoss(SFTBatch{Logp: full.Logp[1:], NumItemsInBatch: 6})
	mustNoErr(t, err)
	near(t, "sum of micro-batch losses", a.Loss+b.Loss, whole.Loss, 1e-15)
}

func TestSFTRejectsBadInput(t *testing.T) {
	_, err := SFTLoss(SFTBatch{Logp: [][]float64{{-1}, {}}})
	wantErr(t, err, "SFT: Logp[1] has no tokens")
	_, err = SFTLoss(SFTBatch{Logp: [][]float64{{-1, -2}}, Entropy: [][]float64{{1}}})
	wantErr(t, err, "SFT: len(Entropy[0]) = 1 tokens, want 2")
	_, err = SFTLoss(SFTBatch{Logp: [][]float64{{-1, -2}}, NumItemsInBatch: 1})
	wantErr(t, err, "SFT: NumItemsInBatch = 1, fewer than the 2 tokens in this batch")
	_, err = SFTLoss(SFTBatch{})
	wantErr(t, err, "SFT: empty batch")
}
