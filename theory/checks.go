package theory

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Check is one row of the report: a quantity measured over one or more cases,
// compared with a tolerance. Direction "<=" means the value must be at most
// the tolerance (an equality check); ">=" means at least (a check that two
// roads differ, or an inequality). A check any of whose solves did not
// converge has status NOT CONVERGED, which counts as a failure.
type Check struct {
	Name        string       `json:"name"`
	Claim       string       `json:"claim"`
	Quantity    string       `json:"quantity"`
	Value       float64      `json:"value"`
	Direction   string       `json:"direction"`
	Tolerance   float64      `json:"tolerance"`
	Status      string       `json:"status"`
	Solves      int          `json:"solves"`
	MaxIters    int          `json:"max_iterations"`
	MaxGradNorm float64      `json:"max_grad_inf_norm"`
	Cases       []CaseResult `json:"cases"`
}

// Passed reports whether the check holds and every solve converged.
func (c Check) Passed() bool { return c.Status == StatusPass }

// Check statuses.
const (
	StatusPass         = "pass"
	StatusFail         = "FAIL"
	StatusNotConverged = "NOT CONVERGED"
)

// CaseResult is one configuration of a check.
type CaseResult struct {
	Desc    string             `json:"desc"`
	V       int                `json:"V"`
	H       int                `json:"H"`
	NumTraj int                `json:"num_traj"`
	N       int                `json:"N"`
	Touched int                `json:"touched_traj"`
	Labels  string             `json:"labels,omitempty"`
	Beta    float64            `json:"beta"`
	Alpha   float64            `json:"alpha"`
	Values  map[string]float64 `json:"values"`
	Solves  []SolveReport      `json:"solves"`
}

// Options configure the exact checks.
type Options struct {
	Seed          uint64
	GradTol       float64 // ‖∇‖_∞ a solve must reach to count as converged
	MaxIterations int     // per solve
	Large         bool    // include the V^H = 10^5 case in the Thm 2.2 check
}

// DefaultOptions are the settings of `roads theory`.
func DefaultOptions() Options {
	return Options{Seed: 1, GradTol: 1e-9, MaxIterations: 2000, Large: true}
}

func (o Options) solver() SolverOptions {
	return SolverOptions{GradTol: o.GradTol, MaxIterations: o.MaxIterations}
}

// EquivTol is the tolerance of every equivalence check on max_ξ |ΔP(ξ)| and
// on BT log-likelihood gaps; DifferTol the amount by which roads must differ
// when an assumption is broken.
const (
	EquivTol  = 1e-6
	DifferTol = 1e-3
)

// summarize builds a check from cases: value = max over cases of quantity
// (or min, for ">=" checks), status from the tolerance and convergence.
func summarize(name, claim, quantity, direction string, tol float64, cases []CaseResult) Check {
	c := Check{Name: name, Claim: claim, Quantity: quantity, Direction: direction, Tolerance: tol, Cases: cases}
	converged := true
	for i, cs := range cases {
		v := cs.Values[quantity]
		if i == 0 || (direction == "<=" && v > c.Value) || (direction == ">=" && v < c.Value) || math.IsNaN(v) {
			c.Value = v
		}
		for _, s := range cs.Solves {
			c.Solves++
			c.MaxIters = max(c.MaxIters, s.Iterations)
			c.MaxGradNorm = math.Max(c.MaxGradNorm, s.GradNorm)
			converged = converged && s.Converged
		}
	}
	ok := (direction == "<=" && c.Value <= tol) || (direction == ">=" && c.Value >= tol)
	switch {
	case !converged:
		c.Status = StatusNotConverged
	case ok:
		c.Status = StatusPass
	default:
		c.Status = StatusFail
	}
	return c
}

// prefCase is one random preference dataset for the equivalence checks.
type prefCase struct {
	V, H        int
	N           int
	Support     int // trajectories the pairs are drawn from (coverage); 0 = all
	Labels      LabelKind
	Beta        float64
	UniformRef  bool // π_ref uniform and β = 1: the paper's E[r] + H(π) form
	Alpha       float64
	RewardScale float64
}

type prefSetup struct {
	env   *Env
	pairs []Pair
	rng   *rand.Rand
	truth []float64
	res   CaseResult
}

