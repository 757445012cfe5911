package gemm

import (
	"sync"
	"unsafe"
)

// The driver follows GotoBLAS: C is cut into tasks (row or column ranges,
// see newPlan) that run on the worker pool; inside a task K is cut into
// blocks of at most kcMax and N into blocks of at most nc columns. Each
// (K block, N block) of op(B) is a list of nr-wide strips: read in place when
// op(B) = B and the task is small enough that packing would not pay off,
// otherwise packed into contiguous [k][nr] strips (for op(B) = Bᵀ a
// transposing copy). A is read in place by kernels for either layout
// (op(A) = A: k-contiguous rows; op(A) = Aᵀ: mr-contiguous columns), and
// packed where a kernel asks for it (kernel.packTN, the portable kernel).
//
// Summation order. A C element is computed as: for each K block in order, one
// FMA chain over the block's k values, scaled by alpha and added to the
// (beta-scaled, for the first block) C value. K blocks depend only on k, and a
// micro-kernel's per-element arithmetic does not depend on the tile height or
// on where its inputs live, so the result depends only on (m, n, k) and the
// kernel: never on threads, task boundaries, or packing decisions.

const (
	// parallelMinFlops: below this (about 5 µs of one core) a call runs on
	// the calling goroutine; handing tasks to a polling worker costs ~3 µs.
	parallelMinFlops = 1 << 20
	// smallRows: tasks with at most this many rows walk B strips in the
	// outer loop, so each B strip is reused from L1 by every row strip.
	smallRows = 64
)

// inPlaceRows: tasks with at most this many rows read op(B) = B in place
// instead of packing it. Packing costs about one cycle per element of B,
// worthwhile only when many row strips reuse the packed block; measured on
// this machine's 2048-row and 2048-K shapes, in place wins up to ~1000 rows.
const inPlaceRows = 512

// inPlaceMaxLd: op(B) = B is packed, whatever the task's height, when its
// rows are at least this many floats apart: each k row of an in-place strip
// is then on a new page (and at 3072, 12 KiB apart, on the same L1 sets), and
// the strided loads stall the kernel. Measured at GPT-2-small shapes on
// AVX-512 (M 2048, K 768, N 3072): 173 GFLOP/s in place, 298 packed.
// Such a B is then split by columns, like op(B) = Bᵀ, so no strip is packed
// twice.
const inPlaceMaxLd = 2048

// aliasLd: op(A) = Aᵀ read in place is packed instead when its k rows are a
// multiple of 4 KiB apart, so that every k lands on the same cache sets
// (M 3072, K 2048, N 768: 163 GFLOP/s in place, 267 packed). Packing pays
// only when enough B strips reuse the packed panels: at N 128 and 256 it
// cost 5-10 %.
const (
	aliasLd   = 1024
	aliasMinN = 512
)

// plan is one Sgemm call cut into independent tasks. Task t covers rows
// [rt·rowChunk, ...) and columns [ct·colChunk, ...) of C, with
// rt, ct = t / colTasks, t % colTasks.
type plan struct {
	kern           *kernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	c              []float32
	ldc            int

	kc, nc             int
	rowChunk, colChunk int
	rowTasks, colTasks int
}

func newPlan(kern *kernel, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) plan {
	p := plan{kern: kern, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc}
	mr, nr := kern.mr, kern.nr
	p.kc = ceilDiv(k, ceilDiv(k, kern.kcMax))
	p.nc = max(nr, kern.bBlockFloats/p.kc/nr*nr)

	p.rowChunk, p.rowTasks = m, 1
	p.colChunk, p.colTasks = n, 1
	strips := ceilDiv(n, nr)
	if threads > 1 && 2*float64(m)*float64(n)*float64(k) >= parallelMinFlops {
		rowsFor := func(tasks int) {
			p.rowChunk = ceilDiv(ceilDiv(m, tasks), mr) * mr
			p.rowTasks = ceilDiv(m, p.rowChunk)
		}
		colsFor := func(tasks int) {
			p.colChunk = ceilDiv(strips, tasks) * nr
			p.colTasks = ceilDiv(n, p.colChunk)
		}
		// Which goroutine runs a task never changes the result, so the split
		// is free to chase speed. Op(B) = Bᵀ is packed per task: split its
		// columns so no B strip is packed twice. Otherwise split rows (tasks
		// of at most inPlaceRows rows read B in place, so extra tasks cost
		// nothing); several tasks per thread let the caller take over work
		// from a worker that the OS descheduled on this shared machine.
		switch {
		case (transB || ldb >= inPlaceMaxLd) && strips >= 2*threads:
			colsFor(2 * threads)
		case m >= 4*mr*threads:
			rowsFor(max(4*threads, ceilDiv(m, inPlaceRows)))
		case strips >= 2:
			colsFor(min(2*threads, strips))
		case m > mr:
			rowsFor(threads)
		}
	}
	return p
}

