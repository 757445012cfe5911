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
	"roads/exp/methods" // also registers the wired methods
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
	Method   string
	Gold     reproStat
	GoldFrac reproStat
	KL       reproStat
	Win      reproStat
	Length   reproStat
	EOS      reproStat
	Records  []*exp.Record
}

func reproRows(e *report.ExperimentReport) []reproRow {
	var rows []reproRow
	for _, row := range e.Table.Rows {
		rows = append(rows, reproRow{
			Method:   row.Label,
			Gold:     reproMetric(row.Records, "gold", "gold_ci_low", "gold_ci_high"),
			GoldFrac: reproMetric(row.Records, "gold_frac", "", ""),
			KL:       reproMetric(row.Records, "kl", "kl_ci_low", "kl_ci_high"),
			Win:      reproMetric(row.Records, "win_rate", "win_rate_ci_low", "win_rate_ci_high"),
			Length:   reproMetric(row.Records, "mean_length", "", ""),
			EOS:      reproMetric(row.Records, "eos_rate", "", ""),
			Records:  row.Records,
		})
	}
	return rows
}

// reproTable renders the rows as markdown.
func reproTable(rows []reproRow) string {
	var b strings.Builder
	b.WriteString("| method | n | gold (95% CI) | gold / reference | win rate vs reference | KL to SFT | mean length | EOS rate |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	over := map[string]bool{}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", r.Method, r.Gold.N, r.Gold, r.GoldFrac, r.Win, r.KL, r.Length, r.EOS)
		if r.Gold.CIOver != "" {
			over[r.Gold.CIOver] = true
		}
	}
	switch {
	case over["prompts"] && !over["seeds"]:
		b.WriteString("\n± is the half-width of the 95% CI over held-out test prompts (one seed).\n")
	case over["seeds"]:
		b.WriteString("\n± is the half-width of the 95% Student-t CI over seeds (over test prompts where a row has one seed).\n")
	}
	return b.String()
}

// reproVerifierArm is the arm whose cells carry the verifier panel that
// `roads repro` prints: its on-policy pairs come from the main online arm's
// final policy.
const reproVerifierArm = "online_dpo_sft"

// reproVerifiers are the panel's rows: record-metric prefix and label.
var reproVerifiers = []struct{ Prefix, Label string }{
	{"global_rm", "global RM (Bradley–Terry, sum readout)"},
	{"local_rm", "local RM (Σ log π, policy-shaped)"},
	{"dpo_rm", "DPO implicit RM (β log π/π_ref)"},
	{"length_rule", "best length-only rule"},
}

// reproVerifierStats summarises the panel metrics over the verifier arm's
// records: metric name → statistic (only metrics present).
func reproVerifierStats(rows []reproRow) (map[string]reproStat, int) {
	out := map[string]reproStat{}
	for _, r := range rows {
		if r.Method != reproVerifierArm {
			continue
		}
		for _, v := range reproVerifiers {
			for _, suffix := range []string{"accuracy", "log_likelihood", "onpolicy_accuracy", "onpolicy_log_likelihood"} {
				name := v.Prefix + "_" + suffix
				if st := reproMetric(r.Records, name, "", ""); st.HasValue {
					out[name] = st
				}
			}
		}
		return out, len(r.Records)
	}
	return out, 0
}

// reproVerifierTable renders the panel.
func reproVerifierTable(stats map[string]reproStat) string {
	if len(stats) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| verifier | accuracy, offline pairs | BT log-lik., offline | accuracy, on-policy pairs | BT log-lik., on-policy |\n|---|---|---|---|---|\n")
	for _, v := range reproVerifiers {
		cell := func(suffix string) string { return stats[v.Prefix+"_"+suffix].String() }
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", v.Label, cell("accuracy"), cell("log_likelihood"), cell("onpolicy_accuracy"), cell("onpolicy_log_likelihood"))
	}
	b.WriteString("\nOffline pairs: the training pairs' recipe on held-out test prompts; on-policy pairs: two samples per validation prompt from online DPO (SFT)'s final policy. Both ordered by the gold reward (accuracy = agreement with gold, ties ½).\n")
	return b.String()
}

// reproContrast is the main contrast (online DPO (SFT) − DPO).
const reproContrast = "online_sft_vs_dpo"

func findContrast(e *report.ExperimentReport, id string) *report.ContrastResult {
	for _, c := range e.Comparisons {
		if c.Comparison.ID == id {
			return c
		}
	}
	return nil
}

// contrastLine is the main contrast in one line.
func contrastLine(c *report.ContrastResult) string {
	s := fmt.Sprintf("main contrast %s, %s, on %s: %s → %s (%s)", c.Comparison.ID, c.Comparison.Title, c.Comparison.Metric, c.Estimate.Bracket(), c.Verdict, c.Reason)
	if c.Comparison.Margin > 0 {
		s += fmt.Sprintf("; margin of no difference ±%g", c.Comparison.Margin)
	}
	switch {
	case c.SeedsToDecide > 0:
		s += fmt.Sprintf("; at the measured mean and SD %d seeds would decide it", c.SeedsToDecide)
	case c.SeedsToDecide < 0:
		s += fmt.Sprintf("; not even %d seeds would decide it at the measured mean and SD", report.MaxSeedsToDecide)
	}
	return s
}

// sftSources counts the SFT records whose model came from the binary.
func sftSources(rows []reproRow) (embedded, trained int) {
	for _, r := range rows {
		if r.Method != "sft" {
			continue
		}
		for _, rec := range r.Records {
			if rec.Metrics["sft_embedded"] == 1 {
				embedded++
			} else {
				trained++
			}
		}
	}
	return embedded, trained
}

