package eval

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"roads/task"
)

func load(t *testing.T, spec string) *task.Task {
	t.Helper()
	tk, err := task.Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestScriptedPoliciesLogProbsMatchTheirSamples(t *testing.T) {
	for _, spec := range []string{"summarize", "two_word", "mdp_sparse"} {
		tk := load(t, spec)
		prompts := tk.Prompts(task.Train, 0, 30)
		for _, pol := range []*Scripted{NewReference(tk, 0), NewReference(tk, 0.05), NewCorrupt(tk, 0.5, 0), NewCorrupt(tk, 0.3, 0.01), NewRandom(tk)} {
			comps, ended, logps, err := pol.Generate(prompts, GenOptions{Temperature: 1, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			withEOS := make([][]int32, len(comps))
			for i, c := range comps {
				if len(c) > tk.Horizon() || (!ended[i] && len(c) != tk.Horizon()) {
					t.Fatalf("%s %s: completion of %d tokens, ended %v, horizon %d", spec, pol, len(c), ended[i], tk.Horizon())
				}
				withEOS[i] = c
				want := len(c)
				if ended[i] {
					withEOS[i] = append(slices.Clone(c), tk.Tokenizer().EOS())
					want++
				}
				if len(logps[i]) != want {
					t.Fatalf("%s %s: %d log-probs for %d tokens (ended %v)", spec, pol, len(logps[i]), len(c), ended[i])
				}
			}
			lp, err := pol.LogProbs(prompts, withEOS)
			if err != nil {
				t.Fatal(err)
			}
			for i := range lp {
				sum := 0.0
				for _, l := range logps[i] {
					sum += float64(l)
				}
				if math.Abs(sum-lp[i]) > 1e-4*(1+math.Abs(lp[i])) {
					t.Fatalf("%s %s: sampled log-probs sum to %v, LogProbs says %v", spec, pol, sum, lp[i])
				}
			}
			// Rows are seeded independently of the batch.
			one, _, _, _ := pol.Generate(prompts[:1], GenOptions{Temperature: 1, Seed: 3})
			if !slices.Equal(one[0], comps[0]) {
				t.Fatalf("%s %s: row 0 depends on the batch", spec, pol)
			}
		}
	}
}

func TestReferenceAndCorruptPoliciesFollowTheTaskScripts(t *testing.T) {
	tk := load(t, "summarize")
	prompts := tk.Prompts(task.Test, 0, 40)
	comps, ended, _, err := NewReference(tk, 0).Generate(prompts, GenOptions{Temperature: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range prompts {
		ref, _ := tk.Reference(p)
		if !slices.Equal(comps[i], ref) || !ended[i] {
			t.Fatalf("reference policy wrote %q, want %q", tk.Decode(comps[i]), tk.Decode(ref))
		}
	}
	// corrupt:r at smoothing 0 has the script's exact likelihood.
	pol := NewCorrupt(tk, 0.5, 0)
	r := task.NewRNG(2)
	for _, p := range prompts {
		s, _ := tk.DemoScript(p, 0.5)
		d := s.Sample(r)
		lp, _ := pol.LogProbs([][]int32{p}, [][]int32{append(slices.Clone(d), tk.Tokenizer().EOS())})
		if math.Abs(lp[0]-s.LogProb(d, true)) > 1e-12 {
			t.Fatalf("corrupt policy log-prob %v, script %v", lp[0], s.LogProb(d, true))
		}
	}
	// Greedy decoding of a mildly corrupted demonstrator is the reference.
	greedy, _, _, _ := NewCorrupt(tk, 0.3, 0.01).Generate(prompts, GenOptions{Temperature: 0})
	for i, p := range prompts {
		ref, _ := tk.Reference(p)
		if !slices.Equal(greedy[i], ref) {
			t.Fatalf("greedy corrupt:0.3 wrote %q, want the reference %q", tk.Decode(greedy[i]), tk.Decode(ref))
		}
	}
}

func TestRandomPolicyIsUniformOverAllowedOutputs(t *testing.T) {
	tk := load(t, "mdp_sparse")
	pol := NewRandom(tk)
	nOut := len(pol.outputs) // 32 words + EOS
	if nOut != 33 {
		t.Fatalf("%d allowed outputs, want 33", nOut)
	}
	p := tk.Prompts(task.Train, 0, 1)[0]
	const n = 33000
	batch := make([][]int32, n)
	for i := range batch {
		batch[i] = p
	}
	comps, ended, _, _ := pol.Generate(batch, GenOptions{Temperature: 1, Seed: 5, MaxNewTokens: 1})
	counts := map[int32]int{}
	for i, c := range comps {
		if ended[i] {
			counts[tk.Tokenizer().EOS()]++
		} else {
			counts[c[0]]++
		}
	}
	want := float64(n) / float64(nOut)
	sd := math.Sqrt(want * (1 - 1/float64(nOut)))
	for id, ok := range tk.AllowedOutput() {
		if got := float64(counts[int32(id)]); ok && math.Abs(got-want) > 5*sd {
			t.Fatalf("token %d drawn %v times, want %v ± %v", id, got, want, sd)
		}
		if !ok && counts[int32(id)] > 0 {
			t.Fatalf("disallowed token %d was drawn", id)
		}
	}
	lp, _ := pol.LogProbs([][]int32{p}, [][]int32{{4, 5, tk.Tokenizer().EOS()}})
	if math.Abs(lp[0]-3*math.Log(1/33.0)) > 1e-12 {
		t.Fatalf("random policy log-prob %v", lp[0])
	}
}

func TestBradleyTerryLabelsMatchTheirProbability(t *testing.T) {
	for _, c := range []struct{ ra, rb, temp float64 }{{1, 0, 1}, {0.3, 0.1, 0.1}, {2, 2, 1}, {-1, 0.5, 2}} {
		want := 1 / (1 + math.Exp(-(c.ra-c.rb)/c.temp))
		if got := BTProbability(c.ra, c.rb, c.temp); math.Abs(got-want) > 1e-15 {
			t.Fatalf("BTProbability = %v, want %v", got, want)
		}
		r := task.NewRNG(7)
		const n = 40000
		wins := 0
		for i := 0; i < n; i++ {
			if LabelBT(c.ra, c.rb, c.temp, r) {
				wins++
			}
		}
		if sd := math.Sqrt(want * (1 - want) / n); math.Abs(float64(wins)/n-want) > 4.5*sd {
			t.Fatalf("P(a wins) sampled %v, want %v ± %v", float64(wins)/n, want, sd)
		}
	}
	if BTProbability(1, 0, 0) != 1 || BTProbability(0, 1, 0) != 0 || BTProbability(1, 1, 0) != 0.5 {
		t.Fatal("noiseless limit wrong")
	}
}

// fixedPolicy returns completions[i % len] for row i.
type fixedPolicy struct{ completions [][]int32 }

func (f fixedPolicy) Generate(prompts [][]int32, _ GenOptions) ([][]int32, []bool, [][]float32, error) {
	out := make([][]int32, len(prompts))
	ended := make([]bool, len(prompts))
	logps := make([][]float32, len(prompts))
	for i := range prompts {
		out[i] = slices.Clone(f.completions[i%len(f.completions)])
		ended[i] = true
	}
	return out, ended, logps, nil
}

func (f fixedPolicy) LogProbs(prompts, _ [][]int32) ([]float64, error) {
	return make([]float64, len(prompts)), nil
}

func TestPreferencesLabelByBradleyTerryOnGold(t *testing.T) {
	tk := load(t, "summarize,entities=48")
	enc := func(s string) []int32 { ids, _ := tk.Encode(s); return ids }
	p := enc("Alice met the old farmer . Paris saw Alice near Bob . TL;DR:")
	good, bad := enc("Alice Paris"), enc("Alice farmer") // gold 2 and 0.5
	prompts := make([][]int32, 8000)
	for i := range prompts {
		prompts[i] = p
	}
	pairs, st, err := Preferences(tk, fixedPolicy{[][]int32{good, bad}}, prompts, PrefOptions{K: 2, Temperature: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := 1 / (1 + math.Exp(-1.5))
	goodWins := 0
	for _, pr := range pairs {
		if slices.Equal(pr.Chosen, good) {
			goodWins++
			if pr.ScoreChosen != 2 || pr.ScoreRejected != 0.5 || math.Abs(pr.PChosen-want) > 1e-12 {
				t.Fatalf("pair scores %v/%v p %v", pr.ScoreChosen, pr.ScoreRejected, pr.PChosen)
			}
		}
	}
	frac := float64(goodWins) / float64(len(pairs))
	if sd := math.Sqrt(want * (1 - want) / float64(len(pairs))); len(pairs) != 8000 || math.Abs(frac-want) > 4.5*sd {
		t.Fatalf("%d pairs, better side chosen %v of the time, want %v ± %v", len(pairs), frac, want, sd)
	}
	if math.Abs(st.AgreeWithGold-frac) > 1e-12 || st.Pairs != 8000 || st.Prompts != 8000 {
		t.Fatalf("stats %+v", st)
	}
	// Narrow mode (the judge's labels) is noiseless and drops gold ties.
	tie := enc("Paris Bob") // gold 2, ties with good
	pairs, st, _ = Preferences(tk, fixedPolicy{[][]int32{good, bad, good, tie}}, prompts[:100], PrefOptions{K: 4, Mode: ModeNarrow, Pairing: PairAll, Seed: 1})
	for _, pr := range pairs {
		if pr.ScoreChosen <= pr.ScoreRejected || pr.PChosen != 1 {
			t.Fatalf("narrow pair chosen %v rejected %v", pr.ScoreChosen, pr.ScoreRejected)
		}
	}
	// Of 6 pairs per prompt: good/good identical (dropped), good/tie twice (ties, dropped), 3 kept.
	if st.Pairs != 300 || st.Identical != 100 || st.GoldTies != 200 || st.AgreeWithGold != 1 {
		t.Fatalf("narrow stats %+v", st)
	}
	if _, _, err := Preferences(tk, fixedPolicy{[][]int32{good}}, prompts[:1], PrefOptions{K: 1}); err == nil || !strings.Contains(err.Error(), "K >= 2") {
		t.Fatalf("K=1 error %v", err)
	}
	if _, _, err := Preferences(tk, fixedPolicy{[][]int32{good}}, prompts[:1], PrefOptions{K: 2, Mode: "wild"}); err == nil || !strings.Contains(err.Error(), `"wild"`) {
		t.Fatalf("mode error %v", err)
	}
}

func TestLengthMatchedPairingPairsOnlyEqualLengths(t *testing.T) {
	tk := load(t, "summarize,entities=48")
	enc := func(s string) []int32 { ids, _ := tk.Encode(s); return ids }
	p := enc("Alice met the old farmer . Paris saw Alice near Bob . TL;DR:")
	// Lengths 2, 3, 2, 1, 3, 2: pairs (0,2) and (1,4); samples 3 and 5 have no partner.
	comps := [][]int32{enc("Alice Paris"), enc("Alice Paris Bob"), enc("Alice farmer"), enc("Bob"), enc("Paris Alice Bob"), enc("Paris Bob")}
	prompts := [][]int32{p, p}
	pairs, st, err := Preferences(tk, fixedPolicy{comps}, prompts, PrefOptions{K: 6, Pairing: PairLengthMatched, Mode: ModeNarrow, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 4 || st.Pairs != 4 {
		t.Fatalf("%d pairs (%+v), want 2 per prompt", len(pairs), st)
	}
	for _, pr := range pairs {
		if len(pr.Chosen) != len(pr.Rejected) {
			t.Fatalf("pair of lengths %d and %d", len(pr.Chosen), len(pr.Rejected))
		}
	}
	if pairs[0].ScoreChosen != 2 || pairs[0].ScoreRejected != 0.5 || pairs[1].ScoreChosen != 3 || pairs[1].ScoreRejected != 2.5 {
		t.Fatalf("pairs %+v", pairs[:2])
	}
	if _, _, err := Preferences(tk, fixedPolicy{comps}, prompts, PrefOptions{K: 6, Pairing: "by_length"}); err == nil || !strings.Contains(err.Error(), "length_matched") {
		t.Fatalf("unknown pairing error %v", err)
	}
}

func TestPreferencesFromAPolicyAreDeterministic(t *testing.T) {
	tk := load(t, "summarize")
	prompts := tk.Prompts(task.Train, 0, 200)
	pol := NewCorrupt(tk, tk.DemoRate(), 0)
	a, sa, err := Preferences(tk, pol, prompts, PrefOptions{K: 4, Temperature: tk.LabelTemperature(), Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := Preferences(tk, pol, prompts, PrefOptions{K: 4, Temperature: tk.LabelTemperature(), Seed: 9})
	c, _, _ := Preferences(tk, pol, prompts, PrefOptions{K: 4, Temperature: tk.LabelTemperature(), Seed: 10})
	if len(a) != len(b) || len(a) == 0 || len(a) > 400 {
		t.Fatalf("%d and %d pairs", len(a), len(b))
	}
	same := true
	for i := range a {
		if !slices.Equal(a[i].Chosen, b[i].Chosen) || !slices.Equal(a[i].Rejected, b[i].Rejected) {
			t.Fatal("same seed, different pairs")
		}
		if i < len(c) && !slices.Equal(a[i].Chosen, c[i].Chosen) {
			same = false
		}
	}
	if same {
		t.Fatal("seed 10 reproduces seed 9's pairs")
	}
	// Labels from the demonstrator carry signal but are noisy at the default temperature.
	if sa.AgreeWithGold < 0.7 || sa.AgreeWithGold > 0.97 || sa.MeanGoldGap <= 0 {
		t.Fatalf("stats %+v", sa)
	}
	// Wide mode replaces about half the policy's samples by script samples.
	ref := NewReference(tk, 0)
	w, _, _ := Preferences(tk, ref, prompts, PrefOptions{K: 2, Mode: ModeWide, Temperature: 1, Seed: 2, KeepIdentical: true})
	nonRef := 0
	for _, pr := range w {
		r, _ := tk.Reference(pr.Prompt)
		for _, c := range [][]int32{pr.Chosen, pr.Rejected} {
			if !slices.Equal(c, r) {
				nonRef++
			}
		}
	}
	if frac := float64(nonRef) / float64(2*len(w)); frac < 0.3 || frac > 0.5 {
		t.Fatalf("wide mode: %v of completions differ from the reference policy's", frac)
	}
}

func TestIntervalHandComputed(t *testing.T) {
	iv := interval([]float64{1, 2, 3, 4})
	half := 1.959963984540054 * math.Sqrt(5.0/3/4) // sample variance 5/3, n = 4
	if iv.Mean != 2.5 || math.Abs(iv.High-iv.Low-2*half) > 1e-12 {
		t.Fatalf("interval %+v, want 2.5 ± %v", iv, half)
	}
	if iv := interval([]float64{3, 3, 3}); iv.Low != 3 || iv.High != 3 {
		t.Fatalf("constant values: %+v", iv)
	}
}

func TestEvaluateKnownPolicies(t *testing.T) {
	tk := load(t, "summarize")
	prompts := tk.Prompts(task.Test, 0, 100)
	ref := NewReference(tk, 0)
	// The reference against itself: ties everywhere, ROUGE 1, KL 0.
	rep, err := Evaluate(tk, ref, ref, Options{Prompts: prompts, SamplesPerPrompt: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Gold.Mean != rep.ReferenceGold || rep.WinRate.Mean != 0.5 || rep.RougeL.Mean != 1 || rep.EOSRate != 1 ||
		rep.KL == nil || rep.KL.Mean != 0 || rep.Gold.Low > rep.Gold.Mean || rep.Gold.High < rep.Gold.Mean {
		t.Fatalf("reference report %+v", rep)
	}
	// KL(reference ‖ demonstrator at 0.5) is exact: every step of the
	// reference has probability 1/2 under the demonstrator.
	rep, err = Evaluate(tk, ref, NewCorrupt(tk, 0.5, 0), Options{Prompts: prompts, SamplesPerPrompt: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := 0.0
	for _, p := range prompts {
		r, _ := tk.Reference(p)
		want += float64(len(r)) * math.Ln2 / float64(len(prompts))
	}
	if math.Abs(rep.KL.Mean-want) > 1e-9 || !strings.HasPrefix(rep.KL.Estimator, "k1") {
		t.Fatalf("KL %v, want %v", rep.KL.Mean, want)
	}
	// The reference's own samples are its completions: its mean length is
	// the reference mean length (want/ln 2 tokens per prompt).
	if math.Abs(rep.MeanLength-want/math.Ln2) > 1e-9 || math.Abs(rep.ReferenceMeanLength-want/math.Ln2) > 1e-9 || rep.ReferenceMeanLength < 2 {
		t.Fatalf("mean length %v, reference mean length %v, want both %v", rep.MeanLength, rep.ReferenceMeanLength, want/math.Ln2)
	}
	// A random policy loses almost always; the demonstrator sits in between.
	rnd, _ := Evaluate(tk, NewRandom(tk), nil, Options{Prompts: prompts})
	demo, _ := Evaluate(tk, NewCorrupt(tk, 0.5, 0), nil, Options{Prompts: prompts})
	if rnd.WinRate.Mean > 0.02 || !(rnd.Gold.Mean < demo.Gold.Mean && demo.Gold.Mean < rep.ReferenceGold) || rnd.KL != nil || rnd.KLNote == "" {
		t.Fatalf("random %+v demo %+v", rnd.Gold, demo.Gold)
	}
	if demo.WinRate.Mean <= rnd.WinRate.Mean || demo.RougeL.Mean >= 1 || demo.MeanLength <= 0 {
		t.Fatalf("demo report %+v", demo)
	}
	// Greedy decoding: no KL (not samples from π).
	g, _ := Evaluate(tk, NewCorrupt(tk, 0.3, 0.01), ref, Options{Prompts: prompts[:10], Greedy: true})
	if g.KL != nil || !strings.Contains(g.KLNote, "temperature 0") || g.WinRate.Mean != 0.5 {
		t.Fatalf("greedy report %+v", g)
	}
	// Default prompts: the test split's stream 0.
	d, _ := Evaluate(tk, ref, nil, Options{N: 7, SamplesPerPrompt: 1, TableRows: 3})
	if d.Prompts != 7 || len(d.Samples) != 3 || d.Samples[0].Prompt != tk.Decode(tk.Prompts(task.Test, 0, 1)[0]) {
		t.Fatalf("default prompts report %+v", d)
	}
	var text, js bytes.Buffer
	d.Model = "reference"
	if err := d.WriteText(&text); err != nil || !strings.Contains(text.String(), "| prompt | completion | reward |") ||
		!strings.Contains(text.String(), "win rate vs ref") {
		t.Fatalf("text report:\n%s", text.String())
	}
	if err := d.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back["win_rate_vs_reference"] == nil || back["gold_reward"] == nil {
		t.Fatalf("JSON report %s: %v", js.String(), err)
	}
	if s := SampleTable([]SampleRow{{Prompt: "a|b", Completion: "c"}}); !strings.Contains(s, `a\|b`) || !strings.Contains(s, "c (no EOS)") {
		t.Fatalf("table escaping: %s", s)
	}
}

func TestEvaluateTeacherTask(t *testing.T) {
	tk := load(t, "mdp_teacher")
	prompts := tk.Prompts(task.Test, 0, 20)
	rep, err := Evaluate(tk, NewCorrupt(tk, 0.5, 0.01), NewReference(tk, 0.01), Options{Prompts: prompts})
	if err != nil {
		t.Fatal(err)
	}
	if rep.KL == nil || rep.KL.Mean <= 0 || rep.Gold.Mean >= rep.ReferenceGold {
		t.Fatalf("teacher report %+v", rep)
	}
}
