//go:build !amd64 || purego

package engine

// Without the assembly kernels every vector helper in vec.go takes its scalar
// path; these stubs are never called.

const hasAVX2FMA = false

func geluGradVec(out, grad, x []float32) int { return 0 }
func geluVec(out, x []float32) int           { return 0 }

const expConstCount = 13
const geluConstCount = 20

var expConsts [expConstCount][8]float32
var geluConsts [geluConstCount][8]float32

func geluGradBiasAVX2(out, grad, x, bias *float32, n int, c *[geluConstCount][8]float32) {
	panic("unreachable")
}
func vExpShiftSum(dst, x *float32, n int, shift float32, c *[expConstCount][8]float32) float32 {
	panic("unreachable")
}
func vExpSumDot(x *float32, n int, shift float32, c *[expConstCount][8]float32) (s, sc float32) {
	panic("unreachable")
}
func vExpScale(dst, x *float32, n int, shift, scale float32, c *[expConstCount][8]float32) {
	panic("unreachable")
}
func vMax(x *float32, n int) float32                                       { panic("unreachable") }
func vSum(x *float32, n int) float32                                       { panic("unreachable") }
func vDot(a, b *float32, n int) float32                                    { panic("unreachable") }
func vAddTo(dst, src *float32, n int)                                      { panic("unreachable") }
func vSumSqDiff(x *float32, n int, m float32) float32                      { panic("unreachable") }
func vNormAffine(out, x, g, b *float32, n int, m, rs float32)              { panic("unreachable") }
func vLNBackSums(dout, x, g *float32, n int, m, rs float32) (a, b float32) { panic("unreachable") }
func vLNBackApply(dx, dout, x, g *float32, n int, m, rs, sg, sgx float32) {
	panic("unreachable")
}
func vLNParamGrad(dg, db, dout, x *float32, n int, m, rs float32) { panic("unreachable") }
func vAdam(w, g, m, v *float32, n int, c *[8][8]float32)          { panic("unreachable") }

func vMul(dst, a, b *float32, n int)            { panic("unreachable") }
func vAxpy(y, x *float32, n int, alpha float32) { panic("unreachable") }
func vAttnScores(scores, q, k *float32, nslots, hd, stride int, scale float32) {
	panic("unreachable")
}
func vAttnWeighted(o, p, v *float32, nslots, hd, stride int) { panic("unreachable") }
