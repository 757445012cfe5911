package eval

import (
	"math"
	"testing"

	"roads/model"
	"roads/task"
)

// tinyPolicy is a random d16 transformer on summarize: it rarely emits EOS
// early, so truncation changes most of its samples.
func tinyPolicy(t *testing.T) (*task.Task, *ModelPolicy) {
	t.Helper()
	tk, err := task.Load("summarize")
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.NewConfig(tk.Tokenizer().VocabSize(), tk.MaxTotalLen(), 16, 1, 2)
	cfg.EOSTokenID, cfg.PadTokenID = int(tk.Tokenizer().EOS()), int(tk.Tokenizer().PAD())
	m, err := model.New(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewModelPolicy(m, tk)
	if err != nil {
		t.Fatal(err)
	}
	return tk, p
}

// TestTruncatedPolicy: samples stop at L with a forced EOS; the log-probs
// recorded while sampling equal LogProbs of the same completions; longer
// completions have probability 0; the KL to the base is positive when it
// cuts, exactly 0 when L reaches the horizon; L = 0 is the empty completion.
func TestTruncatedPolicy(t *testing.T) {
	tk, base := tinyPolicy(t)
	eos := tk.Tokenizer().EOS()
	prompts := tk.Prompts(task.Test, 1, 16)
	const L = 2
	tr := &Truncated{Base: base, MaxTokens: L, Horizon: tk.Horizon(), EOS: eos}
	comps, ended, logps, err := tr.Generate(prompts, GenOptions{Temperature: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	withEOS := make([][]int32, len(comps))
	forced := 0
	for i, c := range comps {
		if len(c) > L || !ended[i] {
			t.Fatalf("row %d: %d tokens, ended %v; want ≤ %d tokens, ended", i, len(c), ended[i], L)
		}
		if len(c) == L {
			forced++
		}
		withEOS[i] = append(append([]int32(nil), c...), eos)
		if len(logps[i]) != len(c)+1 {
			t.Fatalf("row %d: %d log-probs for %d tokens + EOS", i, len(logps[i]), len(c))
		}
	}
	if forced == 0 {
		t.Fatal("no completion reached L: the test's base policy stops too early to exercise truncation")
	}
	seq, err := tr.LogProbs(prompts, withEOS)
	if err != nil {
		t.Fatal(err)
	}
	baseSeq, err := base.LogProbs(prompts, withEOS)
	if err != nil {
		t.Fatal(err)
	}
	checkSampledLogProbs(t, logps, seq, 1e-4)
	for i := range seq {
		if len(comps[i]) == L && !(seq[i] > baseSeq[i]) {
			t.Fatalf("row %d: forced EOS should make π_L(y) > π(y): %v vs %v", i, seq[i], baseSeq[i])
		}
	}
	long := [][]int32{append(append([]int32(nil), prompts[0][:L+1]...), eos)} // L+1 tokens, then EOS
	if lp, err := tr.LogProbs(prompts[:1], long); err != nil || !math.IsInf(lp[0], -1) {
		t.Fatalf("completion of %d tokens under L=%d: log-prob %v, %v; want -Inf", len(long[0]), L, lp, err)
	}

	rep, err := Evaluate(tk, tr, base, Options{Prompts: prompts, SamplesPerPrompt: 2, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if rep.KL == nil || !(rep.KL.Mean > 0) || rep.MeanLength > L {
		t.Fatalf("truncated at %d: KL %+v, mean length %v", L, rep.KL, rep.MeanLength)
	}
	same := &Truncated{Base: base, MaxTokens: tk.Horizon(), Horizon: tk.Horizon(), EOS: eos}
	rep, err = Evaluate(tk, same, base, Options{Prompts: prompts, SamplesPerPrompt: 2, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if rep.KL == nil || rep.KL.Mean != 0 {
		t.Fatalf("L = horizon is the base itself: KL %+v, want exactly 0", rep.KL)
	}
	empty := &Truncated{Base: base, MaxTokens: 0, Horizon: tk.Horizon(), EOS: eos}
	rep, err = Evaluate(tk, empty, nil, Options{Prompts: prompts, SamplesPerPrompt: 1, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if rep.MeanLength != 0 || rep.EOSRate != 1 || rep.Gold.Mean != 0 {
		t.Fatalf("L = 0: length %v, EOS rate %v, gold %v; want 0, 1, 0 (summarize scores the empty completion 0)", rep.MeanLength, rep.EOSRate, rep.Gold.Mean)
	}
}
