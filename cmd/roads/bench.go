package main

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
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

// runBench times the peer's model and step (model.PeerSuite, or
// model.GPT2SmallSuite with --gpt2_small); bench/compare.sh and
// bench/gpt2_small.sh run it next to the PyTorch peer and print the ratios.
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
	out := map[string]any{"engine": "roads", "go": runtime.Version(), "gemm_kernel": gemm.Kernel(), "threads": *threads, "batch": *batch}
	title, keys := fmt.Sprintf("roads bench (%s, gemm %s, %d threads)", runtime.Version(), gemm.Kernel(), *threads),
		[]string{"train_tokens_per_s_d128", "train_tokens_per_s_d256", "sample_kv_tokens_per_s_d128"}
	suite := model.PeerSuite
	out["context"] = 64
	if *gpt2Small {
		cfg := model.GPT2SmallConfig()
		maps.Copy(out, map[string]any{"context": 256, "d": 768, "layers": 12, "heads": 12, "vocab": 50257, "params": cfg.NumParams()})
		title = fmt.Sprintf("roads bench --gpt2_small (%d parameters, batch %d, %d threads)", cfg.NumParams(), *batch, *threads)
		keys, suite = []string{"train_tokens_per_s_gpt2_small", "sample_kv_tokens_per_s_gpt2_small"}, model.GPT2SmallSuite
	}
	figures, err := suite(*batch, *steps, *runs)
	if err != nil {
		return err
	}
	for k, v := range figures {
		out[k] = v
	}
	if !*gpt2Small {
		tk, err := tok.LoadFile(*tokenizer)
		if err == nil {
			var tps float64
			var n int
			if tps, n, err = tok.BenchEncode(tk, *textFile); err == nil {
				out["gpt2_encode_tokens_per_s"], out["gpt2_encode_tokens"] = tps, n
				keys = append(keys, "gpt2_encode_tokens_per_s")
			}
		}
		if err != nil {
			slog.Warn("bench: GPT-2 encoding skipped", "err", err)
		}
	}
	out["peak_rss_mb"] = peakRSSMB()
	if *asJSON {
		return writeJSONLine(stdout, out)
	}
	fmt.Fprintln(stdout, title)
	for _, k := range keys {
		if m, ok := out[k+"_median"]; ok {
			fmt.Fprintf(stdout, "  %-36s best %9.0f   median %9.0f\n", k, out[k], m)
		} else {
			fmt.Fprintf(stdout, "  %-36s %9.0f\n", k, out[k])
		}
	}
	fmt.Fprintf(stdout, "  %-36s %9.1f\n", "peak_rss_mb", out["peak_rss_mb"])
	return nil
}
