// Package theory checks the theorems of Swamy et al. 2025 ("All Roads Lead to
// Likelihood") exactly, in float64, on small deterministic token MDPs whose
// trajectories are all enumerated (`roads theory`; docs/theory.md).
//
// # Setting
//
// One prompt, vocabulary V, horizon H: a trajectory ξ = (a_0..a_{H-1}) is a
// leaf of the prefix tree (Tree), P_π(ξ) = Π_h π(a_h|s_h) and the paper's
// local reward is r_π(ξ) = Σ_h log π(a_h|s_h). Policy classes: tabular
// softmax (every prefix its own logits) and log-linear (LogLinear: logits
// from the previous token and the position; strictly smaller). Reward
// classes: R(Π) and R_sim = { w·ψ(ξ) } over trajectory statistics
// (TrajFeatures). KL form throughout: r_π = β log P_π/P_ref and soft RL is
// argmax_π E_π[r] − β KL(P_π||P_ref); π_ref uniform with β = 1 is the
// paper's E[r] + H(π) form (KL to uniform = H log V − entropy), run as its
// own check.
//
// # The roads
//
// Offline: minimise the negated DPO log-posterior directly over the policy's
// parameters (tabular logits θ, or log-linear weights w), scoring a policy by
// its token log-likelihoods. Online, two stages that share nothing but the
// fitted reward: stage 1 fits r̂ ∈ R by BT maximum likelihood; stage 2
// computes the exact soft-optimal policy of r̂ by backward induction over the
// prefix tree (Tree.SoftOptimal), then, when Π cannot represent it, projects
// it onto Π by minimising reverse KL(P_π || P*_r̂). Stage 2 only ever sees the
// table r̂(ξ); it never reuses stage 1's parameters.
//
// # Regularisation: why, which, and why the theorems still apply
//
// Without regularisation the optima are not well defined. With tabular
// policies the offline MLE over Σ log π only constrains the trajectories that
// appear in the data: every prefix no pair reaches is a flat direction, and
// perfectly separable labels (or any trajectory that only ever wins) drive
// logits to ±∞, so there is no finite maximiser. Comparing "the" optima of
// two roads would then compare arbitrary points of two unbounded sets.
//
// Every objective here therefore adds the same proper prior on the
// trajectory distribution P of the policy a road returns:
//
//	α · KL(P_ref || P) = −α Σ_ξ P_ref(ξ) log P(ξ) + const,
//
// the log-density of a Dirichlet prior with pseudo-counts α·P_ref (α = 1
// means one pseudo-demonstration's worth). In the offline road P = P_π; in
// online stage 1, P = P_r ∝ P_ref e^{r/β}, the soft-optimal distribution of
// the reward, i.e. α[log E_ref e^{r/β} − E_ref r/β]. Labels may be hard (0/1),
// soft (probabilities, i.e. expected counts) or separable; the prior alone
// makes the optimum finite and unique in all three cases.
//
// Why Thm 2.2 survives: for r = r_π = β log P_π/P_ref we have
// E_ref e^{r/β} = 1 and P_r = P_π, so the stage-1 objective restricted to
// R(Π) is exactly the offline objective composed with the bijection π ↦ r_π
// (the prior is a function of the distribution, hence the same in both
// parameterisations). So r̂ = r_{π̂_off}, and stage 2 returns P ∝ P_ref e^{r̂/β}
// = P_{π̂_off}: the regularised roads have the same optimum for every
// dataset, whatever its size or coverage. (The unregularised statement is the
// α → 0 limit wherever that limit exists.) BT and the prior are both blind to
// a constant shift of r, and every function of ξ is r_π + const for exactly
// one tabular π, so R(Π_tab) modulo constants is "all trajectory rewards":
// stage 1 for the tabular class fits a free table r(ξ), a different
// parameterisation (and a convex problem, strictly convex modulo constants,
// coercive because α > 0 and P_ref has full support) from the offline road's
// logits. That is what makes the tabular check non-trivial: two solvers on
// two parameterisations meeting at 1e-10. For the log-linear class R(Π) is
// not all rewards, so stage 1 is parameterised through Π (r_w = β log
// π_w/π_ref), evaluated through the reward-space objective from a different
// start; there the check mainly exercises stage 2 (soft VI, then a projection
// that must find KL = 0).
//
// Thm 3.1 uses the same prior restricted to Π(R_sim) = { π*_w }: online
// stage 1 is BT MLE over w with α KL(P_ref || P*_w) (convex in w); the
// restricted MLE maximises the offline objective over π*_w, scoring the
// policy by its token log-likelihoods after backward induction, from another
// start with another solver path. R_sim is built on a whitened basis of the
// raw statistics with the directions BT cannot see (linear combinations that
// are constant over trajectories) removed, so w is identified. SFT vs MaxEnt
// IRL (the SPIN-style road) uses the same prior; both have the closed form
// P = (n + α P_ref)/(N + α), checked too.
//
// # Solvers and convergence
//
// All fits use a trust-region Newton-CG method (Steihaug–Toint,
// Jacobi-preconditioned) with exact Hessian-vector products: for the logits
// by Pearlmutter's R-operator through the tree (Tree.LogitHessVec), for the
// reward spaces in closed form. The offline problems are not convex in the
// logits far from the optimum (pushing a dispreferred trajectory down is a
// concave direction), so the tabular fits use the "absolute value" modified
// Newton matrix, which is positive semi-definite everywhere and equals the
// exact Hessian at the optimum; the trust region does the rest. Because
// θ ↦ P_π is a diffeomorphism (modulo per-node logit shifts, which are
// projected out) and the objectives are strictly convex in log P modulo
// constants, every stationary point in θ is the global optimum. A solve
// counts as converged when ‖∇f‖_∞ ≤ 1e-9 (1e-8 in the statistical
// experiment); iterations and the final gradient are reported, and a check
// that depends on an unconverged solve is NOT CONVERGED, never a pass. All
// derivatives are checked against finite differences in the tests.
//
// Known slow case: offline Newton in logits crawls (thousands of iterations)
// when many hard-labelled pairs concentrate on a few hundred of thousands of
// trajectories (e.g. V=3, H=8, 500 pairs on 200 trajectories: ~1800
// iterations, ~15 s); the default cases avoid it and docs/theory.md says so.
//
// # Statistical experiment
//
// RunStat: true reward k-sparse linear in the raw statistics, pairs drawn
// from π_ref and labelled by BT, offline DPO over tabular Π versus online
// BT-MLE in R_sim then soft VI, the same β and α in both. It reports the true
// KL-regularised value J(π) = E_π[r*] − β KL(P_π||P_ref) and KL(P_π || P*).
// These are one quantity: J(π*) − J(π) = β KL(P_π || P*) exactly (checked on
// every fitted policy). Datasets run in parallel, one serial fit per
// goroutine, results stored by index: output is bit-identical for any
// thread count.
package theory
