package pft

import (
	"fmt"
	"math"
	"sort"
	"testing"

	"roads/model"
	"roads/tok"
)

// toyTask is a hand-written task small enough for training tests to run in
// seconds: a prompt is three letters x y z and the separator; a completion of at
// most 3 tokens earns +1 for every letter equal to x (other tokens earn 0).
// The best completion is "x x x" (gold 3); an untrained policy, about uniform
// over the 9 ids, scores about 0.3. Learning it means learning to copy the
// first prompt token, which a 1-layer, 16-wide model picks up too erratically
// for DPO to pass reliably in a few hundred steps; 32 wide is reliable.
//
// Every id may be sampled (the toy model has no PAD id, and AllowedOutput
// allows everything), so the sampling distribution is exactly the policy's
// and the k1 KL estimates of the tests are unbiased. With a real task's mask
// the sampler draws from π restricted to the allowed ids while the losses use
// the unrestricted log π (see rollout.go).
type toyTask struct{ tk *tok.Words }

const (
	toySep     = int32(3) // "sep"
	toyFirst   = int32(4) // letters a…e are ids 4…8
	toyLetters = 5
	toyHorizon = 3
)

func newToyTask() toyTask {
	tk, err := tok.NewWords([]string{"sep", "a", "b", "c", "d", "e"})
	if err != nil {
		panic(err)
	}
	return toyTask{tk: tk}
}

func (toyTask) Horizon() int { return toyHorizon }

func (t toyTask) AllowedOutput() []bool {
	a := make([]bool, t.tk.VocabSize())
	for i := range a {
		a[i] = true
	}
	return a
}

func (toyTask) Gold(prompt, completion []int32) (float64, error) {
	if len(prompt) != 4 || prompt[3] != toySep {
		return 0, fmt.Errorf("toy: bad prompt %v", prompt)
	}
	if len(completion) > toyHorizon {
		return 0, fmt.Errorf("toy: completion %v longer than the horizon", completion)
	}
	g := 0.0
	for _, c := range completion {
		if c == 1 {
			return 0, fmt.Errorf("toy: completion %v contains EOS", completion)
		}
		if c == prompt[0] {
			g++
		}
	}
	return g, nil
}

// toyPrompts returns the 100 training prompts and the 25 held-out ones (x+y+z ≡ 0 mod 5).
func toyPrompts() (train, heldOut [][]int32) {
	for x := range toyLetters {
		for y := range toyLetters {
			for z := range toyLetters {
				p := []int32{toyFirst + int32(x), toyFirst + int32(y), toyFirst + int32(z), toySep}
				if (x+y+z)%5 == 0 {
					heldOut = append(heldOut, p)
				} else {
					train = append(train, p)
				}
			}
		}
	}
	return train, heldOut
}

// toyModelConfig is a 1-layer, 32-wide policy for the toy task.
func toyModelConfig() model.Config {
	c := model.NewConfig(9, 4+toyHorizon+1, 32, 1, 2)
	c.EOSTokenID, c.PadTokenID = 1, -1 // no PAD id: the sampler may emit any id
	return c
}

func newToyPolicy(t testing.TB, seed uint64) *model.Model {
	t.Helper()
	m, err := model.New(toyModelConfig(), seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// repeat returns each prompt n times (prompt-major).
func repeat(prompts [][]int32, n int) [][]int32 {
	var out [][]int32
	for _, p := range prompts {
		for range n {
			out = append(out, p)
		}
	}
	return out
}

// goldLabelledPairs samples two completions per prompt from policy and orders
// each pair by gold reward, dropping ties.
func goldLabelledPairs(t testing.TB, policy *model.Model, task Task, prompts [][]int32, seed uint64) []PreferencePair {
	t.Helper()
	s, err := sample(policy, task, prompts, 2, seed)
	if err != nil {
		t.Fatal(err)
	}
	gold, err := goldScores(task, s.prompts, s.completions)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []PreferencePair
	for i := 0; i < len(gold); i += 2 {
		switch {
		case gold[i] > gold[i+1]:
			pairs = append(pairs, PreferencePair{Prompt: s.prompts[i], Chosen: s.completions[i], Rejected: s.completions[i+1]})
		case gold[i] < gold[i+1]:
			pairs = append(pairs, PreferencePair{Prompt: s.prompts[i], Chosen: s.completions[i+1], Rejected: s.completions[i]})
		}
	}
	return pairs
}

// quietArgs are TrainArgs for tests: no progress bar, a temp output dir.
func quietArgs(t testing.TB) TrainArgs {
	a := DefaultTrainArgs()
	a.OutputDir = t.TempDir()
	a.DisableTQDM = true
	a.LoggingSteps = 5
	a.LRSchedulerType = "constant"
	return a
}

// checkParamGradient compares the analytic gradient the model accumulated
// (grad, a copy) with central differences of loss() for the few parameters
// with the largest gradients. The model computes in float32, so the step is
// large and the tolerance loose; a wrong plumbing (a missing token, a sign,
// a factor of 2) fails by far more.
func checkParamGradient(t *testing.T, m *model.Model, grad []float32, data []float32, loss func() float64) {
	t.Helper()
	idx := make([]int, len(grad))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return math.Abs(float64(grad[idx[a]])) > math.Abs(float64(grad[idx[b]])) })
	if grad[idx[0]] == 0 {
		t.Fatal("all gradients are zero")
	}
	for _, i := range idx[:6] {
		orig := data[i]
		h := float32(1e-2)
		data[i] = orig + h
		up := loss()
		data[i] = orig - h
		down := loss()
		data[i] = orig
		num := (up - down) / (2 * float64(h))
		if math.Abs(num-float64(grad[i])) > 0.03*math.Abs(num)+2e-4 {
			t.Errorf("parameter %d: analytic gradient %.6g, finite difference %.6g", i, grad[i], num)
		}
	}
}

// flatParams returns one parameter tensor's data and a copy of its gradient
// (the largest tensor that is not an embedding, where every path meets).
func flatParams(m *model.Model) (data, grad []float32) {
	for _, p := range m.Params() {
		if p.Name == "h.0.mlp.fc_in.weight" {
			return p.Data, append([]float32(nil), p.Grad...)
		}
	}
	panic("no h.0.mlp.fc_in.weight")
}

// requireGoldRise fails unless the held-out gold reward rose by at least 0.5
// (a sixth of the toy's range) and by five standard errors: far above the
// seed-to-seed noise of the evaluation.
func requireGoldRise(t *testing.T, before, after GoldEval) {
	t.Helper()
	if rise := after.Gold - before.Gold; rise < 0.5 || rise < 5*(before.GoldSE+after.GoldSE) {
		t.Errorf("held-out gold %.3f (se %.3f) → %.3f (se %.3f): want a rise of at least max(0.5, 5 se)", before.Gold, before.GoldSE, after.Gold, after.GoldSE)
	}
}
