package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"roads/exp"
	"roads/exp/methods" // also registers the wired methods
	"roads/internal/cliflag"
	"roads/report"
)

func init() {
	register("repro", "reproduce the paper's main table (quick preset by default; --preset full runs every experiment) and write the report", runRepro)
}

// reproExperiment is the experiment whose table `roads repro` prints.
const reproExperiment = "main"

func runRepro(args []string, stdout io.Writer) error {
	fs := cliflag.New("repro")
	preset := fs.String("preset", "quick", "quick (main on 3 seeds with the embedded SFT models, a few minutes), full (every experiment at its full preset: hours on 2 cores) or smoke (CI: every stage, nothing learned)")
	smoke := fs.Bool("smoke", false, "same as --preset smoke")
	results := fs.String("results", "runs/repro/results", "results store (resumable: finished cells are kept)")
	out := fs.String("out", "runs/repro/report", "report directory (report.md, cells.csv, plots/)")
	asJSON := fs.Bool("json", false, "print the result as JSON instead of the tables: per arm (keyed by method) gold, gold_frac, win_rate, kl, mean_length with CIs and n_seeds; reference_mean_length, the verifier panel (*_accuracy, *_log_likelihood) and the main contrast's verdict")
	noProgress := fs.Bool("no_progress", false, "no progress bar on stderr")
	noEmbedded := fs.Bool("no_embedded_sft", false, "train the SFT models even where the binary embeds them for the same settings")
	jobs := fs.Int("jobs", 0, "local shard processes (see roads run --jobs); 0: one per core, except 1 for --preset smoke")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags: --preset, --smoke, --json, --results, --out)", fs.Arg(0))
	}
	if *smoke {
		*preset = "smoke"
	}
	names := []string{reproExperiment}
	switch *preset {
	case "quick", "smoke":
	case "full":
		names = exp.EmbeddedNames()
	default:
		return fmt.Errorf("--preset %q: want quick, full or smoke", *preset)
	}
	ctx, stop := signalContext()
	defer stop()
	var extra []string
	if *noEmbedded {
		ctx, extra = methods.WithoutEmbedded(ctx), []string{"--no_embedded_sft"}
	}
	var progress io.Writer = os.Stderr
	if *noProgress || *asJSON {
		progress = nil
	}
	start := time.Now()
	if *jobs < 0 {
		return fmt.Errorf("--jobs %d: want ≥ 0", *jobs)
	}
	if *jobs == 0 {
		*jobs = 1
		if *preset != "smoke" { // small models use cores better as shard processes than as threads
			*jobs = runtime.NumCPU()
		}
	}
	specs := make([]*exp.Spec, len(names))
	for i, n := range names {
		var err error
		if specs[i], err = exp.LoadSpec(n); err != nil {
			return err
		}
	}
	sweep := exp.Sweep{Specs: specs, Preset: func(*exp.Spec) string { return *preset }, Jobs: *jobs,
		Options: exp.Options{Results: *results, Progress: progress, Log: slog.Default()},
		Args:    append([]string{"--preset", *preset, "--results", *results}, extra...)}
	if *jobs > 1 {
		var err error
		if sweep.Command, err = selfRun(names); err != nil {
			return fmt.Errorf("repro: %w", err)
		}
	}
	var status io.Writer = os.Stderr
	if *asJSON {
		status = nil
	}
	if _, err := sweep.Run(ctx, status); err != nil {
		return fmt.Errorf("repro: %w", err)
	}
	rep, err := report.Generate(*results, *out)
	if err != nil {
		return err
	}
	e, ok := report.FindGroup(rep, reproExperiment, *preset)
	if !ok {
		return fmt.Errorf("repro: no %s records of preset %s in %s", reproExperiment, *preset, *results)
	}
	seconds := time.Since(start).Seconds()
	if *asJSON {
		return writeIndentedJSON(stdout, report.MainJSON(e, report.ArmRows(e), *preset, seconds))
	}
	report.WriteMainText(stdout, rep, e, *preset)
	fmt.Fprintf(stdout, "\nfull report: %s (%.0f s)\n", filepath.Join(*out, "report.md"), seconds)
	return nil
}
