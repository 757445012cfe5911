package stats

import (
	"math"
	"testing"
)

func TestKnownValues(t *testing.T) {
	m, sd := MeanSD([]float64{1, 2, 3, 4})
	if m != 2.5 || math.Abs(sd-math.Sqrt(5.0/3)) > 1e-15 {
		t.Fatalf("MeanSD = %v, %v; want 2.5, √(5/3)", m, sd)
	}
	// Tabulated Student-t quantiles.
	for _, c := range []struct {
		df   int
		want float64
	}{{1, 12.706}, {2, 4.303}, {4, 2.776}, {9, 2.262}, {29, 2.045}} {
		if got := TQuantile(0.975, c.df); math.Abs(got-c.want) > 5e-4 {
			t.Errorf("t_{0.975,%d} = %v, want %v", c.df, got, c.want)
		}
	}
	// {1,2,3}: sd 1, t_{0.975,2}·1/√3 = 4.30265/1.73205 = 2.48414.
	if got := T95(1, 3); math.Abs(got-2.48414) > 1e-5 {
		t.Fatalf("T95(1, 3) = %v, want 2.48414", got)
	}
	if got := Z95(2, 4); math.Abs(got-Z975) > 1e-15 {
		t.Fatalf("Z95(2, 4) = %v, want %v", got, Z975)
	}
	if !math.IsNaN(T95(1, 1)) || !math.IsNaN(Z95(1, 1)) {
		t.Fatal("a single value has no interval")
	}
	if m, sd := MeanSD(nil); !math.IsNaN(m) || !math.IsNaN(sd) {
		t.Fatal("empty input must be NaN")
	}
	if m, sd := MeanSD([]float64{7}); m != 7 || !math.IsNaN(sd) {
		t.Fatalf("one value: %v %v", m, sd)
	}
}

// The t interval is wider than the normal one and converges to it.
func TestTWiderThanZ(t *testing.T) {
	for _, n := range []int{2, 3, 5, 30, 200, 5000} {
		tw, zw := T95(1, n), Z95(1, n)
		if !(tw > zw) {
			t.Fatalf("n=%d: t half-width %v not above z %v", n, tw, zw)
		}
		if n == 5000 && tw/zw > 1.001 {
			t.Fatalf("n=5000: t/z = %v, want → 1", tw/zw)
		}
	}
}
