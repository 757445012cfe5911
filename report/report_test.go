package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roads/exp"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestTQuantile(t *testing.T) {
	// Standard table values of t_{0.975, df}.
	for _, c := range []struct {
		df   int
		want float64
	}{{1, 12.706}, {2, 4.303}, {3, 3.182}, {4, 2.776}, {9, 2.262}, {30, 2.042}} {
		if got := TQuantile(0.975, c.df); !near(got, c.want, 5e-4) {
			t.Errorf("t(0.975, %d) = %.4f, want %.3f", c.df, got, c.want)
		}
	}
}

func TestInterval(t *testing.T) {
	s := Interval([]float64{1, 2, 3})
	// mean 2, sd 1, half width t(0.975,2)/√3 = 4.3026527/1.7320508 = 2.4841377
	if s.N != 3 || s.Mean != 2 || !near(s.SD, 1, 1e-12) || !near(s.Low, 2-2.4841377, 1e-6) || !near(s.High, 2+2.4841377, 1e-6) {
		t.Fatalf("Interval(1,2,3) = %+v", s)
	}
	if got := s.String(); got != "2.000 ± 2.484" {
		t.Fatalf("String = %q", got)
	}
	one := Interval([]float64{0.5})
	if one.HasCI() || one.Mean != 0.5 || one.String() != "0.5000 (n=1)" {
		t.Fatalf("n=1: %+v %q", one, one.String())
	}
	b, _ := json.Marshal(one)
	if string(b) != `{"mean":0.5,"n":1}` {
		t.Fatalf("n=1 JSON %s", b)
	}
	if none := Interval(nil); none.N != 0 || none.String() != "–" {
		t.Fatalf("n=0: %+v", none)
	}
}

func TestJudge(t *testing.T) {
	st := func(mean, low, high float64) Stat { return Stat{Mean: mean, Low: low, High: high, N: 3} }
	cases := []struct {
		name   string
		expect string
		margin float64
		s      Stat
		want   string
	}{
		{"positive, clear", exp.ExpectPositive, 0, st(1, 0.2, 1.8), exp.Supported},
		{"positive, clear of the margin", exp.ExpectPositive, 0.5, st(1, 0.2, 1.8), exp.Supported},
		{"positive, mean within the margin", exp.ExpectPositive, 0.5, st(0.3, 0.1, 0.6), exp.Inconclusive},
		{"positive, wrong sign", exp.ExpectPositive, 0, st(-1, -1.5, -0.5), exp.NotSupported},
		{"positive, negligible", exp.ExpectPositive, 0.5, st(0.1, -0.3, 0.4), exp.NotSupported},
		{"positive, contains 0", exp.ExpectPositive, 0.1, st(0.3, -0.3, 0.9), exp.Inconclusive},
		{"negative, clear", exp.ExpectNegative, 0, st(-1, -1.8, -0.2), exp.Supported},
		{"negative, wrong sign", exp.ExpectNegative, 0, st(1, 0.2, 1.8), exp.NotSupported},
		{"zero, equivalent", exp.ExpectZero, 0.5, st(0.1, -0.3, 0.4), exp.Supported},
		{"zero, an effect", exp.ExpectZero, 0.5, st(1, 0.2, 1.8), exp.NotSupported},
		{"zero, negative effect", exp.ExpectZero, 0.5, st(-1, -1.8, -0.6), exp.NotSupported},
		{"zero, too wide", exp.ExpectZero, 0.5, st(0.2, -1, 1.4), exp.Inconclusive},
		{"zero, excludes 0 but small", exp.ExpectZero, 0.5, st(0.4, 0.1, 0.7), exp.Inconclusive},
		{"one unit", exp.ExpectPositive, 0, Stat{Mean: 5, Low: math.NaN(), High: math.NaN(), N: 1}, exp.Inconclusive},
	}
	for _, c := range cases {
		got, reason := Judge(c.expect, c.margin, c.s)
		if got != c.want || reason == "" {
			t.Errorf("%s: %s (%s), want %s", c.name, got, reason, c.want)
		}
	}
}

