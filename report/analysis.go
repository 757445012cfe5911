package report

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"roads/exp"
)

// Report is everything report.md shows, computed from the records.
type Report struct {
	Experiments []*ExperimentReport
	Hypotheses  []HypothesisVerdict
	// Revisions lists the code versions (VCS revisions, "unknown" when
	// unstamped) that produced the records.
	Revisions []string
}

// ExperimentReport is one experiment under one preset.
type ExperimentReport struct {
	Spec   *exp.Spec
	Preset string
	// Primary marks the preset group whose comparisons count towards the
	// hypothesis verdicts (full, then none, quick, smoke, then others).
	Primary bool
	// Records are the records of the current grid; Stale are records of
	// this preset whose configuration is no longer in the spec's grid (left
	// out of tables and comparisons, listed in cells.csv).
	Records     []*exp.Record
	Stale       []*exp.Record
	Table       *Table
	Comparisons []*ContrastResult
	Plots       []PlotResult
}

// Title is "name" or "name (preset)".
func (e *ExperimentReport) Title() string {
	if e.Preset == "" {
		return e.Spec.Name
	}
	return e.Spec.Name + " (preset " + e.Preset + ")"
}

// Table is an experiment's main table: one row per combination of the row
// axes, metrics as mean ± 95% CI over seeds.
type Table struct {
	RowAxes []string
	Metrics []string
	// Missing lists requested metrics no record has.
	Missing []string
	Rows    []*Row
}

// Row is one line of a table.
type Row struct {
	Values  []any
	Label   string
	Stats   map[string]Stat
	Records []*exp.Record // sorted by seed
}

// ContrastResult is a comparison evaluated on the records.
type ContrastResult struct {
	Experiment string
	Preset     string
	Comparison exp.Comparison
	Estimate   Stat
	// Units are the pairing keys (the values of the axes the contrast does
	// not fix, e.g. the seed) with their contrast values.
	Units      []string
	Values     []float64
	Incomplete int // pairing keys with an arm (or its metric) missing
	Verdict    string
	Reason     string
	// SeedsToDecide is how many paired units an inconclusive verdict would
	// need at the measured mean and SD (0: decided or not estimable; -1: more
	// than MaxSeedsToDecide).
	SeedsToDecide int
	// AgreesWithPaper is nil when there is nothing to agree with (no paper
	// outcome, or an inconclusive verdict).
	AgreesWithPaper *bool
}

// PlotResult is a figure written (or why it was not).
type PlotResult struct {
	Spec exp.PlotSpec
	Path string // relative to the report directory; "" if not written
	Note string
}

// presetRank orders preset groups: the first one is primary.
func presetRank(p string) int {
	switch p {
	case "full":
		return 0
	case "":
		return 1
	case "quick":
		return 2
	case "smoke":
		return 3
	}
	return 4
}

// Build analyses loaded results.
func Build(results []exp.ExperimentResults) (*Report, error) {
	rep := &Report{}
	revs := map[string]bool{}
	byHyp := map[string][]*ContrastResult{}
	for _, er := range results {
		groups := map[string][]*exp.Record{}
		for _, r := range er.Records {
			groups[r.Preset] = append(groups[r.Preset], r)
			rev := r.Version.Revision
			if rev == "" {
				rev = "unknown"
			} else if r.Version.Modified {
				rev += " (modified)"
			}
			revs[rev] = true
		}
		presets := make([]string, 0, len(groups))
		for p := range groups {
			presets = append(presets, p)
		}
		sort.Slice(presets, func(i, j int) bool {
			ri, rj := presetRank(presets[i]), presetRank(presets[j])
			if ri != rj {
				return ri < rj
			}
			return presets[i] < presets[j]
		})
		for i, p := range presets {
			e, err := analyse(er.Spec, p, groups[p])
			if err != nil {
				return nil, err
			}
			e.Primary = i == 0
			rep.Experiments = append(rep.Experiments, e)
			if e.Primary {
				for _, c := range e.Comparisons {
					if h := c.Comparison.Hypothesis; h != "" {
						byHyp[h] = append(byHyp[h], c)
					}
				}
			}
		}
	}
	sort.SliceStable(rep.Experiments, func(i, j int) bool {
		a, b := rep.Experiments[i], rep.Experiments[j]
		if a.Spec.Name != b.Spec.Name {
			return experimentRank(a.Spec.Name) < experimentRank(b.Spec.Name)
		}
		return false
	})
	for _, h := range Hypotheses {
		rep.Hypotheses = append(rep.Hypotheses, combine(h, byHyp[h.ID]))
	}
	for r := range revs {
		rep.Revisions = append(rep.Revisions, r)
	}
	sort.Strings(rep.Revisions)
	return rep, nil
}

