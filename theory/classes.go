package theory

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// LogLinear is the log-linear policy class π_w(a|s) ∝ exp(w·φ(s, a)) with
// indicator features: the logit of token a < V−1 is w[bigram(prev(s), a)] +
// w[depth(s), a] (prev is BOS at the root) and the logit of token V−1 is 0.
// Depth features start at depth 2: with them at depths 0 and 1 the map
// w ↦ π would have flat directions (shifting mass between the bigram and the
// depth blocks), and without the fixed last logit, per-node shifts. As built,
// w ↦ π is injective, so the optimisation problems have isolated optima.
// The class only sees the previous token and the position, so for H ≥ 3 it is
// strictly smaller than the tabular class (which gives every prefix its own
// logits): it is the "Π cannot represent π*" case of the projection step.
type LogLinear struct {
	Tree *Tree
	Dim  int
	feat []int32 // feat[(n*V+a)*2 + k]: the active features of (node n, token a), −1 for none
}

// NewLogLinear builds the feature index for tree t.
func NewLogLinear(t *Tree) *LogLinear {
	V := t.V
	bigrams := (V + 1) * (V - 1)
	depths := 0
	if t.H > 2 {
		depths = (t.H - 2) * (V - 1)
	}
	c := &LogLinear{Tree: t, Dim: bigrams + depths, feat: make([]int32, t.NumNodes*V*2)}
	for i := range c.feat {
		c.feat[i] = -1
	}
	for n := 0; n < t.NumNodes; n++ {
		h, last := t.NodeDepth(n)
		for a := 0; a < V-1; a++ {
			c.feat[(n*V+a)*2] = int32(last*(V-1) + a)
			if h >= 2 {
				c.feat[(n*V+a)*2+1] = int32(bigrams + (h-2)*(V-1) + a)
			}
		}
	}
	return c
}

// Logits writes θ = Φ w (per node, per token).
func (c *LogLinear) Logits(w, theta []float64) {
	for j := range theta {
		s := 0.0
		if k := c.feat[2*j]; k >= 0 {
			s += w[k]
		}
		if k := c.feat[2*j+1]; k >= 0 {
			s += w[k]
		}
		theta[j] = s
	}
}

// PullBack writes ∂f/∂w = Φᵀ ∂f/∂θ.
func (c *LogLinear) PullBack(dtheta, dw []float64) {
	for i := range dw {
		dw[i] = 0
	}
	for j, g := range dtheta {
		if k := c.feat[2*j]; k >= 0 {
			dw[k] += g
		}
		if k := c.feat[2*j+1]; k >= 0 {
			dw[k] += g
		}
	}
}

// TrajFeatures is a linear reward class R_sim = { r_w(ξ) = w·ψ(ξ) } over a
// reduced, whitened basis of raw trajectory statistics. The raw statistics
// (token counts, bigram counts, first and last token) are linearly dependent
// modulo constants (token counts sum to H, ...), and Bradley–Terry cannot see
// constants, so a naive parameterisation would leave flat directions in the
// likelihood. We centre the raw features, keep the eigen-directions of their
// Gram matrix with non-negligible eigenvalue and whiten them, which spans the
// same set of reward functions modulo constants with a unique parameter.
type TrajFeatures struct {
	Tree   *Tree
	RawDim int
	Raw    []float64 // NumTraj x RawDim raw statistics, row-major
	Dim    int
	Basis  []float64 // NumTraj x Dim reduced whitened features ψ̃, row-major
	Names  []string  // raw feature names
}

