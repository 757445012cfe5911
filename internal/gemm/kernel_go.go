package gemm

import "unsafe"

// microKernel computes one register tile of at most mr×nr elements:
//
//	mode 0: C = alpha·(A·B)          (C is written, never read)
//	mode 1: C = alpha·(A·B) + beta·C
//
// A is `rows` rows of k contiguous floats starting at a, rsA bytes apart
// (rows is fixed per kernel: kernel.tiles[rows-1]); B is k rows of nr
// contiguous floats starting at b, bs bytes apart (zero padded beyond cols);
// C starts at c with row stride ldc bytes, and only its first cols columns
// are touched. Every element is accumulated over p = 0..k-1 in order.
type microKernel func(k int, a *float32, rsA int, b *float32, bs int, c *float32, ldc int, alpha, beta float32, cols int, mode int)

// wideKernel: see kernel.wide.
type wideKernel func(k int, a *float32, rsA int, b *float32, bs int, ss int, c *float32, ldc int, alpha, beta float32, mode int)

// wideStrips is the number of B strips a wideKernel covers.
const wideStrips = 4

// kernel is one implementation of the micro-kernel family.
type kernel struct {
	name  string
	mr    int           // tile height the driver aims for
	nr    int           // tile width (B panels are packed nr floats wide)
	tiles []microKernel // tiles[r-1] computes r rows, r = 1..mr
	// colTiles, when present, are the same kernels reading A[r, p] at
	// a + 4r + p·rsA (the rows of one k are contiguous): op(A) = Aᵀ in place
	// or A packed as [k][mr].
	colTiles []microKernel
	// packTN: for op(A) = Aᵀ and tasks of more than smallRows rows, pack A
	// into [k][mr] panels instead of reading it in place with colTiles.
	// (Measured: AVX2 ~100 vs ~70 GFLOP/s on the 2048-row shapes; AVX-512
	// is faster in place, its FMAs hide the strided loads.)
	packTN bool
	// kcMax bounds the K block: an A strip (mr×kc) stays in L1 while the
	// packed B block (kc×nc) is read from L2. bBlockFloats bounds kc×nc.
	// The K blocking fixes the summation order, so kcMax is a constant of
	// the kernel, never a function of the thread count.
	kcMax, bBlockFloats int
	// wide[h-1] (wideCol[h-1] for column-layout A), when present, computes
	// h rows of wideStrips consecutive full nr-wide strips at once (strip q
	// at b + q·ss bytes), keeping enough FMA chains in flight when h is tiny.
	// Same per-element arithmetic as tiles.
	wide, wideCol []wideKernel
	// packBT, when present, replaces the scalar packBT.
	packBT func(dst, b []float32, ldb, pc, kb, j, w, nr int)
}

const portableMR, portableNR = 2, 4

var portableKernel = &kernel{
	name:  "portable",
	mr:    portableMR,
	nr:    portableNR,
	kcMax: 256, bBlockFloats: 64 << 10,
	tiles: []microKernel{
		func(k int, a *float32, rsA int, b *float32, bs int, c *float32, ldc int, alpha, beta float32, cols, mode int) {
			portableTile(1, k, a, rsA, b, bs, c, ldc, alpha, beta, cols, mode)
		},
		portableTile2,
	},
}

// portableTile2 is the full 2×4 tile with the accumulators in named locals:
// 8 accumulators, one B value and 2 A values fit amd64's 15 usable SSE
// registers without spilling (a 4×4 tile spilled and ran at 4 GFLOP/s). The explicit float32 conversions forbid fusing the multiply and
// add (the Go spec allows fusion otherwise), so this path rounds
// identically on every architecture.
func portableTile2(k int, a *float32, rsA int, b *float32, bs int, c *float32, ldc int, alpha, beta float32, cols, mode int) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	a0 := unsafe.Pointer(a)
	a1 := unsafe.Add(a0, rsA)
	bp := unsafe.Pointer(b)
	for p := 0; p < k; p++ {
		bv := (*[4]float32)(bp)
		off := uintptr(p) * 4
		x := *(*float32)(unsafe.Add(a0, off))
		y := *(*float32)(unsafe.Add(a1, off))
		bj := bv[0]
		c00 += float32(x * bj)
		c10 += float32(y * bj)
		bj = bv[1]
		c01 += float32(x * bj)
		c11 += float32(y * bj)
		bj = bv[2]
		c02 += float32(x * bj)
		c12 += float32(y * bj)
		bj = bv[3]
		c03 += float32(x * bj)
		c13 += float32(y * bj)
		bp = unsafe.Add(bp, bs)
	}
	acc := [2][4]float32{
		{c00, c01, c02, c03},
		{c10, c11, c12, c13},
	}
	storeTile(acc[:], c, ldc, alpha, beta, cols, mode)
}

// portableTile handles the short edge tiles (rows < 4) in the same order.
func portableTile(rows, k int, a *float32, rsA int, b *float32, bs int, c *float32, ldc int, alpha, beta float32, cols, mode int) {
	var acc [portableMR][portableNR]float32
	bp := unsafe.Pointer(b)
	for p := 0; p < k; p++ {
		bv := (*[portableNR]float32)(bp)
		for r := 0; r < rows; r++ {
			x := *(*float32)(unsafe.Add(unsafe.Pointer(a), r*rsA+4*p))
			for j := range bv {
				acc[r][j] += float32(x * bv[j])
			}
		}
		bp = unsafe.Add(bp, bs)
	}
	storeTile(acc[:rows], c, ldc, alpha, beta, cols, mode)
}

func storeTile(acc [][portableNR]float32, c *float32, ldc int, alpha, beta float32, cols, mode int) {
	for r := range acc {
		crow := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(c), r*ldc)), cols)
		for j := range crow {
			v := float32(alpha * acc[r][j])
			if mode != 0 {
				v += float32(beta * crow[j])
			}
			crow[j] = v
		}
	}
}