// experimentRank puts main first, then the rest by name.
func experimentRank(name string) string {
	if name == "main" {
		return ""
	}
	return name
}

// Experiment returns the primary report of the named experiment.
func (r *Report) Experiment(name string) (*ExperimentReport, bool) {
	for _, e := range r.Experiments {
		if e.Spec.Name == name && e.Primary {
			return e, true
		}
	}
	return nil, false
}

// Summary maps each row label of an experiment's table to the metric's
// statistic (for `roads repro --json`: method → mean, CI, n).
func (r *Report) Summary(experiment, metric string) (map[string]Stat, bool) {
	e, ok := r.Experiment(experiment)
	if !ok {
		return nil, false
	}
	out := map[string]Stat{}
	for _, row := range e.Table.Rows {
		if s, ok := row.Stats[metric]; ok {
			out[row.Label] = s
		}
	}
	return out, true
}

func analyse(spec *exp.Spec, preset string, recs []*exp.Record) (*ExperimentReport, error) {
	e := &ExperimentReport{Spec: spec, Preset: preset}
	// Keep the records of the spec's current grid under this preset.
	if cells, err := spec.Cells(preset); err == nil {
		grid := map[string]bool{}
		for _, c := range cells {
			grid[c.ID] = true
		}
		for _, r := range recs {
			if grid[r.ID] {
				e.Records = append(e.Records, r)
			} else {
				e.Stale = append(e.Stale, r)
			}
		}
	} else {
		e.Records = recs // the stored spec lacks this preset: nothing to compare with
	}
	sort.SliceStable(e.Records, func(i, j int) bool { return e.Records[i].Seed < e.Records[j].Seed })
	axes, err := spec.ResolvedAxes(preset)
	if err != nil {
		axes = spec.Axes
	}
	e.Table = buildTable(spec, axes, e.Records)
	for _, c := range spec.Comparisons {
		cr := evaluate(spec, preset, c, e.Records)
		e.Comparisons = append(e.Comparisons, cr)
	}
	return e, nil
}

// valueOrder sorts axis values by their position in the axis (values not
// in it last, by text).
func valueOrder(axes exp.Axes, name string, a, b any) bool {
	idx := func(v any) int {
		if ax, ok := axes.Find(name); ok {
			for i, x := range ax.Values {
				if exp.SameValue(x, v) {
					return i
				}
			}
		}
		return math.MaxInt
	}
	ia, ib := idx(a), idx(b)
	if ia != ib {
		return ia < ib
	}
	return exp.ValueString(a) < exp.ValueString(b)
}

func buildTable(spec *exp.Spec, axes exp.Axes, recs []*exp.Record) *Table {
	t := &Table{}
	if spec.Table != nil && len(spec.Table.Rows) > 0 {
		t.RowAxes = spec.Table.Rows
	} else {
		for _, ax := range spec.Axes {
			if ax.Name != "seed" {
				t.RowAxes = append(t.RowAxes, ax.Name)
			}
		}
	}
	want := []string{"gold", "win_rate", "kl"}
	if spec.Table != nil && len(spec.Table.Metrics) > 0 {
		want = spec.Table.Metrics
	}
	for _, m := range want {
		found := false
		for _, r := range recs {
			if _, ok := r.Metrics[m]; ok {
				found = true
				break
			}
		}
		if found {
			t.Metrics = append(t.Metrics, m)
		} else {
			t.Missing = append(t.Missing, m)
		}
	}
	rows := map[string]*Row{}
	for _, r := range recs {
		vals := make([]any, len(t.RowAxes))
		for i, a := range t.RowAxes {
			vals[i], _ = r.Axis(a)
		}
		k := key(vals)
		row, ok := rows[k]
		if !ok {
			row = &Row{Values: vals, Stats: map[string]Stat{}}
			rows[k] = row
			t.Rows = append(t.Rows, row)
		}
		row.Records = append(row.Records, r)
	}
	sort.SliceStable(t.Rows, func(i, j int) bool {
		for k, a := range t.RowAxes {
			x, y := t.Rows[i].Values[k], t.Rows[j].Values[k]
			if !exp.SameValue(x, y) {
				return valueOrder(axes, a, x, y)
			}
		}
		return false
	})
	// Label rows by the row axes that vary (all of them if none does).
	varies := make([]bool, len(t.RowAxes))
	anyVaries := false
	for k := range t.RowAxes {
		for _, row := range t.Rows {
			if !exp.SameValue(row.Values[k], t.Rows[0].Values[k]) {
				varies[k], anyVaries = true, true
			}
		}
	}
	for _, row := range t.Rows {
		var parts []string
		for k := range t.RowAxes {
			if varies[k] || !anyVaries {
				parts = append(parts, exp.ValueString(row.Values[k]))
			}
		}
		row.Label = strings.Join(parts, " / ")
		for _, m := range t.Metrics {
			var xs []float64
			for _, r := range row.Records {
				if v, ok := r.Metrics[m]; ok {
					xs = append(xs, v)
				}
			}
			if len(xs) > 0 {
				row.Stats[m] = Interval(xs)
			}
		}
	}
	return t
}

