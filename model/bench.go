package model

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"roads/engine"
)

// BenchResult is the outcome of BenchTrain or BenchSampleKV.
type BenchResult struct {
	TokensPerSecBest   float64 `json:"tokens_per_s_best"`   // tokens / fastest step (or run)
	TokensPerSecMedian float64 `json:"tokens_per_s_median"` // tokens / median step (or run)
	SecondsMin         float64 `json:"seconds_min"`
	SecondsMedian      float64 `json:"seconds_median"`
	Tokens             int     `json:"tokens"` // tokens per step (or new tokens per run)
	Repeats            int     `json:"repeats"`
	Threads            int     `json:"threads"`
	FinalLoss          float64 `json:"final_loss,omitempty"` // training only
	// Sampling only: the prompt prefill, excluded from the figures above as in
	// the peer's KV loop, and the throughput with it included.
	PrefillSecondsMedian          float64 `json:"prefill_seconds_median,omitempty"`
	TokensPerSecWithPrefillMedian float64 `json:"tokens_per_s_with_prefill_median,omitempty"`
}

// BenchConfig is the peer benchmark's model (bench/torch_gpt.py):
// vocab 256, context 64, 4 heads, untied LM head with bias.
func BenchConfig(dModel, nLayer int) Config {
	return NewConfig(256, 64, dModel, nLayer, 4)
}

// trainBench reproduces torch_gpt.py's training step: a random 37-token
// pattern repeated, each row a window of n_positions+1 tokens at a random
// offset, mean next-token cross-entropy over all positions, Adam lr 1e-3.
type trainBench struct {
	m       *Model
	opt     *engine.AdamW
	rng     *engine.RNG
	pattern []int32
	batch   Batch
	dlogp   []float32
}

func newTrainBench(cfg Config, batch int, seed uint64) (*trainBench, error) {
	if cfg.Head != "lm" {
		return nil, fmt.Errorf("bench: training benchmark needs an LM head, got %q", cfg.Head)
	}
	if batch <= 0 {
		return nil, fmt.Errorf("bench: batch must be positive, got %d", batch)
	}
	m, err := New(cfg, seed)
	if err != nil {
		return nil, err
	}
	opt, err := engine.NewAdamW(m.Params(), engine.DefaultAdamW(), nil)
	if err != nil {
		return nil, err
	}
	tb := &trainBench{m: m, opt: opt, rng: engine.NewRNG(seed + 1)}
	for range 37 {
		tb.pattern = append(tb.pattern, int32(tb.rng.IntN(cfg.VocabSize)))
	}
	tb.batch.Tokens = make([][]int32, batch)
	for i := range tb.batch.Tokens {
		tb.batch.Tokens[i] = make([]int32, cfg.NPositions+1)
	}
	return tb, nil
}

// nextBatch draws fresh windows (outside the timed step, as in the peer).
func (tb *trainBench) nextBatch() {
	for _, row := range tb.batch.Tokens {
		o := tb.rng.IntN(len(tb.pattern))
		for t := range row {
			row[t] = tb.pattern[(o+t)%len(tb.pattern)]
		}
	}
}

// step runs forward, loss, backward and the Adam update; it returns the loss.
func (tb *trainBench) step() (float64, error) {
	m := tb.m
	out, err := m.Forward(tb.batch, ForwardOptions{ScoreAll: true})
	if err != nil {
		return 0, err
	}
	if cap(tb.dlogp) < len(out.Mask) {
		tb.dlogp = make([]float32, len(out.Mask))
	}
	d := tb.dlogp[:len(out.Mask)]
	var count int
	var loss float64
	for _, n := range out.NumScored {
		count += n
	}
	for i, s := range out.SeqLogProb {
		_ = i
		loss -= s
	}
	inv := -1 / float32(count)
	for k, v := range out.Mask {
		d[k] = v * inv
	}
	m.ZeroGrad()
	if err := m.Backward(d, nil); err != nil {
		return 0, err
	}
	tb.opt.Step(1e-3)
	return loss / float64(count), nil
}

// BenchTrain measures training throughput the way torch_gpt.py --mode train
// does: one warm-up step, then `steps` timed steps of batch × n_positions
// tokens (forward, cross-entropy, backward, Adam; batch sampling untimed).
func BenchTrain(cfg Config, batch, steps int) (BenchResult, error) {
	tb, err := newTrainBench(cfg, batch, 0)
	if err != nil {
		return BenchResult{}, err
	}
	if steps <= 0 {
		return BenchResult{}, fmt.Errorf("bench: steps must be positive, got %d", steps)
	}
	tb.nextBatch()
	if _, err := tb.step(); err != nil {
		return BenchResult{}, err
	}
	times := make([]float64, 0, steps)
	var loss float64
	for range steps {
		tb.nextBatch()
		start := time.Now()
		loss, err = tb.step()
		if err != nil {
			return BenchResult{}, err
		}
		times = append(times, time.Since(start).Seconds())
	}
	r := summarise(times, batch*cfg.NPositions)
	r.FinalLoss = loss
	return r, nil
}

