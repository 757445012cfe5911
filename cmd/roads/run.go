package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"roads/exp"
	"roads/exp/methods" // also registers the wired methods
	"roads/internal/cliflag"
)

func init() {
	register("run", "run experiments (experiments/NAME.json or a built-in name): resumable, shardable (--shard i/n)", runRun)
}

// defaultResults is where `roads run` and `roads report` keep results.
const defaultResults = "runs/results"

func runRun(args []string, stdout io.Writer) error {
	fs := cliflag.New("run")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: roads run EXPERIMENT... [flags]\n\nEXPERIMENT is a spec file, a built-in name (%s), or all.\n\n",
			strings.Join(exp.EmbeddedNames(), ", "))
		fs.PrintDefaults()
	}
	preset := fs.String("preset", "", "preset: smoke, quick, full, or none for the spec as written (default: full where the spec has it, else none)")
	shardFlag := fs.String("shard", "", "run only the deterministic slice i/n of each grid (0 ≤ i < n), e.g. --shard $SLURM_ARRAY_TASK_ID/$N")
	results := fs.String("results", defaultResults, "results store (shards of a sweep share it)")
	cache := fs.String("cache", "", "shared artefact cache (default RESULTS/_artifacts)")
	keepGoing := fs.Bool("keep_going", false, "run the remaining cells after a failed one (failed cells get no record; rerun to retry them)")
	force := fs.Bool("force", false, "rerun cells that already have a record")
	allowMissing := fs.Bool("allow_missing", false, "skip cells whose method is not wired yet instead of refusing to start")
	list := fs.Bool("list", false, "list the cells (id, done/todo, axis values) and run nothing")
	asJSON := fs.Bool("json", false, "print the summary (or --list) as JSON")
	noProgress := fs.Bool("no_progress", false, "no progress bar on stderr")
	noEmbedded := fs.Bool("no_embedded_sft", false, "train every SFT model, even one embedded in the binary for the same settings (experiments/checkpoints)")
	jobs := fs.Int("jobs", 1, "run the sweep as this many local shard processes (cores/jobs threads each; logs in RESULTS/_logs); small models use 2 cores better as 2 jobs than as 1")
	names, err := cliflag.ParseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fs.Usage()
		return errors.New("name an experiment (or all)")
	}
	if len(names) == 1 && names[0] == "all" {
		names = exp.EmbeddedNames()
	}
	if *jobs < 1 {
		return fmt.Errorf("--jobs %d: want ≥ 1", *jobs)
	}
	if *jobs > 1 && *shardFlag != "" {
		return errors.New("--jobs and --shard do not combine: --jobs N runs the shards 0/N … N−1/N itself")
	}
	var shard exp.Shard
	if *shardFlag != "" {
		if shard, err = exp.ParseShard(*shardFlag); err != nil {
			return err
		}
	}
	specs := make([]*exp.Spec, len(names))
	for i, n := range names {
		if specs[i], err = exp.LoadSpec(n); err != nil {
			return err
		}
	}
	pick := func(s *exp.Spec) string {
		if *preset == "none" {
			return ""
		}
		if *preset != "" {
			return *preset
		}
		if _, ok := s.Presets["full"]; ok {
			return "full"
		}
		return ""
	}

	if *list {
		return exp.WriteCellList(stdout, specs, pick, shard, *results, *asJSON)
	}

	ctx, stop := signalContext()
	defer stop()
	if *noEmbedded {
		ctx = methods.WithoutEmbedded(ctx)
	}
	var progress io.Writer = os.Stderr
	if *noProgress {
		progress = nil
	}
	sweep := exp.Sweep{Specs: specs, Preset: pick, Jobs: *jobs, Options: exp.Options{Results: *results, CacheDir: *cache, Shard: shard,
		Progress: progress, Log: slog.Default(), KeepGoing: *keepGoing, Force: *force, AllowMissing: *allowMissing}}
	var status io.Writer = stdout
	if *jobs > 1 {
		if *asJSON {
			return errors.New("--json does not combine with --jobs; afterwards, `roads run ... --list --json` lists what finished")
		}
		// Each shard process gets this command line without --jobs (shards
		// are disjoint, so --force reruns only each one's own cells).
		if sweep.Command, err = selfRun(cliflag.Without(args, "jobs")); err != nil {
			return err
		}
	}
	if *asJSON {
		status = nil
	}
	summaries, err := sweep.Run(ctx, status)
	if *asJSON {
		if jerr := exp.WriteSummariesJSON(stdout, summaries); err == nil {
			err = jerr
		}
	}
	return err
}

// selfRun is the command line of a shard process: this binary's `run` with
// args (exp.RunShards appends plan.Args and --shard i/N).
func selfRun(args []string) ([]string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("jobs: find this binary: %w", err)
	}
	return append([]string{self, "run"}, args...), nil
}
