package theory

import (
	"math"

	"gonum.org/v1/gonum/floats"
)

// Fitted is a policy produced by one road, with its trajectory
// log-likelihoods and the solves that produced it.
type Fitted struct {
	LogPi  []float64 // tabular log-probabilities (every policy here can be written tabularly)
	Traj   []float64 // ℓ(ξ) = log P_π(ξ)
	Solves []SolveReport
}

func (e *Env) fitted(logpi []float64, solves ...SolveReport) *Fitted {
	f := &Fitted{LogPi: logpi, Traj: make([]float64, e.Tree.NumTraj), Solves: solves}
	e.Tree.TrajLogProbs(logpi, f.Traj)
	return f
}

// tabularProblem is a trajectory objective as a function of tabular logits θ
// (logπ = LogSoftmax(θ)), with exact Hessian-vector products.
type tabularProblem struct {
	e                *Env
	obj              trajObjective
	psd              bool      // use the modified (PSD) Newton matrix, see Tree.LogitHessVec
	theta            []float64 // θ at which logpi, ell, g are cached
	valid            bool
	logpi, ell, g    []float64
	rlp, rell, rg    []float64
	bufA, bufB, dEll []float64
}

func (e *Env) newTabularProblem(obj trajObjective) *tabularProblem {
	t := e.Tree
	np, m := t.NumNodes*t.V, t.NumTraj
	return &tabularProblem{e: e, obj: obj, theta: make([]float64, np), logpi: make([]float64, np), rlp: make([]float64, np),
		ell: make([]float64, m), g: make([]float64, m), rell: make([]float64, m), rg: make([]float64, m),
		bufA: make([]float64, m), bufB: make([]float64, m), dEll: make([]float64, m)}
}

func (p *tabularProblem) prepare(theta []float64) float64 {
	t := p.e.Tree
	t.LogSoftmax(theta, p.logpi)
	t.TrajLogProbs(p.logpi, p.ell)
	f := p.obj.eval(p.ell, p.g)
	copy(p.theta, theta)
	p.valid = true
	return f
}

func (p *tabularProblem) ensure(theta []float64) {
	if !p.valid || !floats.Equal(theta, p.theta) {
		p.prepare(theta)
	}
}

func (p *tabularProblem) eval(theta, grad []float64) float64 {
	f := p.prepare(theta)
	p.e.Tree.LogitGrad(p.logpi, p.g, p.bufA, grad)
	return f
}

func (p *tabularProblem) hessVec(theta, v, out []float64) {
	p.ensure(theta)
	t := p.e.Tree
	V := t.V
	for n := 0; n < t.NumNodes; n++ {
		mean := 0.0
		for a := 0; a < V; a++ {
			mean += math.Exp(p.logpi[n*V+a]) * v[n*V+a]
		}
		for a := 0; a < V; a++ {
			p.rlp[n*V+a] = v[n*V+a] - mean
		}
	}
	t.TrajLogProbs(p.rlp, p.rell)
	p.obj.hessVec(p.ell, p.rell, p.rg)
	t.LogitHessVec(p.logpi, p.rlp, p.g, p.rg, p.bufA, p.bufB, out, p.psd)
}

func (p *tabularProblem) hessDiag(theta, out []float64) bool {
	p.ensure(theta)
	p.obj.curvDiag(p.ell, p.dEll)
	p.e.Tree.LogitCurvDiag(p.logpi, p.g, p.dEll, p.bufA, p.bufB, out)
	return true
}

// project removes per-node logit shifts (they do not change π).
func (p *tabularProblem) project(_, v []float64) {
	V := p.e.Tree.V
	for n := 0; n < len(v)/V; n++ {
		row := v[n*V : (n+1)*V]
		mean := 0.0
		for _, x := range row {
			mean += x
		}
		mean /= float64(V)
		for a := range row {
			row[a] -= mean
		}
	}
}

// logLinearProblem is a trajectory objective as a function of log-linear
// weights w (θ = Φ w): gradient Φᵀ∇θ, Hessian Φᵀ ∇²θ Φ.
type logLinearProblem struct {
	c                   *LogLinear
	tab                 *tabularProblem
	theta, vt, ht, diag []float64
}

func (e *Env) newLogLinearProblem(c *LogLinear, obj trajObjective) *logLinearProblem {
	np := e.Tree.NumNodes * e.Tree.V
	return &logLinearProblem{c: c, tab: e.newTabularProblem(obj), theta: make([]float64, np), vt: make([]float64, np), ht: make([]float64, np)}
}