func TestCombine(t *testing.T) {
	h := Hypothesis{ID: "H9", Name: "test", Paper: exp.NotSupported}
	cr := func(v string) *ContrastResult { return &ContrastResult{Verdict: v, Estimate: Stat{N: 3}} }
	for _, c := range []struct {
		in    []string
		want  string
		agree string // "", "true", "false"
	}{
		{nil, exp.Inconclusive, ""},
		{[]string{exp.Inconclusive}, exp.Inconclusive, ""},
		{[]string{exp.NotSupported, exp.Inconclusive}, exp.NotSupported, "true"},
		{[]string{exp.Supported, exp.Supported}, exp.Supported, "false"},
		{[]string{exp.Supported, exp.NotSupported}, exp.Inconclusive, ""},
	} {
		var cs []*ContrastResult
		for _, v := range c.in {
			cs = append(cs, cr(v))
		}
		v := combine(h, cs)
		agree := ""
		if v.AgreesWithPaper != nil {
			agree = map[bool]string{true: "true", false: "false"}[*v.AgreesWithPaper]
		}
		if v.Verdict != c.want || agree != c.agree {
			t.Errorf("%v: %s (%s), agree %q; want %s, agree %q", c.in, v.Verdict, v.Reason, agree, c.want, c.agree)
		}
	}
}

const fixtureSpec = `{
  "name": "fx",
  "title": "fixture experiment",
  "paper": "made-up numbers",
  "params": {"n_pairs": 10},
  "axes": {"task": ["x", "y"], "seed": [1, 2, 3], "method": ["a", "b"]},
  "presets": {"quick": {"params": {"n_pairs": 3}, "axes": {"seed": [1, 2]}}},
  "table": {"rows": ["task", "method"], "metrics": ["gold", "kl", "nowhere"]},
  "comparisons": [
    {"id": "x_gain", "title": "a − b on x", "metric": "gold", "where": {"task": "x"}, "a": {"method": "a"}, "b": {"method": "b"},
     "expect": "positive", "hypothesis": "H3", "paper_outcome": "not supported", "paper": "1 vs 1"},
    {"id": "y_gain", "title": "a − b on y", "metric": "gold", "where": {"task": "y"}, "a": {"method": "a"}, "b": {"method": "b"},
     "expect": "zero", "margin": 0.5, "hypothesis": "H6", "paper_outcome": "supported"},
    {"id": "did", "title": "gain on x − gain on y", "metric": "gold",
     "terms": [{"coef": 1, "where": {"task": "x", "method": "a"}}, {"coef": -1, "where": {"task": "x", "method": "b"}},
               {"coef": -1, "where": {"task": "y", "method": "a"}}, {"coef": 1, "where": {"task": "y", "method": "b"}}],
     "expect": "positive", "hypothesis": "H6", "paper_outcome": "supported"},
    {"id": "kl_x", "title": "KL a − b on x", "metric": "kl", "where": {"task": "x"}, "a": {"method": "a"}, "b": {"method": "b"}, "expect": "positive"}
  ],
  "plots": [
    {"kind": "axis", "file": "by_task", "x": "task", "y": "gold", "series": "method"},
    {"kind": "curve", "file": "bon", "curve": "bon", "series": "method", "log_x": true},
    {"kind": "scatter", "file": "gold_vs_kl", "x": "kl", "y": "gold", "series": "method"},
    {"kind": "curve", "file": "absent", "curve": "train/loss", "series": "method"}
  ]
}`

// fixture gold values: task → method → per seed.
var fixtureGold = map[string]map[string][]float64{
	"x": {"a": {3.0, 3.5, 2.9}, "b": {2.0, 2.3, 2.1}},
	"y": {"a": {2.2, 2.2, 2.0}, "b": {2.1, 2.3, 1.9}},
}

func writeFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	spec, err := exp.ParseSpec("fx.json", []byte(fixtureSpec))
	if err != nil {
		t.Fatal(err)
	}
	st, err := exp.OpenStore(dir, "fx")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WriteSpec(spec); err != nil {
		t.Fatal(err)
	}
	put := func(c exp.Cell, res exp.Result) {
		t.Helper()
		rec := &exp.Record{Schema: exp.RecordSchema, ID: c.ID, Experiment: c.Experiment, Preset: c.Preset, Method: c.Method(), Seed: c.Seed(),
			Axes: c.Axes, Config: c.Params, Result: res}
		if err := st.Put(rec); err != nil {
			t.Fatal(err)
		}
	}
	cells, _ := spec.Cells("")
	for _, c := range cells {
		task, _ := c.String("task")
		g := fixtureGold[task][c.Method()][c.Seed()-1]
		res := exp.Result{Metrics: map[string]float64{"gold": g},
			Curves:  map[string][]exp.Point{"bon": {{X: 1, Y: g}, {X: 2, Y: g + 0.5}, {X: 4, Y: g + 0.8}}},
			Samples: []exp.Sample{{Prompt: "doc " + task + " | TL;DR:", Completion: "out " + c.Method(), Gold: g, Reference: "ref", ReferenceGold: 4, EndedWithEOS: true}}}
		if task == "x" && (c.Seed() == 1 || c.Method() == "a") {
			res.Metrics["kl"] = 0.1 * float64(c.Seed())
		}
		put(c, res)
	}
	// A stale record: same axes, a configuration no longer in the grid.
	old := cells[0]
	old.Params = map[string]any{"n_pairs": 5.0, "task": "x", "seed": 1.0, "method": "a"}
	old.ID, _ = exp.CellID("fx", old.Params)
	put(old, exp.Result{Metrics: map[string]float64{"gold": 100}})
	// Two quick-preset records: their own, non-primary section.
	quick, _ := spec.Cells("quick")
	for _, c := range quick[:2] {
		put(c, exp.Result{Metrics: map[string]float64{"gold": 7}})
	}
	return dir
}

