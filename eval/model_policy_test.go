package eval

import (
	"math"
	"strings"
	"testing"

	"roads/model"
	"roads/task"
)

func TestModelPolicyAgreesWithItself(t *testing.T) {
	tk, p := tinyPolicy(t)
	p.Chunk = 3 // several chunks
	prompts := tk.Prompts(task.Test, 1, 8)
	comps, ended, logps, err := p.Generate(prompts, GenOptions{Temperature: 1, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	allowed := tk.AllowedOutput()
	withEOS := make([][]int32, len(comps))
	for i, c := range comps {
		for _, id := range c {
			if !allowed[id] {
				t.Fatalf("row %d sampled forbidden token %d", i, id)
			}
		}
		if len(c) > tk.Horizon() {
			t.Fatalf("row %d has %d tokens, horizon %d", i, len(c), tk.Horizon())
		}
		withEOS[i] = c
		want := len(c)
		if ended[i] {
			withEOS[i] = append(append([]int32(nil), c...), tk.Tokenizer().EOS())
			want++
		}
		if len(logps[i]) != want {
			t.Fatalf("row %d: %d log-probs for %d tokens", i, len(logps[i]), want)
		}
	}
	seq, err := p.LogProbs(prompts, withEOS)
	if err != nil {
		t.Fatal(err)
	}
	checkSampledLogProbs(t, logps, seq, 1e-3)
	// Same seed, same completions.
	again, _, _, _ := p.Generate(prompts, GenOptions{Temperature: 1, Seed: 9})
	for i := range again {
		if len(again[i]) != len(comps[i]) {
			t.Fatalf("same seed, different completions at row %d", i)
		}
		for j := range again[i] {
			if again[i][j] != comps[i][j] {
				t.Fatalf("same seed, different completions at row %d", i)
			}
		}
	}
}

func TestModelPolicyRejectsMismatchedModel(t *testing.T) {
	tk, _ := task.Load("summarize")
	cfg := model.NewConfig(tk.Tokenizer().VocabSize()+1, tk.MaxTotalLen(), 16, 1, 2)
	m, _ := model.New(cfg, 1)
	if _, err := NewModelPolicy(m, tk); err == nil || !strings.Contains(err.Error(), "vocab_size") {
		t.Fatalf("vocab mismatch error = %v", err)
	}
}

// checkSampledLogProbs: the log-probs recorded while sampling sum, row by
// row, to the sequence log-probs a forward pass gives (within tol).
func checkSampledLogProbs(t *testing.T, logps [][]float32, seq []float64, tol float64) {
	t.Helper()
	for i := range seq {
		s := 0.0
		for _, v := range logps[i] {
			s += float64(v)
		}
		if math.Abs(s-seq[i]) > tol {
			t.Fatalf("row %d: sampled log-probs sum %.6f, forward %.6f", i, s, seq[i])
		}
	}
}

// The sampler's row seeds are the task package's Hash(seed, row), the rule
// gold evaluation has always used: moving evaluation onto model.Sample
// changed no evaluation number.
func TestRowSeedIsTaskHash(t *testing.T) {
	for _, seed := range []uint64{0, 1, 42, 1 << 63} {
		for _, row := range []int{0, 1, 7, 255, 256, 100000} {
			if model.RowSeed(seed, row) != task.Hash(seed, uint64(row)) {
				t.Fatalf("RowSeed(%d, %d) ≠ task.Hash", seed, row)
			}
		}
	}
}

// EvaluateAgainstReference is Evaluate of the reference, then of the policy
// with KL to the reference, on the same prompts and seed: a policy equal to
// its reference gets the same gold and KL 0.
func TestEvaluateAgainstReference(t *testing.T) {
	tk, p := tinyPolicy(t)
	m := p.M
	res, err := EvaluateAgainstReference(tk, m, m, 6, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Evaluate(tk, p, nil, Options{Prompts: tk.Prompts(task.Test, 0, 6), SamplesPerPrompt: 2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Prompts != 6 || res.SamplesPerPrompt != 2 || res.Reference.Gold != want.Gold || res.Policy.Gold != want.Gold {
		t.Fatalf("gold: reference %v, policy %v, Evaluate %v", res.Reference.Gold, res.Policy.Gold, want.Gold)
	}
	if res.Reference.KL != nil || res.Policy.KL == nil || math.Abs(res.Policy.KL.Mean) > 1e-9 {
		t.Fatalf("KL: reference %v, policy %v", res.Reference.KL, res.Policy.KL)
	}
}
