package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"

	"roads/internal/cliflag"
	"roads/model"
	"roads/tok"
)

func init() {
	register("sample", "sample completions of a prompt from a model directory (KV cache)", runSample)
}

func runSample(args []string, stdout io.Writer) error {
	fs := cliflag.New("sample")
	dir := fs.String("model", "", "model directory (config.json, model.safetensors, tokenizer.json)")
	prompt := fs.String("prompt", "", "prompt text")
	n := fs.Int("num_return_sequences", 1, "completions to sample")
	maxNew := fs.Int("max_new_tokens", 32, "largest number of new tokens")
	temp := fs.Float64("temperature", 1, "sampling temperature (0: greedy)")
	topK := fs.Int("top_k", 0, "keep the k most likely tokens (0: all)")
	seed := fs.Uint64("seed", 42, "sampling seed")
	asJSON := fs.Bool("json", false, "print JSON lines {prompt, completion, logprob, eos}")
	tokenizer := fs.String("tokenizer", "", "bytes: use the byte-level tokenizer for a model directory without tokenizer.json (otherwise that is an error)")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--model is required")
	}
	m, tk, err := model.LoadDir(*dir)
	if err != nil {
		return err
	}
	m.Freeze()
	if tk == nil {
		if *tokenizer != "bytes" {
			return fmt.Errorf("model %s has no tokenizer.json: pass --tokenizer bytes to encode the prompt with the byte-level tokenizer", *dir)
		}
		tk = tok.Bytes{}
	}
	ids, err := tk.Encode(*prompt)
	if err != nil {
		return fmt.Errorf("--prompt: %w", err)
	}
	if len(ids) == 0 {
		return errors.New("--prompt is empty: the model needs at least one token to condition on")
	}
	room := m.Config().NPositions - len(ids)
	if room <= 0 {
		return fmt.Errorf("--prompt has %d tokens; the model's context is %d", len(ids), m.Config().NPositions)
	}
	if *maxNew > room {
		if cliflag.Given(fs, "max_new_tokens") { // the default (32) is only an upper bound
			slog.Warn("--max_new_tokens is more than the context leaves after the prompt: generation stops at the context",
				"max_new_tokens", *maxNew, "prompt_tokens", len(ids), "n_positions", m.Config().NPositions, "generating at most", room)
		}
		*maxNew = room
	}
	prompts := make([][]int32, *n)
	for i := range prompts {
		prompts[i] = ids
	}
	g, err := m.Sample(prompts, model.SampleOptions{MaxNewTokens: *maxNew, Temperature: *temp, TopK: *topK, Seed: *seed})
	if err != nil {
		return err
	}
	for i := range prompts {
		row := g.Row(i)
		lp := 0.0
		for t := range row {
			lp += float64(g.LogProbs[i*g.MaxNew+t])
		}
		text := tk.Decode(row)
		if *asJSON {
			b, _ := json.Marshal(map[string]any{"prompt": *prompt, "completion": text, "logprob": round6(lp), "eos": g.EOS[i]})
			fmt.Fprintln(stdout, string(b))
			continue
		}
		end := ""
		if g.EOS[i] {
			end = " " + tok.EOSToken
		}
		fmt.Fprintf(stdout, "%s%s%s\t(log π = %.3f)\n", *prompt, sep(tk, *prompt), text+end, lp)
	}
	return nil
}

func sep(tk tok.Tokenizer, prompt string) string {
	if _, words := tk.(*tok.Words); words && prompt != "" && !strings.HasSuffix(prompt, " ") {
		return " "
	}
	return ""
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