func (c prefCase) build(seed uint64, idx int) (*prefSetup, error) {
	t, err := NewTree(c.V, c.H)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, uint64(1000+idx)))
	logref := make([]float64, t.NumNodes*t.V)
	if c.UniformRef {
		for i := range logref {
			logref[i] = -math.Log(float64(t.V))
		}
	} else {
		logref = randomPolicy(rng, t, 0.5)
	}
	env := NewEnv(t, logref, c.Beta, c.Alpha)
	truth := make([]float64, t.NumTraj)
	for i := range truth {
		truth[i] = c.RewardScale * rng.NormFloat64()
	}
	support := c.Support
	if support == 0 {
		support = t.NumTraj
	}
	pairs := RandomPrefs(rng, randomSubset(rng, t.NumTraj, support), c.N, truth, c.Labels)
	res := CaseResult{V: c.V, H: c.H, NumTraj: t.NumTraj, N: c.N, Touched: Touched(pairs), Labels: c.Labels.String(),
		Beta: c.Beta, Alpha: c.Alpha, Values: map[string]float64{}}
	res.Desc = fmt.Sprintf("V=%d H=%d (%d traj), N=%d %s pairs touching %d traj (%.2g%%)", c.V, c.H, t.NumTraj, c.N, c.Labels, res.Touched, 100*float64(res.Touched)/float64(t.NumTraj))
	if c.UniformRef {
		res.Desc += ", uniform ref, beta=1 (E[r]+H form)"
	}
	return &prefSetup{env: env, pairs: pairs, rng: rng, truth: truth, res: res}, nil
}

// compare fills the standard quantities for two fitted policies.
func (s *prefSetup) compare(on, off *Fitted) {
	s.res.Values["max|P_on-P_off|"] = MaxAbsProbDiff(on.Traj, off.Traj)
	s.res.Values["|LL_on-LL_off|"] = math.Abs(s.env.BTLogLik(s.pairs, on.Traj) - s.env.BTLogLik(s.pairs, off.Traj))
	s.res.Values["LL_on"] = s.env.BTLogLik(s.pairs, on.Traj)
	s.res.Values["LL_off"] = s.env.BTLogLik(s.pairs, off.Traj)
	s.res.Values["obj_on"] = s.env.DPOValue(s.pairs, on.Traj)
	s.res.Values["obj_off"] = s.env.DPOValue(s.pairs, off.Traj)
	s.res.Solves = append(append(s.res.Solves, on.Solves...), off.Solves...)
}

// Thm22Cases are the default random datasets for the tabular DPO-form check:
// 1024 to 16384 trajectories (10^5 with large), 2 to 2000 pairs, datasets
// touching from 0.06% of the trajectories to 87% of them, hard, soft and
// perfectly separable labels, β from 0.5 to 1, α from 0.1 to 1.
func Thm22Cases(large bool) []prefCase {
	cs := []prefCase{
		{V: 4, H: 5, N: 2, Support: 4, Labels: HardLabels, Beta: 0.5, Alpha: 1, RewardScale: 2},
		{V: 4, H: 5, N: 40, Support: 20, Labels: SeparableLabels, Beta: 0.5, Alpha: 1, RewardScale: 2},
		{V: 4, H: 5, N: 1000, Labels: SoftLabels, Beta: 0.5, Alpha: 1, RewardScale: 2},
		{V: 3, H: 8, N: 3, Support: 4, Labels: HardLabels, Beta: 0.5, Alpha: 1, RewardScale: 2},
		{V: 3, H: 8, N: 100, Labels: HardLabels, Beta: 1, Alpha: 0.1, RewardScale: 1},
		{V: 3, H: 8, N: 2000, Labels: HardLabels, Beta: 1, Alpha: 1, RewardScale: 1},
		{V: 4, H: 7, N: 300, Labels: HardLabels, Beta: 1, Alpha: 1, RewardScale: 1},
		{V: 5, H: 6, N: 20, Support: 30, Labels: SeparableLabels, Beta: 0.5, Alpha: 1, RewardScale: 2},
	}
	if large {
		cs = append(cs, prefCase{V: 10, H: 5, N: 50, Labels: SoftLabels, Beta: 0.5, Alpha: 1, RewardScale: 2})
	}
	return cs
}

