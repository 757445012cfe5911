package model

import (
	"testing"
)

// Benchmarks with the peer's exact setup (bench/torch_gpt.py): batch 32,
// context 64, vocab 256, 4 heads, untied head with bias, Adam lr 1e-3.
//
//	go test ./model -run '^$' -bench . -benchtime 20x

func benchTrain(b *testing.B, cfg Config, batch int) {
	tb, err := newTrainBench(cfg, batch, 0)
	if err != nil {
		b.Fatal(err)
	}
	tb.nextBatch()
	if _, err := tb.step(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tb.nextBatch()
		b.StartTimer()
		if _, err := tb.step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*cfg.NPositions*b.N)/b.Elapsed().Seconds(), "tok/s")
}

func BenchmarkTrainStepD128(b *testing.B) { benchTrain(b, BenchConfig(128, 2), 32) }
func BenchmarkTrainStepD256(b *testing.B) { benchTrain(b, BenchConfig(256, 4), 32) }

func BenchmarkSampleKVD128(b *testing.B) {
	tb, err := newTrainBench(BenchConfig(128, 2), 32, 0)
	if err != nil {
		b.Fatal(err)
	}
	prompts := make([][]int32, 32)
	for i := range prompts {
		o := tb.rng.IntN(len(tb.pattern))
		for t := range 32 {
			prompts[i] = append(prompts[i], tb.pattern[(o+t)%len(tb.pattern)])
		}
	}
	opt := GenerateOptions{MaxNewTokens: 32, Temperature: 1, IgnoreEOS: true}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		opt.RNG = tb.rng
		if _, err := tb.m.Generate(prompts, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(32*32*b.N)/b.Elapsed().Seconds(), "newtok/s")
}

func TestBenchHelpers(t *testing.T) {
	r, err := BenchTrain(NewConfig(16, 8, 8, 1, 2), 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.Repeats != 3 || r.Tokens != 16 || !(r.TokensPerSecBest >= r.TokensPerSecMedian) || r.FinalLoss <= 0 {
		t.Fatalf("BenchTrain: %+v", r)
	}
	s, err := BenchSampleKV(NewConfig(16, 8, 8, 1, 2), 2, 3, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if s.Repeats != 2 || s.Tokens != 8 || s.PrefillSecondsMedian <= 0 || !(s.TokensPerSecWithPrefillMedian < s.TokensPerSecMedian) {
		t.Fatalf("BenchSampleKV: %+v", s)
	}
	if _, err := BenchSampleKV(NewConfig(16, 8, 8, 1, 2), 2, 6, 4, 2); err == nil {
		t.Fatal("prompt + new tokens beyond n_positions accepted")
	}
}

// BenchmarkTrainStepGPT2Small is `roads bench --gpt2_small`'s training step
// (d768, 12 layers, 12 heads, vocab 50,257, context 256, batch 8; 5.5 GB):
//
//	go test ./model -run '^$' -bench GPT2Small -benchtime 3x -cpuprofile cpu.out
func BenchmarkTrainStepGPT2Small(b *testing.B) { benchTrain(b, NewConfig(50257, 256, 768, 12, 12), 8) }
