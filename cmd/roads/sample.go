package main

import (
	"io"
	"log/slog"

	"roads/internal/cliflag"
	"roads/recipe"
)

func init() {
	register("sample", "sample completions of a prompt from a model directory (KV cache)", runSample)
}

func runSample(args []string, stdout io.Writer) error {
	cfg := recipe.DefaultSampleConfig()
	fs := cliflag.New("sample")
	cliflag.Bind(fs, &cfg)
	asJSON := fs.Bool("json", false, "print JSON lines {prompt, completion, logprob, eos}")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	rows, clampedTo, err := recipe.Sample(cfg)
	if err != nil {
		return err
	}
	if clampedTo > 0 && cliflag.Given(fs, "max_new_tokens") { // the default (32) is only an upper bound
		slog.Warn("--max_new_tokens is more than the context leaves after the prompt: generation stops at the context",
			"max_new_tokens", cfg.MaxNewTokens, "generating at most", clampedTo)
	}
	for _, r := range rows {
		if *asJSON {
			if err := writeJSONLine(stdout, r); err != nil {
				return err
			}
			continue
		}
		if _, err := io.WriteString(stdout, r.Text+"\n"); err != nil {
			return err
		}
	}
	return nil
}
