package model

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"roads/engine"
)

func genPrompts() [][]int32 {
	return [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 1}, {2, 2}}
}

// Recorded log-probs must equal a recomputed forward pass on prompt+completion.
func TestGenerateLogProbsMatchForward(t *testing.T) {
	for arch, c := range archConfigs("lm") {
		t.Run(arch, func(t *testing.T) {
			c.NPositions = 12
			generateMatchesForward(t, newRandomModel(t, c, 21), c)
		})
	}
}

func generateMatchesForward(t *testing.T, m *Model, c Config) {
	prompts := genPrompts()
	for _, opt := range []GenerateOptions{
		{MaxNewTokens: 7, Temperature: 1, RNG: engine.NewRNG(1)},
		{MaxNewTokens: 8, Temperature: 0.7, TopK: 4, RNG: engine.NewRNG(2), LogitMask: forbid(c.VocabSize, 2, 3)},
		{MaxNewTokens: 5, Temperature: 0},
	} {
		g, err := m.Generate(prompts, opt)
		if err != nil {
			t.Fatal(err)
		}
		b := g.Batch(prompts)
		o, err := m.Forward(b, ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for i := range prompts {
			if o.NumScored[i] != g.Lengths[i] {
				t.Fatalf("row %d: %d scored tokens, %d generated", i, o.NumScored[i], g.Lengths[i])
			}
			for s := 0; s < g.Lengths[i]; s++ {
				d := math.Abs(float64(g.LogProbs[i*g.MaxNew+s] - o.LogProbs[i*o.T+len(prompts[i])+s]))
				worst = math.Max(worst, d)
			}
		}
		if worst > 1e-4 {
			t.Fatalf("%+v: recorded log-probs differ from the forward pass by %g", opt, worst)
		}
		t.Logf("temperature %g top_k %d: max |recorded − forward| = %.2g", opt.Temperature, opt.TopK, worst)
	}
}

func forbid(V int, ids ...int) []float32 {
	mask := make([]float32, V)
	for _, id := range ids {
		mask[id] = float32(math.Inf(-1))
	}
	return mask
}

// At temperature 1 with no mask or top-k, the sampling distribution is the
// model's, so both recorded log-probs agree; greedy picks the argmax of the
// forward pass's logits; top_k 1 is greedy.
func TestGenerateSamplingDistribution(t *testing.T) {
	c := testConfig("lm")
	c.PadTokenID = -1
	c.NPositions = 12
	m := newRandomModel(t, c, 22)
	prompts := genPrompts()
	g, err := m.Generate(prompts, GenerateOptions{MaxNewTokens: 6, Temperature: 1, RNG: engine.NewRNG(3), IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	for k := range g.LogProbs {
		if d := math.Abs(float64(g.LogProbs[k] - g.SampleLogProbs[k])); d > 1e-5 {
			t.Fatalf("entry %d: model log-prob %g, sampling log-prob %g", k, g.LogProbs[k], g.SampleLogProbs[k])
		}
	}
	greedy, err := m.Generate(prompts, GenerateOptions{MaxNewTokens: 6, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	top1, err := m.Generate(prompts, GenerateOptions{MaxNewTokens: 6, Temperature: 0.5, TopK: 1, RNG: engine.NewRNG(4), IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(greedy.Tokens, top1.Tokens) {
		t.Fatalf("top_k 1 %v differs from greedy %v", top1.Tokens, greedy.Tokens)
	}
	o, err := m.Forward(greedy.Batch(prompts), ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	V := c.VocabSize
	ws := m.ws
	for s, row := range ws.headRows { // each scored row's target must be its argmax
		_ = row
		z := ws.logits[s*V : s*V+V]
		best := 0
		for k := range z {
			if z[k] > z[best] {
				best = k
			}
		}
		if int32(best) != ws.targets[s] {
			t.Fatalf("greedy token %d is not the argmax %d (out index %d)", ws.targets[s], best, ws.outIdx[s])
		}
	}
	_ = o
}

func TestGenerateEOSAndPadding(t *testing.T) {
	c := testConfig("lm") // EOS 9, PAD 10
	c.NPositions = 16
	m := newRandomModel(t, c, 23)
	// Only tokens 4 and EOS are allowed (PAD is always forbidden), so rows
	// stop at random points.
	mask := make([]float32, c.VocabSize)
	for k := range mask {
		if k != 4 && k != 9 && k != 10 {
			mask[k] = float32(math.Inf(-1))
		}
	}
	prompts := [][]int32{{1}, {2, 3}, {4, 5, 6}, {7}, {8, 1}, {3}}
	g, err := m.Generate(prompts, GenerateOptions{MaxNewTokens: 10, Temperature: 3, RNG: engine.NewRNG(5), LogitMask: mask})
	if err != nil {
		t.Fatal(err)
	}
	stopped, full := 0, 0
	for i := range prompts {
		L := g.Lengths[i]
		for s := 0; s < g.MaxNew; s++ {
			tok := g.Tokens[i*g.MaxNew+s]
			switch {
			case s < L-1:
				if tok != 4 {
					t.Fatalf("row %d step %d: token %d (only 4 and EOS 9 allowed before the end)", i, s, tok)
				}
			case s == L-1:
				if g.EOS[i] != (tok == 9) {
					t.Fatalf("row %d: last token %d, EOS flag %v", i, tok, g.EOS[i])
				}
			default:
				if tok != 10 || g.LogProbs[i*g.MaxNew+s] != 0 {
					t.Fatalf("row %d step %d after the end: token %d, log-prob %g (want PAD 10, 0)", i, s, tok, g.LogProbs[i*g.MaxNew+s])
				}
			}
		}
		if g.EOS[i] {
			stopped++
		} else if L == g.MaxNew {
			full++
		} else {
			t.Fatalf("row %d stopped at %d without EOS", i, L)
		}
		if !reflect.DeepEqual(g.Row(i), g.Tokens[i*g.MaxNew:i*g.MaxNew+L]) {
			t.Fatal("Row")
		}
	}
	if stopped == 0 {
		t.Fatalf("no row emitted EOS (lengths %v); the test needs early stops", g.Lengths)
	}
	// IgnoreEOS runs every row to the budget.
	g2, err := m.Generate(prompts, GenerateOptions{MaxNewTokens: 10, Temperature: 3, RNG: engine.NewRNG(5), LogitMask: mask, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, L := range g2.Lengths {
		if L != 10 || g2.EOS[i] {
			t.Fatalf("IgnoreEOS: row %d length %d, EOS %v", i, L, g2.EOS[i])
		}
	}
}

// Sampling never picks PAD or masked tokens.
func TestGenerateForbiddenTokens(t *testing.T) {
	c := testConfig("lm")
	c.NPositions = 40
	m := newRandomModel(t, c, 24)
	prompts := [][]int32{{1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}}
	g, err := m.Generate(prompts, GenerateOptions{MaxNewTokens: 39, Temperature: 5, RNG: engine.NewRNG(6), LogitMask: forbid(c.VocabSize, 0, 3), IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int32]int{}
	for _, tok := range g.Tokens {
		seen[tok]++
	}
	if seen[0] > 0 || seen[3] > 0 || seen[10] > 0 {
		t.Fatalf("forbidden tokens sampled: %v", seen)
	}
	if len(seen) < 6 {
		t.Fatalf("temperature 5 should visit many tokens, saw %v", seen)
	}
}

// A batch of prompts of different lengths gives each row what generating it
// alone gives with the same row RNG.
func TestGenerateBatchEqualsAlone(t *testing.T) {
	c := testConfig("lm")
	c.NPositions = 16
	m := newRandomModel(t, c, 25)
	prompts := genPrompts()
	seeds := []uint64{11, 12, 13, 14}
	rngs := func(idx ...int) []*engine.RNG {
		var r []*engine.RNG
		for _, i := range idx {
			r = append(r, engine.NewRNG(seeds[i]))
		}
		return r
	}
	opt := GenerateOptions{MaxNewTokens: 10, Temperature: 1.2, TopK: 6, RowRNGs: rngs(0, 1, 2, 3)}
	all, err := m.Generate(prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range prompts {
		opt.RowRNGs = rngs(i)
		one, err := m.Generate([][]int32{p}, opt)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(one.Row(0), all.Row(i)) || one.EOS[0] != all.EOS[i] {
			t.Fatalf("row %d: alone %v, batched %v", i, one.Row(0), all.Row(i))
		}
		for s := range one.Row(0) {
			if d := math.Abs(float64(one.LogProbs[s] - all.LogProbs[i*all.MaxNew+s])); d > 1e-5 {
				t.Fatalf("row %d step %d: log-prob alone %g, batched %g", i, s, one.LogProbs[s], all.LogProbs[i*all.MaxNew+s])
			}
		}
	}
}

func TestGenerateDeterminism(t *testing.T) {
	c := testConfig("lm")
	c.NPositions = 16
	m := newRandomModel(t, c, 26)
	run := func(threads int) *Generation {
		old := engine.Threads()
		engine.SetThreads(threads)
		defer engine.SetThreads(old)
		g, err := m.Generate(genPrompts(), GenerateOptions{MaxNewTokens: 10, Temperature: 1, RNG: engine.NewRNG(77)})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	a, b, one := run(2), run(2), run(1)
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, one) {
		t.Fatal("generation is not deterministic")
	}
	c2, _ := m.Generate(genPrompts(), GenerateOptions{MaxNewTokens: 10, Temperature: 1, RNG: engine.NewRNG(78)})
	if reflect.DeepEqual(a.Tokens, c2.Tokens) {
		t.Fatal("different seeds gave identical samples")
	}
}

func TestGenerateErrors(t *testing.T) {
	c := testConfig("lm") // n_positions 8
	m := newRandomModel(t, c, 27)
	rng := engine.NewRNG(1)
	cases := []struct {
		prompts [][]int32
		opt     GenerateOptions
		want    string
	}{
		{nil, GenerateOptions{MaxNewTokens: 1}, "no prompts"},
		{[][]int32{{1}}, GenerateOptions{}, "max_new_tokens must be positive"},
		{[][]int32{{}}, GenerateOptions{MaxNewTokens: 1}, "prompt 0 is empty"},
		{[][]int32{{1}, {1, 2, 3, 4, 5}}, GenerateOptions{MaxNewTokens: 5}, "prompt 1 has 5 tokens; with max_new_tokens 5 that exceeds n_positions 8 + 1"},
		{[][]int32{{1, 99}}, GenerateOptions{MaxNewTokens: 1}, "prompt 0, position 1: token 99"},
		{[][]int32{{1}}, GenerateOptions{MaxNewTokens: 1, Temperature: -1}, "temperature must be finite"},
		{[][]int32{{1}}, GenerateOptions{MaxNewTokens: 1, Temperature: 1}, "needs an RNG"},
		{[][]int32{{1}}, GenerateOptions{MaxNewTokens: 1, TopK: -2}, "top_k must be ≥ 0"},
		{[][]int32{{1}}, GenerateOptions{MaxNewTokens: 1, LogitMask: make([]float32, 3)}, "logit mask has 3 entries, want vocab_size 11"},
		{[][]int32{{1}}, GenerateOptions{MaxNewTokens: 1, RNG: rng, Temperature: 1, LogitMask: forbid(11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)}, "forbids every token"},
		{[][]int32{{1}}, GenerateOptions{MaxNewTokens: 1, RowRNGs: []*engine.RNG{rng, rng}}, "2 row RNGs for 1 prompts"},
	}
	for _, tc := range cases {
		if _, err := m.Generate(tc.prompts, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
	// The longest allowed: prompt + max_new = n_positions + 1.
	if _, err := m.Generate([][]int32{{1, 2, 3, 4}}, GenerateOptions{MaxNewTokens: 5}); err != nil {
		t.Fatal(err)
	}
	sc := newTestModel(t, testConfig("scalar"), 1)
	if _, err := sc.Generate([][]int32{{1}}, GenerateOptions{MaxNewTokens: 1}); err == nil || !strings.Contains(err.Error(), "scalar head") {
		t.Fatalf("scalar head: %v", err)
	}
}

func TestKthLargest(t *testing.T) {
	z := []float32{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}
	cases := []struct {
		k    int
		thr  float32
		ties int
	}{{1, 9, 1}, {2, 6, 1}, {3, 5, 1}, {5, 5, 3}, {6, 4, 1}, {11, 1, 2}}
	for _, c := range cases {
		thr, ties := kthLargest(z, c.k)
		if thr != c.thr || ties != c.ties {
			t.Errorf("k=%d: (%g, %d), want (%g, %d)", c.k, thr, ties, c.thr, c.ties)
		}
	}
}

// Model.Sample's seed rule: row i draws from RowSeed(seed, i), so neither
// the chunk size nor the other rows change what a row draws.
func TestSampleRowsAreIndependentOfChunkAndBatch(t *testing.T) {
	c := testConfig("lm")
	c.NPositions = 12
	m := newRandomModel(t, c, 31)
	prompts := genPrompts()
	opt := SampleOptions{MaxNewTokens: 6, Temperature: 1, Seed: 17}
	var first *Generation
	for _, chunk := range []int{0, 1, 3} {
		opt.Chunk = chunk
		g, err := m.Sample(prompts, opt)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = g
			continue
		}
		// The tokens are the same; log-probs agree up to float32 round-off
		// (a batch of other rows changes the matmul blocking, not the math).
		if !reflect.DeepEqual(g.Tokens, first.Tokens) || !reflect.DeepEqual(g.Lengths, first.Lengths) {
			t.Fatalf("chunk %d draws other tokens than chunk 0", chunk)
		}
		for i := range g.LogProbs {
			if math.Abs(float64(g.LogProbs[i]-first.LogProbs[i])) > 1e-5 {
				t.Fatalf("chunk %d: log-prob %d is %g, chunk 0 %g", chunk, i, g.LogProbs[i], first.LogProbs[i])
			}
		}
	}
	// Row 2 alone, seeded as row 2 would be: draw it through Generate with the rule's stream.
	g, err := m.Generate(prompts[2:3], GenerateOptions{MaxNewTokens: 6, Temperature: 1, RowRNGs: []*engine.RNG{engine.NewRNG(RowSeed(17, 2))}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Row(0), first.Row(2)) {
		t.Fatalf("row 2 alone %v, in the batch %v", g.Row(0), first.Row(2))
	}
	other, _ := m.Sample(prompts, SampleOptions{MaxNewTokens: 6, Temperature: 1, Seed: 18})
	if reflect.DeepEqual(other.Tokens, first.Tokens) {
		t.Fatal("seeds 17 and 18 drew the same tokens")
	}
}
