package theory

import (
	"math"
)

// Env is the shared setting of one experiment: the MDP, the reference policy,
// the KL strength β and the prior strength α.
//
// Every objective below is a negated log-posterior (we minimise):
//
//	−[ BT log-likelihood ]  +  α · KL(P_ref || P)
//
// where P is the trajectory distribution of the policy (offline arm) or the
// soft-optimal distribution P_r ∝ P_ref exp(r/β) of the reward (online stage
// 1). α · KL(P_ref || P) = −α Σ_ξ P_ref(ξ) log P(ξ) + const is the log-density
// of a Dirichlet prior with pseudo-counts α·P_ref on the trajectory
// distribution: a proper prior that is a function of the distribution alone,
// hence literally the same regulariser in the policy and the reward
// parameterisations (see doc.go for why this keeps the theorems intact).
type Env struct {
	Tree    *Tree
	LogRef  []float64 // per-node log π_ref(a|s), flat [node*V + a]
	RefTraj []float64 // ℓ_ref(ξ) = log P_ref(ξ)
	PRef    []float64 // P_ref(ξ)
	Beta    float64
	Alpha   float64
}

// NewEnv precomputes the reference trajectory distribution.
func NewEnv(t *Tree, logref []float64, beta, alpha float64) *Env {
	e := &Env{Tree: t, LogRef: logref, RefTraj: make([]float64, t.NumTraj), PRef: make([]float64, t.NumTraj), Beta: beta, Alpha: alpha}
	t.TrajLogProbs(logref, e.RefTraj)
	for i, l := range e.RefTraj {
		e.PRef[i] = math.Exp(l)
	}
	return e
}

// trajObjective is a function of a policy's trajectory log-likelihoods
// ℓ(ξ) = Σ_h log π(a_h|s_h), with its derivatives in ℓ.
type trajObjective interface {
	// eval returns f(ℓ) and writes ∂f/∂ℓ into grad.
	eval(ell, grad []float64) float64
	// hessVec writes (∂²f/∂ℓ²) u into out.
	hessVec(ell, u, out []float64)
	// curvDiag writes a non-negative estimate of the diagonal of ∂²f/∂ℓ²
	// (used only to precondition).
	curvDiag(ell, out []float64)
}

// dpoObjective is offline DPO with the prior, written on the policy:
//
//	f(π) = −Σ_i W_i [Y_i log σ(Δ_i) + (1−Y_i) log σ(−Δ_i)] − α Σ_ξ P_ref(ξ) (ℓ_π(ξ) − ℓ_ref(ξ)),
//	Δ_i = β[ℓ_π(ξ_i) − ℓ_ref(ξ_i)] − β[ℓ_π(ξ'_i) − ℓ_ref(ξ'_i)],
//
// i.e. the BT likelihood of the implicit reward r_π = β log P_π/P_ref (the
// KL form of the paper's r_π = Σ log π) plus α · KL(P_ref || P_π).
type dpoObjective struct {
	e     *Env
	pairs []Pair
	r     []float64
}

func (e *Env) newDPOObjective(pairs []Pair) *dpoObjective {
	return &dpoObjective{e: e, pairs: pairs, r: make([]float64, e.Tree.NumTraj)}
}

func (o *dpoObjective) implicitReward(ell []float64) {
	for i := range o.r {
		o.r[i] = o.e.Beta * (ell[i] - o.e.RefTraj[i])
	}
}

func (o *dpoObjective) eval(ell, grad []float64) float64 {
	e := o.e
	o.implicitReward(ell)
	for i := range grad {
		grad[i] = -e.Alpha * e.PRef[i]
	}
	f := btNegLogLik(o.pairs, o.r, grad, e.Beta)
	for i, p := range e.PRef {
		f -= e.Alpha * p * (ell[i] - e.RefTraj[i])
	}
	return f
}

func (o *dpoObjective) hessVec(ell, u, out []float64) {
	o.implicitReward(ell)
	for i := range out {
		out[i] = 0
	}
	btHessVec(o.pairs, o.r, u, out, o.e.Beta*o.e.Beta)
}

func (o *dpoObjective) curvDiag(ell, out []float64) {
	o.implicitReward(ell)
	for i := range out {
		out[i] = 0
	}
	btCurvDiag(o.pairs, o.r, out, o.e.Beta*o.e.Beta)
}

// sftObjective is offline SFT (maximum likelihood on demonstrations, counts
// n(ξ)) with the same prior: f(π) = −Σ_ξ (n(ξ) + α P_ref(ξ)) ℓ_π(ξ) + const.
type sftObjective struct {
	e      *Env
	counts []float64
}

