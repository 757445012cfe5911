package pft

import (
	"math"
	"testing"
)

// The two pairs used by the hand-computed tests:
//
//	pair 1: h = (−10 − −11) − (−12 − −11) = 2,  β h = 0.2,  ℓ = log(1 + e^{−0.2}) = 0.5981388693815918
//	pair 2: h = (−5 − −5) − (−4 − −5) = −1,     β h = −0.1, ℓ = log(1 + e^{0.1})  = 0.744396660073571
func handPairs() PreferenceBatch {
	return PreferenceBatch{
		Chosen:      []float64{-10, -5},
		Rejected:    []float64{-12, -4},
		RefChosen:   []float64{-11, -5},
		RefRejected: []float64{-11, -5},
	}
}

func TestDPOSigmoidHandValues(t *testing.T) {
	res, err := DPOLoss(DPOConfig{Beta: 0.1}, handPairs())
	mustNoErr(t, err)
	near(t, "loss", res.Loss, (0.5981388693815918+0.744396660073571)/2, 1e-14)
	// dℓ/dh = −β σ(−βh); mean over 2 pairs.
	g1 := -0.1 * (1 / (1 + math.Exp(0.2))) / 2
	g2 := -0.1 * (1 / (1 + math.Exp(-0.1))) / 2
	near(t, "GradChosen[0]", res.GradChosen[0], g1, 1e-14)
	near(t, "GradRejected[0]", res.GradRejected[0], -g1, 1e-14)
	near(t, "GradChosen[1]", res.GradChosen[1], g2, 1e-14)
	near(t, "GradRejected[1]", res.GradRejected[1], -g2, 1e-14)

	m := res.Metrics
	near(t, "rewards/chosen", m["rewards/chosen"], (0.1*1+0.1*0)/2, 1e-14)
	near(t, "rewards/rejected", m["rewards/rejected"], (0.1*-1+0.1*1)/2, 1e-14)
	near(t, "rewards/margins", m["rewards/margins"], 0.05, 1e-14)
	near(t, "rewards/accuracies", m["rewards/accuracies"], 0.5, 0)
	near(t, "logps/chosen", m["logps/chosen"], -7.5, 0)
	near(t, "logps/rejected", m["logps/rejected"], -8, 0)
	near(t, "loss metric", m["loss"], res.Loss, 0)
}

func TestDPOLabelSmoothingMixesBothLabels(t *testing.T) {
	// cDPO with ε is (1−ε)·DPO(y⁺ ≻ y⁻) + ε·DPO(y⁻ ≻ y⁺): swap the pair for the second term.
	b := handPairs()
	swapped := PreferenceBatch{Chosen: b.Rejected, Rejected: b.Chosen, RefChosen: b.RefRejected, RefRejected: b.RefChosen}
	plain, err := DPOLoss(DPOConfig{Beta: 0.1}, b)
	mustNoErr(t, err)
	flipped, err := DPOLoss(DPOConfig{Beta: 0.1}, swapped)
	mustNoErr(t, err)
	smooth, err := DPOLoss(DPOConfig{Beta: 0.1, LabelSmoothing: 0.2}, b)
	mustNoErr(t, err)
	near(t, "cDPO loss", smooth.Loss, 0.8*plain.Loss+0.2*flipped.Loss, 1e-14)
	for i := range b.Chosen {
		near(t, "cDPO grad", smooth.GradChosen[i], 0.8*plain.GradChosen[i]+0.2*flipped.GradRejected[i], 1e-14)
	}
}

func TestIPOHandValuesUsePerTokenMeans(t *testing.T) {
	// β = 0.5 so 1/(2β) = 1. Per-token means: chosen −6/3 = −2 vs ref −9/3 = −3 (ratio +1);
	// rejected −8/4 = −2 vs ref −4/4 = −1 (ratio −1); h = 2, ℓ = (2 − 1)² = 1, dℓ/dh = 2.
	b := PreferenceBatch{
		Chosen: []float64{-6}, Rejected: []float64{-8},
		RefChosen: []float64{-9}, RefRejected: []float64{-4},
		ChosenTokens: []int{3}, RejectedTokens: []int{4},
	}
	res, err := DPOLoss(DPOConfig{Beta: 0.5, LossType: DPOIPO}, b)
	mustNoErr(t, err)
	near(t, "loss", res.Loss, 1, 1e-15)
	near(t, "GradChosen", res.GradChosen[0], 2.0/3, 1e-15)
	near(t, "GradRejected", res.GradRejected[0], -2.0/4, 1e-15)
	near(t, "logps/chosen", res.Metrics["logps/chosen"], -2, 1e-15)
	near(t, "rewards/chosen", res.Metrics["rewards/chosen"], 0.5*1, 1e-15)
	near(t, "rewards/rejected", res.Metrics["rewards/rejected"], 0.5*-1, 1e-15)

	// Token counts of 1 give the sequence-sum IPO: h = (−6+9) − (−8+4) = 7, ℓ = 36.
	b.ChosenTokens, b.RejectedTokens = []int{1}, []int{1}
	res, err = DPOLoss(DPOConfig{Beta: 0.5, LossType: DPOIPO}, b)
	mustNoErr(t, err)
	near(t, "sum-form IPO loss", res.Loss, 36, 1e-15)
}

