package pft

import (
	"math/rand/v2"
	"testing"
)

// distinct returns n completions that all differ.
func distinct(n int) [][]int32 {
	out := make([][]int32, n)
	for i := range out {
		out[i] = []int32{int32(i), 7}
	}
	return out
}

func TestSelectPairsBestWorst(t *testing.T) {
	scores := []float64{
		0.1, 0.9, 0.5, // prompt 0: chosen 1, rejected 0
		0.2, 0.2, 0.2, // prompt 1: all tie → skipped
		1.0, 0.0, 1.0, // prompt 2: max ties → lowest index 6; rejected 7
		0.3, 0.8, 0.1, // prompt 3: best and worst identical → skipped
	}
	completions := distinct(len(scores))
	completions[11] = append([]int32(nil), completions[10]...)
	pairs, m, err := SelectPairs(PairSelectConfig{NumGenerations: 3}, scores, completions, nil)
	mustNoErr(t, err)
	want := []Pair{{Prompt: 0, Chosen: 1, Rejected: 0}, {Prompt: 2, Chosen: 6, Rejected: 7}}
	if len(pairs) != len(want) {
		t.Fatalf("pairs = %v, want %v", pairs, want)
	}
	for i := range want {
		if pairs[i] != want[i] {
			t.Errorf("pair %d = %+v, want %+v", i, pairs[i], want[i])
		}
	}
	near(t, "objective/scores", m["objective/scores"], mean(scores), 1e-15)
	near(t, "objective/scores_margin", m["objective/scores_margin"], (0.8+1.0)/2, 1e-15)
	near(t, "pairs/selected", m["pairs/selected"], 2, 0)
	near(t, "pairs/skipped_tie", m["pairs/skipped_tie"], 1, 0)
	near(t, "pairs/skipped_identical", m["pairs/skipped_identical"], 1, 0)
}

func TestSelectPairsMinScoreMargin(t *testing.T) {
	scores := []float64{0.1, 0.15, 0.0, 2.0}
	pairs, m, err := SelectPairs(PairSelectConfig{NumGenerations: 2, MinScoreMargin: 0.5}, scores, distinct(4), nil)
	mustNoErr(t, err)
	if len(pairs) != 1 || pairs[0] != (Pair{Prompt: 1, Chosen: 3, Rejected: 2}) {
		t.Errorf("pairs = %+v, want only prompt 1's", pairs)
	}
	near(t, "pairs/skipped_margin", m["pairs/skipped_margin"], 1, 0)

	// Nothing selected: the margin metric is absent rather than NaN.
	_, m, err = SelectPairs(PairSelectConfig{NumGenerations: 2}, []float64{1, 1}, distinct(2), nil)
	mustNoErr(t, err)
	if _, ok := m["objective/scores_margin"]; ok {
		t.Errorf("objective/scores_margin present with no pairs: %v", m)
	}
}

func TestSelectPairsBestRandomIsSeededAndUniform(t *testing.T) {
	const K, prompts = 4, 3000
	scores := make([]float64, K*prompts)
	for p := 0; p < prompts; p++ {
		for j := 0; j < K; j++ {
			scores[p*K+j] = float64((j + p) % K) // a unique maximum per prompt
		}
	}
	cfg := PairSelectConfig{NumGenerations: K, Rule: PairBestRandom}
	a, _, err := SelectPairs(cfg, scores, distinct(len(scores)), rand.New(rand.NewPCG(7, 8)))
	mustNoErr(t, err)
	b, _, err := SelectPairs(cfg, scores, distinct(len(scores)), rand.New(rand.NewPCG(7, 8)))
	mustNoErr(t, err)
	if len(a) != prompts || len(b) != prompts {
		t.Fatalf("selected %d and %d pairs, want %d", len(a), len(b), prompts)
	}
	offsets := make([]int, K) // rejected − chosen within the group, mod K
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different pair %d: %+v vs %+v", i, a[i], b[i])
		}
		p := a[i].Prompt
		best, err := BestOfN(scores[p*K : (p+1)*K])
		mustNoErr(t, err)
		if a[i].Chosen != p*K+best {
			t.Fatalf("pair %+v: chosen is not the argmax %d", a[i], p*K+best)
		}
		if a[i].Rejected == a[i].Chosen || a[i].Rejected/K != p {
			t.Fatalf("pair %+v: rejected outside the prompt's other samples", a[i])
		}
		offsets[((a[i].Rejected-a[i].Chosen)%K+K)%K]++
	}
	// Each of the K−1 others is drawn about prompts/(K−1) = 1000 times (sd ≈ 26).
	for off := 1; off < K; off++ {
		if offsets[off] < 850 || offsets[off] > 1150 {
			t.Errorf("offset %d drawn %d times, want ≈ 1000: %v", off, offsets[off], offsets)
		}
	}
}

func TestSelectPairsRejectsBadInput(t *testing.T) {
	_, _, err := SelectPairs(PairSelectConfig{NumGenerations: 1}, []float64{1}, distinct(1), nil)
	wantErr(t, err, "online DPO pair selection: num_generations = 1, want ≥ 2")
	_, _, err = SelectPairs(PairSelectConfig{NumGenerations: 2, Rule: PairBestRandom}, []float64{1, 2}, distinct(2), nil)
	wantErr(t, err, `rule "best_random" needs a random generator`)
	_, _, err = SelectPairs(PairSelectConfig{NumGenerations: 2}, []float64{1, 2}, distinct(3), nil)
	wantErr(t, err, "len(completions) = 3, want 2")
	_, _, err = SelectPairs(PairSelectConfig{NumGenerations: 2, Rule: "worst"}, []float64{1, 2}, distinct(2), nil)
	wantErr(t, err, `rule "worst"`)
	_, _, err = SelectPairs(PairSelectConfig{NumGenerations: 2}, []float64{1, 2, 3}, distinct(3), nil)
	wantErr(t, err, "3 scores is not a positive multiple of num_generations = 2")
}