func (p *logLinearProblem) eval(w, grad []float64) float64 {
	p.c.Logits(w, p.theta)
	f := p.tab.eval(p.theta, p.ht)
	p.c.PullBack(p.ht, grad)
	return f
}

func (p *logLinearProblem) hessVec(w, v, out []float64) {
	p.c.Logits(w, p.theta)
	p.c.Logits(v, p.vt)
	p.tab.hessVec(p.theta, p.vt, p.ht)
	p.c.PullBack(p.ht, out)
}

func (p *logLinearProblem) hessDiag(w, out []float64) bool { return false }

// FitTabular minimises obj over the tabular policy class from logits theta0
// by Newton-CG with exact Hessian-vector products. The objective is not
// convex in θ, but for the tabular class θ ↦ P_π (modulo per-node logit
// shifts) is a diffeomorphism onto the full-support distributions, and each
// objective here is strictly convex in the distribution's log-density modulo
// constants, so every stationary point is the global optimum.
func (e *Env) FitTabular(name string, obj trajObjective, theta0 []float64, opt SolverOptions) *Fitted {
	prob := e.newTabularProblem(obj)
	prob.psd = true
	theta, rep := minimizeNewtonCG(name, theta0, prob, opt)
	logpi := make([]float64, len(theta))
	e.Tree.LogSoftmax(theta, logpi)
	return e.fitted(logpi, rep)
}

// FitLogLinear minimises obj over the log-linear policy class from w0.
func (e *Env) FitLogLinear(name string, c *LogLinear, obj trajObjective, w0 []float64, opt SolverOptions) (*Fitted, []float64) {
	w, rep := minimizeNewtonCG(name, w0, e.newLogLinearProblem(c, obj), opt)
	theta := make([]float64, e.Tree.NumNodes*e.Tree.V)
	c.Logits(w, theta)
	logpi := make([]float64, len(theta))
	e.Tree.LogSoftmax(theta, logpi)
	return e.fitted(logpi, rep), w
}

// refLogits returns logits whose softmax is π_ref (the usual DPO start).
func (e *Env) refLogits() []float64 { return append([]float64(nil), e.LogRef...) }

// SoftOptimalPolicy is stage 2 on the tabular class: the exact KL-regularised
// soft-optimal policy of reward r, by backward induction.
func (e *Env) SoftOptimalPolicy(r []float64) []float64 {
	t := e.Tree
	logpi := make([]float64, t.NumNodes*t.V)
	t.SoftOptimal(e.LogRef, r, e.Beta, make([]float64, t.NumTraj), logpi)
	return logpi
}

// ---- The roads ----

// OfflineDPO is offline PFT over the tabular class: DPO (BT on the implicit
// reward β log π/π_ref) plus the prior, started at π_ref.
func (e *Env) OfflineDPO(pairs []Pair, opt SolverOptions) *Fitted {
	return e.FitTabular("offline DPO, tabular Π", e.newDPOObjective(pairs), e.refLogits(), opt)
}

// OfflineDPOLogLinear is offline DPO over the log-linear class, from w = 0.
func (e *Env) OfflineDPOLogLinear(c *LogLinear, pairs []Pair, opt SolverOptions) *Fitted {
	f, _ := e.FitLogLinear("offline DPO, log-linear Π", c, e.newDPOObjective(pairs), make([]float64, c.Dim), opt)
	return f
}

// OnlineTabularReward is two-stage online PFT with R = R(Π_tabular): stage 1
// fits a table of trajectory rewards by BT MLE (Newton-CG, convex), stage 2
// computes its soft-optimal policy by backward induction. Stage 2 sees only
// the reward table r̂, never stage 1's internals.
func (e *Env) OnlineTabularReward(pairs []Pair, opt SolverOptions) (*Fitted, []float64) {
	r, rep := minimizeNewtonCG("online stage 1: BT MLE over R(Π_tab) (reward table)", make([]float64, e.Tree.NumTraj), e.newBTReward(pairs), opt)
	return e.fitted(e.SoftOptimalPolicy(r), rep), r
}

