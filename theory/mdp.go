package theory

import (
	"fmt"
	"math"
)

// MaxTrajectories bounds V^H: every quantity here is computed by enumerating
// all trajectories, so the enumeration must fit comfortably in memory.
const MaxTrajectories = 1 << 21

// Tree is the prefix tree of a deterministic token MDP with a single prompt:
// vocabulary V, horizon H. A trajectory ξ = (a_0, ..., a_{H-1}) is identified
// with the base-V number whose most significant digit is a_0, so ξ ranges over
// [0, V^H). The decision states are the prefixes of length 0..H-1 ("nodes");
// node(h, ξ) is the prefix of ξ of length h. A tabular policy stores V
// log-probabilities per node, flat: logpi[node*V + a].
type Tree struct {
	V, H     int
	NumTraj  int   // V^H complete trajectories (leaves)
	NumNodes int   // (V^H - 1) / (V - 1) decision states
	offset   []int // offset[h]: index of the first node of depth h
	pow      []int // pow[h] = V^h
}

// NewTree validates the sizes and builds the index arithmetic.
func NewTree(V, H int) (*Tree, error) {
	if V < 2 {
		return nil, fmt.Errorf("theory: vocabulary size V=%d, need at least 2", V)
	}
	if H < 1 {
		return nil, fmt.Errorf("theory: horizon H=%d, need at least 1", H)
	}
	t := &Tree{V: V, H: H, pow: make([]int, H+1), offset: make([]int, H+1)}
	t.pow[0] = 1
	for h := 1; h <= H; h++ {
		t.pow[h] = t.pow[h-1] * V
		if t.pow[h] > MaxTrajectories {
			return nil, fmt.Errorf("theory: V^H = %d^%d exceeds %d trajectories", V, H, MaxTrajectories)
		}
	}
	for h := 1; h <= H; h++ {
		t.offset[h] = t.offset[h-1] + t.pow[h-1]
	}
	t.NumTraj = t.pow[H]
	t.NumNodes = t.offset[H]
	return t, nil
}

// Token returns a_h of trajectory xi.
func (t *Tree) Token(xi, h int) int { return xi / t.pow[t.H-h-1] % t.V }

// Node returns the index of the length-h prefix of trajectory xi.
func (t *Tree) Node(xi, h int) int { return t.offset[h] + xi/t.pow[t.H-h] }

// NodeDepth returns the depth h of node n and its last token (V for the root,
// which has no previous token).
func (t *Tree) NodeDepth(n int) (h, last int) {
	for h = t.H - 1; t.offset[h] > n; h-- {
	}
	if h == 0 {
		return 0, t.V
	}
	return h, (n - t.offset[h]) % t.V
}

// LogSoftmax turns per-node logits into per-node log-probabilities.
func (t *Tree) LogSoftmax(theta, logpi []float64) {
	V := t.V
	for n := 0; n < t.NumNodes; n++ {
		row := theta[n*V : (n+1)*V]
		m := logSumExp(row)
		for a, x := range row {
			logpi[n*V+a] = x - m
		}
	}
}

// TrajLogProbs writes ℓ(ξ) = Σ_h log π(a_h|s_h) for every trajectory: the
// log-likelihood of ξ under the tabular policy logpi, i.e. log P_π(ξ) in a
// deterministic token MDP. out has length NumTraj. The recursion runs over
// depths in place: level h holds V^h prefix sums, and prefix p feeds children
// p*V..p*V+V-1, which never overlap an unread prefix when p runs downwards.
func (t *Tree) TrajLogProbs(logpi, out []float64) {
	V := t.V
	out[0] = 0
	for h := 0; h < t.H; h++ {
		off := t.offset[h]
		for p := t.pow[h] - 1; p >= 0; p-- {
			c := out[p]
			lp := logpi[(off+p)*V : (off+p+1)*V]
			for a := V - 1; a >= 0; a-- {
				out[p*V+a] = c + lp[a]
			}
		}
	}
}

// LogitGrad back-propagates a gradient g(ξ) = ∂f/∂ℓ(ξ) through ℓ = TrajLogProbs
// of logpi = LogSoftmax(θ) into dtheta = ∂f/∂θ:
//
//	∂f/∂θ[s,b] = G(s·b) − π(b|s) G(s),  G(s) = Σ_{ξ through s} g(ξ).
//
// buf (length NumTraj) is scratch; g is not modified.
func (t *Tree) LogitGrad(logpi, g, buf, dtheta []float64) {
	V := t.V
	copy(buf, g)
	for h := t.H - 1; h >= 0; h-- {
		off := t.offset[h]
		for p := 0; p < t.pow[h]; p++ {
			n := off + p
			child := buf[p*V : (p+1)*V]
			sum := 0.0
			for _, x := range child {
				sum += x
			}
			for b, x := range child {
				dtheta[n*V+b] = x - math.Exp(logpi[n*V+b])*sum
			}
			buf[p] = sum
		}
	}
}

