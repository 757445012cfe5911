package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
)

// problem is one Sgemm call with its inputs stored exactly as Sgemm reads them.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32 // c holds the initial C
	lda, ldb, ldc  int
}

// cPad is written into the padding columns of C (between n and ldc); Sgemm
// must leave it alone.
const cPad = float32(-12345.5)

func newProblem(rng *rand.Rand, transA, transB bool, m, n, k int, alpha, beta float32, pad int) *problem {
	p := &problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	p.lda, p.ldb, p.ldc = ac+pad, bc+pad, n+pad
	p.a = randSlice(rng, max(ar*p.lda, 1))
	p.b = randSlice(rng, max(br*p.ldb, 1))
	p.c = randSlice(rng, m*p.ldc)
	for i := 0; i < m; i++ {
		for j := n; j < p.ldc; j++ {
			p.c[i*p.ldc+j] = cPad
		}
	}
	return p
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.Float64()*2 - 1)
	}
	return s
}

func (p *problem) opA(i, l int) float64 {
	if p.transA {
		return float64(p.a[l*p.lda+i])
	}
	return float64(p.a[i*p.lda+l])
}

func (p *problem) opB(l, j int) float64 {
	if p.transB {
		return float64(p.b[j*p.ldb+l])
	}
	return float64(p.b[l*p.ldb+j])
}

// reference returns the exact-ish (float64) result and, per element, the
// float32 round-off bound for any summation order:
//
//	|fl(C) − C| ≤ γ·(|alpha|·Σ_l |a_il||b_lj| + |beta|·|c_ij|),  γ = (k+3)·2⁻²³
//
// k+2 roundings of products and sums (plus alpha and beta) each contribute at
// most u = 2⁻²⁴ relative to those magnitudes; the factor 2 is slack for the
// second-order terms. A wrong or missing product is of size |a||b| ≫ γ·Σ|a||b|
// for these k, so the bound still catches real bugs.
func (p *problem) reference() (want, bound []float64) {
	want = make([]float64, p.m*p.n)
	bound = make([]float64, p.m*p.n)
	gamma := float64(p.k+3) * math.Ldexp(1, -23)
	for i := 0; i < p.m; i++ {
		for j := 0; j < p.n; j++ {
			var s, mag float64
			if p.alpha != 0 {
				for l := 0; l < p.k; l++ {
					x := p.opA(i, l) * p.opB(l, j)
					s += x
					mag += math.Abs(x)
				}
			}
			v := float64(p.alpha) * s
			mag *= math.Abs(float64(p.alpha))
			if p.beta != 0 {
				c0 := float64(p.c[i*p.ldc+j])
				v += float64(p.beta) * c0
				mag += math.Abs(float64(p.beta) * c0)
			}
			want[i*p.n+j] = v
			bound[i*p.n+j] = gamma*mag + 1e-30
		}
	}
	return want, bound
}