// OnlineLogLinearReward is two-stage online PFT with R = R(Π_loglin): stage 1
// fits w in r_w = β log π_w/π_ref by BT MLE (from a different start than the
// offline arm, and through the reward-space objective), stage 2 solves soft
// RL exactly on the tabular tree and projects the result onto the log-linear
// class by minimising reverse KL.
func (e *Env) OnlineLogLinearReward(c *LogLinear, pairs []Pair, w0 []float64, opt SolverOptions) *Fitted {
	stage1, _ := e.FitLogLinear("online stage 1: BT MLE over R(Π_loglin)", c, e.newRewardAsPolicy(e.newBTReward(pairs)), w0, opt)
	rhat := make([]float64, e.Tree.NumTraj)
	for i := range rhat {
		rhat[i] = e.Beta * (stage1.Traj[i] - e.RefTraj[i])
	}
	star := e.fitted(e.SoftOptimalPolicy(rhat))
	proj, _ := e.FitLogLinear("online stage 2: reverse-KL projection onto Π_loglin", c, reverseKLObjective{star.Traj}, make([]float64, c.Dim), opt)
	proj.Solves = append(stage1.Solves, proj.Solves...)
	return proj
}

// ProjectLogLinear projects a tabular policy onto the log-linear class by
// reverse KL (the stage-2 projection when Π cannot represent π*).
func (e *Env) ProjectLogLinear(c *LogLinear, target *Fitted, opt SolverOptions) *Fitted {
	proj, _ := e.FitLogLinear("online stage 2: reverse-KL projection onto Π_loglin", c, reverseKLObjective{target.Traj}, make([]float64, c.Dim), opt)
	proj.Solves = append(append([]SolveReport(nil), target.Solves...), proj.Solves...)
	return proj
}

// OnlineLinearReward is two-stage online PFT with R = R_sim: stage 1 is BT
// MLE of w in r = w·ψ̃ (Newton-CG), stage 2 the exact soft-optimal tabular
// policy of r̂.
func (e *Env) OnlineLinearReward(f *TrajFeatures, pairs []Pair, opt SolverOptions) (*Fitted, []float64) {
	w, rep := minimizeNewtonCG("online stage 1: BT MLE over R_sim (linear)", make([]float64, f.Dim), newLinearReward(e.newBTReward(pairs), f), opt)
	r := make([]float64, e.Tree.NumTraj)
	f.Reward(w, r)
	return e.fitted(e.SoftOptimalPolicy(r), rep), w
}

// restrictedProblem is the offline (DPO-form) objective over
// Π(R_sim) = { π*_w : w }, the soft-optimal policies of linear rewards,
// evaluated on the policy itself: π*_w by backward induction, then its token
// log-likelihoods ℓ(ξ) = Σ_h log π*_w(a_h|s_h), scored exactly as offline DPO
// scores any policy. Derivatives use ∂ℓ(ξ)/∂w = J(ξ) = (ψ̃(ξ) − E_{π*_w} ψ̃)/β
// and ∂²ℓ(ξ)/∂w² = −Cov_{π*_w}(ψ̃)/β² (checked against finite differences in
// the tests), so the Hessian is Jᵀ (∂²F/∂ℓ²) J − (Σ_ξ ∂F/∂ℓ(ξ)) Cov/β².
type restrictedProblem struct {
	e                         *Env
	f                         *TrajFeatures
	obj                       trajObjective
	r, buf, logpi, ell, g, pr []float64
	u, hu                     []float64
	mean, tmp                 []float64
}

func (e *Env) newRestrictedProblem(f *TrajFeatures, obj trajObjective) *restrictedProblem {
	t := e.Tree
	m := t.NumTraj
	return &restrictedProblem{e: e, f: f, obj: obj, r: make([]float64, m), buf: make([]float64, m), logpi: make([]float64, t.NumNodes*t.V),
		ell: make([]float64, m), g: make([]float64, m), pr: make([]float64, m), u: make([]float64, m), hu: make([]float64, m),
		mean: make([]float64, f.Dim), tmp: make([]float64, f.Dim)}
}

// policy computes π*_w, ℓ, F and ∂F/∂ℓ at w.
func (p *restrictedProblem) policy(w []float64) float64 {
	t := p.e.Tree
	p.f.Reward(w, p.r)
	t.SoftOptimal(p.e.LogRef, p.r, p.e.Beta, p.buf, p.logpi)
	t.TrajLogProbs(p.logpi, p.ell)
	val := p.obj.eval(p.ell, p.g)
	for i, l := range p.ell {
		p.pr[i] = math.Exp(l)
	}
	p.f.PullBack(p.pr, p.mean) // E_P ψ̃
	return val
}