// CheckThm22Tabular: R = R(Π_tab). Offline DPO over tabular logits versus
// two-stage online (BT MLE of a trajectory-reward table, then exact soft VI).
func CheckThm22Tabular(opt Options, cases []prefCase, name string) ([]Check, error) {
	var results []CaseResult
	for i, c := range cases {
		s, err := c.build(opt.Seed, i)
		if err != nil {
			return nil, err
		}
		off := s.env.OfflineDPO(s.pairs, opt.solver())
		on, _ := s.env.OnlineTabularReward(s.pairs, opt.solver())
		s.compare(on, off)
		results = append(results, s.res)
	}
	claim := "Thm 2.2: R = R(Pi), tabular Pi: online (BT-MLE reward table -> soft VI) = offline DPO"
	return []Check{
		summarize(name+": max|P_on-P_off|", claim, "max|P_on-P_off|", "<=", EquivTol, results),
		summarize(name+": |LL_on-LL_off|", claim, "|LL_on-LL_off|", "<=", EquivTol, results),
	}, nil
}

// CheckThm22LogLinear: R = R(Π_loglin). Offline DPO over w versus online:
// stage 1 BT MLE over r_w = β log π_w/π_ref (different start, reward-space
// objective), stage 2 exact soft VI on the tree then reverse-KL projection
// onto Π_loglin.
func CheckThm22LogLinear(opt Options) ([]Check, error) {
	cases := []prefCase{
		{V: 3, H: 5, N: 30, Support: 40, Labels: HardLabels, Beta: 0.5, Alpha: 1, RewardScale: 2},
		{V: 4, H: 4, N: 300, Labels: SoftLabels, Beta: 1, Alpha: 1, RewardScale: 2},
	}
	var results []CaseResult
	for i, c := range cases {
		s, err := c.build(opt.Seed, 100+i)
		if err != nil {
			return nil, err
		}
		cls := NewLogLinear(s.env.Tree)
		off := s.env.OfflineDPOLogLinear(cls, s.pairs, opt.solver())
		w0 := make([]float64, cls.Dim)
		for k := range w0 {
			w0[k] = s.rng.NormFloat64()
		}
		on := s.env.OnlineLogLinearReward(cls, s.pairs, w0, opt.solver())
		s.compare(on, off)
		results = append(results, s.res)
	}
	claim := "Thm 2.2: R = R(Pi), log-linear Pi: online (BT-MLE over R(Pi_loglin) -> soft VI -> reverse-KL projection) = offline DPO"
	return []Check{
		summarize("thm2.2 DPO log-linear: max|P_on-P_off|", claim, "max|P_on-P_off|", "<=", EquivTol, results),
	}, nil
}

// brokenCases share data between the two non-isomorphic checks.
var brokenCases = []prefCase{
	{V: 3, H: 5, N: 200, Labels: HardLabels, Beta: 1, Alpha: 1, RewardScale: 2},
	{V: 4, H: 4, N: 60, Support: 40, Labels: SoftLabels, Beta: 0.5, Alpha: 1, RewardScale: 2},
}

// CheckThm22Broken: the assumption R = R(Π) broken both ways; the optima
// must differ by a clearly non-zero amount.
func CheckThm22Broken(opt Options) ([]Check, error) {
	var simTab, tabLin []CaseResult
	for i, c := range brokenCases {
		s, err := c.build(opt.Seed, 200+i)
		if err != nil {
			return nil, err
		}
		feats, err := NewTrajFeatures(s.env.Tree)
		if err != nil {
			return nil, err
		}
		// R = R_sim (linear), Π tabular.
		off := s.env.OfflineDPO(s.pairs, opt.solver())
		on, _ := s.env.OnlineLinearReward(feats, s.pairs, opt.solver())
		s.compare(on, off)
		s.res.Desc += fmt.Sprintf(", R_sim dim %d", feats.Dim)
		simTab = append(simTab, s.res)
		// R = R(Π_tab), Π log-linear.
		s2, _ := c.build(opt.Seed, 200+i)
		cls := NewLogLinear(s2.env.Tree)
		offLin := s2.env.OfflineDPOLogLinear(cls, s2.pairs, opt.solver())
		onTab, _ := s2.env.OnlineTabularReward(s2.pairs, opt.solver())
		onLin := s2.env.ProjectLogLinear(cls, onTab, opt.solver())
		s2.compare(onLin, offLin)
		s2.res.Desc += fmt.Sprintf(", log-linear dim %d", cls.Dim)
		tabLin = append(tabLin, s2.res)
	}
	return []Check{
		summarize("thm2.2 broken (R=R_sim, tabular Pi): min max|P_on-P_off|",
			"assumption R = R(Pi) broken: linear reward class, tabular policies; optima must differ", "max|P_on-P_off|", ">=", DifferTol, simTab),
		summarize("thm2.2 broken (R=R(Pi_tab), log-linear Pi): min max|P_on-P_off|",
			"assumption R = R(Pi) broken: tabular reward class, log-linear policies; optima must differ", "max|P_on-P_off|", ">=", DifferTol, tabLin),
	}, nil
}

