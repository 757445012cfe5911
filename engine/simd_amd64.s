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