// NewTrajFeatures computes the raw statistics and the reduced basis.
func NewTrajFeatures(t *Tree) (*TrajFeatures, error) {
	V := t.V
	raw := V + V*V + 2*V
	names := make([]string, 0, raw)
	for v := 0; v < V; v++ {
		names = append(names, fmt.Sprintf("count[%d]", v))
	}
	for u := 0; u < V; u++ {
		for v := 0; v < V; v++ {
			names = append(names, fmt.Sprintf("bigram[%d,%d]", u, v))
		}
	}
	for v := 0; v < V; v++ {
		names = append(names, fmt.Sprintf("first[%d]", v))
	}
	for v := 0; v < V; v++ {
		names = append(names, fmt.Sprintf("last[%d]", v))
	}
	f := &TrajFeatures{Tree: t, RawDim: raw, Raw: make([]float64, t.NumTraj*raw), Names: names}
	for xi := 0; xi < t.NumTraj; xi++ {
		row := f.Raw[xi*raw : (xi+1)*raw]
		prev := -1
		for h := 0; h < t.H; h++ {
			a := t.Token(xi, h)
			row[a]++
			if prev >= 0 {
				row[V+prev*V+a]++
			}
			prev = a
		}
		row[V+V*V+t.Token(xi, 0)] = 1
		row[V+V*V+V+t.Token(xi, t.H-1)] = 1
	}
	// Centre, form the Gram matrix, keep the non-degenerate eigen-directions.
	mean := make([]float64, raw)
	for xi := 0; xi < t.NumTraj; xi++ {
		for j := 0; j < raw; j++ {
			mean[j] += f.Raw[xi*raw+j]
		}
	}
	for j := range mean {
		mean[j] /= float64(t.NumTraj)
	}
	acc := make([]float64, raw*raw)
	centred := make([]float64, raw)
	for xi := 0; xi < t.NumTraj; xi++ {
		for j := 0; j < raw; j++ {
			centred[j] = f.Raw[xi*raw+j] - mean[j]
		}
		for i := 0; i < raw; i++ {
			ci := centred[i]
			for j := i; j < raw; j++ {
				acc[i*raw+j] += ci * centred[j]
			}
		}
	}
	gram := mat.NewSymDense(raw, nil)
	for i := 0; i < raw; i++ {
		for j := i; j < raw; j++ {
			gram.SetSym(i, j, acc[i*raw+j]/float64(t.NumTraj))
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(gram, true) {
		return nil, fmt.Errorf("theory: eigendecomposition of the %dx%d feature Gram matrix failed", raw, raw)
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	maxVal := 0.0
	for _, v := range vals {
		maxVal = math.Max(maxVal, v)
	}
	var keep []int
	for i, v := range vals {
		if v > 1e-9*maxVal {
			keep = append(keep, i)
		}
	}
	f.Dim = len(keep)
	f.Basis = make([]float64, t.NumTraj*f.Dim)
	for xi := 0; xi < t.NumTraj; xi++ {
		for j := 0; j < raw; j++ {
			centred[j] = f.Raw[xi*raw+j] - mean[j]
		}
		for k, col := range keep {
			s := 0.0
			for j := 0; j < raw; j++ {
				s += centred[j] * vecs.At(j, col)
			}
			f.Basis[xi*f.Dim+k] = s / math.Sqrt(vals[col])
		}
	}
	return f, nil
}

// Reward writes r(ξ) = w·ψ̃(ξ) for every trajectory.
func (f *TrajFeatures) Reward(w, r []float64) {
	d := f.Dim
	for xi := range r {
		row := f.Basis[xi*d : (xi+1)*d]
		s := 0.0
		for k, x := range row {
			s += x * w[k]
		}
		r[xi] = s
	}
}

// PullBack writes Ψ̃ᵀ g.
func (f *TrajFeatures) PullBack(g, dw []float64) {
	d := f.Dim
	for k := range dw {
		dw[k] = 0
	}
	for xi, gx := range g {
		if gx == 0 {
			continue
		}
		row := f.Basis[xi*d : (xi+1)*d]
		for k, x := range row {
			dw[k] += gx * x
		}
	}
}

// RawReward writes r(ξ) = w·ψ(ξ) over the raw statistics (used for the
// k-sparse ground truth).
func (f *TrajFeatures) RawReward(w, r []float64) {
	d := f.RawDim
	for xi := range r {
		s := 0.0
		for k := 0; k < d; k++ {
			s += f.Raw[xi*d+k] * w[k]
		}
		r[xi] = s
	}
}
