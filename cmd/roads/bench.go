package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"

	"roads/engine"
	"roads/internal/cliflag"
	"roads/internal/gemm"
	"roads/model"
	"roads/tok"
)

func init() {
	register("bench", "measure engine speed on the PyTorch peer's model and step (bench/torch_gpt.py)", runBench)
}

// runBench times training at d128/L2 and d256/L4 and KV-cache sampling at
// d128/L2 with the peer's exact setup: vocab 256, context 64, batch 32,
// 4 heads, untied head with bias, Adam lr 1e-3. bench/compare.sh runs it next
// to the PyTorch peer and prints the ratios.
func runBench(args []string, stdout io.Writer) error {
	fs := cliflag.New("bench")
	steps := fs.Int("steps", 10, "timed training steps per size (after one warm-up step)")
	runs := fs.Int("sample_runs", 5, "timed KV-cache sampling runs")
	batch := fs.Int("batch", 32, "sequences per step")
	threads := fs.Int("threads", 2, "engine threads (goroutines for matmuls and row ops)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	gpt2Small := fs.Bool("gpt2_small", false, "instead: a GPT-2-small-shaped model (d768, 12 layers, 12 heads, vocab 50,257, context 256, batch --batch, random weights): training and KV-cache sampling tokens/s (bench/gpt2_small.sh runs the peer beside it)")
	tokenizer := fs.String("tokenizer", "tok/testdata/gpt2/tokenizer.json.gz", "GPT-2 tokenizer.json(.gz) for the encoding benchmark (skipped when absent)")
	textFile := fs.String("text", "tok/testdata/gpt2/golden.jsonl.gz", "corpus of the encoding benchmark: golden JSONL (.gz) whose \"text\" fields, joined by spaces, are doubled to ≥ 1 MiB (bench/tokenize_node.mjs builds the same text)")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	engine.SetThreads(*threads)
	gemm.SetThreads(*threads)

	if *gpt2Small {
		return benchGPT2Small(stdout, *steps, *runs, *batch, *threads, *asJSON)
	}
	out := map[string]any{
		"engine":      "roads",
		"go":          runtime.Version(),
		"gemm_kernel": gemm.Kernel(),
		"threads":     *threads,
		"batch":       *batch,
		"context":     64,
	}
	for _, size := range []struct{ d, layers int }{{128, 2}, {256, 4}} {
		slog.Info("bench: training", "d_model", size.d, "layers", size.layers, "steps", *steps)
		r, err := model.BenchTrain(model.BenchConfig(size.d, size.layers), *batch, *steps)
		if err != nil {
			return fmt.Errorf("train d%d: %w", size.d, err)
		}
		key := fmt.Sprintf("train_tokens_per_s_d%d", size.d)
		out[key] = r.TokensPerSecBest
		out[key+"_median"] = r.TokensPerSecMedian
		out[fmt.Sprintf("train_final_loss_d%d", size.d)] = r.FinalLoss
	}
	slog.Info("bench: KV-cache sampling", "d_model", 128, "layers", 2, "runs", *runs)
	r, err := model.BenchSampleKV(model.BenchConfig(128, 2), *batch, 32, 32, *runs)
	if err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	out["sample_kv_tokens_per_s_d128"] = r.TokensPerSecBest
	out["sample_kv_tokens_per_s_d128_median"] = r.TokensPerSecMedian
	tk, err := tok.LoadFile(*tokenizer)
	if err == nil {
		var tps float64
		var n int
		if tps, n, err = tok.BenchEncode(tk, *textFile); err == nil {
			out["gpt2_encode_tokens_per_s"], out["gpt2_encode_tokens"] = tps, n
		}
	}
	if err != nil {
		slog.Warn("bench: GPT-2 encoding skipped", "err", err)
	}
	out["peak_rss_mb"] = peakRSSMB()

	if *asJSON {
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "roads bench (%s, gemm %s, %d threads)\n", runtime.Version(), gemm.Kernel(), *threads)
	for _, k := range []string{"train_tokens_per_s_d128", "train_tokens_per_s_d256", "sample_kv_tokens_per_s_d128"} {
		fmt.Fprintf(stdout, "  %-30s best %9.0f   median %9.0f\n", k, out[k], out[k+"_median"])
	}
	if v, ok := out["gpt2_encode_tokens_per_s"]; ok {
		fmt.Fprintf(stdout, "  %-30s %9.0f\n", "gpt2_encode_tokens_per_s", v)
	}
	fmt.Fprintf(stdout, "  %-30s %9.1f\n", "peak_rss_mb", out["peak_rss_mb"])
	return nil
}

// benchGPT2Small times the peer's architecture (learned positions, untied
// head with bias) at GPT-2-small shape: d768, 12 layers, 12 heads, vocab
// 50,257, context 256; sampling prefills 32 prompt tokens and times 32 new
// ones per row, as torch_gpt.py --mode sample.
func benchGPT2Small(stdout io.Writer, steps, runs, batch, threads int, asJSON bool) error {
	cfg := model.NewConfig(50257, 256, 768, 12, 12)
	out := map[string]any{"engine": "roads", "go": runtime.Version(), "gemm_kernel": gemm.Kernel(), "threads": threads,
		"batch": batch, "context": 256, "d": 768, "layers": 12, "heads": 12, "vocab": 50257, "params": cfg.NumParams()}
	slog.Info("bench: GPT-2-small training", "params", cfg.NumParams(), "batch", batch, "steps", steps)
	r, err := model.BenchTrain(cfg, batch, steps)
	if err != nil {
		return fmt.Errorf("train gpt2_small: %w", err)
	}
	out["train_tokens_per_s_gpt2_small"], out["train_tokens_per_s_gpt2_small_median"] = r.TokensPerSecBest, r.TokensPerSecMedian
	out["train_final_loss_gpt2_small"] = r.FinalLoss
	slog.Info("bench: GPT-2-small KV-cache sampling", "runs", runs)
	s, err := model.BenchSampleKV(cfg, batch, 32, 32, runs)
	if err != nil {
		return fmt.Errorf("sample gpt2_small: %w", err)
	}
	out["sample_kv_tokens_per_s_gpt2_small"], out["sample_kv_tokens_per_s_gpt2_small_median"] = s.TokensPerSecBest, s.TokensPerSecMedian
	out["peak_rss_mb"] = peakRSSMB()
	if asJSON {
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "roads bench --gpt2_small (%d parameters, batch %d, %d threads)\n", cfg.NumParams(), batch, threads)
	for _, k := range []string{"train_tokens_per_s_gpt2_small", "sample_kv_tokens_per_s_gpt2_small"} {
		fmt.Fprintf(stdout, "  %-36s best %9.0f   median %9.0f\n", k, out[k], out[k+"_median"])
	}
	fmt.Fprintf(stdout, "  %-36s %9.1f\n", "peak_rss_mb", out["peak_rss_mb"])
	return nil
}
