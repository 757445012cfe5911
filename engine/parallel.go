// Package engine holds roads' numerical kernels for small causal transformers:
// llm.c-style forward/backward pairs on flat row-major []float32 buffers, the
// AdamW optimiser, gradient clipping, learning-rate schedules and a serialisable
// random number generator.
//
// Every op is deterministic: work is split into ranges whose floating-point
// summation order does not depend on goroutine scheduling (and, for all ops in
// this package, not on the thread count either). Large matrix products go
// through roads/internal/gemm.
package engine

import (
	"runtime"
	"sync"
	"sync/atomic"

	"roads/internal/gemm"
)

// pool runs the parallel parts of the ops. The calling goroutine always works
// on the first range itself; threads-1 long-lived workers take the others.
type pool struct {
	threads int
	jobs    chan poolJob
}

type poolJob struct {
	fn     func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
}

var (
	workers   atomic.Pointer[pool]
	setMu     sync.Mutex
	waitGroup sync.Pool
)

func init() { setPool(runtime.GOMAXPROCS(0)) }

// SetThreads sets how many goroutines the ops use (at least 1), and the
// matrix multiply's thread count (gemm.SetThreads) with them, so that one knob
// controls a run. The default is GOMAXPROCS. Results do not depend on it:
// every op partitions its summations independently of the thread count, and
// so does gemm. Calls must not overlap with running ops.
func SetThreads(n int) {
	if n < 1 {
		n = 1
	}
	gemm.SetThreads(n)
	setPool(n)
}

func setPool(n int) {
	setMu.Lock()
	defer setMu.Unlock()
	if old := workers.Load(); old != nil {
		if old.threads == n {
			return
		}
		close(old.jobs)
	}
	p := &pool{threads: n, jobs: make(chan poolJob, n)}
	for i := 1; i < n; i++ {
		go func() {
			for j := range p.jobs {
				j.fn(j.lo, j.hi)
				j.wg.Done()
			}
		}()
	}
	workers.Store(p)
}

// Threads reports the number of goroutines the ops use.
func Threads() int { return workers.Load().threads }

// ParallelFor splits [0, n) into at most Threads() contiguous ranges of at
// least grain items and calls fn once per range, concurrently. fn must only
// write state owned by its range. Range boundaries other than 0 and n are
// multiples of 8, so vector kernels over elements see the same body/tail split
// whatever the thread count.
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	p := workers.Load()
	if grain < 1 {
		grain = 1
	}
	parts := min(p.threads, n/grain)
	if parts <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	wg, _ := waitGroup.Get().(*sync.WaitGroup)
	if wg == nil {
		wg = new(sync.WaitGroup)
	}
	wg.Add(parts - 1)
	cut := func(k int) int {
		if k == parts {
			return n
		}
		return k * n / parts &^ (vecAlign - 1)
	}
	for k := 1; k < parts; k++ {
		p.jobs <- poolJob{fn: fn, lo: cut(k), hi: cut(k + 1), wg: wg}
	}
	fn(0, cut(1))
	wg.Wait()
	waitGroup.Put(wg)
}

// ParallelChunks calls fn(c) for every chunk c in [0, chunks), spreading the
// chunks over the threads. Ops use a fixed chunk count for reductions (each
// chunk writes its own partial sums, combined afterwards in chunk order), so the
// result is independent of the thread count.
func ParallelChunks(chunks int, fn func(c int)) {
	ParallelFor(chunks, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			fn(c)
		}
	})
}
