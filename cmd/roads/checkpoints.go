package main

import (
	"fmt"
	"io"
	"path/filepath"

	"roads/exp"
	"roads/exp/methods"
	"roads/internal/cliflag"
)

func init() {
	register("checkpoints", "regenerate the SFT models embedded in the binary (experiments/checkpoints) by training the main experiment's quick-preset SFT cells", runCheckpoints)
}

func runCheckpoints(args []string, stdout io.Writer) error {
	fs := cliflag.New("checkpoints")
	out := fs.String("out", "experiments/checkpoints", "write OUT/sft/<hash>/ for every SFT model (rebuild the binary to embed them)")
	experiment := fs.String("experiment", reproExperiment, "experiment (built-in name or spec file) whose sft cells are trained")
	preset := fs.String("preset", "quick", "the experiment's preset")
	cache := fs.String("cache", "runs/checkpoints/_artifacts", "artefact cache the models are trained in (resumable; must not hold embedded restores)")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags: --out, --experiment, --preset, --cache)", fs.Arg(0))
	}
	spec, err := exp.LoadSpec(*experiment)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	hashes, err := methods.ExportSFT(ctx, spec, *preset, *cache, *out)
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	for _, h := range hashes {
		fmt.Fprintln(stdout, filepath.Join(*out, "sft", h))
	}
	return nil
}
