package theory

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func testEnv(t *testing.T, V, H int, beta, alpha float64, seed uint64) (*Env, *rand.Rand) {
	t.Helper()
	tr, err := NewTree(V, H)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	return NewEnv(tr, randomPolicy(rng, tr, 0.7), beta, alpha), rng
}

func randVec(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * rng.NormFloat64()
	}
	return v
}

func TestNewTreeRejectsBadSizes(t *testing.T) {
	for _, c := range []struct {
		V, H int
		want string
	}{{1, 3, "vocabulary size V=1"}, {3, 0, "horizon H=0"}, {10, 7, "exceeds"}} {
		_, err := NewTree(c.V, c.H)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewTree(%d,%d) error %v, want %q", c.V, c.H, err, c.want)
		}
	}
}

// TrajLogProbs must equal the product of token probabilities along each
// trajectory, computed directly from the index arithmetic, and sum to one.
func TestTrajLogProbsIsProductOfTokenProbs(t *testing.T) {
	env, _ := testEnv(t, 3, 4, 1, 1, 1)
	tr := env.Tree
	if tr.NumTraj != 81 || tr.NumNodes != 40 {
		t.Fatalf("V=3 H=4: %d trajectories %d nodes, want 81 and 40", tr.NumTraj, tr.NumNodes)
	}
	total := 0.0
	for xi := 0; xi < tr.NumTraj; xi++ {
		direct := 0.0
		for h := 0; h < tr.H; h++ {
			direct += env.LogRef[tr.Node(xi, h)*tr.V+tr.Token(xi, h)]
		}
		if math.Abs(direct-env.RefTraj[xi]) > 1e-13 {
			t.Fatalf("trajectory %d: %g vs direct %g", xi, env.RefTraj[xi], direct)
		}
		total += env.PRef[xi]
	}
	if math.Abs(total-1) > 1e-12 {
		t.Fatalf("trajectory probabilities sum to %.15f", total)
	}
	// Node depth / last token agree with Node and Token.
	for xi := 0; xi < tr.NumTraj; xi++ {
		for h := 1; h < tr.H; h++ {
			d, last := tr.NodeDepth(tr.Node(xi, h))
			if d != h || last != tr.Token(xi, h-1) {
				t.Fatalf("NodeDepth(node(%d,%d)) = %d,%d want %d,%d", xi, h, d, last, h, tr.Token(xi, h-1))
			}
		}
	}
}

// Soft VI must produce exactly P_ref e^{r/β} / Z, return log Z, and the
// soft-optimal policy must beat perturbed policies on E[r] − β KL.
func TestSoftOptimalIsTheGibbsDistribution(t *testing.T) {
	env, rng := testEnv(t, 3, 5, 0.7, 1, 2)
	r := randVec(rng, env.Tree.NumTraj, 2)
	logpi := make([]float64, len(env.LogRef))
	logZ := env.Tree.SoftOptimal(env.LogRef, r, env.Beta, make([]float64, env.Tree.NumTraj), logpi)
	traj := make([]float64, env.Tree.NumTraj)
	env.Tree.TrajLogProbs(logpi, traj)
	gibbs := make([]float64, env.Tree.NumTraj)
	z := env.softDist(r, gibbs)
	if math.Abs(z-logZ) > 1e-12 {
		t.Fatalf("log Z %g vs %g", logZ, z)
	}
	if d := MaxAbsProbDiff(traj, gibbs); d > 1e-14 {
		t.Fatalf("soft VI policy differs from the Gibbs distribution by %g", d)
	}
	best := value(env, r, traj)
	if math.Abs(best-env.Beta*logZ) > 1e-12 {
		t.Fatalf("soft-optimal value %g, want beta log Z = %g", best, env.Beta*logZ)
	}
	theta := append([]float64(nil), logpi...)
	other := make([]float64, len(theta))
	for k := 0; k < 20; k++ {
		for i := range theta {
			other[i] = theta[i] + 0.1*rng.NormFloat64()
		}
		env.Tree.LogSoftmax(other, other)
		env.Tree.TrajLogProbs(other, traj)
		if v := value(env, r, traj); v > best {
			t.Fatalf("perturbed policy value %g beats the soft-optimal %g", v, best)
		}
	}
}

