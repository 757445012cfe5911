package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"roads/internal/stats"
	"strings"

	"roads/task"
)

// Options configures Evaluate.
type Options struct {
	// Prompts are the held-out prompts; nil means N prompts of the task's
	// test split, stream 0 (the same set for every run of a task).
	Prompts [][]int32
	N       int // used when Prompts is nil; default 500
	// SamplesPerPrompt completions are drawn per prompt (default 2).
	SamplesPerPrompt int
	Temperature      float64 // sampling temperature (1 when zero and !Greedy)
	Greedy           bool
	MaxNewTokens     int // 0 = the task's horizon
	Seed             uint64
	TableRows        int // prompts shown in the sample table (default 5)
}

// Interval is a mean with its 95% confidence interval (normal approximation
// over prompts: every prompt's samples are averaged first, so samples of the
// same prompt are not treated as independent).
type Interval struct {
	Mean float64 `json:"mean"`
	Low  float64 `json:"ci95_low"`
	High float64 `json:"ci95_high"`
}

func (iv Interval) String() string {
	return fmt.Sprintf("%.4f  [%.4f, %.4f]", iv.Mean, iv.Low, iv.High)
}

// KLEstimatorName documents the KL estimator.
const KLEstimatorName = "k1: mean over samples y~π of log π(y) - log π_ref(y), sequence level (EOS included), nats; unbiased, can be negative in finite samples"

// KLEstimate is KL(π‖π_ref) with its interval and estimator.
type KLEstimate struct {
	Interval
	Estimator string `json:"estimator"`
}

// SampleRow is one line of the report's sample table.
type SampleRow struct {
	Prompt          string  `json:"prompt"`
	Completion      string  `json:"completion"`
	EndedWithEOS    bool    `json:"ended_with_eos"`
	Reward          float64 `json:"reward"`
	Reference       string  `json:"reference"`
	ReferenceReward float64 `json:"reference_reward"`
}

// Report is a gold evaluation of one policy on held-out prompts.
type Report struct {
	Task             string  `json:"task"`
	Model            string  `json:"model,omitempty"`
	Ref              string  `json:"ref,omitempty"`
	Prompts          int     `json:"prompts"`
	SamplesPerPrompt int     `json:"samples_per_prompt"`
	Temperature      float64 `json:"temperature"`
	// Gold is the mean gold reward; ReferenceGold is the reference
	// completions' mean (the best achievable, or close to it).
	Gold          Interval `json:"gold_reward"`
	ReferenceGold float64  `json:"reference_gold_reward"`
	// WinRate against the reference completion by gold reward: a win
	// counts 1, a tie 1/2.
	WinRate Interval `json:"win_rate_vs_reference"`
	// KL is nil without a reference policy, or when sampling is not at
	// temperature 1 (the samples would not come from π).
	KL         *KLEstimate `json:"kl,omitempty"`
	KLNote     string      `json:"kl_note,omitempty"`
	MeanLength float64     `json:"mean_length"`
	// ReferenceMeanLength is the reference completions' mean length (no
	// EOS), the yardstick of MeanLength.
	ReferenceMeanLength float64 `json:"reference_mean_length"`
	EOSRate             float64 `json:"eos_rate"`
	// RougeL is the ROUGE-L F1 of completions against the reference.
	RougeL  Interval    `json:"rouge_l_f1"`
	Samples []SampleRow `json:"samples"`
}

// interval computes the mean and 95% CI of per-prompt values: the normal
// approximation (internal/stats.Z95), because an evaluation averages
// hundreds of prompts, where t and z differ by under 0.3%; means over a few
// seeds use the t interval (package report).
func interval(perPrompt []float64) Interval {
	if len(perPrompt) == 0 {
		return Interval{}
	}
	mean, sd := stats.MeanSD(perPrompt)
	if len(perPrompt) < 2 {
		return Interval{mean, mean, mean}
	}
	half := stats.Z95(sd, len(perPrompt))
	return Interval{mean, mean - half, mean + half}
}

