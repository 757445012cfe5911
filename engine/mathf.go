package engine

import "math"

// Single-precision elementary functions. The float64 math package routines
// cost 10–20 ns per call, which matters for the softmaxes (≈1 M exponentials
// per training step at d128) and GELU; these take a few ns.
//
// Accuracy (measured by TestExpfAccuracy and TestTanhfAccuracy over dense grids
// against float64 math): Expf has relative error ≤ 2e-7 (a few float32 ulp) on
// [-87, 88]; Tanhf has absolute and relative error ≤ 4e-7 everywhere. Both are far below the float32 noise of the surrounding sums.

const (
	log2e    = 1.44269504088896341
	ln2Hi    = 0.693359375 // ln 2 split so that n·ln2Hi is exact for |n| < 2^9
	ln2Lo    = -2.12194440e-4
	roundMag = 12582912.0 // 1.5·2^23: adding it rounds a float32 to an integer
)

// Expf returns e^x in float32 (Cephes expf: range reduction by ln 2 and a
// degree-6 polynomial). Inputs below -87.33 give 0 (no subnormals); above
// 88.72 give +Inf. NaN propagates.
func Expf(x float32) float32 {
	if x > 88.72283 {
		return float32(math.Inf(1))
	}
	if x < -87.33654 {
		return 0
	}
	n := float32(float32(x*log2e)+roundMag) - roundMag
	r := float32(x - n*ln2Hi)
	r = float32(r - n*ln2Lo)
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// Tanhf returns tanh(x) in float32 as a branch-free rational function,
// x·P(x²)/Q(x²) with degrees 13/6 on x clamped to ±7.9053 (the minimax fit
// used by Eigen's fast tanh). Branch-free matters: GELU feeds it inputs of
// random sign and size, and the mispredictions of a piecewise version cost
// more than the arithmetic.
//
// Beyond the clamp it returns exactly ±1 (the float32 rounding of tanh from
// |x| ≈ 8.3 on; the error up to there is below the bound), so that
// gelu(x) = ½x(1 + tanh(u)) is exactly 0 for very negative x.
func Tanhf(x float32) float32 {
	const clamp = 7.90531110763549805
	if x > clamp {
		return 1
	}
	if x < -clamp {
		return -1
	}
	x2 := x * x
	p := float32(-2.76076847742355e-16)
	p = p*x2 + 2.00018790482477e-13
	p = p*x2 - 8.60467152213735e-11
	p = p*x2 + 5.12229709037114e-08
	p = p*x2 + 1.48572235717979e-05
	p = p*x2 + 6.37261928875436e-04
	p = p*x2 + 4.89352455891786e-03
	q := float32(1.19825839466702e-06)
	q = q*x2 + 1.18534705686654e-04
	q = q*x2 + 2.26843463243900e-03
	q = q*x2 + 4.89352518554385e-03
	return x * p / q
}
