package engine

import (
	"math"
	"sync"

	"roads/internal/gemm"
)

// Causal multi-head self-attention over right-padded sequences.
//
// qkv [B·T, 3D] holds, for row (b,t), the query, key and value vectors side by
// side ([q | k | v], each D = H·hd wide, head h at columns h·hd). For query
// position t of sequence b and head h:
//
//	P(b,h,t,j) = softmax_j( q_t·k_j / √hd )  over keys j ≤ t with j < lens[b]
//	out(b,t,h) = Σ_j P(b,h,t,j)·v_j
//
// The key padding mask is lens: keys at j ≥ lens[b] never contribute, and query
// rows t ≥ lens[b] (padding) produce zero output and zero gradient. With the
// causal mask a valid query only sees valid keys, so padding never changes a
// valid output. probs [B,H,T,T] keeps P for the backward pass (rows and
// columns below lens[b] are written, with zeros above the diagonal).

// The per-(sequence, head) products run through gemm on the valid L×L block
// (the causal upper triangle is computed and discarded: at T = 64 and
// head_dim 32 the matrix kernel is still ~10× faster than scalar loops that
// skip it). Each (b, h) is one task; gemm calls this small run on the calling
// goroutine, so results do not depend on the thread count.

// AttentionForward computes out and probs from qkv (see above).
func AttentionForward(out, probs, qkv []float32, lens []int, B, T, D, H int) {
	hd := D / H
	scale := float32(1 / math.Sqrt(float64(hd)))
	ParallelFor(B*H, 1, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/H, bh%H
			L := min(lens[b], T)
			rows := b * T
			for i := L; i < T; i++ {
				clear(out[(rows+i)*D+h*hd : (rows+i)*D+h*hd+hd])
			}
			if L == 0 {
				continue
			}
			q := qkv[rows*3*D+h*hd:]
			k := qkv[rows*3*D+D+h*hd:]
			v := qkv[rows*3*D+2*D+h*hd:]
			P := probs[bh*T*T:]
			gemm.Sgemm(false, true, L, L, hd, scale, q, 3*D, k, 3*D, 0, P, T)
			for i := 0; i < L; i++ {
				p := P[i*T : i*T+i+1]
				inv := 1 / expShiftSum(p, p, rowMax(p))
				for j := range p {
					p[j] *= inv
				}
				clear(P[i*T+i+1 : i*T+L])
			}
			gemm.Sgemm(false, false, L, hd, L, 1, P, T, v, 3*D, 0, out[rows*D+h*hd:], D)
		}
	})
}

// scratchPool holds per-task T×T buffers for AttentionBackward.
var scratchPool sync.Pool

// AttentionBackward sets dqkv (overwriting it) to the gradient of the loss
// with respect to qkv, given dout = ∂L/∂out and the forward's qkv and probs.
//
//	dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS_tj = P_tj·(dP_tj − Σ_k P_tk·dP_tk)/√hd
//	dQ = dS·K,   dK = dSᵀ·Q
func AttentionBackward(dqkv, dout, qkv, probs []float32, lens []int, B, T, D, H int) {
	hd := D / H
	scale := float32(1 / math.Sqrt(float64(hd)))
	ParallelFor(B*H, 1, func(lo, hi int) {
		buf, _ := scratchPool.Get().(*[]float32)
		if buf == nil || cap(*buf) < T*T {
			s := make([]float32, T*T)
			buf = &s
		}
		dP := (*buf)[:T*T]
		for bh := lo; bh < hi; bh++ {
			b, h := bh/H, bh%H
			L := min(lens[b], T)
			rows := b * T
			for i := L; i < T; i++ {
				r := dqkv[(rows+i)*3*D:]
				clear(r[h*hd : h*hd+hd])
				clear(r[D+h*hd : D+h*hd+hd])
				clear(r[2*D+h*hd : 2*D+h*hd+hd])
			}
			if L == 0 {
				continue
			}
			q := qkv[rows*3*D+h*hd:]
			k := qkv[rows*3*D+D+h*hd:]
			v := qkv[rows*3*D+2*D+h*hd:]
			dO := dout[rows*D+h*hd:]
			P := probs[bh*T*T:]
			gemm.Sgemm(false, true, L, L, hd, 1, dO, D, v, 3*D, 0, dP, T)
			gemm.Sgemm(true, false, L, hd, L, 1, P, T, dO, D, 0, dqkv[rows*3*D+2*D+h*hd:], 3*D)
			for i := 0; i < L; i++ {
				p := P[i*T : i*T+i+1]
				g := dP[i*T : i*T+i+1]
				s := dot(p, g)
				for j, pj := range p {
					g[j] = pj * (g[j] - s) * scale
				}
				clear(dP[i*T+i+1 : i*T+L])
			}
			gemm.Sgemm(false, false, L, hd, L, 1, dP, T, k, 3*D, 0, dqkv[rows*3*D+h*hd:], 3*D)
			gemm.Sgemm(true, false, L, hd, L, 1, dP, T, q, 3*D, 0, dqkv[rows*3*D+D+h*hd:], 3*D)
		}
		scratchPool.Put(buf)
	})
}

// AttentionCached is the decoding form of AttentionForward: query row r (q at
// the start of row r of qkv, row stride 3D) belongs to sequence seq[r] at
// position pos[r] and attends to that sequence's cached keys and values at
// slots 0..pos[r]. kc and vc are [S, P, D] (S sequences, P slots each; slot t
// holds position t), already holding the keys and values of every attended
// slot, including each query's own. out is [n, D].
func AttentionCached(out, qkv, kc, vc []float32, seq, pos []int32, P, D, H int) {
	hd := D / H
	scale := float32(1 / math.Sqrt(float64(hd)))
	n := len(seq)
	ParallelFor(n*H, 4, func(lo, hi int) {
		scores := make([]float32, P)
		for rh := lo; rh < hi; rh++ {
			r, h := rh/H, rh%H
			base := int(seq[r]) * P * D
			q := qkv[r*3*D+h*hd : r*3*D+h*hd+hd]
			o := out[r*D+h*hd : r*D+h*hd+hd]
			p := scores[:pos[r]+1]
			kh, vh := kc[base+h*hd:], vc[base+h*hd:]
			if hasAVX2FMA && hd%vecAlign == 0 {
				_, _ = kh[(len(p)-1)*D+hd-1], vh[(len(p)-1)*D+hd-1]
				vAttnScores(&p[0], &q[0], &kh[0], len(p), hd, D, scale)
				inv := 1 / expShiftSum(p, p, rowMax(p))
				for j := range p {
					p[j] *= inv
				}
				vAttnWeighted(&o[0], &p[0], &vh[0], len(p), hd, D)
				continue
			}
			for j := range p {
				p[j] = dot(q, kh[j*D:j*D+hd]) * scale
			}
			inv := 1 / expShiftSum(p, p, rowMax(p))
			clear(o)
			for j := range p {
				axpy(o, p[j]*inv, vh[j*D:j*D+hd])
			}
		}
	})
}