// CheckThm31: online with R_sim equals the MLE over Π(R_sim), and offline
// (improper, over all of Π_tab) fits the training data at least as well.
func CheckThm31(opt Options) ([]Check, error) {
	cases := []prefCase{
		{V: 3, H: 5, N: 50, Labels: HardLabels, Beta: 1, Alpha: 1, RewardScale: 1},
		{V: 4, H: 4, N: 300, Labels: HardLabels, Beta: 0.5, Alpha: 1, RewardScale: 1},
		{V: 3, H: 6, N: 20, Support: 30, Labels: SeparableLabels, Beta: 1, Alpha: 0.5, RewardScale: 1},
	}
	var results []CaseResult
	for i, c := range cases {
		s, err := c.build(opt.Seed, 300+i)
		if err != nil {
			return nil, err
		}
		feats, err := NewTrajFeatures(s.env.Tree)
		if err != nil {
			return nil, err
		}
		on, _ := s.env.OnlineLinearReward(feats, s.pairs, opt.solver())
		w0 := make([]float64, feats.Dim)
		for k := range w0 {
			w0[k] = 0.3 * s.rng.NormFloat64()
		}
		restricted := s.env.RestrictedMLE(feats, s.pairs, w0, opt.solver())
		off := s.env.OfflineDPO(s.pairs, opt.solver())
		s.res.Values["max|P_on-P_restricted|"] = MaxAbsProbDiff(on.Traj, restricted.Traj)
		s.res.Values["obj_on-obj_off"] = s.env.DPOValue(s.pairs, on.Traj) - s.env.DPOValue(s.pairs, off.Traj)
		s.res.Values["|obj_on-obj_restricted|"] = math.Abs(s.env.DPOValue(s.pairs, on.Traj) - s.env.DPOValue(s.pairs, restricted.Traj))
		s.res.Solves = append(append(append(s.res.Solves, on.Solves...), restricted.Solves...), off.Solves...)
		s.res.Desc += fmt.Sprintf(", R_sim dim %d", feats.Dim)
		results = append(results, s.res)
	}
	return []Check{
		summarize("thm3.1 online(R_sim) = MLE over Pi(R_sim): max|dP|",
			"Thm 3.1: two-stage online with R_sim returns the (regularised) MLE over Pi(R_sim), the soft-optimal policies of R_sim", "max|P_on-P_restricted|", "<=", EquivTol, results),
		summarize("thm3.1 improper offline fits data better: min(obj_on-obj_off)",
			"offline searches all of Pi_tab ⊇ Pi(R_sim): its regularised objective is at least as good (>= -1e-9)", "obj_on-obj_off", ">=", -1e-9, results),
	}, nil
}

// demoCase is a demonstration dataset for the SFT / MaxEnt IRL check.
type demoCase struct {
	V, H  int
	N     int
	Beta  float64
	Alpha float64
}

