package pft

import (
	"errors"
	"fmt"

	"roads/model"
)

// CompletionScore is one completion's per-example scores (a line item of
// `roads score`).
// Log-probs are log π(a_t | s_t) at temperature 1 over the completion and
// the EOS the trainers append (the quantity DPO, KL penalties and the
// samplers' recorded log-probs use; a tempered or top-k sampler's own
// probabilities are not these).
type CompletionScore struct {
	Tokens         int       `json:"tokens"` // completion tokens, EOS included
	LogpSum        float64   `json:"logp_sum"`
	Logps          []float32 `json:"logps"`
	RefLogpSum     *float64  `json:"ref_logp_sum,omitempty"`
	RefLogps       []float32 `json:"ref_logps,omitempty"`
	ImplicitReward *float64  `json:"implicit_reward,omitempty"` // β (log π − log π_ref)
	Reward         *float64  `json:"reward,omitempty"`          // the --verifier's score
	Gold           *float64  `json:"gold,omitempty"`            // the task's gold reward
}

// ScoreCompletion scores prompt + completion + EOS (eos < 0: none) under
// policy, and under ref (nil: none) with the DPO implicit reward
// β·(log π − log π_ref), verifier v and gold (nil: none) when given.
func ScoreCompletion(policy, ref *model.Model, v, gold Verifier, beta float64, eos int, prompt, completion []int32) (CompletionScore, error) {
	seq := append(append([]int32(nil), prompt...), completion...)
	if eos >= 0 {
		seq = append(seq, int32(eos))
	}
	if len(prompt) == 0 {
		return CompletionScore{}, errors.New("an empty prompt: the first token has nothing to condition on")
	}
	logps := func(m *model.Model) ([]float32, float64, error) {
		o, err := m.Forward(model.Batch{Tokens: [][]int32{seq}, PromptLen: []int{len(prompt)}}, model.ForwardOptions{})
		if err != nil {
			return nil, 0, err
		}
		return append([]float32(nil), o.LogProbs[len(prompt):len(seq)]...), o.SeqLogProb[0], nil
	}
	var c CompletionScore
	var err error
	if c.Logps, c.LogpSum, err = logps(policy); err != nil {
		return c, fmt.Errorf("model: %w", err)
	}
	c.Tokens = len(c.Logps)
	if ref != nil {
		rl, rs, err := logps(ref)
		if err != nil {
			return c, fmt.Errorf("ref: %w", err)
		}
		ir := beta * (c.LogpSum - rs)
		c.RefLogps, c.RefLogpSum, c.ImplicitReward = rl, &rs, &ir
	}
	for _, s := range []struct {
		v   Verifier
		dst **float64
	}{{v, &c.Reward}, {gold, &c.Gold}} {
		if s.v == nil {
			continue
		}
		r, err := s.v.Score([][]int32{prompt}, [][]int32{completion})
		if err != nil {
			return c, err
		}
		*s.dst = &r[0]
	}
	return c, nil
}