// With a uniform reference and β = 1, E[r] − KL(P||uniform) = E[r] + H(P) − H log V:
// the KL form is the paper's entropy form up to a constant.
func TestKLToUniformIsEntropyForm(t *testing.T) {
	tr, _ := NewTree(4, 3)
	rng := rand.New(rand.NewPCG(3, 3))
	uniform := make([]float64, tr.NumNodes*tr.V)
	for i := range uniform {
		uniform[i] = -math.Log(4)
	}
	env := NewEnv(tr, uniform, 1, 1)
	r := randVec(rng, tr.NumTraj, 1)
	traj := make([]float64, tr.NumTraj)
	tr.TrajLogProbs(randomPolicy(rng, tr, 1), traj)
	entropy, er := 0.0, 0.0
	for i, l := range traj {
		entropy -= math.Exp(l) * l
		er += math.Exp(l) * r[i]
	}
	if got, want := value(env, r, traj), er+entropy-3*math.Log(4); math.Abs(got-want) > 1e-12 {
		t.Fatalf("KL form %g, entropy form %g", got, want)
	}
}

// checkDerivatives compares the gradient and the Hessian-vector product of
// obj with central finite differences along random directions.
func checkDerivatives(t *testing.T, name string, obj hessObjective, x []float64, rng *rand.Rand, tol float64) {
	t.Helper()
	n := len(x)
	g := make([]float64, n)
	obj.eval(x, g)
	for trial := 0; trial < 3; trial++ {
		v := randVec(rng, n, 1)
		hv := make([]float64, n)
		obj.hessVec(x, v, hv)
		const eps = 1e-5
		xp, xm := make([]float64, n), make([]float64, n)
		for i := range x {
			xp[i], xm[i] = x[i]+eps*v[i], x[i]-eps*v[i]
		}
		gp, gm := make([]float64, n), make([]float64, n)
		fp, fm := obj.eval(xp, gp), obj.eval(xm, gm)
		dir := 0.0
		for i := range g {
			dir += g[i] * v[i]
		}
		if fd := (fp - fm) / (2 * eps); math.Abs(fd-dir) > tol*math.Max(1, math.Abs(dir)) {
			t.Errorf("%s: directional derivative %.10g, finite difference %.10g", name, dir, fd)
		}
		scale := 0.0
		for i := range hv {
			scale = math.Max(scale, math.Abs(hv[i]))
		}
		for i := range hv {
			if fd := (gp[i] - gm[i]) / (2 * eps); math.Abs(fd-hv[i]) > tol*math.Max(1, scale) {
				t.Errorf("%s: Hessian-vector component %d = %.10g, finite difference %.10g", name, i, hv[i], fd)
				break
			}
		}
	}
}

func TestDerivativesMatchFiniteDifferences(t *testing.T) {
	env, rng := testEnv(t, 3, 4, 0.6, 0.8, 4)
	tr := env.Tree
	truth := randVec(rng, tr.NumTraj, 2)
	pairs := RandomPrefs(rng, randomSubset(rng, tr.NumTraj, 30), 40, truth, SoftLabels)
	counts := make([]float64, tr.NumTraj)
	for i := 0; i < 25; i++ {
		counts[rng.IntN(tr.NumTraj)]++
	}
	target := make([]float64, tr.NumTraj)
	tr.TrajLogProbs(randomPolicy(rng, tr, 1), target)
	feats, err := NewTrajFeatures(tr)
	if err != nil {
		t.Fatal(err)
	}
	cls := NewLogLinear(tr)
	theta := randVec(rng, tr.NumNodes*tr.V, 1)
	w := randVec(rng, cls.Dim, 0.5)
	r := randVec(rng, tr.NumTraj, 1)
	ws := randVec(rng, feats.Dim, 0.5)

	checkDerivatives(t, "tabular DPO", env.newTabularProblem(env.newDPOObjective(pairs)), theta, rng, 1e-6)
	checkDerivatives(t, "tabular SFT", env.newTabularProblem(&sftObjective{e: env, counts: counts}), theta, rng, 1e-6)
	checkDerivatives(t, "tabular reverse KL", env.newTabularProblem(reverseKLObjective{target}), theta, rng, 1e-6)
	checkDerivatives(t, "log-linear DPO", env.newLogLinearProblem(cls, env.newDPOObjective(pairs)), w, rng, 1e-6)
	checkDerivatives(t, "log-linear stage 1 over R(Pi_loglin)", env.newLogLinearProblem(cls, env.newRewardAsPolicy(env.newBTReward(pairs))), w, rng, 1e-6)
	checkDerivatives(t, "BT reward table", env.newBTReward(pairs), r, rng, 1e-6)
	checkDerivatives(t, "MaxEnt IRL reward table", env.newIRLReward(counts), r, rng, 1e-6)
	checkDerivatives(t, "BT over R_sim", newLinearReward(env.newBTReward(pairs), feats), ws, rng, 1e-6)
	checkDerivatives(t, "MLE over Pi(R_sim) through soft VI", env.newRestrictedProblem(feats, env.newDPOObjective(pairs)), ws, rng, 1e-6)
}

