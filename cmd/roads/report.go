package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"roads/internal/cliflag"
	"roads/report"
)

func init() {
	register("report", "report.md (tables, CIs, verdicts on H1–H6), plots and cells.csv from a results store", runReport)
}

func runReport(args []string, stdout io.Writer) error {
	fs := cliflag.New("report")
	results := fs.String("results", defaultResults, "results store written by roads run")
	out := fs.String("out", "runs/report", "output directory (report.md, cells.csv, plots/)")
	table := fs.String("table", "main", "print this experiment's table to stdout (empty: none)")
	metric := fs.String("metric", "", "with --json: print only this metric of --table's rows (arm → mean, CI, n)")
	asJSON := fs.Bool("json", false, "print the verdicts and tables as JSON instead of text")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags: --results, --out, --table, --json)", fs.Arg(0))
	}
	rep, err := report.Generate(*results, *out)
	if err != nil {
		return err
	}
	if *asJSON {
		if *metric != "" {
			sum, ok := rep.Summary(*table, *metric)
			if !ok {
				return fmt.Errorf("no results for experiment %q", *table)
			}
			return writeIndentedJSON(stdout, sum)
		}
		b, err := rep.JSON()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	if e, ok := rep.Experiment(*table); ok && *table != "" {
		fmt.Fprintf(stdout, "%s\n\n%s\n", e.Spec.Title, report.TableMarkdown(e.Table))
	}
	for _, line := range rep.VerdictLines() {
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintf(stdout, "\nwrote %s, %s and plots/ (%d experiment groups)\n", filepath.Join(*out, "report.md"), filepath.Join(*out, "cells.csv"), len(rep.Experiments))
	return nil
}

func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // tokens such as <|im_end|> print as they are
	return enc.Encode(v)
}
