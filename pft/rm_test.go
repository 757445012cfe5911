package pft

import (
	"math"
	"strings"
	"testing"

	"roads/model"
)

func TestBradleyTerryHandValues(t *testing.T) {
	// d = [2−1, 0−0.5] = [1, −0.5]; ℓ = log(1+e^{−1}) = 0.31326168751822286, log(1+e^{0.5}) = 0.9740769841801067.
	res, err := BradleyTerryLoss(RMConfig{}, []float64{2, 0}, []float64{1, 0.5}, nil)
	mustNoErr(t, err)
	near(t, "loss", res.Loss, (0.31326168751822286+0.9740769841801067)/2, 1e-15)
	// dℓ/dr⁺ = −σ(−d) = −1/(1+e^{d}).
	near(t, "GradChosen[0]", res.GradChosen[0], -1/(1+math.E)/2, 1e-15)
	near(t, "GradRejected[1]", res.GradRejected[1], 1/(1+math.Exp(-0.5))/2, 1e-15)
	m := res.Metrics
	near(t, "accuracy", m["accuracy"], 0.5, 0)
	near(t, "margin", m["margin"], 0.25, 1e-15)
	near(t, "min_reward", m["min_reward"], 0, 0)
	near(t, "max_reward", m["max_reward"], 2, 0)
	near(t, "mean_reward", m["mean_reward"], 0.875, 1e-15)
}

func TestBradleyTerryMarginShiftsTheDifference(t *testing.T) {
	// A margin m on the pair is the same loss as lowering the chosen score by m.
	withMargin, err := BradleyTerryLoss(RMConfig{}, []float64{1.5, -2}, []float64{0.2, -1}, []float64{0.5, 1})
	mustNoErr(t, err)
	shifted, err := BradleyTerryLoss(RMConfig{}, []float64{1.0, -3}, []float64{0.2, -1}, nil)
	mustNoErr(t, err)
	near(t, "loss", withMargin.Loss, shifted.Loss, 1e-15)
	// The logged margin and accuracy stay on the raw scores, as TRL's.
	near(t, "margin metric", withMargin.Metrics["margin"], (1.3+-1.0)/2, 1e-15)
}

func TestBradleyTerryCenteringAddsSquaredSum(t *testing.T) {
	chosen, rejected := []float64{3, 1}, []float64{2, 0.5}
	plain, err := BradleyTerryLoss(RMConfig{}, chosen, rejected, nil)
	mustNoErr(t, err)
	centred, err := BradleyTerryLoss(RMConfig{CenterRewardsCoefficient: 0.01}, chosen, rejected, nil)
	mustNoErr(t, err)
	near(t, "centred loss", centred.Loss, plain.Loss+0.01*(25+2.25)/2, 1e-15)
}

func TestBradleyTerryGradientsMatchFiniteDifferences(t *testing.T) {
	chosen := []float64{0.3, -1.2, 2.5, 0.0}
	rejected := []float64{0.1, 0.4, -0.7, 0.0}
	margin := []float64{0.2, 0, 1.5, -0.3}
	cfg := RMConfig{CenterRewardsCoefficient: 0.05}
	loss := func() float64 {
		r, err := BradleyTerryLoss(cfg, chosen, rejected, margin)
		if err != nil {
			t.Fatal(err)
		}
		return r.Loss
	}
	res, err := BradleyTerryLoss(cfg, chosen, rejected, margin)
	mustNoErr(t, err)
	checkGradSeq(t, "chosen", loss, chosen, res.GradChosen)
	checkGradSeq(t, "rejected", loss, rejected, res.GradRejected)
}