// jacVec writes u = J v.
func (p *restrictedProblem) jacVec(v []float64) {
	p.f.Reward(v, p.u)
	mv := floats.Dot(p.mean, v)
	for i := range p.u {
		p.u[i] = (p.u[i] - mv) / p.e.Beta
	}
}

// jacTVec writes out = Jᵀ x.
func (p *restrictedProblem) jacTVec(x, out []float64) {
	p.f.PullBack(x, out)
	sum := 0.0
	for _, xi := range x {
		sum += xi
	}
	for k := range out {
		out[k] = (out[k] - sum*p.mean[k]) / p.e.Beta
	}
}

func (p *restrictedProblem) eval(w, grad []float64) float64 {
	val := p.policy(w)
	p.jacTVec(p.g, grad)
	return val
}

func (p *restrictedProblem) hessVec(w, v, out []float64) {
	p.policy(w)
	p.jacVec(v)
	p.obj.hessVec(p.ell, p.u, p.hu)
	p.jacTVec(p.hu, out)
	// Curvature of ℓ itself: −(Σ g) Cov(ψ̃) v / β², Cov v = E[ψ̃ (ψ̃−Eψ̃)·v].
	sumG := 0.0
	for _, gi := range p.g {
		sumG += gi
	}
	for i := range p.u {
		p.hu[i] = p.pr[i] * p.u[i] * p.e.Beta // P(ξ) (ψ̃(ξ)−Eψ̃)·v
	}
	p.f.PullBack(p.hu, p.tmp)
	for k := range out {
		out[k] -= sumG * p.tmp[k] / (p.e.Beta * p.e.Beta)
	}
}

func (p *restrictedProblem) hessDiag(w, out []float64) bool { return false }

// RestrictedMLE maximises the offline objective over Π(R_sim) from w0 (see
// restrictedProblem) with the trust-region Newton method.
func (e *Env) RestrictedMLE(f *TrajFeatures, pairs []Pair, w0 []float64, opt SolverOptions) *Fitted {
	prob := e.newRestrictedProblem(f, e.newDPOObjective(pairs))
	w, rep := minimizeNewtonCG("MLE over Π(R_sim) (policy likelihood)", w0, prob, opt)
	r := make([]float64, e.Tree.NumTraj)
	f.Reward(w, r)
	return e.fitted(e.SoftOptimalPolicy(r), rep)
}

// OfflineSFT maximises the demonstration likelihood (plus prior) over the
// tabular class.
func (e *Env) OfflineSFT(counts []float64, opt SolverOptions) *Fitted {
	return e.FitTabular("offline SFT, tabular Π", &sftObjective{e: e, counts: counts}, e.refLogits(), opt)
}

// OnlineMaxEntIRL is the two-stage road to imitation: stage 1 is MaxEnt IRL
// (maximum likelihood reward under P_r ∝ P_ref e^{r/β}) over a reward table
// (R(Π_tab)) or over R_sim when feats is non-nil; stage 2 the exact
// soft-optimal policy.
func (e *Env) OnlineMaxEntIRL(counts []float64, feats *TrajFeatures, opt SolverOptions) *Fitted {
	r := make([]float64, e.Tree.NumTraj)
	var rep SolveReport
	if feats == nil {
		r, rep = minimizeNewtonCG("online stage 1: MaxEnt IRL over R(Π_tab)", r, e.newIRLReward(counts), opt)
	} else {
		var w []float64
		w, rep = minimizeNewtonCG("online stage 1: MaxEnt IRL over R_sim", make([]float64, feats.Dim), newLinearReward(e.newIRLReward(counts), feats), opt)
		feats.Reward(w, r)
	}
	return e.fitted(e.SoftOptimalPolicy(r), rep)
}

// BTLogLik is the BT log-likelihood of pairs under a policy's implicit reward
// β(ℓ − ℓ_ref).
func (e *Env) BTLogLik(pairs []Pair, traj []float64) float64 {
	r := make([]float64, len(traj))
	for i := range r {
		r[i] = e.Beta * (traj[i] - e.RefTraj[i])
	}
	return -btNegLogLik(pairs, r, nil, 0)
}

// DPOValue is the offline objective (negated log-posterior) of a policy.
func (e *Env) DPOValue(pairs []Pair, traj []float64) float64 {
	return e.newDPOObjective(pairs).eval(traj, make([]float64, len(traj)))
}
