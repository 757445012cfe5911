// Package eval holds roads' gold judge: the Policy interface that samplers and
// trained models satisfy, scripted baseline policies, Bradley–Terry preference
// generation labelled by a task's gold reward, and held-out evaluation (gold
// reward, win rate against the reference, KL to a reference policy, length,
// EOS rate, ROUGE-L, sample tables).
package eval

import (
	"fmt"
	"math"

	"roads/task"
)

// GenOptions controls sampling.
type GenOptions struct {
	// MaxNewTokens caps the completion length; a completion that reaches it
	// ends without EOS. Zero means the task's horizon.
	MaxNewTokens int
	// Temperature 1 samples the policy; 0 decodes greedily.
	Temperature float64
	// Seed makes sampling reproducible: row i of a call draws from the
	// stream (Seed, i), so results do not depend on batching.
	Seed uint64
}

// Policy is what the judge needs from a model. Implementations restrict
// outputs to the task's AllowedOutput mask in both methods.
type Policy interface {
	// Generate samples one completion per prompt: token ids without EOS/PAD,
	// whether each ended with EOS (false when cut at MaxNewTokens), and the
	// log-probabilities of the sampled tokens under the policy itself
	// (temperature 1), one per token plus one for the EOS when it ended.
	Generate(prompts [][]int32, opt GenOptions) (completions [][]int32, endedWithEOS []bool, logps [][]float32, err error)
	// LogProbs returns Σ_t log π(completion_t | prompt, completion_<t) at
	// temperature 1; the caller appends EOS to a completion that ended with it.
	LogProbs(prompts, completions [][]int32) ([]float64, error)
}

// Scripted is a baseline policy defined by the task itself: the demonstration
// script at a corruption rate (rate 0 = the reference), or uniform random
// over the allowed outputs. Its next-token distribution is exact, so its
// log-probabilities and KLs are exact too. Smoothing mixes in a uniform
// distribution over the allowed outputs (EOS included) so that every
// completion has finite log-probability.
type Scripted struct {
	Task      *task.Task
	Rate      float64 // corruption rate of the demo script
	Smoothing float64 // weight of the uniform mixture, in [0, 1]
	Uniform   bool    // ignore the script: uniform over the allowed outputs
	name      string
	outputs   []int32 // allowed output ids, EOS included
}

// NewReference is the policy that writes the reference completion (with
// probability 1-smoothing at every step).
func NewReference(t *task.Task, smoothing float64) *Scripted {
	return newScripted(t, 0, smoothing, false, "reference")
}

// NewCorrupt writes demonstrations at the given corruption rate: at the
// task's DemoRate it is the ideal SFT policy (the demonstrator itself).
func NewCorrupt(t *task.Task, rate, smoothing float64) *Scripted {
	return newScripted(t, rate, smoothing, false, fmt.Sprintf("corrupt:%g", rate))
}

// NewRandom samples uniformly from the allowed outputs (EOS included) at
// every step until EOS or the horizon.
func NewRandom(t *task.Task) *Scripted { return newScripted(t, 0, 1, true, "random") }

func newScripted(t *task.Task, rate, smoothing float64, uniform bool, name string) *Scripted {
	s := &Scripted{Task: t, Rate: rate, Smoothing: smoothing, Uniform: uniform, name: name}
	for id, ok := range t.AllowedOutput() {
		if ok {
			s.outputs = append(s.outputs, int32(id))
		}
	}
	return s
}

// String names the policy ("reference", "random", "corrupt:0.5").
func (s *Scripted) String() string { return s.name }

// stepper yields the next-token distribution along a growing completion.
type stepper struct {
	s      *Scripted
	parser *task.Parser // nil for the uniform policy
	probs  []float64    // scratch, vocabulary-sized
}

