package eval

import (
	"fmt"
	"math"
)

// Truncated is a length-rule baseline: its base policy, stopped after at most
// MaxTokens tokens. A completion the base would have continued past MaxTokens
// ends there with a forced EOS (probability 1), so
//
//	π_L(y) = π(y)                      if y ends with EOS within L tokens,
//	π_L(y) = π(y_1..y_L)               if |y| = L and the EOS was forced,
//	π_L(y) = 0                         for anything longer,
//
// and KL(π_L‖π) = E_{y~π_L}[−log π(EOS | y_1..y_L) · 1{forced}] ≥ 0.
//
// Why it exists: on summarize an empty completion scores 0 and a weak SFT
// model's extra tokens are worth less than nothing on average, so "stop
// after L tokens" already beats the SFT model. A preference-trained arm
// that does not beat this baseline has learned a stopping rule, nothing more
// (docs/results/summarize-findings-2026-11-28.md, "Length").
type Truncated struct {
	Base      Policy
	MaxTokens int   // L ≥ 0
	Horizon   int   // the base policy's own cap (the task horizon); L ≥ Horizon is the base itself
	EOS       int32 // the EOS id LogProbs sees appended to ended completions
}

func (p *Truncated) cuts() bool { return p.MaxTokens < p.Horizon }

// Generate samples the base policy with MaxNewTokens = L and forces EOS on
// every completion that reached L tokens without one.
func (p *Truncated) Generate(prompts [][]int32, opt GenOptions) ([][]int32, []bool, [][]float32, error) {
	if p.MaxTokens < 0 {
		return nil, nil, nil, fmt.Errorf("truncated policy: max_tokens %d < 0", p.MaxTokens)
	}
	capLen := opt.MaxNewTokens
	if capLen == 0 {
		capLen = p.Horizon
	}
	if !p.cuts() || capLen <= p.MaxTokens {
		return p.Base.Generate(prompts, opt)
	}
	o := opt
	o.MaxNewTokens = p.MaxTokens
	if p.MaxTokens == 0 { // the empty completion, EOS with probability 1
		comps := make([][]int32, len(prompts))
		ended := make([]bool, len(prompts))
		logps := make([][]float32, len(prompts))
		for i := range prompts {
			comps[i], ended[i], logps[i] = []int32{}, true, []float32{0}
		}
		return comps, ended, logps, nil
	}
	comps, ended, logps, err := p.Base.Generate(prompts, o)
	if err != nil {
		return nil, nil, nil, err
	}
	for i := range comps {
		if !ended[i] && len(comps[i]) == p.MaxTokens {
			ended[i] = true
			logps[i] = append(logps[i], 0) // the forced EOS: log 1
		}
	}
	return comps, ended, logps, nil
}

// LogProbs is log π_L of each completion (EOS appended by the caller when it
// ended): the base's log-probability, without the EOS term when the EOS sits
// at position L (it was forced), and −Inf for completions longer than L.
func (p *Truncated) LogProbs(prompts, completions [][]int32) ([]float64, error) {
	if !p.cuts() {
		return p.Base.LogProbs(prompts, completions)
	}
	scored := make([][]int32, len(completions))
	for i, c := range completions {
		scored[i] = c
		if len(c) == p.MaxTokens+1 && c[len(c)-1] == p.EOS {
			scored[i] = c[:p.MaxTokens]
		}
	}
	out, err := p.Base.LogProbs(prompts, scored)
	if err != nil {
		return nil, err
	}
	for i, c := range completions {
		if len(c) > p.MaxTokens+1 || (len(c) == p.MaxTokens+1 && c[len(c)-1] != p.EOS) {
			out[i] = math.Inf(-1)
		}
	}
	return out, nil
}
