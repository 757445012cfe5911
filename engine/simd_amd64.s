//go:build amd64 && !purego

#include "textflag.h"

// func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL subleaf+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv0() (eax, edx uint32)
TEXT ·xgetbv0(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET

// Constant rows (32 bytes each) of geluConsts:
//   0 C=√(2/π)  32 C·A  64 3·C·A  96 0.5  128 1  160 clamp  192 −clamp
//   224..416 tanh numerator a13 a11 a9 a7 a5 a3 a1
//   448..544 tanh denominator b6 b4 b2 b0
//   576 |·| mask 0x7fffffff   608 sign mask 0x80000000
//
// Per 8 lanes:  v2 = x²,  u = x·(C + C·A·v2),  t = tanh(u) = u·P(u²)/Q(u²) on clamp(u),
//               exactly ±1 where |u| > clamp
//               half = ½t + ½,  out = x·half
//               grad = half + ½x·(1 − t²)·(C + 3·C·A·v2)

#define TANH_OF_Y3_TO_Y7 \
	VANDPS 576(R8), Y3, Y13 \
	VCMPPS $0x1e, 160(R8), Y13, Y13 \
	VANDPS 608(R8), Y3, Y14 \
	VORPS 128(R8), Y14, Y14 \
	VMINPS 160(R8), Y3, Y3 \
	VMAXPS 192(R8), Y3, Y3 \
	VMULPS Y3, Y3, Y4 \
	VMOVUPS 224(R8), Y5 \
	VFMADD213PS 256(R8), Y4, Y5 \
	VFMADD213PS 288(R8), Y4, Y5 \
	VFMADD213PS 320(R8), Y4, Y5 \
	VFMADD213PS 352(R8), Y4, Y5 \
	VFMADD213PS 384(R8), Y4, Y5 \
	VFMADD213PS 416(R8), Y4, Y5 \
	VMULPS Y5, Y3, Y5 \
	VMOVUPS 448(R8), Y6 \
	VFMADD213PS 480(R8), Y4, Y6 \
	VFMADD213PS 512(R8), Y4, Y6 \
	VFMADD213PS 544(R8), Y4, Y6 \
	VDIVPS Y6, Y5, Y7 \
	VBLENDVPS Y13, Y14, Y7, Y7

// func geluGradAVX2(out, grad, x *float32, n int, c *[20][8]float32)
TEXT ·geluGradAVX2(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ c+32(FP), R8
	XORQ AX, AX

gradloop:
	VMOVUPS (DX)(AX*4), Y0
	VMULPS Y0, Y0, Y1
	VMOVUPS 0(R8), Y2
	VFMADD231PS 32(R8), Y1, Y2
	VMULPS Y2, Y0, Y3
	TANH_OF_Y3_TO_Y7
	VMOVUPS 96(R8), Y8
	VFMADD213PS 96(R8), Y7, Y8
	VMULPS Y8, Y0, Y9
	VMOVUPS 0(R8), Y10
	VFMADD231PS 64(R8), Y1, Y10
	VMOVUPS 128(R8), Y11
	VFNMADD231PS Y7, Y7, Y11
	VMULPS 96(R8), Y0, Y12
	VMULPS Y12, Y11, Y11
	VFMADD213PS Y8, Y10, Y11
	VMOVUPS Y9, (DI)(AX*4)
	VMOVUPS Y11, (SI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT gradloop
	VZEROUPPER
	RET

// func geluAVX2(out, x *float32, n int, c *[20][8]float32)
TEXT ·geluAVX2(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), DX
	MOVQ n+16(FP), CX
	MOVQ c+24(FP), R8
	XORQ AX, AX

loop:
	VMOVUPS (DX)(AX*4), Y0
	VMULPS Y0, Y0, Y1
	VMOVUPS 0(R8), Y2
	VFMADD231PS 32(R8), Y1, Y2
	VMULPS Y2, Y0, Y3
	TANH_OF_Y3_TO_Y7
	VMOVUPS 96(R8), Y8
	VFMADD213PS 96(R8), Y7, Y8
	VMULPS Y8, Y0, Y9
	VMOVUPS Y9, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT loop
	VZEROUPPER
	RET

// ---- exp ----------------------------------------------------------------
// Constant rows of expConsts (32 bytes each):
//   0 hi clamp 88.72283   32 lo clamp −87.33654   64 log2 e   96 ln2 hi
//   128 ln2 lo   160..320 Cephes expf polynomial p0..p5   352 1.0   384 int32 127
// EXP_Y0 replaces Y0 by e^Y0 (Cephes expf, as Expf), exactly 0 below the low
// clamp (so −Inf gives 0). Uses Y1–Y5 and R9 = &expConsts.
#define EXP_Y0 \
	VCMPPS $0x1d, 32(R9), Y0, Y5 \
	VMINPS 0(R9), Y0, Y0 \
	VMAXPS 32(R9), Y0, Y0 \
	VMULPS 64(R9), Y0, Y1 \
	VROUNDPS $0, Y1, Y1 \
	VMOVAPS Y0, Y2 \
	VFNMADD231PS 96(R9), Y1, Y2 \
	VFNMADD231PS 128(R9), Y1, Y2 \
	VMOVUPS 160(R9), Y3 \
	VFMADD213PS 192(R9), Y2, Y3 \
	VFMADD213PS 224(R9), Y2, Y3 \
	VFMADD213PS 256(R9), Y2, Y3 \
	VFMADD213PS 288(R9), Y2, Y3 \
	VFMADD213PS 320(R9), Y2, Y3 \
	VMULPS Y2, Y2, Y4 \
	VFMADD213PS Y2, Y4, Y3 \
	VADDPS 352(R9), Y3, Y3 \
	VCVTPS2DQ Y1, Y1 \
	VPADDD 384(R9), Y1, Y1 \
	VPSLLD $23, Y1, Y1 \
	VMULPS Y1, Y3, Y0 \
	VANDPS Y5, Y0, Y0

// HSUM_Y6_X6 leaves the sum of Y6's lanes in X6 (fixed order).
#define HSUM_Y6_X6 \
	VEXTRACTF128 $1, Y6, X1 \
	VADDPS X1, X6, X6 \
	VHADDPS X6, X6, X6 \
	VHADDPS X6, X6, X6

#define HSUM_Y7_X7 \
	VEXTRACTF128 $1, Y7, X1 \
	VADDPS X1, X7, X7 \
	VHADDPS X7, X7, X7 \
	VHADDPS X7, X7, X7

// func vExpShiftSum(dst, x *float32, n int, shift float32, c *[expConstCount][8]float32) float32
// dst[i] = e^(x[i]−shift); returns Σ dst.
TEXT ·vExpShiftSum(SB), NOSPLIT, $0-44
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS shift+24(FP), Y8
	MOVQ c+32(FP), R9
	VXORPS Y6, Y6, Y6
	XORQ AX, AX
ess_loop:
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS Y8, Y0, Y0
	EXP_Y0
	VMOVUPS Y0, (DI)(AX*4)
	VADDPS Y0, Y6, Y6
	ADDQ $8, AX
	CMPQ AX, CX
	JLT ess_loop
	HSUM_Y6_X6
	VZEROUPPER
	MOVSS X6, ret+40(FP)
	RET

// func vExpSumDot(x *float32, n int, shift float32, c *[expConstCount][8]float32) (s, sc float32)
// s = Σ e^(x−shift), sc = Σ e^(x−shift)·(x−shift).
TEXT ·vExpSumDot(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS shift+16(FP), Y8
	MOVQ c+24(FP), R9
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ AX, AX
esd_loop:
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS Y8, Y0, Y0
	VMOVAPS Y0, Y9
	EXP_Y0
	VADDPS Y0, Y6, Y6
	VFMADD231PS Y9, Y0, Y7
	ADDQ $8, AX
	CMPQ AX, CX
	JLT esd_loop
	HSUM_Y6_X6
	HSUM_Y7_X7
	VZEROUPPER
	MOVSS X6, s+32(FP)
	MOVSS X7, sc+36(FP)
	RET

// func vExpScale(dst, x *float32, n int, shift, scale float32, c *[expConstCount][8]float32)
// dst[i] = scale·e^(x[i]−shift).
TEXT ·vExpScale(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS shift+24(FP), Y8
	VBROADCASTSS scale+28(FP), Y9
	MOVQ c+32(FP), R9
	XORQ AX, AX
esc_loop:
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS Y8, Y0, Y0
	EXP_Y0
	VMULPS Y9, Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT esc_loop
	VZEROUPPER
	RET

// ---- reductions and row ops ----------------------------------------------

// func vMax(x *float32, n int) float32
TEXT ·vMax(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y6
	MOVQ $8, AX
	CMPQ AX, CX
	JGE max_reduce
max_loop:
	VMAXPS (SI)(AX*4), Y6, Y6
	ADDQ $8, AX
	CMPQ AX, CX
	JLT max_loop
max_reduce:
	VEXTRACTF128 $1, Y6, X1
	VMAXPS X1, X6, X6
	VPERMILPS $0x4e, X6, X1
	VMAXPS X1, X6, X6
	VPERMILPS $0xb1, X6, X1
	VMAXPS X1, X6, X6
	VZEROUPPER
	MOVSS X6, ret+16(FP)
	RET

// func vSum(x *float32, n int) float32
TEXT ·vSum(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPS Y6, Y6, Y6
	XORQ AX, AX
sum_loop:
	VADDPS (SI)(AX*4), Y6, Y6
	ADDQ $8, AX
	CMPQ AX, CX
	JLT sum_loop
	HSUM_Y6_X6
	VZEROUPPER
	MOVSS X6, ret+16(FP)
	RET

// func vDot(a, b *float32, n int) float32
TEXT ·vDot(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DX
	MOVQ n+16(FP), CX
	VXORPS Y6, Y6, Y6
	XORQ AX, AX
dot_loop:
	VMOVUPS (SI)(AX*4), Y0
	VFMADD231PS (DX)(AX*4), Y0, Y6
	ADDQ $8, AX
	CMPQ AX, CX
	JLT dot_loop
	HSUM_Y6_X6
	VZEROUPPER
	MOVSS X6, ret+24(FP)
	RET

// func vAddTo(dst, src *float32, n int)   dst[i] += src[i]
TEXT ·vAddTo(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
add_loop:
	VMOVUPS (DI)(AX*4), Y0
	VADDPS (SI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT add_loop
	VZEROUPPER
	RET

// func vSumSqDiff(x *float32, n int, m float32) float32   Σ (x−m)²
TEXT ·vSumSqDiff(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y8
	VXORPS Y6, Y6, Y6
	XORQ AX, AX
ssd_loop:
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS Y8, Y0, Y0
	VFMADD231PS Y0, Y0, Y6
	ADDQ $8, AX
	CMPQ AX, CX
	JLT ssd_loop
	HSUM_Y6_X6
	VZEROUPPER
	MOVSS X6, ret+24(FP)
	RET

// func vNormAffine(out, x, gam, b *float32, n int, m, rs float32)
// out = (x − m)·rs·g + b
TEXT ·vNormAffine(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ gam+16(FP), DX
	MOVQ b+24(FP), R8
	MOVQ n+32(FP), CX
	VBROADCASTSS m+40(FP), Y8
	VBROADCASTSS rs+44(FP), Y9
	XORQ AX, AX
na_loop:
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS Y8, Y0, Y0
	VMULPS Y9, Y0, Y0
	VMOVUPS (R8)(AX*4), Y1
	VFMADD231PS (DX)(AX*4), Y0, Y1
	VMOVUPS Y1, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT na_loop
	VZEROUPPER
	RET

// func vLNBackSums(dout, x, gam *float32, n int, m, rs float32) (sg, sgx float32)
// sg = Σ dout·g, sgx = Σ dout·g·(x − m)·rs
TEXT ·vLNBackSums(SB), NOSPLIT, $0-48
	MOVQ dout+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ gam+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS m+32(FP), Y8
	VBROADCASTSS rs+36(FP), Y9
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ AX, AX
lbs_loop:
	VMOVUPS (DI)(AX*4), Y0
	VMULPS (DX)(AX*4), Y0, Y0
	VADDPS Y0, Y6, Y6
	VMOVUPS (SI)(AX*4), Y2
	VSUBPS Y8, Y2, Y2
	VMULPS Y9, Y2, Y2
	VFMADD231PS Y2, Y0, Y7
	ADDQ $8, AX
	CMPQ AX, CX
	JLT lbs_loop
	HSUM_Y6_X6
	HSUM_Y7_X7
	VZEROUPPER
	MOVSS X6, sg+40(FP)
	MOVSS X7, sgx+44(FP)
	RET

// func vLNBackApply(dx, dout, x, gam *float32, n int, m, rs, sg, sgx float32)
// dx += rs·(dout·g − sg − (x − m)·rs·sgx)
TEXT ·vLNBackApply(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), DI
	MOVQ dout+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ gam+24(FP), R8
	MOVQ n+32(FP), CX
	VBROADCASTSS m+40(FP), Y8
	VBROADCASTSS rs+44(FP), Y9
	VBROADCASTSS sg+48(FP), Y10
	VBROADCASTSS sgx+52(FP), Y11
	XORQ AX, AX
lba_loop:
	VMOVUPS (DX)(AX*4), Y2
	VSUBPS Y8, Y2, Y2
	VMULPS Y9, Y2, Y2
	VMOVUPS (SI)(AX*4), Y0
	VMULPS (R8)(AX*4), Y0, Y0
	VSUBPS Y10, Y0, Y0
	VFNMADD231PS Y11, Y2, Y0
	VMOVUPS (DI)(AX*4), Y3
	VFMADD231PS Y9, Y0, Y3
	VMOVUPS Y3, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT lba_loop
	VZEROUPPER
	RET

// func vAdam(w, grad, m, v *float32, n int, c *[8][8]float32)
// Rows of c: β1, 1−β1, β2, 1−β2, 1/√(1−β2ᵗ), ε, step size, keep (1 − lr·λ).
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//   w = w·keep − step·m/(√v/√(1−β2ᵗ) + ε)
TEXT ·vAdam(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), DX
	MOVQ v+24(FP), R8
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), R9
	XORQ AX, AX
adam_loop:
	VMOVUPS (SI)(AX*4), Y0
	VMULPS 32(R9), Y0, Y1
	VMOVUPS (DX)(AX*4), Y2
	VFMADD231PS 0(R9), Y2, Y1
	VMOVUPS Y1, (DX)(AX*4)
	VMULPS Y0, Y0, Y3
	VMULPS 96(R9), Y3, Y3
	VMOVUPS (R8)(AX*4), Y4
	VFMADD231PS 64(R9), Y4, Y3
	VMOVUPS Y3, (R8)(AX*4)
	VSQRTPS Y3, Y3
	VMULPS 128(R9), Y3, Y3
	VADDPS 160(R9), Y3, Y3
	VDIVPS Y3, Y1, Y1
	VMULPS 192(R9), Y1, Y1
	VMOVUPS (DI)(AX*4), Y5
	VMULPS 224(R9), Y5, Y5
	VSUBPS Y1, Y5, Y5
	VMOVUPS Y5, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT adam_loop
	VZEROUPPER
	RET

// func geluGradBiasAVX2(out, grad, x, bias *float32, n int, c *[20][8]float32)
// As geluGradAVX2 on x + bias.
TEXT ·geluGradBiasAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ bias+24(FP), R10
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), R8
	XORQ AX, AX

gbloop:
	VMOVUPS (DX)(AX*4), Y0
	VADDPS (R10)(AX*4), Y0, Y0
	VMULPS Y0, Y0, Y1
	VMOVUPS 0(R8), Y2
	VFMADD231PS 32(R8), Y1, Y2
	VMULPS Y2, Y0, Y3
	TANH_OF_Y3_TO_Y7
	VMOVUPS 96(R8), Y8
	VFMADD213PS 96(R8), Y7, Y8
	VMULPS Y8, Y0, Y9
	VMOVUPS 0(R8), Y10
	VFMADD231PS 64(R8), Y1, Y10
	VMOVUPS 128(R8), Y11
	VFNMADD231PS Y7, Y7, Y11
	VMULPS 96(R8), Y0, Y12
	VMULPS Y12, Y11, Y11
	VFMADD213PS Y8, Y10, Y11
	VMOVUPS Y9, (DI)(AX*4)
	VMOVUPS Y11, (SI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT gbloop
	VZEROUPPER
	RET

// func vLNParamGrad(dg, db, dout, x *float32, n int, m, rs float32)
// dg += dout·(x − m)·rs, db += dout
TEXT ·vLNParamGrad(SB), NOSPLIT, $0-48
	MOVQ dg+0(FP), DI
	MOVQ db+8(FP), SI
	MOVQ dout+16(FP), DX
	MOVQ x+24(FP), R8
	MOVQ n+32(FP), CX
	VBROADCASTSS m+40(FP), Y8
	VBROADCASTSS rs+44(FP), Y9
	XORQ AX, AX
lpg_loop:
	VMOVUPS (DX)(AX*4), Y0
	VMOVUPS (R8)(AX*4), Y2
	VSUBPS Y8, Y2, Y2
	VMULPS Y9, Y2, Y2
	VMOVUPS (DI)(AX*4), Y3
	VFMADD231PS Y2, Y0, Y3
	VMOVUPS Y3, (DI)(AX*4)
	VADDPS (SI)(AX*4), Y0, Y4
	VMOVUPS Y4, (SI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT lpg_loop
	VZEROUPPER
	RET

// func vMul(dst, a, b *float32, n int)   dst[i] = a[i]·b[i]
TEXT ·vMul(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	XORQ AX, AX
mul_loop:
	VMOVUPS (SI)(AX*4), Y0
	VMULPS (DX)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT mul_loop
	VZEROUPPER
	RET

// func vAxpy(y, x *float32, n int, alpha float32)   y[i] += alpha·x[i]
TEXT ·vAxpy(SB), NOSPLIT, $0-28
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS alpha+24(FP), Y8
	XORQ AX, AX
axpy_loop:
	VMOVUPS (DI)(AX*4), Y0
	VFMADD231PS (SI)(AX*4), Y8, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT axpy_loop
	VZEROUPPER
	RET

// func vAttnScores(scores, q, k *float32, nslots, hd, stride int, scale float32)
// scores[j] = scale·Σ_c q[c]·k[j·stride + c] for j < nslots (hd a multiple of 8).
TEXT ·vAttnScores(SB), NOSPLIT, $0-52
	MOVQ scores+0(FP), DI
	MOVQ q+8(FP), SI
	MOVQ k+16(FP), DX
	MOVQ nslots+24(FP), CX
	MOVQ hd+32(FP), R8
	MOVQ stride+40(FP), R9
	SHLQ $2, R9
	VBROADCASTSS scale+48(FP), X8
	XORQ R10, R10
as_slot:
	VXORPS Y6, Y6, Y6
	XORQ AX, AX
as_chunk:
	VMOVUPS (SI)(AX*4), Y0
	VFMADD231PS (DX)(AX*4), Y0, Y6
	ADDQ $8, AX
	CMPQ AX, R8
	JLT as_chunk
	HSUM_Y6_X6
	VMULSS X8, X6, X6
	MOVSS X6, (DI)(R10*4)
	ADDQ R9, DX
	INCQ R10
	CMPQ R10, CX
	JLT as_slot
	VZEROUPPER
	RET

// func vAttnWeighted(o, p, v *float32, nslots, hd, stride int)
// o[c] = Σ_j p[j]·v[j·stride + c] for c < hd (hd a multiple of 8).
TEXT ·vAttnWeighted(SB), NOSPLIT, $0-48
	MOVQ o+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ v+16(FP), DX
	MOVQ nslots+24(FP), CX
	MOVQ hd+32(FP), R8
	MOVQ stride+40(FP), R9
	SHLQ $2, R9
	VXORPS Y0, Y0, Y0
	XORQ AX, AX
aw_zero:
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, R8
	JLT aw_zero
	XORQ R10, R10
aw_slot:
	VBROADCASTSS (SI)(R10*4), Y8
	XORQ AX, AX
aw_chunk:
	VMOVUPS (DI)(AX*4), Y0
	VFMADD231PS (DX)(AX*4), Y8, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, R8
	JLT aw_chunk
	ADDQ R9, DX
	INCQ R10
	CMPQ R10, CX
	JLT aw_slot
	VZEROUPPER
	RET