func (s *Scripted) newStepper(prompt []int32) (*stepper, error) {
	st := &stepper{s: s, probs: make([]float64, s.Task.Tokenizer().VocabSize())}
	if s.Uniform || s.Smoothing >= 1 {
		return st, nil
	}
	if s.Rate < 0 || s.Rate > 1 || s.Smoothing < 0 {
		return nil, fmt.Errorf("eval: policy %s: rate %v and smoothing %v must lie in [0, 1]", s.name, s.Rate, s.Smoothing)
	}
	sc, err := s.Task.DemoScript(prompt, s.Rate)
	if err != nil {
		return nil, err
	}
	st.parser = sc.NewParser()
	return st, nil
}

// dist returns the full next-token distribution (vocabulary-sized).
func (st *stepper) dist() []float64 {
	for i := range st.probs {
		st.probs[i] = 0
	}
	eps := st.s.Smoothing
	if st.parser == nil || !st.parser.OnSupport() {
		eps = 1
	} else {
		toks, ps := st.parser.Dist()
		for i, t := range toks {
			st.probs[t] += (1 - eps) * ps[i]
		}
	}
	if eps > 0 {
		u := eps / float64(len(st.s.outputs))
		for _, t := range st.s.outputs {
			st.probs[t] += u
		}
	}
	return st.probs
}

func (st *stepper) advance(tok int32) {
	if st.parser != nil && st.parser.OnSupport() {
		st.parser.Advance(tok)
	}
}

// Generate implements Policy.
func (s *Scripted) Generate(prompts [][]int32, opt GenOptions) ([][]int32, []bool, [][]float32, error) {
	maxNew := opt.MaxNewTokens
	if maxNew <= 0 {
		maxNew = s.Task.Horizon()
	}
	if opt.Temperature < 0 {
		return nil, nil, nil, fmt.Errorf("eval: temperature %v is negative", opt.Temperature)
	}
	eos := s.Task.Tokenizer().EOS()
	comps := make([][]int32, len(prompts))
	ended := make([]bool, len(prompts))
	logps := make([][]float32, len(prompts))
	for i, p := range prompts {
		st, err := s.newStepper(p)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("eval: prompt %d: %w", i, err)
		}
		r := task.NewRNG(opt.Seed, uint64(i))
		for len(comps[i]) < maxNew {
			probs := st.dist()
			tok := pick(probs, opt.Temperature, r)
			logps[i] = append(logps[i], float32(math.Log(probs[tok])))
			if tok == eos {
				ended[i] = true
				break
			}
			comps[i] = append(comps[i], tok)
			st.advance(tok)
		}
		if comps[i] == nil {
			comps[i] = []int32{}
		}
	}
	return comps, ended, logps, nil
}

// pick samples from probs at a temperature (0 = argmax, lowest id on ties).
func pick(probs []float64, temperature float64, r *task.RNG) int32 {
	if temperature == 0 {
		best := 0
		for i, p := range probs {
			if p > probs[best] {
				best = i
			}
		}
		return int32(best)
	}
	if temperature == 1 {
		return int32(r.Categorical(probs))
	}
	w := make([]float64, len(probs))
	for i, p := range probs {
		if p > 0 {
			w[i] = math.Pow(p, 1/temperature)
		}
	}
	return int32(r.Categorical(w))
}

// LogProbs implements Policy.
func (s *Scripted) LogProbs(prompts, completions [][]int32) ([]float64, error) {
	if len(prompts) != len(completions) {
		return nil, fmt.Errorf("eval: LogProbs got %d prompts and %d completions", len(prompts), len(completions))
	}
	out := make([]float64, len(prompts))
	for i, p := range prompts {
		st, err := s.newStepper(p)
		if err != nil {
			return nil, fmt.Errorf("eval: prompt %d: %w", i, err)
		}
		for _, tok := range completions[i] {
			probs := st.dist()
			if tok < 0 || int(tok) >= len(probs) {
				return nil, fmt.Errorf("eval: completion %d: token %d outside the vocabulary", i, tok)
			}
			out[i] += math.Log(probs[tok])
			st.advance(tok)
		}
	}
	return out, nil
}