func (p *plan) tasks() int { return p.rowTasks * p.colTasks }

// stripRef is one nr-wide strip of the current B block.
type stripRef struct {
	ptr    *float32
	stride int // bytes between consecutive k rows
	col    int // first column in C
	width  int // valid columns (≤ nr)
}

// workspace holds one goroutine's packing buffers.
type workspace struct {
	aBuf, bBuf []float32
	strips     []stripRef
}

var workspaces = sync.Pool{New: func() any { return new(workspace) }}

// aligned returns a zeroed-or-stale buffer of n floats starting on a 64-byte
// boundary, so packed strips never split a vector load across cache lines.
func aligned(buf *[]float32, n int) []float32 {
	if cap(*buf) < n+16 {
		*buf = make([]float32, n+16)
	}
	s := (*buf)[:cap(*buf)]
	off := int(uintptr(unsafe.Pointer(&s[0]))&63) / 4
	if off != 0 {
		off = 16 - off
	}
	return s[off : off+n]
}

func (p *plan) runTask(t int, ws *workspace) {
	rt, ct := t/p.colTasks, t%p.colTasks
	m0, n0 := rt*p.rowChunk, ct*p.colChunk
	m1, n1 := min(p.m, m0+p.rowChunk), min(p.n, n0+p.colChunk)
	rows := m1 - m0
	mr := p.kern.mr
	smallTask := rows <= smallRows
	inPlaceB := !p.transB && rows <= inPlaceRows && p.ldb < inPlaceMaxLd

	for pc := 0; pc < p.k; pc += p.kc {
		kb := min(p.kc, p.k-pc)
		beta, mode := p.beta, 1
		if pc > 0 {
			beta = 1
		} else if p.beta == 0 {
			mode = 0
		}

		// The A strip for rows [ir, ir+mr) starts at aStart + (ir-m0)·rowStep
		// bytes and is read by tiles with k stride / row stride rsA.
		var aStart *float32
		var rsA, rowStep int
		tiles, wide := p.kern.tiles, p.kern.wide
		switch {
		case !p.transA:
			aStart, rsA = &p.a[m0*p.lda+pc], p.lda*4
			rowStep = rsA
		case p.kern.colTiles != nil && (p.kern.packTN || p.lda%aliasLd == 0 && p.n >= aliasMinN) && !smallTask:
			tiles, wide = p.kern.colTiles, p.kern.wideCol
			buf := aligned(&ws.aBuf, ceilDiv(rows, mr)*mr*kb)
			packATPanels(buf, p.a, p.lda, m0, rows, pc, kb, mr)
			aStart, rsA, rowStep = &buf[0], mr*4, kb*4
		case p.kern.colTiles != nil:
			// Read Aᵀ in place: the mr values of one k are contiguous. Packing
			// it (or packing A for op(A) = A) measured slower on every model
			// shape: the in-place loads hide their latency behind the FMAs.
			tiles, wide = p.kern.colTiles, p.kern.wideCol
			aStart, rsA, rowStep = &p.a[pc*p.lda+m0], p.lda*4, 4
		default:
			buf := aligned(&ws.aBuf, rows*kb)
			packAT(buf, p.a, p.lda, m0, rows, pc, kb)
			aStart, rsA = &buf[0], kb*4
			rowStep = rsA
		}
		aStrip := func(ir int) *float32 {
			return (*float32)(unsafe.Add(unsafe.Pointer(aStart), (ir-m0)*rowStep))
		}

		for jc := n0; jc < n1; jc += p.nc {
			nb := min(p.nc, n1-jc)
			strips := p.prepareB(ws, pc, kb, jc, nb, inPlaceB)
			if smallTask {
				// Walk B strips outside so each strip is reused from L1 by
				// every row strip; a short last row strip goes wide.
				narrowEnd := m1
				lastH := rows - (ceilDiv(rows, mr)-1)*mr
				if lastH <= len(wide) {
					narrowEnd = m1 - lastH
				}
				for _, s := range strips {
					for ir := m0; ir < narrowEnd; ir += mr {
						tiles[min(mr, narrowEnd-ir)-1](kb, aStrip(ir), rsA,
							s.ptr, s.stride, &p.c[ir*p.ldc+s.col], p.ldc*4, p.alpha, beta, s.width, mode)
					}
				}
				if narrowEnd < m1 {
					p.rowStrip(narrowEnd, lastH, kb, aStrip(narrowEnd), rsA, tiles, wide, strips, beta, mode)
				}
			} else {
				for ir := m0; ir < m1; ir += mr {
					h := min(mr, m1-ir)
					p.rowStrip(ir, h, kb, aStrip(ir), rsA, tiles, wide, strips, beta, mode)
				}
			}
		}
	}
}

