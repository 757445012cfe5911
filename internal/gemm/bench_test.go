package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// benchShapes are the transformer's GEMMs: M = 2048 tokens with (K, N) from
// the attention and MLP projections, plus the KV-cache decode step.
var benchShapes = [][3]int{ // M, K, N
	{2048, 128, 384}, {2048, 128, 128}, {2048, 128, 512},
	{2048, 512, 128}, {2048, 256, 1024}, {2048, 1024, 256},
	{32, 128, 384},
}

var benchLayouts = []struct {
	name           string
	transA, transB bool
}{{"NN", false, false}, {"TN", true, false}, {"NT", false, true}}

// BenchmarkSgemm reports GFLOP/s = 2·M·K·N / time for this package (the
// selected kernel) and for gonum's pure-Go Sgemm, with GOMAXPROCS and
// SetThreads both set to the thread count (T=1 is one core, T=2 two).
// Run with -count=N and take best and median per line.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		for _, l := range benchLayouts {
			for _, threads := range []int{1, 2} {
				for _, impl := range []string{"gemm", "gonum"} {
					name := fmt.Sprintf("%dx%dx%d/%s/T=%d/%s", s[0], s[1], s[2], l.name, threads, impl)
					b.Run(name, func(b *testing.B) { benchOne(b, impl, l.transA, l.transB, s[0], s[1], s[2], threads) })
				}
			}
		}
	}
}

// BenchmarkKernels runs the model shapes through every kernel this CPU has.
func BenchmarkKernels(b *testing.B) {
	for _, kern := range kernels {
		for _, s := range benchShapes {
			for _, l := range benchLayouts {
				name := fmt.Sprintf("%s/%dx%dx%d/%s", kern.name, s[0], s[1], s[2], l.name)
				b.Run(name, func(b *testing.B) {
					defer activeKernel.Store(activeKernel.Load())
					activeKernel.Store(kern)
					benchOne(b, "gemm", l.transA, l.transB, s[0], s[1], s[2], 1)
				})
			}
		}
	}
}

func benchOne(b *testing.B, impl string, transA, transB bool, m, k, n, threads int) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	defer SetThreads(0)
	SetThreads(threads)
	rng := rand.New(rand.NewPCG(1, 1))
	a, bm, c := randSlice(rng, m*k), randSlice(rng, k*n), make([]float32, m*n)
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	call := func() { Sgemm(transA, transB, m, n, k, 1, a, lda, bm, ldb, 0, c, n) }
	if impl == "gonum" {
		ta, tb := blas.NoTrans, blas.NoTrans
		if transA {
			ta = blas.Trans
		}
		if transB {
			tb = blas.Trans
		}
		call = func() { gonum.Implementation{}.Sgemm(ta, tb, m, n, k, 1, a, lda, bm, ldb, 0, c, n) }
	}
	call()
	b.ResetTimer()
	for b.Loop() {
		call()
	}
	b.ReportMetric(2*float64(m)*float64(k)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
