package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"roads/internal/cliflag"
	"roads/theory"
)

func init() {
	register("theory", "exact numerical checks of the paper's theorems on enumerated token MDPs", runTheory)
}

func runTheory(args []string, stdout io.Writer) error {
	cfg := theory.DefaultRunConfig()
	fs := cliflag.New("theory")
	cliflag.Bind(fs, &cfg)
	out := fs.String("out", "runs/theory", "directory for the plots")
	fs.StringVar(out, "output_dir", *out, "alias of --out")
	jsonOut := fs.Bool("json", false, "print the report as JSON instead of a table")
	strict := fs.Bool("strict", false, "exit non-zero when any check does not pass")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	report, err := theory.Run(cfg, *out)
	if err != nil {
		return err
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return fmt.Errorf("theory: encode JSON: %w", err)
		}
	} else if err := report.WriteTable(stdout); err != nil {
		return err
	}
	if failed := report.Failed(); *strict && len(failed) > 0 {
		return fmt.Errorf("--strict: %d check(s) did not pass: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}
