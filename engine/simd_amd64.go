//go:build amd64 && !purego

package engine

import "math"

// AVX2+FMA kernels for the elementwise ops that dominate outside the matrix
// products (GELU's tanh above all). Go does not vectorise loops, and at these
// sizes the scalar versions cost as much as the GEMMs. Each kernel processes
// n elements (a multiple of its width); the Go caller finishes the tail with
// the scalar code. Results differ from the scalar path only by rounding (FMA
// contractions), and depend only on the data, never on the chunking.

func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
func xgetbv0() (eax, edx uint32)

// hasAVX2FMA reports AVX2 and FMA3 support with YMM state enabled by the OS.
var hasAVX2FMA = detectAVX2FMA()

func detectAVX2FMA() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fmaBit, osxsaveBit, avxBit = 1 << 12, 1 << 27, 1 << 28
	if ecx1&(fmaBit|osxsaveBit|avxBit) != fmaBit|osxsaveBit|avxBit {
		return false
	}
	if xcr0, _ := xgetbv0(); xcr0&0x6 != 0x6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0
}

// geluGradAVX2 computes out = gelu(x), grad = gelu'(x) for n (multiple of 8)
// elements; c is geluConsts.
//
//go:noescape
func geluGradAVX2(out, grad, x *float32, n int, c *[geluConstCount][8]float32)

// geluAVX2 computes out = gelu(x) only.
//
//go:noescape
func geluAVX2(out, x *float32, n int, c *[geluConstCount][8]float32)

//go:noescape
func geluGradBiasAVX2(out, grad, x, bias *float32, n int, c *[geluConstCount][8]float32)

//go:noescape
func vExpShiftSum(dst, x *float32, n int, shift float32, c *[expConstCount][8]float32) float32

//go:noescape
func vExpSumDot(x *float32, n int, shift float32, c *[expConstCount][8]float32) (s, sc float32)

//go:noescape
func vExpScale(dst, x *float32, n int, shift, scale float32, c *[expConstCount][8]float32)

//go:noescape
func vMax(x *float32, n int) float32

//go:noescape
func vSum(x *float32, n int) float32

//go:noescape
func vDot(a, b *float32, n int) float32

//go:noescape
func vAddTo(dst, src *float32, n int)

//go:noescape
func vMul(dst, a, b *float32, n int)

//go:noescape
func vAxpy(y, x *float32, n int, alpha float32)

//go:noescape
func vAttnScores(scores, q, k *float32, nslots, hd, stride int, scale float32)

//go:noescape
func vAttnWeighted(o, p, v *float32, nslots, hd, stride int)

//go:noescape
func vSumSqDiff(x *float32, n int, m float32) float32

//go:noescape
func vNormAffine(out, x, gam, b *float32, n int, m, rs float32)

//go:noescape
func vLNBackSums(dout, x, gam *float32, n int, m, rs float32) (sg, sgx float32)

//go:noescape
func vLNBackApply(dx, dout, x, gam *float32, n int, m, rs, sg, sgx float32)

//go:noescape
func vLNParamGrad(dg, db, dout, x *float32, n int, m, rs float32)

//go:noescape
func vAdam(w, grad, m, v *float32, n int, c *[8][8]float32)

const expConstCount = 13

// expConsts are Expf's constants broadcast to 8 lanes (see simd_amd64.s).
var expConsts = func() (c [expConstCount][8]float32) {
	vals := [expConstCount]float32{
		88.72283, -87.33654, log2e, ln2Hi, ln2Lo,
		1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1,
		1, math.Float32frombits(127),
	}
	for i, v := range vals {
		for j := range c[i] {
			c[i][j] = v
		}
	}
	return c
}()

const geluConstCount = 20

// geluConsts holds each constant broadcast to 8 lanes, in the order the
// assembly reads them (32-byte rows).
var geluConsts = func() (c [geluConstCount][8]float32) {
	vals := [geluConstCount]float32{
		geluC, geluC * geluA, 3 * geluC * geluA, 0.5, 1, 7.90531110763549805, -7.90531110763549805,
		-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
		1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03,
		1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03,
		math.Float32frombits(0x7fffffff), math.Float32frombits(0x80000000),
	}
	for i, v := range vals {
		for j := range c[i] {
			c[i][j] = v
		}
	}
	return c
}()

// geluGradVec runs the vector kernel on the largest multiple of 8 and
// returns how many elements it did.
func geluGradVec(out, grad, x []float32) int {
	n := len(out) &^ 7
	if !hasAVX2FMA || n == 0 {
		return 0
	}
	_, _ = grad[n-1], x[n-1]
	geluGradAVX2(&out[0], &grad[0], &x[0], n, &geluConsts)
	return n
}

func geluVec(out, x []float32) int {
	n := len(out) &^ 7
	if !hasAVX2FMA || n == 0 {
		return 0
	}
	_ = x[n-1]
	geluAVX2(&out[0], &x[0], n, &geluConsts)
	return n
}