// CheckSFT: offline SFT versus MaxEnt IRL (reward by maximum likelihood
// under P_r ∝ P_ref e^{r/β}, then soft RL) — the SPIN-style two-stage road —
// with R = R(Π_tab), plus the closed form, plus the broken case R = R_sim.
func CheckSFT(opt Options) ([]Check, error) {
	cases := []demoCase{{V: 4, H: 5, N: 5, Beta: 1, Alpha: 1}, {V: 3, H: 6, N: 500, Beta: 0.5, Alpha: 2}}
	var eq, closed, broken []CaseResult
	for i, c := range cases {
		t, err := NewTree(c.V, c.H)
		if err != nil {
			return nil, err
		}
		rng := rand.New(rand.NewPCG(opt.Seed, uint64(400+i)))
		env := NewEnv(t, randomPolicy(rng, t, 0.5), c.Beta, c.Alpha)
		expert := make([]float64, t.NumTraj)
		t.TrajLogProbs(randomPolicy(rng, t, 1.5), expert)
		cdf := CDF(expert)
		counts := make([]float64, t.NumTraj)
		touched := 0
		for k := 0; k < c.N; k++ {
			xi := SampleTraj(rng, cdf)
			if counts[xi] == 0 {
				touched++
			}
			counts[xi]++
		}
		base := CaseResult{V: c.V, H: c.H, NumTraj: t.NumTraj, N: c.N, Touched: touched, Beta: c.Beta, Alpha: c.Alpha,
			Desc: fmt.Sprintf("V=%d H=%d (%d traj), %d demonstrations on %d traj", c.V, c.H, t.NumTraj, c.N, touched)}
		off := env.OfflineSFT(counts, opt.solver())
		on := env.OnlineMaxEntIRL(counts, nil, opt.solver())
		// Closed form of the regularised MLE over all distributions.
		cf := make([]float64, t.NumTraj)
		for xi := range cf {
			cf[xi] = math.Log((counts[xi] + c.Alpha*env.PRef[xi]) / (float64(c.N) + c.Alpha))
		}
		r1 := base
		r1.Values = map[string]float64{"max|P_on-P_off|": MaxAbsProbDiff(on.Traj, off.Traj)}
		r1.Solves = append(append([]SolveReport(nil), on.Solves...), off.Solves...)
		eq = append(eq, r1)
		r2 := base
		r2.Values = map[string]float64{"max|P_off-P_closed|": math.Max(MaxAbsProbDiff(off.Traj, cf), MaxAbsProbDiff(on.Traj, cf))}
		r2.Solves = r1.Solves
		closed = append(closed, r2)
		feats, err := NewTrajFeatures(t)
		if err != nil {
			return nil, err
		}
		onSim := env.OnlineMaxEntIRL(counts, feats, opt.solver())
		r3 := base
		r3.Values = map[string]float64{"max|P_on-P_off|": MaxAbsProbDiff(onSim.Traj, off.Traj)}
		r3.Solves = append(append([]SolveReport(nil), onSim.Solves...), off.Solves...)
		broken = append(broken, r3)
	}
	return []Check{
		summarize("sft = maxent-IRL, R=R(Pi_tab): max|P_on-P_off|",
			"SFT / MaxEnt IRL (SPIN-style) equivalence under R = R(Pi)", "max|P_on-P_off|", "<=", EquivTol, eq),
		summarize("sft closed form (n+alpha*P_ref)/(N+alpha): max|dP|",
			"both roads equal the closed-form regularised MLE over all distributions", "max|P_off-P_closed|", "<=", EquivTol, closed),
		summarize("sft vs IRL broken (R=R_sim): min max|P_on-P_off|",
			"R = R_sim is not R(Pi_tab): MaxEnt IRL matches feature moments only; optima must differ", "max|P_on-P_off|", ">=", DifferTol, broken),
	}, nil
}

// RunChecks runs every exact check in order.
func RunChecks(opt Options) ([]Check, error) {
	var all []Check
	steps := []func() ([]Check, error){
		func() ([]Check, error) { return CheckThm22Tabular(opt, Thm22Cases(opt.Large), "thm2.2 DPO tabular") },
		func() ([]Check, error) {
			return CheckThm22Tabular(opt, []prefCase{
				{V: 4, H: 5, N: 30, Support: 16, Labels: SeparableLabels, Beta: 1, UniformRef: true, Alpha: 1, RewardScale: 2},
				{V: 3, H: 6, N: 200, Labels: HardLabels, Beta: 1, UniformRef: true, Alpha: 0.5, RewardScale: 1},
			}, "thm2.2 MaxEnt form (uniform ref, beta=1)")
		},
		func() ([]Check, error) { return CheckThm22LogLinear(opt) },
		func() ([]Check, error) { return CheckThm22Broken(opt) },
		func() ([]Check, error) { return CheckThm31(opt) },
		func() ([]Check, error) { return CheckSFT(opt) },
	}
	for _, step := range steps {
		cs, err := step()
		if err != nil {
			return nil, err
		}
		all = append(all, cs...)
	}
	return all, nil
}
