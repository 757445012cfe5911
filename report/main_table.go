package report

import (
	"fmt"
	"io"
	"math"
	"strings"

	"roads/exp"
)

// The main table as `roads repro` prints it: one row per arm of an
// experiment's report section (mean ± 95% interval over seeds, or over the
// one record's test prompts), the verifier panel of one arm, the main
// contrast and where the SFT models came from.

// ArmStat is one cell of the repro table: a mean with its 95% interval,
// over seeds when there are at least two, else over the one record's test
// prompts (the record's own CI, e.g. gold_ci_low/gold_ci_high).
type ArmStat struct {
	Mean, Low, High float64
	N               int
	CIOver          string // "seeds" or "prompts" (n = 1), or "" without an interval
	HasValue        bool
}

func (s ArmStat) String() string {
	if !s.HasValue {
		return "–"
	}
	if s.CIOver == "" {
		return fmt.Sprintf("%.3f", s.Mean)
	}
	return fmt.Sprintf("%.3f ± %.3f", s.Mean, (s.High-s.Low)/2)
}

// SummarizeMetric summarises metric over a row's records; ciLow/ciHigh name the
// per-record CI used when there is a single record ("" for none).
func SummarizeMetric(recs []*exp.Record, metric, ciLow, ciHigh string) ArmStat {
	var xs []float64
	for _, r := range recs {
		if v, ok := r.Metrics[metric]; ok {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return ArmStat{}
	}
	st := Interval(xs)
	out := ArmStat{Mean: st.Mean, N: st.N, HasValue: true}
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

// ArmRow is one arm of the repro table.
type ArmRow struct {
	Method   string
	Gold     ArmStat
	GoldFrac ArmStat
	KL       ArmStat
	Win      ArmStat
	Length   ArmStat
	EOS      ArmStat
	Records  []*exp.Record
}

func ArmRows(e *ExperimentReport) []ArmRow {
	var rows []ArmRow
	for _, row := range e.Table.Rows {
		rows = append(rows, ArmRow{
			Method:   row.Label,
			Gold:     SummarizeMetric(row.Records, "gold", "gold_ci_low", "gold_ci_high"),
			GoldFrac: SummarizeMetric(row.Records, "gold_frac", "", ""),
			KL:       SummarizeMetric(row.Records, "kl", "kl_ci_low", "kl_ci_high"),
			Win:      SummarizeMetric(row.Records, "win_rate", "win_rate_ci_low", "win_rate_ci_high"),
			Length:   SummarizeMetric(row.Records, "mean_length", "", ""),
			EOS:      SummarizeMetric(row.Records, "eos_rate", "", ""),
			Records:  row.Records,
		})
	}
	return rows
}

// ArmTable renders the rows as markdown.
func ArmTable(rows []ArmRow) string {
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

// VerifierArm is the arm whose cells carry the verifier panel that
// `roads repro` prints: its on-policy pairs come from the main online arm's
// final policy.
const VerifierArm = "online_dpo_sft"

// verifierPanel are the panel's rows: record-metric prefix and label.
var verifierPanel = []struct{ Prefix, Label string }{
	{"global_rm", "global RM (Bradley–Terry, sum readout)"},
	{"local_rm", "local RM (Σ log π, policy-shaped)"},
	{"dpo_rm", "DPO implicit RM (β log π/π_ref)"},
	{"length_rule", "best length-only rule"},
}

// VerifierStats summarises the panel metrics over the verifier arm's
// records: metric name → statistic (only metrics present).
func VerifierStats(rows []ArmRow) (map[string]ArmStat, int) {
	out := map[string]ArmStat{}
	for _, r := range rows {
		if r.Method != VerifierArm {
			continue
		}
		for _, v := range verifierPanel {
			for _, suffix := range []string{"accuracy", "log_likelihood", "onpolicy_accuracy", "onpolicy_log_likelihood"} {
				name := v.Prefix + "_" + suffix
				if st := SummarizeMetric(r.Records, name, "", ""); st.HasValue {
					out[name] = st
				}
			}
		}
		return out, len(r.Records)
	}
	return out, 0
}

// VerifierTable renders the panel.
func VerifierTable(stats map[string]ArmStat) string {
	if len(stats) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| verifier | accuracy, offline pairs | BT log-lik., offline | accuracy, on-policy pairs | BT log-lik., on-policy |\n|---|---|---|---|---|\n")
	for _, v := range verifierPanel {
		cell := func(suffix string) string { return stats[v.Prefix+"_"+suffix].String() }
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", v.Label, cell("accuracy"), cell("log_likelihood"), cell("onpolicy_accuracy"), cell("onpolicy_log_likelihood"))
	}
	b.WriteString("\nOffline pairs: the training pairs' recipe on held-out test prompts; on-policy pairs: two samples per validation prompt from online DPO (SFT)'s final policy. Both ordered by the gold reward (accuracy = agreement with gold, ties ½).\n")
	return b.String()
}

// MainContrast is the main contrast (online DPO (SFT) − DPO).
const MainContrast = "online_sft_vs_dpo"

func FindContrast(e *ExperimentReport, id string) *ContrastResult {
	for _, c := range e.Comparisons {
		if c.Comparison.ID == id {
			return c
		}
	}
	return nil
}

// ContrastLine is the main contrast in one line.
func ContrastLine(c *ContrastResult) string {
	s := fmt.Sprintf("main contrast %s, %s, on %s: %s → %s (%s)", c.Comparison.ID, c.Comparison.Title, c.Comparison.Metric, c.Estimate.Bracket(), c.Verdict, c.Reason)
	if c.Comparison.Margin > 0 {
		s += fmt.Sprintf("; margin of no difference ±%g", c.Comparison.Margin)
	}
	switch {
	case c.SeedsToDecide > 0:
		s += fmt.Sprintf("; at the measured mean and SD %d seeds would decide it", c.SeedsToDecide)
	case c.SeedsToDecide < 0:
		s += fmt.Sprintf("; not even %d seeds would decide it at the measured mean and SD", MaxSeedsToDecide)
	}
	return s
}

// SFTSources counts the SFT records whose model came from the binary.
func SFTSources(rows []ArmRow) (embedded, trained int) {
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

// MainJSON is `roads repro --json`: one object per arm keyed by method
// name, and the run's summary keys (reference_mean_length, the verifier
// panel's *_accuracy and *_log_likelihood, the main contrast and its
// verdict).
func MainJSON(e *ExperimentReport, rows []ArmRow, preset string, seconds float64) map[string]any {
	out := map[string]any{"experiment": e.Spec.Name, "preset": preset, "seconds": seconds}
	var refLen []float64
	for _, r := range rows {
		arm := map[string]any{"n_seeds": len(r.Records)}
		for name, st := range map[string]ArmStat{"gold": r.Gold, "gold_frac": r.GoldFrac, "win_rate": r.Win, "kl": r.KL, "mean_length": r.Length, "eos_rate": r.EOS} {
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
		out["reference_mean_length"] = Interval(refLen).Mean
	}
	stats, n := VerifierStats(rows)
	for name, st := range stats {
		out[name] = st.Mean
	}
	out["verifier_arm"], out["verifier_n_seeds"] = VerifierArm, n
	if c := FindContrast(e, MainContrast); c != nil {
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
	emb, tr := SFTSources(rows)
	out["sft_models"] = map[string]int{"embedded": emb, "trained": tr}
	return out
}

// FindGroup returns the experiment's report section for preset.
func FindGroup(rep *Report, name, preset string) (*ExperimentReport, bool) {
	for _, e := range rep.Experiments {
		if e.Spec.Name == name && e.Preset == preset {
			return e, true
		}
	}
	return nil, false
}

// WriteMainText is `roads repro`'s text output for the experiment group e of
// rep: its arm table with CIs over seeds, the verifier panel, the main
// contrast's line, where the SFT models came from, and the hypothesis
// verdict lines.
func WriteMainText(stdout io.Writer, rep *Report, e *ExperimentReport, preset string) {
	rows := ArmRows(e)
	fmt.Fprintf(stdout, "%s (preset %s)\n\n%s\n", e.Spec.Title, preset, ArmTable(rows))
	if stats, n := VerifierStats(rows); len(stats) > 0 {
		fmt.Fprintf(stdout, "Verifiers (the cells of %s, %d seeds):\n\n%s\n", VerifierArm, n, VerifierTable(stats))
	}
	if c := FindContrast(e, MainContrast); c != nil {
		fmt.Fprintln(stdout, ContrastLine(c))
	}
	switch emb, tr := SFTSources(rows); {
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
}