// SoftOptimal solves the KL-regularised soft RL problem
//
//	π* = argmax_π E_{P_π}[r] − β KL(P_π || P_ref)
//
// exactly by backward induction (soft value iteration) over the prefix tree:
// V(ξ) = r(ξ)/β at the leaves, V(s) = log Σ_a π_ref(a|s) exp V(s·a), and
// π*(a|s) = π_ref(a|s) exp(V(s·a) − V(s)). With π_ref uniform and β = 1 this
// is argmax E[r] + H(π) (KL to uniform = H log V − entropy). It returns the
// policy's log-probabilities and log Z = V(root) = log E_ref exp(r/β).
// buf (length NumTraj) is scratch.
func (t *Tree) SoftOptimal(logref, reward []float64, beta float64, buf, logpi []float64) float64 {
	V := t.V
	for i, r := range reward {
		buf[i] = r / beta
	}
	var q [64]float64
	qs := q[:0]
	if V > len(q) {
		qs = make([]float64, 0, V)
	}
	for h := t.H - 1; h >= 0; h-- {
		off := t.offset[h]
		for p := 0; p < t.pow[h]; p++ {
			n := off + p
			qs = qs[:0]
			for a := 0; a < V; a++ {
				qs = append(qs, logref[n*V+a]+buf[p*V+a])
			}
			v := logSumExp(qs)
			for a := 0; a < V; a++ {
				logpi[n*V+a] = qs[a] - v
			}
			buf[p] = v
		}
	}
	return buf[0]
}

func logSumExp(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

// logSigmoid is log σ(x) computed without overflow.
func logSigmoid(x float64) float64 {
	if x >= 0 {
		return -math.Log1p(math.Exp(-x))
	}
	return x - math.Log1p(math.Exp(x))
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// KL returns KL(P||Q) = Σ P (log P − log Q) for two distributions given by
// their log-probabilities over all trajectories.
func KL(logP, logQ []float64) float64 {
	s := 0.0
	for i, lp := range logP {
		if math.IsInf(lp, -1) {
			continue
		}
		s += math.Exp(lp) * (lp - logQ[i])
	}
	return s
}

// MaxAbsProbDiff returns max_ξ |P(ξ) − Q(ξ)|.
func MaxAbsProbDiff(logP, logQ []float64) float64 {
	m := 0.0
	for i := range logP {
		if d := math.Abs(math.Exp(logP[i]) - math.Exp(logQ[i])); d > m {
			m = d
		}
	}
	return m
}

// LogitHessVec is the exact Hessian-vector product of f(θ) = F(ℓ(θ)) with
// ℓ = TrajLogProbs(LogSoftmax(θ)) (Pearlmutter's R-operator applied to
// LogitGrad). Inputs: logpi at θ, rlp = R{log π} = v − Σ_a π(a|s) v(s,a), the
// gradient g = ∂F/∂ℓ and rg = (∂²F/∂ℓ²) R{ℓ}. With dθ[s,b] = G(s·b) − π(b|s)G(s):
//
//	R{dθ[s,b]} = RG(s·b) − π(b|s) R{log π(b|s)} G(s) − π(b|s) RG(s).
//
// The G(s) term is −G(s) (diag π_s − π_s π_sᵀ) v_s, positive semi-definite
// iff −G(s) ≥ 0. With psd set it uses |G(s)| instead: the "absolute value"
// modified Newton matrix, positive semi-definite everywhere (when ∂²F/∂ℓ² is),
// and equal to the exact Hessian wherever −G(s) ≥ 0 — which holds at the
// optimum of the DPO and SFT objectives (there G(s) = G(root) P_π(s) with
// G(root) = −α, resp. −(N+α)), so Newton keeps its quadratic convergence.
//
// bufG and bufRG (length NumTraj) are scratch.
func (t *Tree) LogitHessVec(logpi, rlp, g, rg, bufG, bufRG, out []float64, psd bool) {
	V := t.V
	copy(bufG, g)
	copy(bufRG, rg)
	for h := t.H - 1; h >= 0; h-- {
		off := t.offset[h]
		for p := 0; p < t.pow[h]; p++ {
			n := off + p
			sumG, sumRG := 0.0, 0.0
			for a := 0; a < V; a++ {
				sumG += bufG[p*V+a]
				sumRG += bufRG[p*V+a]
			}
			negG := -sumG
			if psd {
				negG = math.Abs(sumG)
			}
			for b := 0; b < V; b++ {
				pb := math.Exp(logpi[n*V+b])
				out[n*V+b] = bufRG[p*V+b] + pb*rlp[n*V+b]*negG - pb*sumRG
			}
			bufG[p] = sumG
			bufRG[p] = sumRG
		}
	}
}

// LogitCurvDiag writes a positive diagonal preconditioner for the Hessian in
// θ: the Gauss–Newton diagonal Σ_ξ d(ξ) (1[a_h = b] − π(b|s))² of a
// per-trajectory curvature d plus |G(s)| π(b|s)(1 − π(b|s)), the magnitude of
// the log-softmax curvature term (at a stationary point −G(s) = α P_π(s) > 0
// for the objectives here, so this is its exact value there).
func (t *Tree) LogitCurvDiag(logpi, g, d, bufG, bufD, out []float64) {
	V := t.V
	copy(bufG, g)
	copy(bufD, d)
	for h := t.H - 1; h >= 0; h-- {
		off := t.offset[h]
		for p := 0; p < t.pow[h]; p++ {
			n := off + p
			sumG, sumD := 0.0, 0.0
			for a := 0; a < V; a++ {
				sumG += bufG[p*V+a]
				sumD += bufD[p*V+a]
			}
			for b := 0; b < V; b++ {
				pb := math.Exp(logpi[n*V+b])
				db := bufD[p*V+b]
				out[n*V+b] = db*(1-pb)*(1-pb) + (sumD-db)*pb*pb + math.Abs(sumG)*pb*(1-pb)
			}
			bufG[p] = sumG
			bufD[p] = sumD
		}
	}
}