// rowStrip computes rows [ir, ir+h) of C for every strip of the B block.
func (p *plan) rowStrip(ir, h, kb int, ap *float32, rsA int, tiles []microKernel, wide []wideKernel, strips []stripRef, beta float32, mode int) {
	tile := tiles[h-1]
	crow := p.c[ir*p.ldc:]
	if h > len(wide) {
		for _, s := range strips {
			tile(kb, ap, rsA, s.ptr, s.stride, &crow[s.col], p.ldc*4, p.alpha, beta, s.width, mode)
		}
		return
	}
	w := wide[h-1]
	for i := 0; i < len(strips); {
		if g := strips[i:min(i+wideStrips, len(strips))]; len(g) == wideStrips && uniformStrips(g, p.kern.nr) {
			ss := int(uintptr(unsafe.Pointer(g[1].ptr)) - uintptr(unsafe.Pointer(g[0].ptr)))
			w(kb, ap, rsA, g[0].ptr, g[0].stride, ss, &crow[g[0].col], p.ldc*4, p.alpha, beta, mode)
			i += wideStrips
			continue
		}
		s := strips[i]
		tile(kb, ap, rsA, s.ptr, s.stride, &crow[s.col], p.ldc*4, p.alpha, beta, s.width, mode)
		i++
	}
}

// uniformStrips reports whether g are full-width strips of adjacent columns
// with the same k stride and equally spaced starts, as a wideKernel needs.
func uniformStrips(g []stripRef, nr int) bool {
	base := uintptr(unsafe.Pointer(g[0].ptr))
	ss := uintptr(unsafe.Pointer(g[1].ptr)) - base
	for q, s := range g {
		if s.width != nr || s.stride != g[0].stride || s.col != g[0].col+q*nr ||
			uintptr(unsafe.Pointer(s.ptr)) != base+uintptr(q)*ss {
			return false
		}
	}
	return true
}

