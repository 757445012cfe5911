package engine

import "math"

// Single-precision elementary functions. The float64 math package routines
// cost 10–20 ns per call, which matters for the softmaxes (≈1 M exponentials
// per training step at d128) and GELU; these take a few ns.
//
// Accuracy (measured by TestExpfAccuracy and TestTanhfAccuracy over dense grids
// against float64 math): Expf has relative error ≤ 2e-7 (a few float32 ulp) on
// [-87, 88]; Tanhf has absolute error ≤ 2e-7 and relative error ≤ 4e-7
// everywhere. Both are far below the float32 noise of the surrounding sums.

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

// Tanhf returns tanh(x) in float32: an odd polynomial near zero (Cephes tanhf)
// and 1 − 2/(e^{2|x|}+1) elsewhere.
func Tanhf(x float32) float32 {
	ax := x
	if ax < 0 {
		ax = -ax
	}
	if ax < 0.625 {
		z := x * x
		p := float32(-5.70498872745e-3)
		p = p*z + 2.06390887954e-2
		p = p*z - 5.37397155531e-2
		p = p*z + 1.33314422036e-1
		p = p*z - 3.33332819422e-1
		return p*z*x + x
	}
	if ax > 9 {
		if x < 0 {
			return -1
		}
		return 1
	}
	t := 1 - 2/(Expf(2*ax)+1)
	if x < 0 {
		return -t
	}
	return t
}