func (o *sftObjective) eval(ell, grad []float64) float64 {
	e := o.e
	f := 0.0
	for i := range ell {
		c := o.counts[i] + e.Alpha*e.PRef[i]
		f -= c * (ell[i] - e.RefTraj[i])
		grad[i] = -c
	}
	return f
}

func (o *sftObjective) hessVec(ell, u, out []float64) {
	for i := range out {
		out[i] = 0
	}
}

func (o *sftObjective) curvDiag(ell, out []float64) { o.hessVec(ell, nil, out) }

// reverseKLObjective is KL(P_π || P_target), the soft-RL objective written as
// a projection (E_π[r] − β KL(P_π||P_ref) = β log Z − β KL(P_π || P*_r)).
type reverseKLObjective struct{ target []float64 }

func (o reverseKLObjective) eval(ell, grad []float64) float64 {
	f := 0.0
	for i, l := range ell {
		p := math.Exp(l)
		f += p * (l - o.target[i])
		grad[i] = p * (l - o.target[i] + 1)
	}
	return f
}

func (o reverseKLObjective) hessVec(ell, u, out []float64) {
	for i, l := range ell {
		out[i] = math.Exp(l) * (l - o.target[i] + 2) * u[i]
	}
}

func (o reverseKLObjective) curvDiag(ell, out []float64) {
	for i, l := range ell {
		out[i] = math.Exp(l) * math.Abs(l-o.target[i]+2)
	}
}

// rewardAsPolicyObjective evaluates a reward-space objective at the implicit
// reward r = β(ℓ_π − ℓ_ref) of a policy: this is stage 1 fitted over R(Π)
// parameterised through Π (used for the log-linear class, where R(Π) is not
// "all rewards").
type rewardAsPolicyObjective struct {
	e       *Env
	inner   hessObjective
	r, g, v []float64
}

func (e *Env) newRewardAsPolicy(inner hessObjective) *rewardAsPolicyObjective {
	m := e.Tree.NumTraj
	return &rewardAsPolicyObjective{e: e, inner: inner, r: make([]float64, m), g: make([]float64, m), v: make([]float64, m)}
}

func (o *rewardAsPolicyObjective) reward(ell []float64) {
	for i := range o.r {
		o.r[i] = o.e.Beta * (ell[i] - o.e.RefTraj[i])
	}
}

func (o *rewardAsPolicyObjective) eval(ell, grad []float64) float64 {
	o.reward(ell)
	f := o.inner.eval(o.r, o.g)
	for i := range grad {
		grad[i] = o.e.Beta * o.g[i]
	}
	return f
}

func (o *rewardAsPolicyObjective) hessVec(ell, u, out []float64) {
	o.reward(ell)
	b := o.e.Beta
	for i := range o.v {
		o.v[i] = b * u[i]
	}
	o.inner.hessVec(o.r, o.v, out)
	for i := range out {
		out[i] *= b
	}
}

func (o *rewardAsPolicyObjective) curvDiag(ell, out []float64) {
	o.reward(ell)
	if !o.inner.hessDiag(o.r, out) {
		for i := range out {
			out[i] = 0
		}
	}
	for i := range out {
		out[i] *= o.e.Beta * o.e.Beta
	}
}

// softDist writes log P_r(ξ) = ℓ_ref(ξ) + r(ξ)/β − log Z into logP and returns
// log Z = log Σ_ξ P_ref(ξ) exp(r(ξ)/β).
func (e *Env) softDist(r, logP []float64) float64 {
	for i := range logP {
		logP[i] = e.RefTraj[i] + r[i]/e.Beta
	}
	z := logSumExp(logP)
	for i := range logP {
		logP[i] -= z
	}
	return z
}

// btReward is stage 1 of two-stage online PFT over a table of trajectory
// rewards, which is R(Π_tabular) modulo the constant that BT cannot see
// (every r is β log P_π/P_ref + const for exactly one tabular π):
//
//	f(r) = −BT(r) + α [log Σ_ξ P_ref(ξ) e^{r(ξ)/β} − Σ_ξ P_ref(ξ) r(ξ)/β]
//
// The bracket is KL(P_ref || P_r) with P_r ∝ P_ref e^{r/β}, the same prior as
// the policy arm. f is convex (log-sum-exp plus logistic losses) and strictly
// convex modulo constants, so its minimiser is unique.
type btReward struct {
	e     *Env
	pairs []Pair
	logP  []float64
}