// prepareB makes the strips of B block rows [pc, pc+kb), columns [jc, jc+nb):
// packed into ws.bBuf, or (inPlace, op(B) = B, full-width strips) pointing at B.
func (p *plan) prepareB(ws *workspace, pc, kb, jc, nb int, inPlace bool) []stripRef {
	nr := p.kern.nr
	nStrips := ceilDiv(nb, nr)
	strips := ws.strips[:0]
	var buf []float32
	if !inPlace || nb%nr != 0 {
		buf = aligned(&ws.bBuf, nStrips*kb*nr)
	}
	for s := 0; s < nStrips; s++ {
		j := jc + s*nr
		w := min(nr, jc+nb-j)
		if inPlace && w == nr {
			strips = append(strips, stripRef{ptr: &p.b[pc*p.ldb+j], stride: p.ldb * 4, col: j, width: w})
			continue
		}
		dst := buf[s*kb*nr : (s+1)*kb*nr]
		if p.transB && p.kern.packBT != nil {
			p.kern.packBT(dst, p.b, p.ldb, pc, kb, j, w, nr)
		} else if p.transB {
			packBT(dst, p.b, p.ldb, pc, kb, j, w, nr)
		} else {
			packBN(dst, p.b, p.ldb, pc, kb, j, w, nr)
		}
		strips = append(strips, stripRef{ptr: &dst[0], stride: nr * 4, col: j, width: w})
	}
	ws.strips = strips
	return strips
}

// packBN packs B[pc:pc+kb, j:j+w] (B stored k×n) as dst[p·nr + jj], zero padded to nr.
func packBN(dst, b []float32, ldb, pc, kb, j, w, nr int) {
	if w == 32 && nr == 32 {
		for p := 0; p < kb; p++ {
			*(*[32]float32)(dst[p*32:]) = *(*[32]float32)(b[(pc+p)*ldb+j:])
		}
		return
	}
	if w == 16 && nr == 16 {
		for p := 0; p < kb; p++ {
			*(*[16]float32)(dst[p*16:]) = *(*[16]float32)(b[(pc+p)*ldb+j:])
		}
		return
	}
	for p := 0; p < kb; p++ {
		d := dst[p*nr : p*nr+nr]
		copy(d, b[(pc+p)*ldb+j:(pc+p)*ldb+j+w])
		clear(d[w:])
	}
}

// packBT packs op(B)[pc:pc+kb, j:j+w] where B is stored n×k (op(B) = Bᵀ), as
// dst[p·nr + jj] = B[j+jj, pc+p], zero padded to nr.
func packBT(dst, b []float32, ldb, pc, kb, j, w, nr int) {
	packBTRange(dst, b, ldb, pc, kb, j, 0, w, nr)
}

// packBTRange is packBT for strip columns [from, w), plus the zero padding.
func packBTRange(dst, b []float32, ldb, pc, kb, j, from, w, nr int) {
	for jj := from; jj < w; jj++ {
		src := b[(j+jj)*ldb+pc : (j+jj)*ldb+pc+kb]
		d := dst[jj:]
		for p, v := range src {
			d[p*nr] = v
		}
	}
	if w < nr {
		for p := 0; p < kb; p++ {
			clear(dst[p*nr+w : p*nr+nr])
		}
	}
}

// packAT packs op(A)[m0:m0+rows, pc:pc+kb] where A is stored k×m (op(A) = Aᵀ),
// as rows of kb contiguous floats: dst[r·kb + p] = A[pc+p, m0+r].
func packAT(dst, a []float32, lda, m0, rows, pc, kb int) {
	for p := 0; p < kb; p++ {
		src := a[(pc+p)*lda+m0 : (pc+p)*lda+m0+rows]
		d := dst[p:]
		for r, v := range src {
			d[r*kb] = v
		}
	}
}

// packATPanels packs op(A)[m0:m0+rows, pc:pc+kb] where A is stored k×m, as
// consecutive mr-row panels laid out [k][mr]: dst[s·mr·kb + p·mr + r] =
// A[pc+p, m0+s·mr+r]. It walks A row by row, so every read is sequential.
func packATPanels(dst, a []float32, lda, m0, rows, pc, kb, mr int) {
	full := rows / mr
	for p := 0; p < kb; p++ {
		src := a[(pc+p)*lda+m0 : (pc+p)*lda+m0+rows]
		d := dst[p*mr:]
		for s := 0; s < full; s++ {
			copy(d[s*mr*kb:s*mr*kb+mr], src[s*mr:s*mr+mr])
		}
		if h := rows - full*mr; h > 0 {
			copy(d[full*mr*kb:full*mr*kb+h], src[full*mr:])
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
