package theory

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
)

// SolveReport records how one optimisation ended. Converged means the final
// infinity norm of the gradient is at most Tolerance; a check that depends on
// a solve that did not converge is reported as NOT CONVERGED, never as a pass.
type SolveReport struct {
	Name       string  `json:"name"`
	Method     string  `json:"method"`
	Dim        int     `json:"dim"`
	Iterations int     `json:"iterations"`
	GradNorm   float64 `json:"grad_inf_norm"`
	Tolerance  float64 `json:"tolerance"`
	Converged  bool    `json:"converged"`
	Status     string  `json:"status"`
}

// SolverOptions are shared by every solve.
type SolverOptions struct {
	GradTol       float64 `json:"grad_tol"`       // stop when ‖∇f‖_∞ ≤ GradTol
	MaxIterations int     `json:"max_iterations"` // Newton steps per solve
}

// hessObjective is a twice-differentiable convex objective for Newton-CG.
type hessObjective interface {
	eval(x, grad []float64) float64
	// hessVec writes ∇²f(x) v into out.
	hessVec(x, v, out []float64)
	// hessDiag writes the diagonal of ∇²f(x) into out (Jacobi preconditioner),
	// or returns false when it has none.
	hessDiag(x, out []float64) bool
}

// nullProjector is implemented by objectives with exact flat directions
// (per-node logit shifts of a tabular softmax): project removes them from a
// direction, so that the Jacobi preconditioner cannot leak CG steps into
// directions of zero curvature, where the step length would blow up.
type nullProjector interface {
	project(x, v []float64)
}

