package theory

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Pair is one Bradley–Terry comparison between trajectories I and J. Y is the
// label as a probability that I is preferred (1 or 0 for a hard label, in
// between for a soft label, i.e. expected counts), W a multiplicity.
type Pair struct {
	I, J int
	Y, W float64
}

// btNegLogLik returns −Σ W [Y log σ(Δ) + (1−Y) log σ(−Δ)], Δ = r(I) − r(J),
// and, when grad is non-nil, adds scale · ∂/∂r of it into grad.
func btNegLogLik(pairs []Pair, r, grad []float64, scale float64) float64 {
	f := 0.0
	for _, p := range pairs {
		d := r[p.I] - r[p.J]
		f -= p.W * (p.Y*logSigmoid(d) + (1-p.Y)*logSigmoid(-d))
		if grad != nil {
			g := -p.W * (p.Y - sigmoid(d)) * scale
			grad[p.I] += g
			grad[p.J] -= g
		}
	}
	return f
}

// btHessVec adds scale · (∇² btNegLogLik) v into out.
func btHessVec(pairs []Pair, r, v, out []float64, scale float64) {
	for _, p := range pairs {
		s := sigmoid(r[p.I] - r[p.J])
		c := p.W * s * (1 - s) * (v[p.I] - v[p.J]) * scale
		out[p.I] += c
		out[p.J] -= c
	}
}

// btCurvDiag adds scale · diag(∇² btNegLogLik) into out.
func btCurvDiag(pairs []Pair, r, out []float64, scale float64) {
	for _, p := range pairs {
		s := sigmoid(r[p.I] - r[p.J])
		c := p.W * s * (1 - s) * scale
		out[p.I] += c
		out[p.J] += c
	}
}

// LabelKind selects how the labels of a random preference dataset are drawn.
type LabelKind int

const (
	// HardLabels: y ~ Bernoulli(σ(r(I) − r(J))) for a hidden reward r.
	HardLabels LabelKind = iota
	// SoftLabels: y = σ(r(I) − r(J)), the expected label (expected counts).
	SoftLabels
	// SeparableLabels: y = 1 iff r(I) > r(J): perfectly separable data, on
	// which the unregularised BT MLE has no finite maximiser.
	SeparableLabels
)

func (k LabelKind) String() string {
	switch k {
	case HardLabels:
		return "hard"
	case SoftLabels:
		return "soft"
	case SeparableLabels:
		return "separable"
	}
	return "unknown"
}

// RandomPrefs draws n pairs of distinct trajectories uniformly from support
// (a subset of trajectories: this controls coverage) and labels them with
// hidden reward r according to kind.
func RandomPrefs(rng *rand.Rand, support []int, n int, r []float64, kind LabelKind) []Pair {
	pairs := make([]Pair, 0, n)
	for len(pairs) < n {
		i := support[rng.IntN(len(support))]
		j := support[rng.IntN(len(support))]
		if i == j {
			continue
		}
		p := sigmoid(r[i] - r[j])
		y := p
		switch kind {
		case HardLabels:
			y = 0
			if rng.Float64() < p {
				y = 1
			}
		case SeparableLabels:
			y = 0
			if r[i] > r[j] {
				y = 1
			}
		}
		pairs = append(pairs, Pair{I: i, J: j, Y: y, W: 1})
	}
	return pairs
}

// SampleTraj draws a trajectory from the distribution with log-probabilities
// logP by inverting its CDF (cdf is the precomputed cumulative sum).
func SampleTraj(rng *rand.Rand, cdf []float64) int {
	u := rng.Float64() * cdf[len(cdf)-1]
	i := sort.SearchFloat64s(cdf, u)
	if i >= len(cdf) {
		i = len(cdf) - 1
	}
	return i
}

// CDF returns the cumulative sums of exp(logP).
func CDF(logP []float64) []float64 {
	c := make([]float64, len(logP))
	s := 0.0
	for i, lp := range logP {
		s += math.Exp(lp)
		c[i] = s
	}
	return c
}

// Touched returns the number of distinct trajectories a dataset mentions.
func Touched(pairs []Pair) int {
	seen := map[int]bool{}
	for _, p := range pairs {
		seen[p.I] = true
		seen[p.J] = true
	}
	return len(seen)
}

// randomSubset returns m distinct trajectories chosen uniformly, sorted.
func randomSubset(rng *rand.Rand, numTraj, m int) []int {
	if m >= numTraj {
		all := make([]int, numTraj)
		for i := range all {
			all[i] = i
		}
		return all
	}
	seen := map[int]bool{}
	out := make([]int, 0, m)
	for len(out) < m {
		x := rng.IntN(numTraj)
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Ints(out)
	return out
}

// randomPolicy returns a tabular policy with logits drawn N(0, scale²).
func randomPolicy(rng *rand.Rand, t *Tree, scale float64) []float64 {
	theta := make([]float64, t.NumNodes*t.V)
	for i := range theta {
		theta[i] = scale * rng.NormFloat64()
	}
	logpi := make([]float64, len(theta))
	t.LogSoftmax(theta, logpi)
	return logpi
}
