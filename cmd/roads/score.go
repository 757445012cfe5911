package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"roads/internal/atomicfile"
	"roads/internal/cliflag"
	"roads/recipe"
)

func init() {
	register("score", "per-example log-probs, DPO implicit rewards, verifier and gold scores of a JSONL file, as JSONL", runScore)
}

func runScore(args []string, stdout io.Writer) error {
	cfg := recipe.DefaultScoreConfig()
	fs := cliflag.New("score")
	cliflag.Bind(fs, &cfg)
	cfg.Keys.AddFlags(fs)
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	lines, err := recipe.Score(cfg)
	if err != nil {
		return err
	}
	write := func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return bw.Flush()
	}
	if cfg.Output == "" {
		return write(stdout)
	}
	if err := atomicfile.Write(cfg.Output, write); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "score: %d rows of %s written to %s\n", len(lines), cfg.Data, cfg.Output)
	return nil
}
