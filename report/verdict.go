package report

import (
	"fmt"
	"math"
	"roads/internal/stats"

	"roads/exp"
)

// Judge applies the verdict rule to a contrast's estimate s (a paired
// difference, or a difference of differences) given what was predicted and
// the equivalence margin m ≥ 0 (in the metric's units):
//
//	n < 2 (no interval):                        inconclusive
//	expect "positive":
//	  supported      if low > 0 and mean > m     (an effect in the predicted direction, beyond the margin)
//	  not supported  if high < 0                 (an effect in the other direction)
//	              or if −m ≤ low and high ≤ m    (the whole interval within the margin: no effect worth the name)
//	  inconclusive   otherwise
//	expect "negative": the mirror image (the contrast negated)
//	expect "zero" (m > 0):
//	  supported      if −m ≤ low and high ≤ m    (equivalence: the interval within the margin)
//	  not supported  if the interval excludes 0 and |mean| > m
//	  inconclusive   otherwise
//
// The two directional and the zero rule are duals: an effect has to clear
// both "excludes 0" and "bigger than the margin" to count as one, and the
// whole interval has to sit within the margin to count as none.
func Judge(expect string, m float64, s Stat) (verdict, reason string) {
	if !s.HasCI() {
		return exp.Inconclusive, fmt.Sprintf("n = %d: a confidence interval needs at least 2 paired units", s.N)
	}
	within := -m <= s.Low && s.High <= m
	switch expect {
	case exp.ExpectNegative:
		neg := Stat{Mean: -s.Mean, SD: s.SD, Low: -s.High, High: -s.Low, N: s.N}
		return Judge(exp.ExpectPositive, m, neg)
	case exp.ExpectPositive:
		switch {
		case s.Low > 0 && s.Mean > m:
			return exp.Supported, "the interval excludes 0 in the predicted direction" + beyond(m)
		case s.High < 0:
			return exp.NotSupported, "the interval excludes 0 in the opposite direction"
		case m > 0 && within:
			return exp.NotSupported, fmt.Sprintf("the whole interval lies within the equivalence margin ±%s", num(m))
		case s.Low > 0:
			return exp.Inconclusive, fmt.Sprintf("the interval excludes 0 but the mean is within the margin ±%s", num(m))
		default:
			return exp.Inconclusive, "the interval contains 0"
		}
	case exp.ExpectZero:
		switch {
		case within:
			return exp.Supported, fmt.Sprintf("the whole interval lies within the equivalence margin ±%s", num(m))
		case (s.Low > 0 || s.High < 0) && math.Abs(s.Mean) > m:
			return exp.NotSupported, fmt.Sprintf("the interval excludes 0 and the mean is beyond the margin ±%s", num(m))
		default:
			return exp.Inconclusive, fmt.Sprintf("the interval is neither within ±%s nor clear of 0", num(m))
		}
	}
	return exp.Inconclusive, fmt.Sprintf("unknown expectation %q", expect)
}

func beyond(m float64) string {
	if m > 0 {
		return fmt.Sprintf(" and the mean exceeds the margin %s", num(m))
	}
	return ""
}

// Hypothesis is one of the paper's explanations of why online fine-tuning
// beats offline (paper.md §3), with the paper's own conclusion.
type Hypothesis struct {
	ID, Name string
	// Paper is the paper's verdict: H1–H5 are argued not to be the root
	// cause, H6 gets the most support.
	Paper string
}

// Hypotheses H1–H6 (names from the authors' slides and notes, paper.md §3).
var Hypotheses = []Hypothesis{
	{"H1", "on-policy samples provide unique information not present in the offline data", exp.NotSupported},
	{"H2", "offline fine-tuning regularises to the reference policy worse than online fine-tuning", exp.NotSupported},
	{"H3", "online fine-tuning is easier to optimise (on-policy samples add useful constraints)", exp.NotSupported},
	{"H4", "global reward models can be trained on wider data than policies", exp.NotSupported},
	{"H5", "global reward models generalise better out of distribution", exp.NotSupported},
	{"H6", "generation–verification gap: a simple verifier is easy to learn and RL then searches only policies optimal for simple verifiers", exp.Supported},
}