func TestDPOGradientsMatchFiniteDifferences(t *testing.T) {
	for _, cfg := range []DPOConfig{
		{Beta: 0.1},
		{Beta: 0.05, LabelSmoothing: 0.1},
		{Beta: 2},
		{Beta: 0.3, LossType: DPOIPO},
	} {
		b := PreferenceBatch{
			Chosen:         []float64{-12.3, -4.1, -30.5},
			Rejected:       []float64{-11.8, -6.4, -29.0},
			RefChosen:      []float64{-12.0, -5.0, -31.2},
			RefRejected:    []float64{-12.5, -5.5, -28.1},
			ChosenTokens:   []int{5, 2, 11},
			RejectedTokens: []int{4, 3, 9},
		}
		loss := func() float64 {
			r, err := DPOLoss(cfg, b)
			if err != nil {
				t.Fatal(err)
			}
			return r.Loss
		}
		res, err := DPOLoss(cfg, b)
		mustNoErr(t, err)
		checkGradSeq(t, cfg.LossType+" Chosen", loss, b.Chosen, res.GradChosen)
		checkGradSeq(t, cfg.LossType+" Rejected", loss, b.Rejected, res.GradRejected)
	}
}

func TestDPOLossIsStableForLargeMargins(t *testing.T) {
	b := PreferenceBatch{Chosen: []float64{0}, Rejected: []float64{-5000}, RefChosen: []float64{0}, RefRejected: []float64{0}}
	res, err := DPOLoss(DPOConfig{Beta: 1}, b)
	mustNoErr(t, err)
	near(t, "loss at h = 5000", res.Loss, 0, 1e-15)
	b.Chosen[0], b.Rejected[0] = -5000, 0
	res, err = DPOLoss(DPOConfig{Beta: 1}, b)
	mustNoErr(t, err)
	near(t, "loss at h = −5000", res.Loss, 5000, 1e-15)
	near(t, "grad at h = −5000", res.GradChosen[0], -1, 1e-15)
}

func TestDPOImplicitReward(t *testing.T) {
	r, err := DPOImplicitReward(0.05, []float64{-10, -3}, []float64{-12, -2})
	mustNoErr(t, err)
	near(t, "r[0]", r[0], 0.1, 1e-15)
	near(t, "r[1]", r[1], -0.05, 1e-15)
	_, err = DPOImplicitReward(0.05, []float64{-10}, []float64{-12, -2})
	wantErr(t, err, "DPO implicit reward: len(refLogp) = 2, want 1")
}

func TestDPORejectsBadInput(t *testing.T) {
	b := handPairs()
	b.RefRejected = b.RefRejected[:1]
	_, err := DPOLoss(DPOConfig{Beta: 0.1}, b)
	wantErr(t, err, "DPO: len(RefRejected) = 1, want 2")

	_, err = DPOLoss(DPOConfig{Beta: 0}, handPairs())
	wantErr(t, err, "DPO: beta = 0, want > 0")

	_, err = DPOLoss(DPOConfig{Beta: 0.1, LossType: "hinge"}, handPairs())
	wantErr(t, err, `DPO: loss_type "hinge"`)

	_, err = DPOLoss(DPOConfig{Beta: 0.1, LossType: DPOIPO}, handPairs())
	wantErr(t, err, "loss_type ipo needs ChosenTokens")

	_, err = DPOLoss(DPOConfig{Beta: 0.1, LabelSmoothing: 0.5}, handPairs())
	wantErr(t, err, "label_smoothing = 0.5, want in [0, 0.5)")

	b = handPairs()
	b.Chosen[1] = math.NaN()
	_, err = DPOLoss(DPOConfig{Beta: 0.1}, b)
	wantErr(t, err, "DPO: Chosen[1] = NaN, want a finite number")

	_, err = DPOLoss(DPOConfig{Beta: 0.1}, PreferenceBatch{})
	wantErr(t, err, "DPO: empty batch")
}

func TestDPOAccuracyCountsTiesAsWrong(t *testing.T) {
	// TRL's rewards/accuracies is (chosen_rewards > rejected_rewards).mean(): a tie is a miss.
	b := PreferenceBatch{Chosen: []float64{-3, -1}, Rejected: []float64{-3, -2}, RefChosen: []float64{-3, -1}, RefRejected: []float64{-3, -3}}
	res, err := DPOLoss(DPOConfig{Beta: 0.1}, b)
	mustNoErr(t, err)
	near(t, "rewards/accuracies", res.Metrics["rewards/accuracies"], 0, 0)
}
