package engine

import "math"

// LogSoftmaxGather reads logits [n,v] and, for each row r with target
// targets[r], writes
//
//	lse[r]  = log Σ_k exp z_k
//	logp[r] = z_target − lse                    (log π(target))
//	ent[r]  = −Σ_k p_k log p_k = lse − Σ_k p_k z_k   (entropy of π)
//
// ent may be nil. Nothing of size n·v is stored: backward recomputes p from the
// logits and lse.
func LogSoftmaxGather(logp, ent, lse, logits []float32, targets []int32, n, v int) {
	ParallelFor(n, rowGrain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			z := logits[r*v : r*v+v]
			mx := rowMax(z)
			s, sz := expSumDot(z, mx)
			logS := float32(math.Log(float64(s)))
			lse[r] = mx + logS
			logp[r] = z[targets[r]] - lse[r]
			if ent != nil {
				ent[r] = logS - sz/s
			}
		}
	})
}

// LogSoftmaxGatherBackward sets dlogits [n,v] (overwriting it) from upstream
// gradients dlogp[r] on logp and dent[r] on ent (dent may be nil):
//
//	∂logp/∂z_k = 1[k=target] − p_k
//	∂ent/∂z_k  = −p_k·(log p_k + ent)
//
// Rows whose upstream gradients are both zero get zero rows without touching
// the logits (prompt and padding positions).
func LogSoftmaxGatherBackward(dlogits, logits, lse, ent []float32, targets []int32, dlogp, dent []float32, n, v int) {
	ParallelFor(n, rowGrain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			dz := dlogits[r*v : r*v+v]
			gl := dlogp[r]
			var ge, h float32
			if dent != nil {
				ge, h = dent[r], ent[r]
			}
			if gl == 0 && ge == 0 {
				clear(dz)
				continue
			}
			z := logits[r*v : r*v+v]
			l := lse[r]
			if ge == 0 {
				expScale(dz, z, l, -gl)
			} else {
				for k, x := range z {
					lp := x - l
					p := Expf(lp)
					dz[k] = -gl*p - ge*p*(lp+h)
				}
			}
			dz[targets[r]] += gl
		}
	})
}
