package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A persistent pool of worker goroutines. Spawning goroutines per call was
// measured (in the project's GEMM study) to cost most of the 2-thread
// speed-up on small machines; parked workers wake through a channel instead.
//
// A call publishes a job with a fixed list of tasks. The caller and any idle
// workers take task indices from an atomic counter until none are left, so a
// busy pool (another concurrent caller) never blocks a call: the caller then
// just does all its tasks itself. Which goroutine runs a task does not
// matter for the result (see driver.go).

type job struct {
	plan plan         // a copy, so the caller's plan stays on its stack
	next atomic.Int64 // next task index to take
	done atomic.Int64 // tasks finished
}

func (j *job) work() {
	n := int64(j.plan.tasks())
	ws := workspaces.Get().(*workspace)
	for {
		t := j.next.Add(1) - 1
		if t >= n {
			break
		}
		j.plan.runTask(int(t), ws)
		j.done.Add(1)
	}
	workspaces.Put(ws)
}

var pool struct {
	mu      sync.Mutex
	workers int
	jobs    chan *job
}

// maxThreads caps SetThreads and the default thread count.
const maxThreads = 64

func ensureWorkers(n int) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.jobs == nil {
		pool.jobs = make(chan *job, 2*maxThreads)
	}
	for pool.workers < n {
		pool.workers++
		go worker(pool.jobs)
	}
}

// An idle worker keeps its OS thread busy polling for the next job for
// spinTime before parking on the channel. On this 2-vCPU VM, waking a parked
// goroutine was measured at 0.3-1 ms (the woken goroutine is queued on the
// caller's P, which is busy in a kernel, until a halted vCPU wakes up and
// steals it), while a polling worker joins within ~3 µs; Sgemm calls come in
// bursts (a training step is hundreds of them), so workers stay hot.
// Every yieldEvery the worker yields its P (runtime.Gosched) so other
// goroutines of the process still run; yielding on every poll was measured
// to lose jobs again (the caller could end up queued behind the worker).
const (
	spinTime   = 2 * time.Millisecond
	yieldEvery = 20 * time.Microsecond
)

func worker(jobs <-chan *job) {
	for {
		var j *job
		select {
		case j = <-jobs:
		default:
			start := time.Now()
			lastYield := start
		spin:
			for {
				select {
				case j = <-jobs:
					break spin
				default:
				}
				now := time.Now()
				if now.Sub(start) > spinTime {
					j = <-jobs // park
					break spin
				}
				if now.Sub(lastYield) > yieldEvery {
					runtime.Gosched()
					lastYield = time.Now()
				}
			}
		}
		j.work()
	}
}

// run executes every task of p using up to threads goroutines (the caller
// included) and returns when all are done.
func run(p *plan, threads int) {
	n := p.tasks()
	helpers := min(threads, n) - 1
	if helpers <= 0 {
		ws := workspaces.Get().(*workspace)
		for t := 0; t < n; t++ {
			p.runTask(t, ws)
		}
		workspaces.Put(ws)
		return
	}
	ensureWorkers(threads - 1)
	j := &job{plan: *p}
	for i := 0; i < helpers; i++ {
		select {
		case pool.jobs <- j:
		default: // the queue is full of other calls' jobs; do it ourselves
		}
	}
	j.work()
	// Tasks still running belong to workers that started them; they finish
	// within one task's time, so yield-spin rather than park.
	for j.done.Load() < int64(n) {
		runtime.Gosched()
	}
}

var threadSetting atomic.Int32

func defaultThreads() int { return min(runtime.GOMAXPROCS(0), maxThreads) }

// SetThreads sets how many goroutines Sgemm may use per call (the caller
// included). n <= 0 restores the default, runtime.GOMAXPROCS(0).
func SetThreads(n int) { threadSetting.Store(int32(min(max(n, 0), maxThreads))) }

// Threads reports the thread count Sgemm uses per call.
func Threads() int {
	if n := int(threadSetting.Load()); n > 0 {
		return n
	}
	return defaultThreads()
}
