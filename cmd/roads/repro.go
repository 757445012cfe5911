package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"roads/exp"
	_ "roads/exp/methods" // registers the wired methods
	"roads/report"
)

func init() {
	register("repro", "reproduce the paper's main table (quick preset by default; --preset full runs every experiment) and write the report", runRepro)
}

// reproExperiment is the experiment whose table `roads repro` prints.
const reproExperiment = "main"

// reproStat is one cell of the repro table: a mean with its 95% interval,
// over seeds when there are at least two, else over the one record's test
// prompts (the record's own CI, e.g. gold_ci_low/gold_ci_high).
type reproStat struct {
	Mean, Low, High float64
	N               int
	CIOver          string // "seeds" or "prompts" (n = 1), or "" without an interval
	HasValue        bool
}

// reproJSON is a reproStat as `roads repro --json` prints it.
type reproJSON struct {
	Mean   float64  `json:"mean"`
	Low    *float64 `json:"ci95_low,omitempty"`
	High   *float64 `json:"ci95_high,omitempty"`
	N      int      `json:"n"`
	CIOver string   `json:"ci_over,omitempty"` // seeds, or prompts when n = 1
}

func (s reproStat) json() reproJSON {
	j := reproJSON{Mean: s.Mean, N: s.N, CIOver: s.CIOver}
	if s.CIOver != "" {
		lo, hi := s.Low, s.High
		j.Low, j.High = &lo, &hi
	}
	return j
}

func (s reproStat) String() string {
	if !s.HasValue {
		return "–"
	}
	if s.CIOver == "" {
		return fmt.Sprintf("%.3f", s.Mean)
	}
	return fmt.Sprintf("%.3f ± %.3f", s.Mean, (s.High-s.Low)/2)
}

// reproMetric summarises metric over a row's records; ciLow/ciHigh name the
// per-record CI used when there is a single record ("" for none).
func reproMetric(recs []*exp.Record, metric, ciLow, ciHigh string) reproStat {
	var xs []float64
	for _, r := range recs {
		if v, ok := r.Metrics[metric]; ok {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return reproStat{}
	}
	st := report.Interval(xs)
	out := reproStat{Mean: st.Mean, N: st.N, HasValue: true}
	switch {
	case st.HasCI():
		out.Low, out.High, out.CIOver = st.Low, st.High, "seeds"
	case len(recs) == 1 && ciLow != "":
		lo, okL := recs[0].Metrics[ciLow]
		hi, okH := recs[0].Metrics[ciHigh]
		if okL && okH {
			out.Low, out.High, out.CIOver = lo, hi, "prompts"
		}
	}
	if out.CIOver == "" {
		out.Low, out.High = math.NaN(), math.NaN()
	}
	return out
}

// reproRow is one arm of the repro table.
type reproRow struct {
	Method string
	Gold   reproStat
	KL     reproStat
	Win    reproStat
	Length reproStat
	RMAcc  reproStat // verifier's held-out accuracy (online arms)
	Margin reproStat // pair_gold_margin
}

func reproRows(e *report.ExperimentReport) []reproRow {
	var rows []reproRow
	for _, row := range e.Table.Rows {
		rows = append(rows, reproRow{
			Method: row.Label,
			Gold:   reproMetric(row.Records, "gold", "gold_ci_low", "gold_ci_high"),
			KL:     reproMetric(row.Records, "kl", "kl_ci_low", "kl_ci_high"),
			Win:    reproMetric(row.Records, "win_rate", "win_rate_ci_low", "win_rate_ci_high"),
			Length: reproMetric(row.Records, "mean_length", "", ""),
			RMAcc:  reproMetric(row.Records, "rm_val_accuracy", "", ""),
			Margin: reproMetric(row.Records, "pair_gold_margin", "", ""),
		})
	}
	return rows
}

// reproTable renders the rows as markdown.
func reproTable(rows []reproRow) string {
	var b strings.Builder
	b.WriteString("| method | gold (95% CI) | n | KL to SFT | win rate | mean length | RM val. accuracy | pair gold margin |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	over := map[string]bool{}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s |\n", r.Method, r.Gold, r.Gold.N, r.KL, r.Win, r.Length, r.RMAcc, r.Margin)
		if r.Gold.CIOver != "" {
			over[r.Gold.CIOver] = true
		}
	}
	switch {
	case over["prompts"] && !over["seeds"]:
		b.WriteString("\n± is the half-width of the 95% CI over held-out test prompts (one seed); run --preset full for CIs over seeds.\n")
	case over["seeds"]:
		b.WriteString("\n± is the half-width of the 95% Student-t CI over seeds (over test prompts where a row has one seed).\n")
	}
	return b.String()
}

