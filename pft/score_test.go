package pft

import (
	"math"
	"testing"

	"roads/model"
)

// TestScoreCompletion: the per-token log-probs are those of a full forward
// pass over prompt + completion + EOS (and sum to logp_sum); the implicit
// reward is β·(log π − log π_ref), 0 against the policy itself; the verifier
// and gold scores are the verifiers' own; an empty prompt is refused.
func TestScoreCompletion(t *testing.T) {
	policy, ref := newToyPolicy(t, 1), newToyPolicy(t, 2)
	task := newToyTask()
	prompt, completion := []int32{toyFirst, toyFirst + 1, toyFirst + 2, toySep}, []int32{toyFirst, toyFirst + 3}
	eos := policy.Config().EOSTokenID
	c, err := ScoreCompletion(policy, ref, Gold{Task: task}, Gold{Task: task}, 0.5, eos, prompt, completion)
	if err != nil {
		t.Fatal(err)
	}
	seq := append(append(append([]int32(nil), prompt...), completion...), int32(eos))
	out, err := policy.Forward(model.Batch{Tokens: [][]int32{seq}, PromptLen: []int{len(prompt)}}, model.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Tokens != len(completion)+1 || len(c.Logps) != c.Tokens {
		t.Fatalf("tokens %d, logps %d, want %d", c.Tokens, len(c.Logps), len(completion)+1)
	}
	var sum float64
	for i, lp := range c.Logps {
		if lp != out.LogProbs[len(prompt)+i] {
			t.Errorf("logps[%d] = %v, forward pass %v", i, lp, out.LogProbs[len(prompt)+i])
		}
		sum += float64(lp)
	}
	near(t, "logp_sum", c.LogpSum, sum, 1e-5)
	near(t, "implicit reward", *c.ImplicitReward, 0.5*(c.LogpSum-*c.RefLogpSum), 1e-12)
	if *c.RefLogpSum == c.LogpSum {
		t.Error("two different models gave the same log-prob")
	}
	gold, err := task.Gold(prompt, completion)
	if err != nil {
		t.Fatal(err)
	}
	if *c.Reward != gold || *c.Gold != gold {
		t.Errorf("reward %v gold %v, want %v", *c.Reward, *c.Gold, gold)
	}
	self, err := ScoreCompletion(policy, policy, nil, nil, 0.5, eos, prompt, completion)
	if err != nil {
		t.Fatal(err)
	}
	if *self.ImplicitReward != 0 || self.Reward != nil || self.Gold != nil || math.IsNaN(self.LogpSum) {
		t.Errorf("against itself: implicit %v reward %v gold %v", *self.ImplicitReward, self.Reward, self.Gold)
	}
	_, err = ScoreCompletion(policy, nil, nil, nil, 0.5, eos, nil, completion)
	wantErr(t, err, "empty prompt")
}