func TestReportFromFixture(t *testing.T) {
	results := writeFixture(t)
	out := t.TempDir()
	rep, err := Generate(results, out)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := rep.Experiment("fx")
	if !ok || e.Preset != "" || len(e.Records) != 12 || len(e.Stale) != 1 {
		t.Fatalf("primary group: preset %q, %d records, %d stale", e.Preset, len(e.Records), len(e.Stale))
	}
	if len(rep.Experiments) != 2 || rep.Experiments[1].Preset != "quick" || rep.Experiments[1].Primary {
		t.Fatalf("preset groups: %d", len(rep.Experiments))
	}

	// Table: x/a gold = mean(3.0, 3.5, 2.9) = 3.1333, sd 0.32146, half 4.3027·0.32146/√3 = 0.79854.
	row := e.Table.Rows[0]
	g := row.Stats["gold"]
	if row.Label != "x / a" || g.N != 3 || !near(g.Mean, 3.133333, 1e-6) || !near(g.HalfWidth(), 0.798539, 1e-5) {
		t.Fatalf("row %q gold %+v (half %v)", row.Label, g, g.HalfWidth())
	}
	if strings.Join(e.Table.Metrics, ",") != "gold,kl" || strings.Join(e.Table.Missing, ",") != "nowhere" {
		t.Fatalf("metrics %v missing %v", e.Table.Metrics, e.Table.Missing)
	}

	byID := map[string]*ContrastResult{}
	for _, c := range e.Comparisons {
		byID[c.Comparison.ID] = c
	}
	// x: a − b = (1.0, 1.2, 0.8): mean 1, sd 0.2, half 4.3027·0.2/√3 = 0.49683.
	x := byID["x_gain"]
	if x.Estimate.N != 3 || !near(x.Estimate.Mean, 1, 1e-9) || !near(x.Estimate.Low, 1-0.496828, 1e-5) || x.Verdict != exp.Supported ||
		x.AgreesWithPaper == nil || *x.AgreesWithPaper {
		t.Fatalf("x_gain %+v", x)
	}
	if strings.Join(x.Units, ",") != "seed=1,seed=2,seed=3" {
		t.Fatalf("x_gain pairs on %v, want the seeds", x.Units)
	}
	// y: (0.1, −0.1, 0.1): mean 0.0333, half 4.3027·0.11547/√3 = 0.28685, within ±0.5.
	y := byID["y_gain"]
	if !near(y.Estimate.Mean, 0.033333, 1e-6) || !near(y.Estimate.HalfWidth(), 0.286844, 1e-5) || y.Verdict != exp.Supported || !*y.AgreesWithPaper {
		t.Fatalf("y_gain %+v", y)
	}
	// DiD: (0.9, 1.3, 0.7): mean 0.96667, sd 0.30551, half 0.75892.
	d := byID["did"]
	if !near(d.Estimate.Mean, 0.966667, 1e-6) || !near(d.Estimate.HalfWidth(), 0.758917, 1e-5) || d.Verdict != exp.Supported {
		t.Fatalf("did %+v (half %v)", d, d.Estimate.HalfWidth())
	}
	// kl exists for both arms only at seed 1: one unit, two incomplete.
	k := byID["kl_x"]
	if k.Estimate.N != 1 || k.Incomplete != 2 || k.Verdict != exp.Inconclusive {
		t.Fatalf("kl_x %+v", k)
	}

	verdicts := map[string]HypothesisVerdict{}
	for _, h := range rep.Hypotheses {
		verdicts[h.Hypothesis.ID] = h
	}
	if v := verdicts["H3"]; v.Verdict != exp.Supported || *v.AgreesWithPaper {
		t.Fatalf("H3: %+v", v)
	}
	if v := verdicts["H6"]; v.Verdict != exp.Supported || !*v.AgreesWithPaper || len(v.Comparisons) != 2 {
		t.Fatalf("H6: %+v", v)
	}
	if v := verdicts["H1"]; v.Verdict != exp.Inconclusive || !strings.Contains(v.Reason, "no results") {
		t.Fatalf("H1: %+v", v)
	}
	if v := combine(Hypothesis{ID: "H9"}, []*ContrastResult{{Verdict: exp.Inconclusive, Estimate: Interval(nil)}}); !strings.Contains(v.Reason, "no results") {
		t.Fatalf("no-data comparison: %+v", v)
	}

	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| task | method | gold | kl | seeds |",
		"| x | a | 3.133 ± 0.7985 |",
		"- **H3** (online fine-tuning is easier to optimise (on-policy samples add useful constraints)): **supported** (1 of 1 comparisons support it); paper: not supported; **this contradicts the paper**.",
		"`x_gain` (fx): a − b on x on gold = +1.000 [+0.5032, +1.497], n = 3 paired units; H3 predicts > 0 → **supported**",
		"- **H6** (",
		"**supported** (2 of 2 comparisons support it); paper: supported (agrees).",
		"- **H1** (", "**inconclusive** (no results: the experiments testing it have no complete comparison yet); paper: not supported; ours is inconclusive",
		"| `kl_x` KL a − b on x | kl | 0 (n=1) | 1 | pattern | positive | **inconclusive** |  |",
		"- `y_gain` per unit: seed=1: +0.1000; seed=2: -0.1000; seed=3: +0.1000",
		"1 older records whose configuration is no longer in this grid are left out",
		"## fixture experiment", "preset `quick`", "Not the primary preset",
		"![", "(plots/fx_by_task.png)", "(plots/fx_bon.png)", "(plots/fx_gold_vs_kl.png)",
		"Plot `absent`: not drawn: no record has the data (curve train/loss)",
		"| x / a | doc x \\| TL;DR: | out a | 3.000 | ref | 4.000 |",
		"Not recorded by any cell: nowhere.",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("report.md:\n%s", md)
	}

	// PNGs: written, non-empty, valid signature; the quick group's plots
	// carry its name.
	for _, name := range []string{"fx_by_task.png", "fx_bon.png", "fx_gold_vs_kl.png", "fx_by_task_quick.png"} {
		b, err := os.ReadFile(filepath.Join(out, "plots", name))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 1000 || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Fatalf("%s: %d bytes, not a PNG", name, len(b))
		}
	}
	if _, err := os.Stat(filepath.Join(out, "plots", "fx_absent.png")); !os.IsNotExist(err) {
		t.Fatal("a plot without data was written")
	}

	// CSV: every record (12 current + 1 stale + 2 quick), with axes and metrics.
	f, _ := os.Open(filepath.Join(out, "cells.csv"))
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 16 {
		t.Fatalf("cells.csv has %d rows, want header + 15", len(rows))
	}
	head := strings.Join(rows[0], ",")
	if !strings.HasPrefix(head, "experiment,preset,cell_id,current,method,seed,axis:method,axis:seed,axis:task,gold,kl,seconds,started,config") {
		t.Fatalf("header %s", head)
	}
	stale := 0
	for _, r := range rows[1:] {
		if r[3] == "false" {
			stale++
			if r[9] != "100" {
				t.Fatalf("stale row %v", r)
			}
		}
	}
	if stale != 1 {
		t.Fatalf("%d stale rows", stale)
	}

	sum, ok := rep.Summary("fx", "gold")
	if !ok || len(sum) != 4 || !near(sum["y / b"].Mean, 2.1, 1e-9) {
		t.Fatalf("summary %v", sum)
	}
	js, err := TableJSON(e.Table)
	if err != nil || !strings.Contains(string(js), `"arm": "x / a"`) || !strings.Contains(string(js), `"ci95_low"`) {
		t.Fatalf("table JSON %s %v", js, err)
	}
}

