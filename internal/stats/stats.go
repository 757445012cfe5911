// Package stats is roads' one implementation of a mean with a 95% confidence
// interval. Two interval kinds exist, on purpose:
//
//   - T95, Student's t with n−1 degrees of freedom: for means over a few
//     independent units (seeds, paired seeds of a contrast, theory datasets),
//     where the normal quantile would understate the width (t_{0.975,2} = 4.30
//     against 1.96). Package report and package theory use it.
//   - Z95, the normal approximation: for gold evaluation's means over hundreds
//     of held-out prompts (package eval), where t and z differ by under 0.3%
//     (t_{0.975,200} = 1.972) and the committed result records were computed
//     with it.
//
// Sums run in input order, so the same values give bit-identical results.
package stats

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Z975 is the 0.975 quantile of the standard normal distribution.
const Z975 = 1.959963984540054

// TQuantile is the p-quantile of Student's t with df degrees of freedom
// (TQuantile(0.975, 2) = 4.303).
func TQuantile(p float64, df int) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Quantile(p)
}

// MeanSD returns the mean of xs and its Bessel-corrected standard deviation
// (NaN for both when xs is empty, NaN SD when it has one value).
func MeanSD(xs []float64) (mean, sd float64) {
	n := len(xs)
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	mean = sum / float64(n)
	if n < 2 {
		return mean, math.NaN()
	}
	ss := 0.0
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(n-1))
}

// T95 is the half-width t_{0.975, n−1} · sd / √n of the 95% t-interval of a
// mean over n units (NaN when n < 2).
func T95(sd float64, n int) float64 {
	if n < 2 {
		return math.NaN()
	}
	return TQuantile(0.975, n-1) * sd / math.Sqrt(float64(n))
}

// Z95 is the half-width 1.96 · sd / √n of the normal-approximation 95%
// interval of a mean over n values (NaN when n < 2).
func Z95(sd float64, n int) float64 {
	if n < 2 {
		return math.NaN()
	}
	return Z975 * sd / math.Sqrt(float64(n))
}
