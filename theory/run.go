package theory

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// RunConfig is `roads theory`'s configuration: the exact checks' settings
// and the statistical experiment's. The CLI's flags come from its tags.
type RunConfig struct {
	Seed          uint64  `json:"seed" help:"random seed (datasets, reference policies, true rewards)"`
	GradTol       float64 `json:"grad_tol" help:"infinity-norm gradient a solve must reach to count as converged (exact checks)"`
	MaxIterations int     `json:"max_iterations" help:"Newton iterations allowed per solve"`
	Large         bool    `json:"large" help:"include the V=10, H=5 (10^5 trajectories) case in the Thm 2.2 check (about 15 s of the run)"`
	Stat          bool    `json:"stat" help:"run the statistical experiment (Thm 3.1 consequence) and write its plots"`
	Ns            []int   `json:"ns" help:"comma-separated numbers of preference pairs for the statistical experiment"`
	Datasets      int     `json:"datasets" help:"datasets per N in the statistical experiment"`
	Threads       int     `json:"threads" help:"worker goroutines for the statistical experiment (results do not depend on it)"`
	V             int     `json:"stat_vocab" help:"vocabulary size V of the statistical experiment"`
	H             int     `json:"stat_horizon" help:"horizon H of the statistical experiment"`
	Beta          float64 `json:"beta" help:"KL strength beta of the statistical experiment (both roads and the value)"`
	Alpha         float64 `json:"alpha" help:"prior strength alpha of the statistical experiment (both roads)"`
	K             int     `json:"stat_k" help:"non-zero weights of the true reward in the statistical experiment"`
	StatGradTol   float64 `json:"stat_grad_tol" help:"gradient tolerance of the statistical experiment's solves"`
}

// DefaultRunConfig is DefaultOptions and DefaultStatConfig as one RunConfig.
func DefaultRunConfig() RunConfig {
	o, s := DefaultOptions(), DefaultStatConfig()
	return RunConfig{Seed: o.Seed, GradTol: o.GradTol, MaxIterations: o.MaxIterations, Large: o.Large, Stat: true,
		Ns: s.Ns, Datasets: s.Datasets, Threads: s.Threads, V: s.V, H: s.H, Beta: s.Beta, Alpha: s.Alpha, K: s.K,
		StatGradTol: s.Solver.GradTol}
}

// Options are the exact checks' settings.
func (c RunConfig) Options() Options {
	return Options{Seed: c.Seed, GradTol: c.GradTol, MaxIterations: c.MaxIterations, Large: c.Large}
}

// StatConfig is the statistical experiment's configuration (the seed and
// the Newton iteration cap shared with the exact checks).
func (c RunConfig) StatConfig() StatConfig {
	s := DefaultStatConfig()
	s.Ns, s.Datasets, s.Threads = c.Ns, c.Datasets, c.Threads
	s.V, s.H, s.Beta, s.Alpha, s.K, s.Seed = c.V, c.H, c.Beta, c.Alpha, c.K, c.Seed
	s.Solver = SolverOptions{GradTol: c.StatGradTol, MaxIterations: c.MaxIterations}
	return s
}

// Validate refuses settings no solve could run with, naming them, before
// any time is spent on the checks.
func (c RunConfig) Validate() error {
	switch {
	case !(c.GradTol > 0) || !(c.StatGradTol > 0):
		return errors.New("grad_tol and stat_grad_tol must be positive")
	case c.MaxIterations < 1:
		return fmt.Errorf("max_iterations=%d must be at least 1", c.MaxIterations)
	case !(c.Beta > 0) || !(c.Alpha > 0):
		return fmt.Errorf("beta=%g and alpha=%g must be positive (alpha > 0 keeps the optima unique and finite)", c.Beta, c.Alpha)
	}
	if !c.Stat {
		return nil
	}
	if len(c.Ns) == 0 {
		return errors.New("ns: no numbers of preference pairs")
	}
	if _, err := NewTree(c.V, c.H); err != nil {
		return fmt.Errorf("stat_vocab/stat_horizon: %w", err)
	}
	return nil
}

// Run validates c, runs the exact checks and, if c.Stat, the statistical
// experiment, writing its plots into plotDir unless it is empty.
func Run(c RunConfig, plotDir string) (*Report, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	checks, err := RunChecks(c.Options())
	if err != nil {
		return nil, err
	}
	slog.Info("theory: exact checks done", "elapsed", time.Since(start).Round(time.Millisecond))
	report := &Report{Seed: c.Seed, Checks: checks}
	if !c.Stat {
		return report, nil
	}
	res, err := RunStat(c.StatConfig())
	if err != nil {
		return nil, err
	}
	report.Stat = res
	report.Checks = append(report.Checks, res.IdentityCheck())
	slog.Info("theory: statistical experiment done", "elapsed", time.Since(start).Round(time.Millisecond))
	if plotDir != "" {
		if report.Plots, err = res.WritePlots(plotDir); err != nil {
			return nil, err
		}
	}
	return report, nil
}
