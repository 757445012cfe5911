package engine

import "math"

// The two ops GPT-NeoX (Pythia) adds to the GPT-2 block: the exact GELU and
// rotary position embeddings.

// ErfGeluForward sets out = x·Φ(x) = ½x(1 + erf(x/√2)), the exact GELU
// (Hugging Face's "gelu", torch.nn.functional.gelu). out may alias x.
func ErfGeluForward(out, x []float32) {
	n := len(out)
	x = x[:n]
	ParallelFor(n, 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(x[i])
			out[i] = float32(0.5 * v * (1 + math.Erf(v/math.Sqrt2)))
		}
	})
}

// BiasErfGeluForwardGrad is BiasGeluForwardGrad for the exact GELU: with
// u = x + bias (bias [cols] added to every row of x [n, cols]) it sets
// out = u·Φ(u) and grad = Φ(u) + u·φ(u). grad may alias x.
func BiasErfGeluForwardGrad(out, grad, x, bias []float32, n, cols int) {
	const invSqrt2Pi = 0.3989422804014327 // 1/√(2π)
	ParallelFor(n, 4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o, g, in := out[r*cols:r*cols+cols], grad[r*cols:r*cols+cols], x[r*cols:r*cols+cols]
			for j := range o {
				u := float64(in[j] + bias[j])
				cdf := 0.5 * (1 + math.Erf(u/math.Sqrt2))
				o[j] = float32(u * cdf)
				g[j] = float32(cdf + u*invSqrt2Pi*math.Exp(-0.5*u*u))
			}
		}
	})
}

// Rotary describes GPT-NeoX's rotary position embedding: the first Dims
// channels of every query and key head are rotated in pairs (i, i+Dims/2),
// the "rotate_half" layout, by the angle pos·Base^(−2i/Dims).
type Rotary struct {
	Dims int     // rotated channels per head (even, ≤ head size): int(head_size·rotary_pct)
	Base float64 // rotary_emb_base (10000 in Pythia)
}

// invFreq returns Base^(−2i/Dims) for i < Dims/2, computed in float32 as
// PyTorch does, so that angles agree with the reference.
func (r Rotary) invFreq() []float32 {
	f := make([]float32, r.Dims/2)
	for i := range f {
		f[i] = float32(1 / math.Pow(r.Base, float64(float32(2*i)/float32(r.Dims))))
	}
	return f
}

// Forward rotates, in place, the query and key parts of qkv [n, 3D] (q in
// columns [0, D), k in [D, 2D), v untouched), row r at position pos[r]:
//
//	y_i = x_i cos θ − x_{i+h} sin θ,  y_{i+h} = x_{i+h} cos θ + x_i sin θ,  h = Dims/2,
//	θ = pos · Base^(−2i/Dims).
func (r Rotary) Forward(qkv []float32, pos []int32, n, D, H int) { r.apply(qkv, pos, n, D, H, 1) }

// Backward maps, in place, the gradient with respect to the rotated query
// and key (in dqkv [n, 3D]) to the gradient with respect to the projections:
// the rotation is orthogonal, so its adjoint is the rotation by −θ.
func (r Rotary) Backward(dqkv []float32, pos []int32, n, D, H int) { r.apply(dqkv, pos, n, D, H, -1) }

func (r Rotary) apply(qkv []float32, pos []int32, n, D, H int, sign float32) {
	if r.Dims == 0 {
		return
	}
	hd, half := D/H, r.Dims/2
	inv := r.invFreq()
	ParallelFor(n, 16, func(lo, hi int) {
		cos, sin := make([]float32, half), make([]float32, half)
		for row := lo; row < hi; row++ {
			p := float32(pos[row])
			for i := range half {
				th := float64(p * inv[i]) // float32 product, as the reference's t ⊗ inv_freq
				cos[i], sin[i] = float32(math.Cos(th)), sign*float32(math.Sin(th))
			}
			for part := 0; part < 2; part++ { // q, then k
				base := row*3*D + part*D
				for h := 0; h < H; h++ {
					x := qkv[base+h*hd : base+h*hd+r.Dims]
					for i := range half {
						a, b := x[i], x[i+half]
						x[i] = a*cos[i] - b*sin[i]
						x[i+half] = b*cos[i] + a*sin[i]
					}
				}
			}
		}
	})
}
