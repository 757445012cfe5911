// Package report turns a results store (package exp) into what the
// experiments show: report.md with one table per experiment (mean ± 95% CI
// over seeds), paired contrasts with computed verdicts for the paper's
// hypotheses H1–H6, PNG plots, a CSV of every cell, and sample tables.
//
// Nothing in a report is written by hand: every number comes from the
// records, every verdict from the rule in Judge, and a verdict that differs
// from the paper's says so.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"roads/internal/stats"
)

// Stat is a mean over independent units (seeds, or paired seeds for a
// contrast) with its 95% Student-t interval. Low and High are NaN when there
// are fewer than two values (no interval can be formed).
type Stat struct {
	Mean, SD, Low, High float64
	N                   int
}

// TQuantile is the p-quantile of Student's t with df degrees of freedom
// (TQuantile(0.975, 2) = 4.303).
func TQuantile(p float64, df int) float64 { return stats.TQuantile(p, df) }

// Interval is the mean of xs with the 95% t-interval
// mean ± t_{0.975, n−1} · sd / √n, sd the Bessel-corrected standard
// deviation (internal/stats). Values are summed in order, so the result is
// deterministic.
func Interval(xs []float64) Stat {
	s := Stat{N: len(xs), Low: math.NaN(), High: math.NaN()}
	s.Mean, s.SD = stats.MeanSD(xs)
	if s.N < 2 {
		return s
	}
	half := stats.T95(s.SD, s.N)
	s.Low, s.High = s.Mean-half, s.Mean+half
	return s
}

// HasCI reports whether the interval exists (n ≥ 2).
func (s Stat) HasCI() bool { return s.N >= 2 && !math.IsNaN(s.Low) }

// HalfWidth is the interval's half width (NaN without one).
func (s Stat) HalfWidth() float64 { return (s.High - s.Low) / 2 }

// String renders "mean ± half" (or "mean (n=1)").
func (s Stat) String() string {
	switch {
	case s.N == 0:
		return "–"
	case !s.HasCI():
		return fmt.Sprintf("%s (n=1)", num(s.Mean))
	}
	return fmt.Sprintf("%s ± %s", num(s.Mean), num(s.HalfWidth()))
}

// Bracket renders "mean [low, high]".
func (s Stat) Bracket() string {
	if !s.HasCI() {
		return s.String()
	}
	return fmt.Sprintf("%s [%s, %s]", signed(s.Mean), signed(s.Low), signed(s.High))
}

// MarshalJSON writes {"mean", "ci95_low", "ci95_high", "sd", "n"}, leaving out
// what is undefined.
func (s Stat) MarshalJSON() ([]byte, error) {
	m := map[string]any{"n": s.N}
	put := func(k string, v float64) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			m[k] = v
		}
	}
	put("mean", s.Mean)
	put("sd", s.SD)
	put("ci95_low", s.Low)
	put("ci95_high", s.High)
	return json.Marshal(m)
}

// num formats a number with 4 significant digits, without exponent for
// ordinary magnitudes.
func num(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	a := math.Abs(x)
	switch {
	case a == 0:
		return "0"
	case a >= 1000 || a < 1e-3:
		return fmt.Sprintf("%.3g", x)
	case a >= 100:
		return fmt.Sprintf("%.1f", x)
	case a >= 10:
		return fmt.Sprintf("%.2f", x)
	case a >= 1:
		return fmt.Sprintf("%.3f", x)
	default:
		return fmt.Sprintf("%.4f", x)
	}
}

// signed is num with an explicit + for positive numbers (differences).
func signed(x float64) string {
	if x > 0 {
		return "+" + num(x)
	}
	return num(x)
}