// HypothesisVerdict combines the comparisons that test one hypothesis.
type HypothesisVerdict struct {
	Hypothesis  Hypothesis
	Verdict     string
	Reason      string
	Comparisons []*ContrastResult
	// AgreesWithPaper is nil when the verdict is inconclusive.
	AgreesWithPaper *bool
}

// combine turns comparison verdicts into a hypothesis verdict: with no
// decisive comparison (all inconclusive, or none run), inconclusive; if every
// decisive one agrees, their verdict (noting any inconclusive ones); if they
// disagree, inconclusive (mixed evidence).
func combine(h Hypothesis, cs []*ContrastResult) HypothesisVerdict {
	v := HypothesisVerdict{Hypothesis: h, Comparisons: cs}
	var withData []*ContrastResult
	for _, c := range cs {
		if c.Estimate.N > 0 {
			withData = append(withData, c)
		}
	}
	if len(withData) == 0 {
		v.Verdict, v.Reason = exp.Inconclusive, "no results: the experiments testing it have no complete comparison yet"
		return v
	}
	cs = withData
	var sup, not, inc int
	for _, c := range cs {
		switch c.Verdict {
		case exp.Supported:
			sup++
		case exp.NotSupported:
			not++
		default:
			inc++
		}
	}
	switch {
	case sup == 0 && not == 0:
		v.Verdict, v.Reason = exp.Inconclusive, fmt.Sprintf("all %d comparisons are inconclusive", len(cs))
	case sup > 0 && not > 0:
		v.Verdict, v.Reason = exp.Inconclusive, fmt.Sprintf("mixed evidence: %d comparisons support it, %d do not", sup, not)
	case sup > 0:
		v.Verdict, v.Reason = exp.Supported, fmt.Sprintf("%d of %d comparisons support it", sup, len(cs))
	default:
		v.Verdict, v.Reason = exp.NotSupported, fmt.Sprintf("%d of %d comparisons do not support it", not, len(cs))
	}
	if inc > 0 && (sup > 0) != (not > 0) {
		v.Reason += fmt.Sprintf(" (%d inconclusive)", inc)
	}
	if v.Verdict != exp.Inconclusive {
		agree := v.Verdict == h.Paper
		v.AgreesWithPaper = &agree
	}
	return v
}

// MaxSeedsToDecide bounds SeedsToDecide's search.
const MaxSeedsToDecide = 1000

// SeedsToDecide is how many paired units (seeds) an inconclusive contrast
// would need for Judge to decide it if its mean and standard deviation stayed
// as measured: the smallest n > s.N for which Judge, given the interval
// mean ± t(n−1)·SD/√n, is no longer inconclusive. It returns 0 when the
// verdict is already decided or cannot be estimated (n < 2, SD 0 or NaN), and
// −1 when no n up to MaxSeedsToDecide suffices (a mean inside the margin's
// "excludes 0 but within ±m" band, say). A planning figure, not a power
// analysis: the next seeds will move the mean.
func SeedsToDecide(expect string, m float64, s Stat) int {
	if !s.HasCI() || !(s.SD > 0) {
		return 0
	}
	if v, _ := Judge(expect, m, s); v != exp.Inconclusive {
		return 0
	}
	for n := s.N + 1; n <= MaxSeedsToDecide; n++ {
		hw := stats.T95(s.SD, n)
		if v, _ := Judge(expect, m, Stat{Mean: s.Mean, SD: s.SD, Low: s.Mean - hw, High: s.Mean + hw, N: n}); v != exp.Inconclusive {
			return n
		}
	}
	return -1
}
