package task

import "math"

// RNG is a small SplitMix64 generator. roads owns its generator (instead of
// math/rand) so that a task's prompts, demonstrations and labels are
// bit-identical for a given seed across Go releases.
type RNG struct{ state uint64 }

// mix64 is SplitMix64's output function (a bijective avalanche mix).
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// NewRNG derives an independent stream from a seed and any number of stream
// labels (split, index, purpose tag...): different label tuples give
// unrelated sequences.
func NewRNG(seed uint64, streams ...uint64) *RNG {
	return &RNG{state: Hash(seed, streams...)}
}

// Hash mixes a seed and labels into one 64-bit value.
func Hash(seed uint64, labels ...uint64) uint64 {
	h := mix64(seed + 0x9e3779b97f4a7c15)
	for _, l := range labels {
		h = mix64(h ^ mix64(l+0x632be59bd9b4e019))
	}
	return h
}

// Uint64 returns the next 64 random bits.
func (r *RNG) Uint64() uint64 {
	r.state += 0x9e3779b97f4a7c15
	return mix64(r.state)
}

// Float64 returns a uniform value in [0, 1).
func (r *RNG) Float64() float64 {
	return float64(r.Uint64()>>11) * (1.0 / (1 << 53))
}

// IntN returns a uniform integer in [0, n); n must be positive.
func (r *RNG) IntN(n int) int {
	if n <= 0 {
		panic("task: RNG.IntN with n <= 0")
	}
	// Rejection sampling on the top bits keeps the result exactly uniform.
	un := uint64(n)
	limit := math.MaxUint64 - math.MaxUint64%un
	for {
		x := r.Uint64()
		if x < limit {
			return int(x % un)
		}
	}
}

// IntRange returns a uniform integer in [lo, hi].
func (r *RNG) IntRange(lo, hi int) int { return lo + r.IntN(hi-lo+1) }

// Bernoulli returns true with probability p.
func (r *RNG) Bernoulli(p float64) bool { return r.Float64() < p }

// Normal returns a standard normal value (Box–Muller, one value per call).
func (r *RNG) Normal() float64 {
	u1 := 1 - r.Float64() // (0, 1]
	u2 := r.Float64()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// Perm returns a uniform random permutation of 0..n-1 (Fisher–Yates).
func (r *RNG) Perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.IntN(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Categorical draws an index with probability proportional to weights
// (weights must be non-negative with a positive sum).
func (r *RNG) Categorical(weights []float64) int {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	u := r.Float64() * total
	acc := 0.0
	last := -1
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		acc += w
		last = i
		if u < acc {
			return i
		}
	}
	return last // only reached through rounding at the top end
}
