package engine

import (
	"math"

	"roads/internal/gemm"
)

// Shapes: n is a number of rows (batch × time), d a feature width. Every buffer
// is row-major and exactly n·width long unless stated. "+=" in a doc comment
// means the op accumulates into its output (gradients add until zeroed).

// rowGrain is the minimum rows per goroutine for row-wise ops on d≈128
// features: below it the hand-off costs more than it saves.
const rowGrain = 16

// colGrain is the minimum columns per goroutine for column-partitioned
// reductions.
const colGrain = 16

// EmbeddingForward sets out[r] = wte[tokens[r]] + wpe[pos[r]] for each of the
// n = len(tokens) rows (width d). Ids must be in range (checked by callers).
func EmbeddingForward(out []float32, tokens, pos []int32, wte, wpe []float32, d int) {
	ParallelFor(len(tokens), rowGrain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o := out[r*d : r*d+d]
			t := wte[int(tokens[r])*d : int(tokens[r])*d+d]
			if wpe == nil { // rotary models have no position table
				copy(o, t)
				continue
			}
			p := wpe[int(pos[r])*d : int(pos[r])*d+d]
			for j := range o {
				o[j] = t[j] + p[j]
			}
		}
	})
}

// EmbeddingBackward accumulates dwte[tokens[r]] += dout[r] and
// dwpe[pos[r]] += dout[r]. Work is split by columns, and each column adds the
// rows in order, so the result does not depend on the thread count. Either
// gradient may be nil.
func EmbeddingBackward(dwte, dwpe, dout []float32, tokens, pos []int32, d int) {
	n := len(tokens)
	ParallelFor(d, colGrain, func(lo, hi int) {
		for r := 0; r < n; r++ {
			g := dout[r*d+lo : r*d+hi]
			if dwte != nil {
				addTo(dwte[int(tokens[r])*d+lo:int(tokens[r])*d+hi], g)
			}
			if dwpe != nil {
				addTo(dwpe[int(pos[r])*d+lo:int(pos[r])*d+hi], g)
			}
		}
	})
}

// LayerNormForward normalises each row of x[n,d]:
// out = (x − mean)·rstd·gamma + beta with rstd = 1/sqrt(var + eps) (biased
// variance, as torch.nn.LayerNorm). mean and rstd [n] are saved for backward.
func LayerNormForward(out, mean, rstd, x, gamma, beta []float32, n, d int, eps float32) {
	ParallelFor(n, rowGrain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*d : r*d+d]
			m := sum(xr) / float32(d)
			rs := float32(1 / math.Sqrt(float64(sumSqDiff(xr, m)/float32(d)+eps)))
			mean[r], rstd[r] = m, rs
			normAffine(out[r*d:r*d+d], xr, gamma, beta, m, rs)
		}
	})
}

// LayerNormBackward accumulates dx += ∂L/∂x and dgamma, dbeta += their
// gradients, given dout = ∂L/∂out and the forward's x, mean, rstd.
//
//	x̂ = (x − mean)·rstd,  g = dout·gamma
//	dx = rstd·(g − mean(g) − x̂·mean(g·x̂))
func LayerNormBackward(dx, dgamma, dbeta, dout, x, mean, rstd, gamma []float32, n, d int) {
	ParallelFor(n, rowGrain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dr := x[r*d:r*d+d], dout[r*d:r*d+d]
			m, rs := mean[r], rstd[r]
			sg, sgx := lnBackSums(dr, xr, gamma, m, rs)
			lnBackApply(dx[r*d:r*d+d], dr, xr, gamma, m, rs, sg/float32(d), sgx/float32(d))
		}
	})
	ParallelFor(d, colGrain, func(lo, hi int) {
		dg, db := dgamma[lo:hi], dbeta[lo:hi]
		for r := 0; r < n; r++ {
			lnParamGrad(dg, db, dout[r*d+lo:r*d+hi], x[r*d+lo:r*d+hi], mean[r], rstd[r])
		}
	})
}

// LinearForward computes y[n,out] = x[n,in]·Wᵀ + b, with W stored [out,in] as
// torch.nn.Linear. b may be nil (no bias).
func LinearForward(y, x, w, b []float32, n, in, out int) {
	beta := float32(0)
	if b != nil {
		BroadcastRows(y, b, n, out)
		beta = 1
	}
	gemm.Sgemm(false, true, n, out, in, 1, x, in, w, in, beta, y, out)
}

// LinearResidualForward computes y = res + x·Wᵀ + b (a Linear layer whose
// output joins the residual stream; its backward is LinearBackward with dy
// also flowing unchanged to res). y must not alias x; b may be nil.
func LinearResidualForward(y, res, x, w, b []float32, n, in, out int) {
	ParallelFor(n, rowGrain*4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr := y[r*out : r*out+out]
			copy(yr, res[r*out:r*out+out])
			if b != nil {
				addTo(yr, b[:out])
			}
		}
	})
	gemm.Sgemm(false, true, n, out, in, 1, x, in, w, in, 1, y, out)
}