// run calls Sgemm through kern with the given thread count on a copy of C.
func (p *problem) run(kern *kernel, threads int) []float32 {
	c := append([]float32(nil), p.c...)
	sgemmWith(kern, threads, p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
	return c
}

func (p *problem) String() string {
	return fmt.Sprintf("transA=%v transB=%v m=%d n=%d k=%d alpha=%v beta=%v lda=%d ldb=%d ldc=%d",
		p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.beta, p.lda, p.ldb, p.ldc)
}

// check compares got with the reference and verifies C's padding survived.
func (p *problem) check(t *testing.T, label string, got []float32, want, bound []float64) {
	t.Helper()
	bad := 0
	for i := 0; i < p.m; i++ {
		for j := 0; j < p.ldc; j++ {
			g := got[i*p.ldc+j]
			if j >= p.n {
				if g != cPad {
					t.Errorf("%s %v: padding C[%d,%d] changed to %v", label, p, i, j, g)
					return
				}
				continue
			}
			w, tol := want[i*p.n+j], bound[i*p.n+j]
			if d := math.Abs(float64(g) - w); !(d <= tol) {
				if bad < 3 {
					t.Errorf("%s %v: C[%d,%d] = %v, want %v (|err| %.3g > bound %.3g)", label, p, i, j, g, w, d, tol)
				}
				bad++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s %v: %d wrong elements", label, p, bad)
	}
}

var layouts = []struct{ transA, transB bool }{{false, false}, {true, false}, {false, true}, {true, true}}

var scalarCases = []struct{ alpha, beta float32 }{
	{1, 0}, {1, 1}, {-0.5, 0.25}, {1.75, -1}, {2, 0},
}

// TestSgemmShapes checks every kernel this machine can run against the float64
// reference on all combinations of awkward sizes, in all four layouts.
func TestSgemmShapes(t *testing.T) {
	sizes := []int{1, 2, 3, 5, 7, 13, 16, 20, 31, 32, 33, 47, 64, 97}
	rng := rand.New(rand.NewPCG(1, 2))
	caseIdx := 0
	for _, l := range layouts {
		for _, m := range sizes {
			for _, n := range sizes {
				for _, k := range sizes {
					sc := scalarCases[caseIdx%len(scalarCases)]
					pad := caseIdx % 3 // leading dimensions 0, 1 or 2 wider than the rows
					caseIdx++
					p := newProblem(rng, l.transA, l.transB, m, n, k, sc.alpha, sc.beta, pad)
					want, bound := p.reference()
					for _, kern := range kernels {
						p.check(t, kern.name, p.run(kern, 1), want, bound)
					}
					if t.Failed() {
						t.FailNow()
					}
				}
			}
		}
	}
}

// TestSgemmFewRows covers the decode-like shapes with 1-3 rows in the last
// row strip, which the wide kernels compute several B strips at a time, with
// B read in place, packed, and with partial strips mixed in.
func TestSgemmFewRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	caseIdx := 0
	for _, l := range layouts {
		for _, m := range []int{1, 2, 3, 4, 13, 14, 15, 26, 27} {
			for _, n := range []int{64, 128, 129, 160, 256, 300} {
				for _, k := range []int{1, 5, 16, 33, 300, 600} {
					sc := scalarCases[caseIdx%len(scalarCases)]
					p := newProblem(rng, l.transA, l.transB, m, n, k, sc.alpha, sc.beta, caseIdx%3)
					caseIdx++
					want, bound := p.reference()
					for _, kern := range kernels {
						p.check(t, kern.name, p.run(kern, 1+caseIdx%2), want, bound)
					}
					if t.Failed() {
						t.FailNow()
					}
				}
			}
		}
	}
}

// TestSgemmLarge covers several K blocks, several N blocks, both task
// splits (rows and columns) and the in-place and packed B paths.
func TestSgemmLarge(t *testing.T) {
	shapes := [][3]int{ // m, n, k
		{200, 600, 300}, // 2 K blocks, 2 N blocks, row split
		{37, 1100, 520}, // small-M task path, 3 K blocks, column split
		{32, 384, 128},  // the decode shape
		{130, 70, 1030}, // 5 K blocks, 3 edge columns
		{9, 45, 777},    // tiny M with long K
		{300, 17, 64},   // tall and thin
		{242, 300, 100}, // row split with a 2-row last strip
		{600, 70, 40},   // one task > inPlaceRows: op(B) = B packed
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for si, s := range shapes {
		for li, l := range layouts {
			sc := scalarCases[(si+li)%len(scalarCases)]
			p := newProblem(rng, l.transA, l.transB, s[0], s[1], s[2], sc.alpha, sc.beta, (si+li)%2*5)
			want, bound := p.reference()
			for _, kern := range kernels {
				for _, threads := range []int{1, 2, 3} {
					p.check(t, fmt.Sprintf("%s/threads=%d", kern.name, threads), p.run(kern, threads), want, bound)
				}
			}
		}
	}
}

// TestBetaZeroIgnoresNaN: beta == 0 must overwrite C, so NaN or Inf in C
// cannot leak into the result; alpha == 0 must not read A or B.
func TestBetaZeroIgnoresNaN(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	nan := float32(math.NaN())
	for _, kern := range kernels {
		for _, l := range layouts {
			for _, s := range [][3]int{{13, 33, 7}, {50, 70, 300}, {1, 1, 1}} {
				p := newProblem(rng, l.transA, l.transB, s[0], s[1], s[2], 1.5, 0, 1)
				for i := 0; i < p.m; i++ {
					for j := 0; j < p.n; j++ {
						p.c[i*p.ldc+j] = nan
					}
				}
				p.c[0] = float32(math.Inf(1))
				want, bound := p.reference()
				p.check(t, kern.name, p.run(kern, 2), want, bound)

				// alpha == 0: C = beta·C; A and B (here NaN) are not read.
				q := *p
				q.alpha, q.beta = 0, 0
				q.a = append([]float32(nil), p.a...)
				for i := range q.a {
					q.a[i] = nan
				}
				got := q.run(kern, 2)
				for i := 0; i < q.m; i++ {
					for j := 0; j < q.n; j++ {
						if got[i*q.ldc+j] != 0 {
							t.Fatalf("%s %v: alpha=0 beta=0 gave C[%d,%d]=%v, want 0", kern.name, &q, i, j, got[i*q.ldc+j])
						}
					}
				}
			}
		}
	}
}

// TestKZeroScalesC: with k == 0 the product is empty and C = beta·C.
func TestKZeroScalesC(t *testing.T) {
	for _, kern := range kernels {
		c := []float32{1, 2, 3, 4, 5, 6}
		sgemmWith(kern, 1, false, false, 2, 3, 0, 1, nil, 1, nil, 3, 0.5, c, 3)
		want := []float32{0.5, 1, 1.5, 2, 2.5, 3}
		for i := range c {
			if c[i] != want[i] {
				t.Fatalf("%s: k=0 beta=0.5 gave %v, want %v", kern.name, c, want)
			}
		}
	}
}

// TestDeterministicAcrossThreads: the same call must give bit-identical C for
// every thread count (the task split changes, the summation order must not).
func TestDeterministicAcrossThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	shapes := [][3]int{{2048 / 4, 384, 128}, {32, 384, 512}, {97, 1000, 300}, {300, 33, 1024}}
	for _, kern := range kernels {
		for si, s := range shapes {
			for _, l := range layouts {
				p := newProblem(rng, l.transA, l.transB, s[0], s[1], s[2], 1, float32(si%2), 0)
				ref := p.run(kern, 1)
				for _, threads := range []int{2, 3, 4, 7} {
					got := p.run(kern, threads)
					for i := range ref {
						if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
							t.Fatalf("%s %v: threads=%d differs from threads=1 at %d: %v vs %v",
								kern.name, p, threads, i, got[i], ref[i])
						}
					}
				}
			}
		}
	}
}

// TestBatchInvariance: row i of C depends only on row i of op(A), all of
// op(B) and k, so computing one row alone (the KV-cache decode step) or a
// column subset gives bit-identical values to the full product.
func TestBatchInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, kern := range kernels {
		for _, l := range layouts {
			for _, s := range [][3]int{{40, 300, 520}, {200, 130, 64}} {
				m, n, k := s[0], s[1], s[2]
				p := newProblem(rng, l.transA, l.transB, m, n, k, 1, 0, 0)
				full := p.run(kern, 2)
				for _, i := range []int{0, 1, 13, m - 1} {
					// Row i alone: op(A) row i as a 1×k matrix.
					row := make([]float32, k)
					for x := 0; x < k; x++ {
						row[x] = float32(p.opA(i, x))
					}
					one := make([]float32, n)
					sgemmWith(kern, 1, false, l.transB, 1, n, k, 1, row, k, p.b, p.ldb, 0, one, n)
					for j := 0; j < n; j++ {
						if math.Float32bits(one[j]) != math.Float32bits(full[i*p.ldc+j]) {
							t.Fatalf("%s %v: row %d alone differs at column %d: %v vs %v", kern.name, p, i, j, one[j], full[i*p.ldc+j])
						}
					}
				}
				// The first 33 columns of op(B) alone (a partial strip at the
				// end); the same B with the same ldb serves both layouts.
				sub := make([]float32, m*33)
				sgemmWith(kern, 2, l.transA, l.transB, m, 33, k, 1, p.a, p.lda, p.b, p.ldb, 0, sub, 33)
				for i := 0; i < m; i++ {
					for j := 0; j < 33; j++ {
						if math.Float32bits(sub[i*33+j]) != math.Float32bits(full[i*p.ldc+j]) {
							t.Fatalf("%s %v: 33-column product differs at [%d,%d]", kern.name, p, i, j)
						}
					}
				}
			}
		}
	}
}

