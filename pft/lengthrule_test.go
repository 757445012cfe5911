package pft

import (
	"math"
	"testing"
)

func TestLengthRuleAccuracyKnownValues(t *testing.T) {
	pp := func(chosen, rejected int) PreferencePair {
		return PreferencePair{Prompt: []int32{3}, Chosen: make([]int32, chosen), Rejected: make([]int32, rejected)}
	}
	cases := []struct {
		pairs []PreferencePair
		acc   float64
		rule  string
	}{
		{[]PreferencePair{pp(1, 3), pp(2, 4), pp(5, 1)}, 2.0 / 3, "shorter wins"},
		{[]PreferencePair{pp(4, 3), pp(2, 2), pp(5, 1), pp(0, 1)}, (2 + 0.5) / 4, "longer wins"},
		{[]PreferencePair{pp(2, 2)}, 0.5, "shorter wins"},
	}
	for i, c := range cases {
		acc, rule, err := LengthRuleAccuracy(c.pairs)
		if err != nil || math.Abs(acc-c.acc) > 1e-12 || rule != c.rule {
			t.Errorf("case %d: got %v %q %v, want %v %q", i, acc, rule, err, c.acc, c.rule)
		}
	}
	if _, _, err := LengthRuleAccuracy(nil); err == nil {
		t.Error("no pairs: want an error")
	}
}
