package report

import (
	"math"
	"testing"

	"roads/exp"
)

func TestSummarizeMetric(t *testing.T) {
	recs := []*exp.Record{
		{Result: exp.Result{Metrics: map[string]float64{"gold": 1, "gold_ci_low": 0.5, "gold_ci_high": 1.5}}},
		{Result: exp.Result{Metrics: map[string]float64{"gold": 2}}},
		{Result: exp.Result{Metrics: map[string]float64{"gold": 3}}},
		{Result: exp.Result{Metrics: map[string]float64{"other": 7}}},
	}
	// Three seeds: mean 2, sd 1, t_{0.975,2}/√3 = 2.48414.
	st := SummarizeMetric(recs, "gold", "gold_ci_low", "gold_ci_high")
	if st.Mean != 2 || st.N != 3 || st.CIOver != "seeds" || math.Abs(st.High-st.Low-2*2.48414) > 1e-4 {
		t.Fatalf("three seeds: %+v", st)
	}
	if got := st.String(); got != "2.000 ± 2.484" {
		t.Fatalf("String() = %q", got)
	}
	// One record: its own interval over prompts.
	st = SummarizeMetric(recs[:1], "gold", "gold_ci_low", "gold_ci_high")
	if st.N != 1 || st.CIOver != "prompts" || st.Low != 0.5 || st.High != 1.5 {
		t.Fatalf("one record: %+v", st)
	}
	// One record without a CI, and a metric nobody has.
	if st := SummarizeMetric(recs[1:2], "gold", "gold_ci_low", "gold_ci_high"); st.CIOver != "" || st.String() != "2.000" {
		t.Fatalf("one record without CI: %+v %q", st, st.String())
	}
	if st := SummarizeMetric(recs, "missing", "", ""); st.HasValue || st.String() != "–" {
		t.Fatalf("absent metric: %+v", st)
	}
}