// LinearBackward computes the gradients of y = x·Wᵀ + b:
// dW += dyᵀ·x, db += Σ_rows dy, and dx = dy·W (dx += dy·W when accumulate is
// true). dx, dw and db may each be nil to skip them.
func LinearBackward(dx, dw, db, dy, x, w []float32, n, in, out int, accumulate bool) {
	if dw != nil {
		gemm.Sgemm(true, false, out, in, n, 1, dy, out, x, in, 1, dw, in)
	}
	if db != nil {
		ColumnSum(db, dy, n, out)
	}
	if dx != nil {
		beta := float32(0)
		if accumulate {
			beta = 1
		}
		gemm.Sgemm(false, false, n, in, out, 1, dy, out, w, in, beta, dx, in)
	}
}

// BroadcastRows sets every row of y[n,d] to b[d].
func BroadcastRows(y, b []float32, n, d int) {
	ParallelFor(n, rowGrain*4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(y[r*d:r*d+d], b[:d])
		}
	})
}

// ColumnSum accumulates s[j] += Σ_r a[r,j] over the n rows of a[n,d]. The
// split is by columns, so each sum runs over the rows in order.
func ColumnSum(s, a []float32, n, d int) {
	ParallelFor(d, colGrain, func(lo, hi int) {
		acc := s[lo:hi]
		for r := 0; r < n; r++ {
			addTo(acc, a[r*d+lo:r*d+hi])
		}
	})
}

// AddInto sets out = a + b elementwise (the residual connection; out may alias
// a or b). Its backward passes the gradient unchanged to both inputs.
func AddInto(out, a, b []float32) {
	n := len(out)
	a, b = a[:n], b[:n]
	ParallelFor(n, 4096, func(lo, hi int) {
		o, x, y := out[lo:hi], a[lo:hi], b[lo:hi]
		for i := range o {
			o[i] = x[i] + y[i]
		}
	})
}

// GELU with the tanh approximation (torch approximate="tanh"):
//
//	gelu(x) = ½·x·(1 + tanh(u)),  u = √(2/π)·(x + 0.044715·x³)
const (
	geluC = 0.7978845608028654 // √(2/π)
	geluA = 0.044715
)

// GeluForward sets out = gelu(x) elementwise (out may alias x).
func GeluForward(out, x []float32) {
	n := len(out)
	x = x[:n]
	ParallelFor(n, 4096, func(lo, hi int) {
		o, in := out[lo:hi], x[lo:hi]
		for i := geluVec(o, in); i < len(in); i++ {
			v := in[i]
			t := Tanhf(geluC * (v + geluA*v*v*v))
			o[i] = 0.5 * v * (1 + t)
		}
	})
}

// GeluForwardGrad sets out = gelu(x) and grad = gelu'(x), so that the
// backward pass is a product (MulInto) instead of a second tanh per element.
// grad may alias x (each element is read before it is written).
func GeluForwardGrad(out, grad, x []float32) {
	n := len(out)
	x, grad = x[:n], grad[:n]
	ParallelFor(n, 4096, func(lo, hi int) {
		o, d, in := out[lo:hi], grad[lo:hi], x[lo:hi]
		for i := geluGradVec(o, d, in); i < len(in); i++ {
			v := in[i]
			v2 := v * v
			t := Tanhf(geluC * (v + geluA*v2*v))
			o[i] = 0.5 * v * (1 + t)
			d[i] = 0.5*(1+t) + 0.5*v*(1-t*t)*geluC*(1+3*geluA*v2)
		}
	})
}

// BiasGeluForwardGrad is GeluForwardGrad on x + bias, with bias [cols]
// added to every row of x [n, cols] (the bias of the Linear layer before the
// GELU, folded in here to save a pass over the activations). grad may alias x.
func BiasGeluForwardGrad(out, grad, x, bias []float32, n, cols int) {
	ParallelFor(n, 4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			geluGradBias(out[r*cols:r*cols+cols], grad[r*cols:r*cols+cols], x[r*cols:r*cols+cols], bias[:cols])
		}
	})
}

// MulInto sets out = a ⊙ b elementwise (out may alias a or b).
func MulInto(out, a, b []float32) {
	n := len(out)
	a, b = a[:n], b[:n]
	ParallelFor(n, 4096, func(lo, hi int) {
		mulInto(out[lo:hi], a[lo:hi], b[lo:hi])
	})
}

// GeluBackward sets dx = dout·gelu'(x) (dx may alias dout), where
//
//	gelu'(x) = ½(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²),  t = tanh(u).
func GeluBackward(dx, dout, x []float32) {
	n := len(dx)
	dout, x = dout[:n], x[:n]
	ParallelFor(n, 4096, func(lo, hi int) {
		o, g, in := dx[lo:hi], dout[lo:hi], x[lo:hi]
		for i, v := range in {
			v2 := v * v
			t := Tanhf(geluC * (v + geluA*v2*v))
			o[i] = g[i] * (0.5*(1+t) + 0.5*v*(1-t*t)*geluC*(1+3*geluA*v2))
		}
	})
}
