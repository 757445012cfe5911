// Package gemm is roads' single-precision matrix multiply.
//
// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or Xᵀ. op(A) is m×k, op(B) is k×n, C is m×n. lda, ldb and ldc are
// row strides (elements) of the stored matrices A, B and C.
//
// This file is the public contract. The implementation behind it is chosen at
// run time (see kernel selection); every path computes each C element with a
// summation order that depends only on (m, n, k), never on the thread count,
// so results are bit-identical for a given thread count.
package gemm

import "fmt"

// Sgemm computes C = alpha·op(A)·op(B) + beta·C (row-major).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	sgemmPortable(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if lda < max(ac, 1) || ldb < max(bc, 1) || ldc < max(n, 1) {
		panic(fmt.Sprintf("gemm: bad leading dimension lda=%d ldb=%d ldc=%d for op(A) %dx%d, op(B) %dx%d", lda, ldb, ldc, m, k, k, n))
	}
	if k > 0 && (len(a) < (ar-1)*lda+ac || len(b) < (br-1)*ldb+bc) {
		panic(fmt.Sprintf("gemm: short input: len(a)=%d need %d, len(b)=%d need %d", len(a), (ar-1)*lda+ac, len(b), (br-1)*ldb+bc))
	}
	if len(c) < (m-1)*ldc+n {
		panic(fmt.Sprintf("gemm: short output: len(c)=%d need %d", len(c), (m-1)*ldc+n))
	}
}

// sgemmPortable is the reference path: plain Go, any CPU.
func sgemmPortable(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		crow := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(crow)
		} else if beta != 1 {
			for j := range crow {
				crow[j] *= beta
			}
		}
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if av == 0 {
				continue
			}
			if transB {
				for j := 0; j < n; j++ {
					crow[j] += av * b[j*ldb+p]
				}
			} else {
				brow := b[p*ldb : p*ldb+n]
				for j, bv := range brow {
					crow[j] += av * bv
				}
			}
		}
	}
}