// The reduced R_sim basis spans every raw linear reward modulo constants.
func TestTrajFeaturesSpanRawRewards(t *testing.T) {
	tr, _ := NewTree(3, 4)
	f, err := NewTrajFeatures(tr)
	if err != nil {
		t.Fatal(err)
	}
	if f.Dim >= f.RawDim || f.Dim < 1 {
		t.Fatalf("reduced dim %d of raw %d: the raw statistics are dependent, so it must shrink", f.Dim, f.RawDim)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	raw := make([]float64, tr.NumTraj)
	f.RawReward(randVec(rng, f.RawDim, 1), raw)
	// Whitened columns are orthogonal with mean-square 1: project directly.
	mean := 0.0
	for _, x := range raw {
		mean += x / float64(tr.NumTraj)
	}
	w := make([]float64, f.Dim)
	c := make([]float64, tr.NumTraj)
	for i := range c {
		c[i] = (raw[i] - mean) / float64(tr.NumTraj)
	}
	f.PullBack(c, w)
	fit := make([]float64, tr.NumTraj)
	f.Reward(w, fit)
	for i := range fit {
		if math.Abs(fit[i]+mean-raw[i]) > 1e-9 {
			t.Fatalf("trajectory %d: raw reward %g not reproduced (%g)", i, raw[i], fit[i]+mean)
		}
	}
}

func TestThm22Holds(t *testing.T) {
	opt := DefaultOptions()
	checks, err := CheckThm22Tabular(opt, []prefCase{
		{V: 3, H: 4, N: 2, Support: 3, Labels: HardLabels, Beta: 0.5, Alpha: 1, RewardScale: 2},
		{V: 3, H: 5, N: 30, Support: 12, Labels: SeparableLabels, Beta: 1, Alpha: 0.5, RewardScale: 2},
		{V: 2, H: 6, N: 200, Labels: SoftLabels, Beta: 1, UniformRef: true, Alpha: 1, RewardScale: 1},
	}, "small")
	if err != nil {
		t.Fatal(err)
	}
	more, err := CheckThm22LogLinear(opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append(checks, more...) {
		if !c.Passed() {
			t.Errorf("%s: %s (value %g, tol %g)", c.Name, c.Status, c.Value, c.Tolerance)
		}
		for _, cs := range c.Cases {
			if len(cs.Solves) == 0 {
				t.Errorf("%s: case %s recorded no solves", c.Name, cs.Desc)
			}
		}
	}
}

// When R ≠ R(Π) the roads must come apart: the same equality check that
// passes under the theorem's assumption fails here.
func TestThm22FailsWhenAssumptionBroken(t *testing.T) {
	checks, err := CheckThm22Broken(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if !c.Passed() {
			t.Errorf("%s: %s (value %g)", c.Name, c.Status, c.Value)
		}
		eq := summarize("equality under a broken assumption", "", "max|P_on-P_off|", "<=", EquivTol, c.Cases)
		if eq.Status != StatusFail {
			t.Errorf("%s: the equivalence check reports %s with deviation %g; it must fail", c.Name, eq.Status, eq.Value)
		}
	}
}

func TestThm31AndSFT(t *testing.T) {
	opt := DefaultOptions()
	a, err := CheckThm31(opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := CheckSFT(opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append(a, b...) {
		if !c.Passed() {
			t.Errorf("%s: %s (value %g, tol %g)", c.Name, c.Status, c.Value, c.Tolerance)
		}
	}
}

// A check whose optimiser ran out of iterations is NOT CONVERGED, even when
// its deviation happens to be small.
func TestUnconvergedCheckIsNeverAPass(t *testing.T) {
	opt := DefaultOptions()
	opt.MaxIterations = 1
	checks, err := CheckThm22Tabular(opt, []prefCase{{V: 3, H: 4, N: 20, Labels: HardLabels, Beta: 0.5, Alpha: 1, RewardScale: 2}}, "starved")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if c.Status != StatusNotConverged || c.Passed() {
			t.Errorf("%s: status %s with 1 iteration allowed, want %s", c.Name, c.Status, StatusNotConverged)
		}
	}
}

func TestMeanCIKnownValues(t *testing.T) {
	m := meanCI([]float64{1, 2, 3})
	// mean 2, sd 1, t_{0.975, 2} = 4.302652729911275
	if math.Abs(m.Mean-2) > 1e-15 || math.Abs(m.CI95-4.302652729911275/math.Sqrt(3)) > 1e-9 {
		t.Fatalf("meanCI = %+v", m)
	}
}

func TestStatIsDeterministicAcrossThreadCounts(t *testing.T) {
	cfg := DefaultStatConfig()
	cfg.V, cfg.H, cfg.Ns, cfg.Datasets = 2, 5, []int{10, 100}, 3
	cfg.Threads = 1
	a, err := RunStat(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Threads = 3
	b, err := RunStat(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.Config.Threads, b.Config.Threads = 0, 0
	if !reflect.DeepEqual(a.Rows, b.Rows) || a.IdentityResidual != b.IdentityResidual {
		t.Fatalf("results depend on the thread count:\n%+v\n%+v", a.Rows, b.Rows)
	}
	if c := a.IdentityCheck(); !c.Passed() {
		t.Fatalf("identity check: %s (residual %g)", c.Status, c.Value)
	}
	for _, row := range a.Rows {
		// The online road is exactly soft-optimal for a linear reward, so
		// its KL to P* is finite and non-negative; regret can't be negative.
		if row.OnlineKL.Mean < 0 || row.OfflineKL.Mean < 0 || row.OnlineValue.Mean > a.OptValue+1e-12 || row.OfflineValue.Mean > a.OptValue+1e-12 {
			t.Fatalf("row %+v violates J <= J* (J* = %g)", row, a.OptValue)
		}
	}
	if _, err := RunStat(StatConfig{V: 2, H: 3, K: 1, Beta: 1, Alpha: 1, RewardStd: 1, Ns: []int{5}, Datasets: 1}); err == nil || !strings.Contains(err.Error(), "at least 2 datasets") {
		t.Fatalf("Datasets=1: error %v", err)
	}
}

// RunConfig.Validate names the setting it refuses, and the default is valid
// and splits into the checks' and the statistical experiment's settings.
func TestRunConfigValidate(t *testing.T) {
	def := DefaultRunConfig()
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	if o := def.Options(); o != DefaultOptions() {
		t.Errorf("Options() = %+v, want DefaultOptions %+v", o, DefaultOptions())
	}
	if s := def.StatConfig(); fmt.Sprint(s) != fmt.Sprint(DefaultStatConfig()) {
		t.Errorf("StatConfig() = %+v, want DefaultStatConfig %+v", s, DefaultStatConfig())
	}
	for _, c := range []struct {
		edit func(*RunConfig)
		want string
	}{
		{func(c *RunConfig) { c.GradTol = 0 }, "grad_tol"},
		{func(c *RunConfig) { c.StatGradTol = -1 }, "stat_grad_tol"},
		{func(c *RunConfig) { c.MaxIterations = 0 }, "max_iterations=0"},
		{func(c *RunConfig) { c.Alpha = 0 }, "alpha=0"},
		{func(c *RunConfig) { c.Ns = nil }, "ns"},
		{func(c *RunConfig) { c.V = 0 }, "stat_vocab/stat_horizon"},
	} {
		cfg := DefaultRunConfig()
		c.edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %q, got %v", c.want, err)
		}
	}
	off := DefaultRunConfig()
	off.Stat, off.V = false, 0 // the experiment's sizes do not matter when it does not run
	if err := off.Validate(); err != nil {
		t.Errorf("stat off: %v", err)
	}
}