func TestSelectorExtremes(t *testing.T) {
	recs := []*exp.Record{}
	for _, n := range []float64{250, 4000, 1000} {
		recs = append(recs, &exp.Record{Axes: []exp.AxisValue{{Name: "n_pairs", Value: n}, {Name: "method", Value: "dpo"}}})
	}
	sel, err := resolveSelector(exp.Selector{"n_pairs": "$max", "method": "dpo"}, recs)
	if err != nil || sel["n_pairs"] != 4000.0 || sel["method"] != "dpo" {
		t.Fatalf("$max: %v %v", sel, err)
	}
	sel, _ = resolveSelector(exp.Selector{"n_pairs": "$min"}, recs)
	if sel["n_pairs"] != 250.0 {
		t.Fatalf("$min: %v", sel)
	}
	if _, err := resolveSelector(exp.Selector{"method": "$max"}, recs); err == nil || !strings.Contains(err.Error(), "no record has a numeric value on axis method") {
		t.Fatalf("$max on strings: %v", err)
	}
}

func TestGenerateErrors(t *testing.T) {
	if _, err := Generate(t.TempDir(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "no experiments") {
		t.Fatalf("empty store: %v", err)
	}
	results := writeFixture(t)
	os.Remove(filepath.Join(results, "fx", "spec.json"))
	if _, err := Generate(results, t.TempDir()); err == nil || !strings.Contains(err.Error(), filepath.Join(results, "fx", "spec.json")) {
		t.Fatalf("missing spec: %v", err)
	}
}

// TestSeedsToDecide: hand-computed seed counts for a contrast with mean 0.1
// and SD 0.2 over 3 seeds.
func TestSeedsToDecide(t *testing.T) {
	s := Interval([]float64{0.1, 0.3, -0.1}) // mean 0.1, SD 0.2
	// Excluding 0 needs t(n−1)/√n < 0.5: t(16)/√17 = 0.514, t(17)/√18 = 0.497.
	if n := SeedsToDecide(exp.ExpectPositive, 0, s); n != 18 {
		t.Errorf("positive, no margin: %d seeds, want 18", n)
	}
	// Inside ±0.5 needs 0.1 + 0.2·t(n−1)/√n ≤ 0.5: t(2)/√3 = 2.48, t(3)/√4 = 1.59.
	if n := SeedsToDecide(exp.ExpectZero, 0.5, s); n != 4 {
		t.Errorf("zero within ±0.5: %d seeds, want 4", n)
	}
	// A mean exactly on the margin (0.5 = m) is never "supported" (mean ≤ m)
	// and never fits inside ±m: no number of seeds decides it.
	if n := SeedsToDecide(exp.ExpectPositive, 0.5, Interval([]float64{0.5, 0.75, 0.25})); n != -1 {
		t.Errorf("mean on the margin: %d, want -1", n)
	}
	decided := Interval([]float64{1, 1.1, 0.9})
	if n := SeedsToDecide(exp.ExpectPositive, 0, decided); n != 0 {
		t.Errorf("decided contrast: %d, want 0", n)
	}
	if n := SeedsToDecide(exp.ExpectPositive, 0, Interval([]float64{0.2})); n != 0 {
		t.Errorf("one seed: %d, want 0", n)
	}
}