func TestBTEvalCountsTiesHalf(t *testing.T) {
	res, err := BTEval([]float64{1, 2, 3}, []float64{0, 2, 5})
	mustNoErr(t, err)
	near(t, "accuracy", res.Accuracy, 0.5, 1e-15) // (1 + ½ + 0)/3
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	near(t, "likelihood", res.Likelihood, (sig(1)+sig(0)+sig(-2))/3, 1e-15)
	near(t, "log likelihood", res.LogLikelihood, (math.Log(sig(1))+math.Log(sig(0))+math.Log(sig(-2)))/3, 1e-15)
	if res.Pairs != 3 {
		t.Errorf("Pairs = %d, want 3", res.Pairs)
	}
	near(t, "metric bt_likelihood", res.Metrics()["bt_likelihood"], res.Likelihood, 0)

	// A constant verifier says nothing: accuracy and likelihood are exactly ½.
	constant, err := BTEval([]float64{4, 4}, []float64{4, 4})
	mustNoErr(t, err)
	near(t, "constant accuracy", constant.Accuracy, 0.5, 0)
	near(t, "constant likelihood", constant.Likelihood, 0.5, 0)
}

func TestBTEvalAgreesWithBTLoss(t *testing.T) {
	chosen, rejected := []float64{0.3, -1.2, 2.5}, []float64{0.1, 0.4, -0.7}
	ev, err := BTEval(chosen, rejected)
	mustNoErr(t, err)
	loss, err := BradleyTerryLoss(RMConfig{}, chosen, rejected, nil)
	mustNoErr(t, err)
	near(t, "log likelihood = −loss", ev.LogLikelihood, -loss.Loss, 1e-15)
}

func TestRMRejectsBadInput(t *testing.T) {
	_, err := BradleyTerryLoss(RMConfig{}, []float64{1, 2}, []float64{0}, nil)
	wantErr(t, err, "Bradley-Terry loss: len(rejected) = 1, want 2")
	_, err = BradleyTerryLoss(RMConfig{}, []float64{1}, []float64{0}, []float64{0, 1})
	wantErr(t, err, "Bradley-Terry loss: len(margin) = 2, want 1")
	_, err = BradleyTerryLoss(RMConfig{CenterRewardsCoefficient: -1}, []float64{1}, []float64{0}, nil)
	wantErr(t, err, "center_rewards_coefficient = -1")
	_, err = BTEval([]float64{math.Inf(1)}, []float64{0})
	wantErr(t, err, "BT eval: chosen[0] = +Inf, want a finite number")
	_, err = BTEval(nil, nil)
	wantErr(t, err, "BT eval: no pairs")
}

func TestBradleyTerryAccuracyCountsTiesAsWrong(t *testing.T) {
	// As TRL's (chosen > rejected).mean(); BTEval is the tie-aware evaluation.
	res, err := BradleyTerryLoss(RMConfig{}, []float64{1, 2}, []float64{1, 0}, nil)
	mustNoErr(t, err)
	near(t, "accuracy", res.Metrics["accuracy"], 0.5, 0)
}

// RewardModelFrom: a global RM gets a fresh scalar head on the trunk's
// weights, an existing global RM continues only with its own readout, and a
// local RM must be an LM-head model.
func TestRewardModelFrom(t *testing.T) {
	_, mc := tinySFT()
	lm, err := model.New(mc, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultRewardTrainConfig()
	cfg.Kind, cfg.Readout, cfg.Seed = RMGlobal, "last", 3
	rm, err := RewardModelFrom(lm, cfg)
	if err != nil || rm == lm || rm.Config().Head != "scalar" || rm.Config().ScalarReadout != "last" {
		t.Fatalf("global from an LM: %v", err)
	}
	if same, err := RewardModelFrom(rm, cfg); err != nil || same != rm {
		t.Fatalf("global from a global RM of the same readout: %v", err)
	}
	cfg.Readout = "sum"
	if _, err := RewardModelFrom(rm, cfg); err == nil || !strings.Contains(err.Error(), `readout "last", not readout "sum"`) {
		t.Fatalf("another readout: %v", err)
	}
	cfg.Kind = RMLocal
	if local, err := RewardModelFrom(lm, cfg); err != nil || local != lm {
		t.Fatalf("local from an LM: %v", err)
	}
	if _, err := RewardModelFrom(rm, cfg); err == nil || !strings.Contains(err.Error(), "needs an LM-head model") {
		t.Fatalf("local from a scalar head: %v", err)
	}
}
