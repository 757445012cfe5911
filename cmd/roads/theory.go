package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"roads/internal/cliflag"
	"strconv"
	"strings"
	"time"

	"roads/theory"
)

func init() {
	register("theory", "exact numerical checks of the paper's theorems on enumerated token MDPs", runTheory)
}

func runTheory(args []string, stdout io.Writer) error {
	fs := cliflag.New("theory")
	def := theory.DefaultOptions()
	stat := theory.DefaultStatConfig()
	var (
		seed     = fs.Uint64("seed", def.Seed, "random seed (datasets, reference policies, true rewards)")
		out      = fs.String("out", "runs/theory", "directory for the plots")
		jsonOut  = fs.Bool("json", false, "print the report as JSON instead of a table")
		strict   = fs.Bool("strict", false, "exit non-zero when any check does not pass")
		gradTol  = fs.Float64("grad_tol", def.GradTol, "infinity-norm gradient a solve must reach to count as converged (exact checks)")
		maxIter  = fs.Int("max_iterations", def.MaxIterations, "Newton iterations allowed per solve")
		large    = fs.Bool("large", true, "include the V=10, H=5 (10^5 trajectories) case in the Thm 2.2 check (about 15 s of the run)")
		runStat  = fs.Bool("stat", true, "run the statistical experiment (Thm 3.1 consequence) and write its plots")
		nsFlag   = fs.String("ns", intsString(stat.Ns), "comma-separated numbers of preference pairs for the statistical experiment")
		datasets = fs.Int("datasets", stat.Datasets, "datasets per N in the statistical experiment")
		threads  = fs.Int("threads", stat.Threads, "worker goroutines for the statistical experiment (results do not depend on it)")
		vocab    = fs.Int("stat_vocab", stat.V, "vocabulary size V of the statistical experiment")
		horizon  = fs.Int("stat_horizon", stat.H, "horizon H of the statistical experiment")
		beta     = fs.Float64("beta", stat.Beta, "KL strength beta of the statistical experiment (both roads and the value)")
		alpha    = fs.Float64("alpha", stat.Alpha, "prior strength alpha of the statistical experiment (both roads)")
		sparsity = fs.Int("stat_k", stat.K, "non-zero weights of the true reward in the statistical experiment")
		statTol  = fs.Float64("stat_grad_tol", stat.Solver.GradTol, "gradient tolerance of the statistical experiment's solves")
	)
	fs.StringVar(out, "output_dir", *out, "alias of --out")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *gradTol <= 0 || *statTol <= 0 {
		return fmt.Errorf("--grad_tol and --stat_grad_tol must be positive")
	}
	if *maxIter < 1 {
		return fmt.Errorf("--max_iterations=%d must be at least 1", *maxIter)
	}
	if *beta <= 0 || *alpha <= 0 {
		return fmt.Errorf("--beta=%g and --alpha=%g must be positive (alpha > 0 keeps the optima unique and finite)", *beta, *alpha)
	}
	if *runStat {
		ns, err := parseInts(*nsFlag)
		if err != nil {
			return fmt.Errorf("--ns: %w", err)
		}
		stat.Ns, stat.Datasets, stat.Threads = ns, *datasets, *threads
		stat.V, stat.H, stat.Beta, stat.Alpha, stat.K = *vocab, *horizon, *beta, *alpha, *sparsity
		stat.Seed = *seed
		stat.Solver = theory.SolverOptions{GradTol: *statTol, MaxIterations: *maxIter}
		// Fail on a bad experiment size before spending time on the checks.
		if _, err := theory.NewTree(stat.V, stat.H); err != nil {
			return fmt.Errorf("--stat_vocab/--stat_horizon: %w", err)
		}
	}
	start := time.Now()
	opt := theory.Options{Seed: *seed, GradTol: *gradTol, MaxIterations: *maxIter, Large: *large}
	checks, err := theory.RunChecks(opt)
	if err != nil {
		return err
	}
	slog.Info("theory: exact checks done", "elapsed", time.Since(start).Round(time.Millisecond))
	report := &theory.Report{Seed: *seed, Checks: checks}
	if *runStat {
		res, err := theory.RunStat(stat)
		if err != nil {
			return err
		}
		report.Stat = res
		report.Checks = append(report.Checks, res.IdentityCheck())
		slog.Info("theory: statistical experiment done", "elapsed", time.Since(start).Round(time.Millisecond))
		if *out != "" {
			paths, err := res.WritePlots(*out)
			if err != nil {
				return err
			}
			report.Plots = paths
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return fmt.Errorf("theory: encode JSON: %w", err)
		}
	} else if err := report.WriteTable(stdout); err != nil {
		return err
	}
	slog.Info("theory: done", "elapsed", time.Since(start).Round(time.Millisecond))
	if failed := report.Failed(); *strict && len(failed) > 0 {
		return fmt.Errorf("--strict: %d check(s) did not pass: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

func intsString(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no values in %q", s)
	}
	return out, nil
}