// minimizeNewtonCG is a trust-region Newton method (Steihaug–Toint truncated
// conjugate gradients, Jacobi-preconditioned, exact Hessian-vector products;
// Nocedal & Wright, Alg. 7.2 with the trust region measured in the
// preconditioner's norm). Each step approximately minimises the quadratic
// model gᵀp + ½ pᵀHp inside ‖p‖_D ≤ Δ: CG stops at the model's minimiser
// (forcing term min(0.5, √‖g‖)·‖g‖), at the trust-region boundary, or follows
// a direction of negative curvature to the boundary. The radius grows or
// shrinks with the ratio of actual to predicted decrease. The policy-space
// problems are not convex in the logits far from the optimum, which is what
// the negative-curvature handling is for; near the optimum the Hessian is
// positive definite (modulo exact flat directions, see nullProjector) and the
// method converges quadratically, which is what makes a 1e-10 gradient cheap
// to reach with V^H unknowns.
func minimizeNewtonCG(name string, x0 []float64, obj hessObjective, opt SolverOptions) ([]float64, SolveReport) {
	n := len(x0)
	rep := SolveReport{Name: name, Method: "trust-region Newton-CG (exact Hessian-vector products)", Dim: n, Tolerance: opt.GradTol}
	proj, _ := obj.(nullProjector)
	x := append([]float64(nil), x0...)
	g := make([]float64, n)
	xt := make([]float64, n)
	gt := make([]float64, n)
	p := make([]float64, n)
	res := make([]float64, n)
	y := make([]float64, n)
	d := make([]float64, n)
	hd := make([]float64, n)
	hp := make([]float64, n)
	diag := make([]float64, n)
	mnorm2 := func(v []float64) float64 {
		s := 0.0
		for i, vi := range v {
			s += vi * vi * diag[i]
		}
		return s
	}
	mdot := func(u, v []float64) float64 {
		s := 0.0
		for i := range u {
			s += u[i] * v[i] * diag[i]
		}
		return s
	}
	// toBoundary returns τ ≥ 0 with ‖p + τ d‖_D = Δ.
	toBoundary := func(delta float64) float64 {
		a, b, c := mnorm2(d), 2*mdot(p, d), mnorm2(p)-delta*delta
		if a <= 0 {
			return 0
		}
		disc := math.Max(b*b-4*a*c, 0)
		return (-b + math.Sqrt(disc)) / (2 * a)
	}
	fx := obj.eval(x, g)
	delta := -1.0
	rep.Status = "iteration limit"
	for it := 0; ; it++ {
		gnorm := floats.Norm(g, math.Inf(1))
		rep.GradNorm = gnorm
		if gnorm <= opt.GradTol {
			rep.Status = "gradient threshold"
			break
		}
		if math.IsNaN(gnorm) || math.IsNaN(fx) {
			rep.Status = "NaN"
			break
		}
		if it >= opt.MaxIterations {
			break
		}
		rep.Iterations = it + 1
		// The Jacobi diagonal defines both the preconditioner and the
		// trust-region norm. Saturated coordinates (a probability pushed to
		// ~0) have vanishing curvature; without a floor the region would
		// allow huge raw steps in them at a tiny radius, and the radius
		// would collapse. Floor relative to the largest entry.
		if obj.hessDiag(x, diag) {
			floor := 0.0
			for _, v := range diag {
				floor = math.Max(floor, v)
			}
			floor = math.Max(floor*diagFloor, 1e-300)
			for i := range diag {
				if !(diag[i] > floor) {
					diag[i] = floor
				}
			}
		} else {
			for i := range diag {
				diag[i] = 1
			}
		}
		// Steihaug–Toint CG on the model.
		for i := range p {
			p[i] = 0
			res[i] = g[i]
			y[i] = res[i] / diag[i]
		}
		if proj != nil {
			proj.project(x, y)
		}
		if delta < 0 {
			delta = math.Sqrt(mnorm2(y))
		}
		for i := range d {
			d[i] = -y[i]
		}
		ry := floats.Dot(res, y)
		g2 := floats.Norm(g, 2)
		forcing := math.Min(0.5, math.Sqrt(g2)) * g2
		for k := 0; k < 2*n+50; k++ {
			obj.hessVec(x, d, hd)
			curv := floats.Dot(d, hd)
			if curv <= 0 {
				floats.AddScaled(p, toBoundary(delta), d)
				break
			}
			alpha := ry / curv
			floats.AddScaled(p, alpha, d)
			if mnorm2(p) >= delta*delta {
				floats.AddScaled(p, -alpha, d)
				floats.AddScaled(p, toBoundary(delta), d)
				break
			}
			floats.AddScaled(res, alpha, hd)
			if floats.Norm(res, 2) <= forcing {
				break
			}
			for i := range y {
				y[i] = res[i] / diag[i]
			}
			if proj != nil {
				proj.project(x, y)
			}
			ryNew := floats.Dot(res, y)
			if ryNew == 0 {
				break
			}
			for i := range d {
				d[i] = -y[i] + ryNew/ry*d[i]
			}
			ry = ryNew
		}
		// Ratio of actual to predicted decrease.
		obj.hessVec(x, p, hp)
		pred := -(floats.Dot(g, p) + 0.5*floats.Dot(p, hp))
		for i := range xt {
			xt[i] = x[i] + p[i]
		}
		ft := obj.eval(xt, gt)
		actual := fx - ft
		rho := actual / pred
		if math.Abs(actual-pred) <= 1e-13*math.Max(1, math.Abs(fx)) {
			rho = 1 // both at round-off level: trust the model
		}
		pn := math.Sqrt(mnorm2(p))
		switch {
		case !(rho >= 0.25):
			delta = 0.25 * pn
		case rho > 0.75 && pn >= 0.99*delta:
			delta *= 2
		}
		if debugNewton {
			println(name, it, fx, gnorm, rho, delta)
		}
		if rho > 1e-4 && !math.IsNaN(ft) {
			copy(x, xt)
			copy(g, gt)
			fx = ft
		} else if delta < 1e-300 || pn == 0 {
			rep.Status = "trust region collapsed"
			break
		}
	}
	rep.Converged = rep.GradNorm <= opt.GradTol
	return x, rep
}

var debugNewton = false

var diagFloor = 1e-8

func (r SolveReport) String() string {
	return fmt.Sprintf("%s: %s, %d iterations, |grad|_inf=%.2e (tol %.0e)", r.Name, r.Status, r.Iterations, r.GradNorm, r.Tolerance)
}