// findGroup returns the experiment's report section for preset.
func findGroup(rep *report.Report, name, preset string) (*report.ExperimentReport, bool) {
	for _, e := range rep.Experiments {
		if e.Spec.Name == name && e.Preset == preset {
			return e, true
		}
	}
	return nil, false
}

func runRepro(args []string, stdout io.Writer) error {
	fs := newFlags("repro")
	preset := fs.String("preset", "quick", "quick (one seed, minutes), full (every experiment, ≥3 seeds) or smoke (CI: every stage, nothing learned)")
	smoke := fs.Bool("smoke", false, "same as --preset smoke")
	results := fs.String("results", "runs/repro/results", "results store (resumable: finished cells are kept)")
	out := fs.String("out", "runs/repro/report", "report directory (report.md, cells.csv, plots/)")
	asJSON := fs.Bool("json", false, "print method → gold {mean, ci95_low, ci95_high, n} as JSON instead of the table")
	noProgress := fs.Bool("no_progress", false, "no progress bar on stderr")
	jobs := fs.Int("jobs", 0, "local shard processes (see roads run --jobs); 0: one per core for --preset full, else 1")
	if err := fs.Parse(args); err != nil {
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
		if *preset == "full" {
			*jobs = runtime.NumCPU()
		}
	}
	if *jobs > 1 {
		specs := make([]*exp.Spec, len(names))
		for i, n := range names {
			var err error
			if specs[i], err = exp.LoadSpec(n); err != nil {
				return err
			}
		}
		plan := jobsPlan{Names: names, Specs: specs, Preset: func(*exp.Spec) string { return *preset },
			Args: []string{"--preset", *preset, "--results", *results}, Results: *results, Jobs: *jobs}
		if err := runJobs(ctx, plan, progress); err != nil {
			return fmt.Errorf("repro: %w", err)
		}
		if !*asJSON {
			printJobsStatus(os.Stderr, plan)
		}
		names = nil // every cell has run; the report below reads the store
	}
	for _, name := range names {
		spec, err := exp.LoadSpec(name)
		if err != nil {
			return err
		}
		sum, err := exp.Run(ctx, spec, exp.Options{Preset: *preset, Results: *results, Progress: progress, Log: slog.Default()})
		if err != nil {
			return fmt.Errorf("repro: %w", err)
		}
		if !*asJSON {
			printSummary(os.Stderr, sum, *results)
		}
	}
	rep, err := report.Generate(*results, *out)
	if err != nil {
		return err
	}
	e, ok := findGroup(rep, reproExperiment, *preset)
	if !ok {
		return fmt.Errorf("repro: no %s records of preset %s in %s", reproExperiment, *preset, *results)
	}
	rows := reproRows(e)
	if *asJSON {
		res := map[string]reproJSON{}
		for _, r := range rows {
			if r.Gold.HasValue {
				res[r.Method] = r.Gold.json()
			}
		}
		return writeIndentedJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "%s (preset %s)\n\n%s\n", e.Spec.Title, *preset, reproTable(rows))
	for _, line := range rep.VerdictLines() {
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintf(stdout, "\nfull report: %s (%.0f s)\n", filepath.Join(*out, "report.md"), time.Since(start).Seconds())
	return nil
}
