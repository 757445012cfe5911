// Package gemm is roads' single-precision matrix multiply.
//
// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or Xᵀ. op(A) is m×k, op(B) is k×n, C is m×n. lda, ldb and ldc are
// row strides (elements) of the stored matrices A, B and C.
//
// The implementation is chosen at run time: hand-written AVX-512 (12×32
// tiles) or AVX2+FMA (6×16 tiles) Plan 9 assembly micro-kernels on amd64,
// and a portable Go kernel elsewhere or with -tags purego. Kernel() names the
// one in use; the environment variable ROADS_GEMM_KERNEL=avx2|portable forces
// a slower one (for testing), and unknown names are ignored.
//
// Determinism: each C element is one FMA chain per K block (blocks depend only
// on k) combined in a fixed order, so for a given kernel the result depends on
// neither the thread count nor the task split. It does not depend on m or n
// either: row i of C is bit-identical whether computed alone or in a batch.
package gemm

import (
	"fmt"
	"os"
	"sync/atomic"
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C (row-major).
//
// beta == 0 overwrites C without reading it (NaN in C does not propagate);
// alpha == 0 or k == 0 only scales C by beta. Sgemm is safe for concurrent
// use; each call uses up to Threads() goroutines.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmWith(activeKernel.Load(), Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Kernel names the micro-kernel Sgemm uses: "avx512", "avx2" or "portable".
func Kernel() string { return activeKernel.Load().name }

// kernels lists the micro-kernels this machine can run, fastest first; the
// portable one is always last.
var kernels = append(archKernels(), portableKernel)

var activeKernel atomic.Pointer[kernel]

func init() {
	activeKernel.Store(kernels[0])
	if k := kernelByName(os.Getenv("ROADS_GEMM_KERNEL")); k != nil {
		activeKernel.Store(k)
	}
}

// kernelByName returns the named kernel if this machine can run it.
func kernelByName(name string) *kernel {
	for _, k := range kernels {
		if k.name == name {
			return k
		}
	}
	return nil
}

func sgemmWith(kern *kernel, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	p := newPlan(kern, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	run(&p, threads)
}

// scaleC sets C = beta·C, with beta == 0 clearing C (even NaN entries).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
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