// Evaluate samples completions from model on held-out prompts and scores them
// with the task's gold reward. ref may be nil (no KL).
func Evaluate(t *task.Task, model, ref Policy, opt Options) (*Report, error) {
	prompts := opt.Prompts
	if prompts == nil {
		n := opt.N
		if n <= 0 {
			n = 500
		}
		prompts = t.Prompts(task.Test, 0, n)
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("eval: no prompts to evaluate")
	}
	s := opt.SamplesPerPrompt
	if s <= 0 {
		s = 2
	}
	temp := opt.Temperature
	if temp == 0 {
		temp = 1
	}
	if opt.Greedy {
		temp = 0
	}
	rows := opt.TableRows
	if rows == 0 {
		rows = 5
	}

	batch := make([][]int32, 0, len(prompts)*s)
	for _, p := range prompts {
		for j := 0; j < s; j++ {
			batch = append(batch, p)
		}
	}
	comps, ended, _, err := model.Generate(batch, GenOptions{MaxNewTokens: opt.MaxNewTokens, Temperature: temp, Seed: opt.Seed})
	if err != nil {
		return nil, fmt.Errorf("eval: sampling: %w", err)
	}
	if len(comps) != len(batch) || len(ended) != len(batch) {
		return nil, fmt.Errorf("eval: policy returned %d completions for %d prompts", len(comps), len(batch))
	}

	rep := &Report{Task: t.Name(), Prompts: len(prompts), SamplesPerPrompt: s, Temperature: temp}
	refs := make([][]int32, len(prompts))
	refGold := make([]float64, len(prompts))
	for i, p := range prompts {
		if refs[i], err = t.Reference(p); err != nil {
			return nil, fmt.Errorf("eval: reference of prompt %d: %w", i, err)
		}
		if refGold[i], err = t.Gold(p, refs[i]); err != nil {
			return nil, err
		}
		rep.ReferenceGold += refGold[i]
		rep.ReferenceMeanLength += float64(len(refs[i]))
	}
	rep.ReferenceGold /= float64(len(prompts))
	rep.ReferenceMeanLength /= float64(len(prompts))

	goldPP := make([]float64, len(prompts))
	winPP := make([]float64, len(prompts))
	rougePP := make([]float64, len(prompts))
	gold := make([]float64, len(batch))
	var lenSum, eosSum float64
	for i, c := range comps {
		pi := i / s
		if gold[i], err = t.Gold(batch[i], c); err != nil {
			return nil, fmt.Errorf("eval: gold reward of sample %d: %w", i, err)
		}
		goldPP[pi] += gold[i] / float64(s)
		switch {
		case gold[i] > refGold[pi]:
			winPP[pi] += 1 / float64(s)
		case gold[i] == refGold[pi]:
			winPP[pi] += 0.5 / float64(s)
		}
		rougePP[pi] += task.RougeL(c, refs[pi]).F1 / float64(s)
		lenSum += float64(len(c))
		if ended[i] {
			eosSum++
		}
	}
	rep.Gold, rep.WinRate, rep.RougeL = interval(goldPP), interval(winPP), interval(rougePP)
	rep.MeanLength = lenSum / float64(len(batch))
	rep.EOSRate = eosSum / float64(len(batch))

	switch {
	case ref == nil:
		rep.KLNote = "no reference policy given"
	case temp != 1:
		rep.KLNote = fmt.Sprintf("not estimated: samples are drawn at temperature %g, not from π", temp)
	default:
		withEOS := make([][]int32, len(comps))
		for i, c := range comps {
			withEOS[i] = c
			if ended[i] {
				withEOS[i] = append(append([]int32(nil), c...), t.Tokenizer().EOS())
			}
		}
		lp, err := model.LogProbs(batch, withEOS)
		if err != nil {
			return nil, fmt.Errorf("eval: model log-probabilities: %w", err)
		}
		lr, err := ref.LogProbs(batch, withEOS)
		if err != nil {
			return nil, fmt.Errorf("eval: reference log-probabilities: %w", err)
		}
		klPP := make([]float64, len(prompts))
		for i := range lp {
			klPP[i/s] += (lp[i] - lr[i]) / float64(s)
		}
		iv := interval(klPP)
		if math.IsInf(iv.Mean, 0) || math.IsNaN(iv.Mean) {
			rep.KLNote = "infinite: the reference policy gives probability 0 to some samples"
		} else {
			rep.KL = &KLEstimate{Interval: iv, Estimator: KLEstimatorName}
		}
	}

	for i := 0; i < len(prompts) && i < rows; i++ {
		j := i * s
		rep.Samples = append(rep.Samples, SampleRow{
			Prompt: t.Decode(prompts[i]), Completion: t.Decode(comps[j]), EndedWithEOS: ended[j], Reward: gold[j],
			Reference: t.Decode(refs[i]), ReferenceReward: refGold[i],
		})
	}
	return rep, nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("eval: encode report: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteText writes a human-readable summary and a markdown sample table.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "task %s, model %s", r.Task, r.Model)
	if r.Ref != "" {
		fmt.Fprintf(&b, ", ref %s", r.Ref)
	}
	fmt.Fprintf(&b, "\n%d held-out prompts x %d samples at temperature %g (95%% CIs over prompts)\n", r.Prompts, r.SamplesPerPrompt, r.Temperature)
	fmt.Fprintf(&b, "gold reward          %s   (reference completions: %.4f)\n", r.Gold, r.ReferenceGold)
	fmt.Fprintf(&b, "win rate vs ref      %s   (ties count 1/2)\n", r.WinRate)
	if r.KL != nil {
		fmt.Fprintf(&b, "KL(pi||pi_ref)       %s   nats; estimator %s\n", r.KL.Interval, r.KL.Estimator)
	} else {
		fmt.Fprintf(&b, "KL(pi||pi_ref)       - (%s)\n", r.KLNote)
	}
	fmt.Fprintf(&b, "ROUGE-L F1 vs ref    %s\n", r.RougeL)
	fmt.Fprintf(&b, "mean length %.2f tokens (reference %.2f), EOS rate %.3f\n", r.MeanLength, r.ReferenceMeanLength, r.EOSRate)
	if len(r.Samples) > 0 {
		b.WriteString("\n" + SampleTable(r.Samples))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SampleTable renders rows as a markdown table for reports.
func SampleTable(rows []SampleRow) string {
	var b strings.Builder
	b.WriteString("| prompt | completion | reward | reference | ref reward |\n|---|---|---|---|---|\n")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, r := range rows {
		c := r.Completion
		if !r.EndedWithEOS {
			c += " (no EOS)"
		}
		fmt.Fprintf(&b, "| %s | %s | %.3f | %s | %.3f |\n", cell(r.Prompt), cell(c), r.Reward, cell(r.Reference), r.ReferenceReward)
	}
	return b.String()
}