func key(vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = exp.ValueString(v)
	}
	return strings.Join(parts, "\x00")
}

// resolveSelector replaces "$max"/"$min" by the largest/smallest numeric
// value the records have on that axis.
func resolveSelector(sel exp.Selector, recs []*exp.Record) (exp.Selector, error) {
	out := exp.Selector{}
	for k, v := range sel {
		if v != "$max" && v != "$min" {
			out[k] = v
			continue
		}
		best := math.NaN()
		for _, r := range recs {
			x, ok := r.Axis(k)
			f, isNum := x.(float64)
			if !ok || !isNum {
				continue
			}
			if math.IsNaN(best) || (v == "$max" && f > best) || (v == "$min" && f < best) {
				best = f
			}
		}
		if math.IsNaN(best) {
			return nil, fmt.Errorf("%s: %s: no record has a numeric value on axis %s", k, v, k)
		}
		out[k] = best
	}
	return out, nil
}

func matches(r *exp.Record, sel exp.Selector) bool {
	for k, v := range sel {
		x, ok := r.Axis(k)
		if !ok || !exp.SameValue(x, v) {
			return false
		}
	}
	return true
}

// evaluate computes a comparison's contrast over pairing units: every
// combination of the values of the axes the contrast leaves free.
func evaluate(spec *exp.Spec, preset string, c exp.Comparison, recs []*exp.Record) *ContrastResult {
	cr := &ContrastResult{Experiment: spec.Name, Preset: preset, Comparison: c}
	fail := func(why string) *ContrastResult {
		cr.Estimate = Interval(nil)
		cr.Verdict, cr.Reason = exp.Inconclusive, why
		return cr
	}
	where, err := resolveSelector(c.Where, recs)
	if err != nil {
		return fail(err.Error())
	}
	terms := c.Contrast()
	sels := make([]exp.Selector, len(terms))
	fixed := map[string]bool{}
	for k := range c.Where {
		fixed[k] = true
	}
	for i, t := range terms {
		if sels[i], err = resolveSelector(t.Where, recs); err != nil {
			return fail(err.Error())
		}
		for k := range t.Where {
			fixed[k] = true
		}
	}
	var free []string
	for _, ax := range spec.Axes {
		if !fixed[ax.Name] {
			free = append(free, ax.Name)
		}
	}
	// unit → term → value
	type cellVals struct {
		v   []float64
		has []bool
	}
	units := map[string]*cellVals{}
	var order []string
	for _, r := range recs {
		if !matches(r, where) {
			continue
		}
		vals := make([]any, len(free))
		for i, a := range free {
			vals[i], _ = r.Axis(a)
		}
		u := unitLabel(free, vals)
		for i, sel := range sels {
			if !matches(r, sel) {
				continue
			}
			cv, ok := units[u]
			if !ok {
				cv = &cellVals{v: make([]float64, len(terms)), has: make([]bool, len(terms))}
				units[u] = cv
				order = append(order, u)
			}
			if m, ok := r.Metrics[c.Metric]; ok {
				cv.v[i], cv.has[i] = m, true
			}
		}
	}
	sort.Strings(order)
	for _, u := range order {
		cv := units[u]
		sum, complete := 0.0, true
		for i, t := range terms {
			if !cv.has[i] {
				complete = false
				break
			}
			sum += t.Coef * cv.v[i]
		}
		if !complete {
			cr.Incomplete++
			continue
		}
		cr.Units = append(cr.Units, u)
		cr.Values = append(cr.Values, sum)
	}
	cr.Estimate = Interval(cr.Values)
	if len(cr.Values) == 0 {
		return fail(fmt.Sprintf("no complete pairs: no unit has every arm with metric %q", c.Metric))
	}
	cr.Verdict, cr.Reason = Judge(c.Expect, c.Margin, cr.Estimate)
	cr.SeedsToDecide = SeedsToDecide(c.Expect, c.Margin, cr.Estimate)
	if c.PaperOutcome != "" && cr.Verdict != exp.Inconclusive {
		agree := cr.Verdict == c.PaperOutcome
		cr.AgreesWithPaper = &agree
	}
	return cr
}

func unitLabel(names []string, vals []any) string {
	parts := make([]string, len(names))
	for i := range names {
		parts[i] = names[i] + "=" + exp.ValueString(vals[i])
	}
	return strings.Join(parts, " ")
}