// BenchSampleKV measures batched KV-cache sampling the way torch_gpt.py
// --mode sample does (kv-cache loop): batch prompts of promptLen tokens from
// the repeating pattern, newTokens multinomial samples at temperature 1 per
// row, `runs` timed runs after one warm-up. As in the peer, the prompt prefill
// is excluded from the main figures (TokensPerSecWithPrefillMedian includes it).
func BenchSampleKV(cfg Config, batch, promptLen, newTokens, runs int) (BenchResult, error) {
	tb, err := newTrainBench(cfg, batch, 0)
	if err != nil {
		return BenchResult{}, err
	}
	if promptLen <= 0 || newTokens <= 0 || runs <= 0 {
		return BenchResult{}, fmt.Errorf("bench: prompt length, new tokens and runs must be positive, got %d, %d, %d", promptLen, newTokens, runs)
	}
	prompts := make([][]int32, batch)
	rng := engine.NewRNG(2)
	var times, prefill, whole []float64
	for run := -1; run < runs; run++ { // run −1 warms up
		for i := range prompts {
			o := tb.rng.IntN(len(tb.pattern))
			prompts[i] = prompts[i][:0]
			for t := range promptLen {
				prompts[i] = append(prompts[i], tb.pattern[(o+t)%len(tb.pattern)])
			}
		}
		start := time.Now()
		if _, err := tb.m.Generate(prompts, GenerateOptions{MaxNewTokens: newTokens, Temperature: 1, RNG: rng, IgnoreEOS: true}); err != nil {
			return BenchResult{}, err
		}
		if run >= 0 {
			all, pre := time.Since(start).Seconds(), tb.m.kv.lastPrefill.Seconds()
			times, prefill, whole = append(times, all-pre), append(prefill, pre), append(whole, all)
		}
	}
	r := summarise(times, batch*newTokens)
	r.PrefillSecondsMedian = median(prefill)
	r.TokensPerSecWithPrefillMedian = float64(batch*newTokens) / median(whole)
	return r, nil
}

func median(times []float64) float64 {
	s := slices.Clone(times)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func summarise(times []float64, tokens int) BenchResult {
	s := slices.Clone(times)
	slices.Sort(s)
	med := median(s)
	return BenchResult{
		TokensPerSecBest:   float64(tokens) / s[0],
		TokensPerSecMedian: float64(tokens) / med,
		SecondsMin:         s[0],
		SecondsMedian:      med,
		Tokens:             tokens,
		Repeats:            len(s),
		Threads:            engine.Threads(),
	}
}

// PeerSuite is `roads bench`'s measurement at the PyTorch peer's setup
// (bench/torch_gpt.py: vocab 256, context 64, 4 heads, untied head with
// bias, Adam lr 1e-3): training at d128/L2 and d256/L4 and KV-cache sampling
// at d128/L2 (32 prompt tokens, 32 new), under the keys bench/compare.sh
// reads.
func PeerSuite(batch, steps, runs int) (map[string]float64, error) {
	out := map[string]float64{}
	for _, size := range []struct{ d, layers int }{{128, 2}, {256, 4}} {
		slog.Info("bench: training", "d_model", size.d, "layers", size.layers, "steps", steps)
		r, err := BenchTrain(BenchConfig(size.d, size.layers), batch, steps)
		if err != nil {
			return nil, fmt.Errorf("train d%d: %w", size.d, err)
		}
		key := fmt.Sprintf("train_tokens_per_s_d%d", size.d)
		out[key], out[key+"_median"] = r.TokensPerSecBest, r.TokensPerSecMedian
		out[fmt.Sprintf("train_final_loss_d%d", size.d)] = r.FinalLoss
	}
	slog.Info("bench: KV-cache sampling", "d_model", 128, "layers", 2, "runs", runs)
	r, err := BenchSampleKV(BenchConfig(128, 2), batch, 32, 32, runs)
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	out["sample_kv_tokens_per_s_d128"], out["sample_kv_tokens_per_s_d128_median"] = r.TokensPerSecBest, r.TokensPerSecMedian
	return out, nil
}

// GPT2SmallConfig is the peer's architecture (learned positions, untied
// head with bias) at GPT-2-small shape: d768, 12 layers, 12 heads, vocab
// 50,257, context 256.
func GPT2SmallConfig() Config { return NewConfig(50257, 256, 768, 12, 12) }

// GPT2SmallSuite is `roads bench --gpt2_small`: training and KV-cache
// sampling (32 prompt tokens, 32 new per row, as torch_gpt.py --mode sample)
// at GPT2SmallConfig.
func GPT2SmallSuite(batch, steps, runs int) (map[string]float64, error) {
	cfg := GPT2SmallConfig()
	slog.Info("bench: GPT-2-small training", "params", cfg.NumParams(), "batch", batch, "steps", steps)
	r, err := BenchTrain(cfg, batch, steps)
	if err != nil {
		return nil, fmt.Errorf("train gpt2_small: %w", err)
	}
	slog.Info("bench: GPT-2-small KV-cache sampling", "runs", runs)
	s, err := BenchSampleKV(cfg, batch, 32, 32, runs)
	if err != nil {
		return nil, fmt.Errorf("sample gpt2_small: %w", err)
	}
	return map[string]float64{
		"train_tokens_per_s_gpt2_small": r.TokensPerSecBest, "train_tokens_per_s_gpt2_small_median": r.TokensPerSecMedian,
		"train_final_loss_gpt2_small":       r.FinalLoss,
		"sample_kv_tokens_per_s_gpt2_small": s.TokensPerSecBest, "sample_kv_tokens_per_s_gpt2_small_median": s.TokensPerSecMedian,
	}, nil
}
