package pft

import (
	"math"
	"testing"

	"roads/model"
)

// This file holds the pft tests' own gold estimate on their toy tasks (pft
// never sees a task.Task, so eval.Evaluate cannot score them). Outside tests,
// roads has one gold evaluator: eval.Evaluate.

// GoldEval is a policy's mean gold reward on prompts and its KL to a reference.
type GoldEval struct {
	Gold      float64 `json:"gold"`     // mean gold reward of temperature-1 samples
	GoldSE    float64 `json:"gold_se"`  // standard error over prompts
	KL        float64 `json:"kl"`       // mean Σ_t k1 = log π(y) − log π_ref(y) over the samples (nats per sequence, EOS included)
	EOSRate   float64 `json:"eos_rate"` // fraction of samples that ended with EOS
	MeanLen   float64 `json:"mean_len"` // completion tokens (EOS excluded)
	Samples   int     `json:"samples"`
	Estimator string  `json:"kl_estimator"`
}

// EvaluateGold samples perPrompt completions of each prompt from policy
// (temperature 1, the task's mask and horizon, seeded) and reports the mean
// gold reward and the k1 estimate of KL(π‖π_ref) (ref nil: KL omitted).
func EvaluateGold(policy, ref *model.Model, t Task, prompts [][]int32, perPrompt int, seed uint64) (GoldEval, error) {
	s, err := sample(policy, t, prompts, perPrompt, stepSeed(seed, "evaluate", 0))
	if err != nil {
		return GoldEval{}, err
	}
	gold, err := goldScores(t, s.prompts, s.completions)
	if err != nil {
		return GoldEval{}, err
	}
	ev := GoldEval{Samples: len(gold), Estimator: "k1"}
	perPromptMean := make([]float64, len(prompts))
	for p := range prompts {
		perPromptMean[p] = mean(gold[p*perPrompt : (p+1)*perPrompt])
	}
	ev.Gold = mean(perPromptMean)
	ev.GoldSE = sampleStd(perPromptMean) / math.Sqrt(float64(len(prompts)))
	var eos, length float64
	for i := range s.eos {
		if s.eos[i] {
			eos++
		}
		length += float64(len(s.completions[i]))
	}
	ev.EOSRate, ev.MeanLen = eos/float64(len(s.eos)), length/float64(len(s.eos))
	if ref != nil {
		logp, err := scoreSequences(policy, s.seqs, s.promptLens)
		if err != nil {
			return GoldEval{}, err
		}
		refLogp, err := scoreSequences(ref, s.seqs, s.promptLens)
		if err != nil {
			return GoldEval{}, err
		}
		kl := 0.0
		for i := range logp.Value {
			kl += logp.Value[i] - refLogp.Value[i]
		}
		ev.KL = kl / float64(len(logp.Value))
	}
	return ev, nil
}

// scrambleAfterFingerprint makes the next run's models take random weights
// (seeded) right after their initial weights are fingerprinted, once: a
// resumed run must then take everything from its checkpoint.
func scrambleAfterFingerprint(t *testing.T, seed uint64) {
	t.Helper()
	afterFingerprint = func(models []*model.Model) {
		afterFingerprint = nil
		for i, m := range models {
			other, err := model.New(m.Config(), seed+uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.CopyWeightsFrom(other); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() { afterFingerprint = nil })
}
