package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"roads/exp"
	"roads/exp/methods" // also registers the wired methods
)

func init() {
	register("run", "run experiments (experiments/NAME.json or a built-in name): resumable, shardable (--shard i/n)", runRun)
}

// defaultResults is where `roads run` and `roads report` keep results.
const defaultResults = "runs/results"

// parseInterleaved parses flags that may come after positional arguments
// ("roads run main --shard 0/4"), returning the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func runRun(args []string, stdout io.Writer) error {
	fs := newFlags("run")
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
	names, err := parseInterleaved(fs, args)
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
		return listCells(stdout, specs, pick, shard, *results, *asJSON)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *noEmbedded {
		ctx = methods.WithoutEmbedded(ctx)
	}
	var progress io.Writer = os.Stderr
	if *noProgress {
		progress = nil
	}
	if *jobs > 1 {
		var childArgs []string
		if *noEmbedded {
			childArgs = append(childArgs, "--no_embedded_sft")
		}
		if *preset != "" {
			childArgs = append(childArgs, "--preset", *preset)
		}
		childArgs = append(childArgs, "--results", *results)
		if *cache != "" {
			childArgs = append(childArgs, "--cache", *cache)
		}
		if *keepGoing {
			childArgs = append(childArgs, "--keep_going")
		}
		if *allowMissing {
			childArgs = append(childArgs, "--allow_missing")
		}
		if *force { // shards are disjoint, so each reruns only its own cells
			childArgs = append(childArgs, "--force")
		}
		if *asJSON {
			return errors.New("--json does not combine with --jobs; afterwards, `roads run ... --list --json` lists what finished")
		}
		command, err := selfRun(names)
		if err != nil {
			return err
		}
		plan := exp.ShardPlan{Command: command, Specs: specs, Preset: pick, Args: childArgs, Results: *results, Jobs: *jobs}
		err = exp.RunShards(ctx, plan, progress)
		if serr := exp.PrintShardStatus(stdout, plan); serr != nil && err == nil {
			err = serr
		}
		return err
	}
	var summaries []*exp.Summary
	for _, s := range specs {
		opts := exp.Options{Preset: pick(s), Results: *results, CacheDir: *cache, Shard: shard, Progress: progress,
			Log: slog.Default(), KeepGoing: *keepGoing, Force: *force, AllowMissing: *allowMissing}
		sum, err := exp.Run(ctx, s, opts)
		if sum != nil {
			summaries = append(summaries, sum)
			if !*asJSON {
				printSummary(stdout, sum, *results)
			}
		}
		if err != nil {
			if *asJSON {
				writeSummariesJSON(stdout, summaries)
			}
			return err
		}
	}
	if *asJSON {
		return writeSummariesJSON(stdout, summaries)
	}
	return nil
}

// selfRun is the command line of a shard process: this binary's `run` over
// the experiment names (exp.RunShards appends the flags and --shard i/N).
func selfRun(names []string) ([]string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("jobs: find this binary: %w", err)
	}
	return append([]string{self, "run"}, names...), nil
}

func printSummary(w io.Writer, s *exp.Summary, results string) {
	preset := s.Preset
	if preset == "" {
		preset = "none"
	}
	fmt.Fprintf(w, "%s (preset %s, shard %s): %d cells in the grid, %d in this shard: %d already done, %d run, %d failed, %d skipped (method not wired); records in %s\n",
		s.Experiment, preset, s.Shard, s.GridCells, s.ShardCells, s.Done, s.Ran, len(s.Failed), len(s.Skipped), filepath.Join(results, s.Experiment))
	for _, f := range s.Failed {
		fmt.Fprintf(w, "  failed: %v\n", f)
	}
	for _, b := range s.Busy {
		fmt.Fprintf(w, "  busy (another runner has it, %s): %s %s\n", b.Holder, b.Cell.ID, b.Cell.Label())
	}
	if len(s.Skipped) > 0 {
		methods := map[string]bool{}
		for _, c := range s.Skipped {
			methods[c.Method()] = true
		}
		fmt.Fprintf(w, "  skipped methods: %s\n", strings.Join(sortedKeys(methods), ", "))
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func writeSummariesJSON(w io.Writer, sums []*exp.Summary) error {
	type failed struct {
		ID    string `json:"id"`
		Cell  string `json:"cell"`
		Error string `json:"error"`
	}
	type out struct {
		Experiment string   `json:"experiment"`
		Preset     string   `json:"preset"`
		Shard      string   `json:"shard"`
		Grid       int      `json:"grid_cells"`
		InShard    int      `json:"shard_cells"`
		Done       int      `json:"already_done"`
		Ran        int      `json:"ran"`
		Skipped    int      `json:"skipped"`
		Busy       int      `json:"busy"`
		Failed     []failed `json:"failed"`
	}
	res := make([]out, 0, len(sums))
	for _, s := range sums {
		o := out{Experiment: s.Experiment, Preset: s.Preset, Shard: s.Shard.String(), Grid: s.GridCells, InShard: s.ShardCells,
			Done: s.Done, Ran: s.Ran, Skipped: len(s.Skipped), Busy: len(s.Busy), Failed: []failed{}}
		for _, f := range s.Failed {
			o.Failed = append(o.Failed, failed{ID: f.Cell.ID, Cell: f.Cell.Label(), Error: f.Err.Error()})
		}
		res = append(res, o)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func listCells(w io.Writer, specs []*exp.Spec, pick func(*exp.Spec) string, shard exp.Shard, results string, asJSON bool) error {
	type row struct {
		Experiment string         `json:"experiment"`
		Preset     string         `json:"preset"`
		ID         string         `json:"id"`
		Done       bool           `json:"done"`
		Method     string         `json:"method"`
		Axes       map[string]any `json:"axes"`
		Registered bool           `json:"method_wired"`
	}
	var rows []row
	for _, s := range specs {
		st, err := exp.Status(s, pick(s), shard, results)
		if err != nil {
			return err
		}
		for _, c := range st {
			axes := map[string]any{}
			for _, a := range c.Cell.Axes {
				axes[a.Name] = a.Value
			}
			_, wired := exp.DefaultRegistry().Lookup(c.Cell.Method())
			rows = append(rows, row{Experiment: s.Name, Preset: pick(s), ID: c.Cell.ID, Done: c.Done, Method: c.Cell.Method(), Axes: axes, Registered: wired})
			if !asJSON {
				state := "todo"
				if c.Done {
					state = "done"
				}
				note := ""
				if !wired {
					note = "  (method not wired)"
				}
				fmt.Fprintf(w, "%s  %s  %-4s  %s%s\n", s.Name, c.Cell.ID, state, c.Cell.Label(), note)
			}
		}
	}
	if asJSON {
		if rows == nil {
			rows = []row{}
		}
		b, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	return nil
}