func (e *Env) newBTReward(pairs []Pair) *btReward {
	return &btReward{e: e, pairs: pairs, logP: make([]float64, e.Tree.NumTraj)}
}

func (o *btReward) eval(r, grad []float64) float64 {
	e := o.e
	z := e.softDist(r, o.logP)
	f := e.Alpha * z
	for i := range grad {
		f -= e.Alpha * e.PRef[i] * r[i] / e.Beta
		grad[i] = e.Alpha * (math.Exp(o.logP[i]) - e.PRef[i]) / e.Beta
	}
	return f + btNegLogLik(o.pairs, r, grad, 1)
}

func (o *btReward) hessVec(r, v, out []float64) {
	e := o.e
	e.softDist(r, o.logP)
	pv := 0.0
	for i, l := range o.logP {
		pv += math.Exp(l) * v[i]
	}
	c := e.Alpha / (e.Beta * e.Beta)
	for i, l := range o.logP {
		p := math.Exp(l)
		out[i] = c * p * (v[i] - pv)
	}
	btHessVec(o.pairs, r, v, out, 1)
}

func (o *btReward) hessDiag(r, out []float64) bool {
	e := o.e
	e.softDist(r, o.logP)
	c := e.Alpha / (e.Beta * e.Beta)
	for i, l := range o.logP {
		p := math.Exp(l)
		out[i] = c * p * (1 - p)
	}
	btCurvDiag(o.pairs, r, out, 1)
	return true
}

// irlReward is stage 1 of MaxEnt IRL (the "online" road to SFT): the maximum
// likelihood reward for demonstrations under the soft-optimal model
// P_r ∝ P_ref e^{r/β}, with the same Dirichlet prior:
//
//	f(r) = −Σ_ξ (n(ξ) + α P_ref(ξ)) log P_r(ξ)
//	     = −Σ_ξ c(ξ) (ℓ_ref(ξ) + r(ξ)/β) + (N + α) log Z(r).
type irlReward struct {
	e      *Env
	counts []float64
	total  float64
	logP   []float64
}

func (e *Env) newIRLReward(counts []float64) *irlReward {
	o := &irlReward{e: e, counts: counts, logP: make([]float64, e.Tree.NumTraj)}
	for _, c := range counts {
		o.total += c
	}
	o.total += e.Alpha
	return o
}

func (o *irlReward) eval(r, grad []float64) float64 {
	e := o.e
	z := e.softDist(r, o.logP)
	f := o.total * z
	for i := range r {
		c := o.counts[i] + e.Alpha*e.PRef[i]
		f -= c * r[i] / e.Beta
		grad[i] = (o.total*math.Exp(o.logP[i]) - c) / e.Beta
	}
	return f
}

func (o *irlReward) hessVec(r, v, out []float64) {
	e := o.e
	e.softDist(r, o.logP)
	pv := 0.0
	for i, l := range o.logP {
		pv += math.Exp(l) * v[i]
	}
	c := o.total / (e.Beta * e.Beta)
	for i, l := range o.logP {
		out[i] = c * math.Exp(l) * (v[i] - pv)
	}
}

func (o *irlReward) hessDiag(r, out []float64) bool {
	e := o.e
	e.softDist(r, o.logP)
	c := o.total / (e.Beta * e.Beta)
	for i, l := range o.logP {
		p := math.Exp(l)
		out[i] = c * p * (1 - p)
	}
	return true
}

// linearReward restricts a reward-space objective to R_sim: r = Ψ̃ w.
type linearReward struct {
	inner        hessObjective
	feats        *TrajFeatures
	r, gr, u, hu []float64
}

func newLinearReward(inner hessObjective, f *TrajFeatures) *linearReward {
	m := f.Tree.NumTraj
	return &linearReward{inner: inner, feats: f, r: make([]float64, m), gr: make([]float64, m), u: make([]float64, m), hu: make([]float64, m)}
}

func (o *linearReward) eval(w, grad []float64) float64 {
	o.feats.Reward(w, o.r)
	f := o.inner.eval(o.r, o.gr)
	o.feats.PullBack(o.gr, grad)
	return f
}

func (o *linearReward) hessVec(w, v, out []float64) {
	o.feats.Reward(w, o.r)
	o.feats.Reward(v, o.u)
	o.inner.hessVec(o.r, o.u, o.hu)
	o.feats.PullBack(o.hu, out)
}

func (o *linearReward) hessDiag(w, out []float64) bool { return false }