// TestConcurrentCallers runs many Sgemm calls at once (sharing the worker
// pool) and checks each against the same call made alone.
func TestConcurrentCallers(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	kern := kernels[0]
	var probs []*problem
	var alone [][]float32
	for i := 0; i < 12; i++ {
		l := layouts[i%4]
		p := newProblem(rng, l.transA, l.transB, 40+37*i, 64+29*i, 100+23*i, 1, float32(i%2), i%2)
		probs = append(probs, p)
		alone = append(alone, p.run(kern, 2))
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(probs)*4)
	for rep := 0; rep < 4; rep++ {
		for i, p := range probs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got := p.run(kern, 2)
				for x := range got {
					if math.Float32bits(got[x]) != math.Float32bits(alone[i][x]) {
						errs <- fmt.Sprintf("%v: concurrent result differs at %d", p, x)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestPublicAPI exercises Sgemm, SetThreads, Threads and Kernel.
func TestPublicAPI(t *testing.T) {
	defer SetThreads(0)
	SetThreads(3)
	if Threads() != 3 {
		t.Fatalf("Threads() = %d after SetThreads(3)", Threads())
	}
	SetThreads(0)
	if Threads() != defaultThreads() {
		t.Fatalf("Threads() = %d after SetThreads(0), want default %d", Threads(), defaultThreads())
	}
	want := kernels[0].name
	if k := kernelByName(os.Getenv("ROADS_GEMM_KERNEL")); k != nil {
		want = k.name
	}
	if Kernel() != want {
		t.Fatalf("Kernel() = %q, want %q", Kernel(), want)
	}
	// 2×3 · 3×2 by hand.
	a := []float32{1, 2, 3, 4, 5, 6}
	b := []float32{7, 8, 9, 10, 11, 12}
	c := []float32{1, 1, 1, 1}
	Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 2, c, 2)
	wantC := []float32{58 + 2, 64 + 2, 139 + 2, 154 + 2}
	for i := range c {
		if c[i] != wantC[i] {
			t.Fatalf("Sgemm = %v, want %v", c, wantC)
		}
	}
}

// TestKernelSelection: on a CPU whose flags list avx512f / avx2+fma, the
// matching assembly kernel must have been detected (Linux only).
func TestKernelSelection(t *testing.T) {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip("no /proc/cpuinfo")
	}
	flags := ""
	for _, line := range strings.Split(string(info), "\n") {
		if strings.HasPrefix(line, "flags") {
			flags = line + " "
			break
		}
	}
	t.Logf("kernels: %v", kernelNames())
	if len(archKernels()) == 0 {
		t.Skip("no assembly kernels in this build (purego or non-amd64)")
	}
	if strings.Contains(flags, " avx512f ") && kernelByName("avx512") == nil {
		t.Errorf("CPU has avx512f but the avx512 kernel was not selected")
	}
	if strings.Contains(flags, " avx2 ") && strings.Contains(flags, " fma ") && kernelByName("avx2") == nil {
		t.Errorf("CPU has avx2 and fma but the avx2 kernel was not selected")
	}
}

func kernelNames() []string {
	var s []string
	for _, k := range kernels {
		s = append(s, k.name)
	}
	return s
}

// TestBadArguments: inconsistent sizes must panic with a message naming them.
func TestBadArguments(t *testing.T) {
	expectPanic := func(name, want string, f func()) {
		t.Helper()
		defer func() {
			r := recover()
			if r == nil || !strings.Contains(fmt.Sprint(r), want) {
				t.Errorf("%s: panic %v, want one containing %q", name, r, want)
			}
		}()
		f()
	}
	a := make([]float32, 6)
	b := make([]float32, 6)
	c := make([]float32, 4)
	expectPanic("lda", "bad leading dimension", func() { Sgemm(false, false, 2, 2, 3, 1, a, 2, b, 2, 0, c, 2) })
	expectPanic("short a", "short input", func() { Sgemm(false, false, 2, 2, 3, 1, a[:5], 3, b, 2, 0, c, 2) })
	expectPanic("short c", "short output", func() { Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c[:3], 2) })
	expectPanic("negative", "negative dimension m=2 n=-1 k=3", func() { Sgemm(false, false, 2, -1, 3, 1, a, 3, b, 2, 0, c, 2) })
}

// TestWideLeadingDimensions: an op(B) = B whose rows are inPlaceMaxLd or more
// floats apart is packed (and split by columns), and an op(A) = Aᵀ whose rows
// are a multiple of aliasLd apart is packed when N ≥ aliasMinN. Both must
// agree with the reference and be bit-identical to the same product stored
// with tight leading dimensions, which takes the in-place paths.
func TestWideLeadingDimensions(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, kern := range kernels {
		for _, l := range layouts {
			m, n, k := 200, aliasMinN+40, 300
			tight := newProblem(rng, l.transA, l.transB, m, n, k, 1, 0.5, 0)
			wide := *tight
			wide.lda, wide.ldb = widen(tight.lda, aliasLd), widen(tight.ldb, inPlaceMaxLd)
			wide.a = relayout(tight.a, tight.lda, wide.lda)
			wide.b = relayout(tight.b, tight.ldb, wide.ldb)
			want, bound := tight.reference()
			ref := tight.run(kern, 1)
			for _, threads := range []int{1, 2, 3} {
				got := wide.run(kern, threads)
				wide.check(t, fmt.Sprintf("%s/threads=%d", kern.name, threads), got, want, bound)
				for i := range ref {
					if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
						t.Fatalf("%s %v threads=%d: differs from the tight layout at %d: %v vs %v", kern.name, &wide, threads, i, got[i], ref[i])
					}
				}
			}
		}
	}
}

// widen returns the smallest multiple of unit that is at least max(ld, unit).
func widen(ld, unit int) int { return ceilDiv(max(ld, unit), unit) * unit }

// relayout copies the rows of a (len(a)/ld rows of ld floats) to rows of
// ld2 floats, filling the gaps with NaN so that a read of them shows.
func relayout(a []float32, ld, ld2 int) []float32 {
	rows := len(a) / ld
	out := make([]float32, rows*ld2)
	for i := range out {
		out[i] = float32(math.NaN())
	}
	for r := 0; r < rows; r++ {
		copy(out[r*ld2:], a[r*ld:(r+1)*ld])
	}
	return out
}