// reproOutput is `roads repro --json`: one object per arm keyed by method
// name, and the run's summary keys (reference_mean_length, the verifier
// panel's *_accuracy and *_log_likelihood, the main contrast and its
// verdict).
func reproOutput(e *report.ExperimentReport, rows []reproRow, preset string, seconds float64) map[string]any {
	out := map[string]any{"experiment": e.Spec.Name, "preset": preset, "seconds": seconds}
	var refLen []float64
	for _, r := range rows {
		arm := map[string]any{"n_seeds": len(r.Records)}
		for name, st := range map[string]reproStat{"gold": r.Gold, "gold_frac": r.GoldFrac, "win_rate": r.Win, "kl": r.KL, "mean_length": r.Length, "eos_rate": r.EOS} {
			if !st.HasValue {
				continue
			}
			arm[name] = st.Mean
			if st.CIOver != "" {
				arm[name+"_ci95_low"], arm[name+"_ci95_high"], arm[name+"_ci_over"] = st.Low, st.High, st.CIOver
			}
		}
		out[r.Method] = arm
		for _, rec := range r.Records {
			if v, ok := rec.Metrics["reference_mean_length"]; ok {
				refLen = append(refLen, v)
			}
		}
	}
	if len(refLen) > 0 {
		out["reference_mean_length"] = report.Interval(refLen).Mean
	}
	stats, n := reproVerifierStats(rows)
	for name, st := range stats {
		out[name] = st.Mean
	}
	out["verifier_arm"], out["verifier_n_seeds"] = reproVerifierArm, n
	if c := findContrast(e, reproContrast); c != nil {
		mc := map[string]any{"id": c.Comparison.ID, "title": c.Comparison.Title, "metric": c.Comparison.Metric,
			"n": c.Estimate.N, "verdict": c.Verdict, "reason": c.Reason, "margin": c.Comparison.Margin, "seeds_to_decide": c.SeedsToDecide}
		if c.Estimate.N > 0 {
			mc["mean"] = c.Estimate.Mean
		}
		if c.Estimate.HasCI() {
			mc["ci95_low"], mc["ci95_high"] = c.Estimate.Low, c.Estimate.High
		}
		out["main_contrast"], out["verdict"] = mc, c.Verdict
	}
	emb, tr := sftSources(rows)
	out["sft_models"] = map[string]int{"embedded": emb, "trained": tr}
	return out
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
	preset := fs.String("preset", "quick", "quick (main on 3 seeds with the embedded SFT models, a few minutes), full (every experiment at its full preset: hours on 2 cores) or smoke (CI: every stage, nothing learned)")
	smoke := fs.Bool("smoke", false, "same as --preset smoke")
	results := fs.String("results", "runs/repro/results", "results store (resumable: finished cells are kept)")
	out := fs.String("out", "runs/repro/report", "report directory (report.md, cells.csv, plots/)")
	asJSON := fs.Bool("json", false, "print the result as JSON instead of the tables: per arm (keyed by method) gold, gold_frac, win_rate, kl, mean_length with CIs and n_seeds; reference_mean_length, the verifier panel (*_accuracy, *_log_likelihood) and the main contrast's verdict")
	noProgress := fs.Bool("no_progress", false, "no progress bar on stderr")
	noEmbedded := fs.Bool("no_embedded_sft", false, "train the SFT models even where the binary embeds them for the same settings")
	jobs := fs.Int("jobs", 0, "local shard processes (see roads run --jobs); 0: one per core, except 1 for --preset smoke")
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
	if *jobs > 1 {
		specs := make([]*exp.Spec, len(names))
		for i, n := range names {
			var err error
			if specs[i], err = exp.LoadSpec(n); err != nil {
				return err
			}
		}
		plan := jobsPlan{Names: names, Specs: specs, Preset: func(*exp.Spec) string { return *preset },
			Args: append([]string{"--preset", *preset, "--results", *results}, extra...), Results: *results, Jobs: *jobs}
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
	seconds := time.Since(start).Seconds()
	if *asJSON {
		return writeIndentedJSON(stdout, reproOutput(e, rows, *preset, seconds))
	}
	fmt.Fprintf(stdout, "%s (preset %s)\n\n%s\n", e.Spec.Title, *preset, reproTable(rows))
	if stats, n := reproVerifierStats(rows); len(stats) > 0 {
		fmt.Fprintf(stdout, "Verifiers (the cells of %s, %d seeds):\n\n%s\n", reproVerifierArm, n, reproVerifierTable(stats))
	}
	if c := findContrast(e, reproContrast); c != nil {
		fmt.Fprintln(stdout, contrastLine(c))
	}
	switch emb, tr := sftSources(rows); {
	case emb > 0 && tr == 0:
		fmt.Fprintf(stdout, "SFT models: all %d restored from the binary (experiments/checkpoints; regenerate with `roads checkpoints`), not trained in this run\n", emb)
	case emb > 0:
		fmt.Fprintf(stdout, "SFT models: %d restored from the binary (experiments/checkpoints), %d trained\n", emb, tr)
	case tr > 0:
		fmt.Fprintf(stdout, "SFT models: all %d trained (none embedded for these settings)\n", tr)
	}
	fmt.Fprintln(stdout)
	for _, line := range rep.VerdictLines() {
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintf(stdout, "\nfull report: %s (%.0f s)\n", filepath.Join(*out, "report.md"), seconds)
	return nil
}
