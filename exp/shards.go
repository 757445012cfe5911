package exp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Local shards: `roads run --jobs N` runs a sweep as N shard processes of the
// binary on one machine, each pinned to cores/N threads. The models are small (d_model
// 64), so one process cannot keep two cores busy: on the 2-core machine two
// single-threaded `roads sft` runs side by side finished 200 steps each in
// 7.9 s, against 6.4 s for one two-threaded run (1.6× the throughput). The
// shards are the same deterministic --shard i/N slices a Slurm array would
// run; they share the results store and the artefact cache, whose locks make
// a shard wait for an artefact another one is building. Results do not depend
// on the thread count (engine.SetThreads), so a sweep run with --jobs gives
// the records a single process would.

// ShardPlan is what RunShards launches: Jobs children, child i running
// Command + Args + "--shard i/Jobs --no_progress".
type ShardPlan struct {
	Command []string // the program and its arguments up to the flags ("roads", "run", experiment names…)
	Specs   []*Spec  // the experiments, for progress and status
	Preset  func(*Spec) string
	Args    []string // flags every child gets (--preset, --results, --cache, …)
	Results string
	Jobs    int
}

// ThreadsPerShard splits the machine's cores over the jobs, at least one each.
func ThreadsPerShard(jobs int) int {
	n := runtime.NumCPU() / jobs
	if n < 1 {
		n = 1
	}
	return n
}

// RunShards runs plan.Jobs shard processes and waits for all of them. Each
// child's log goes to RESULTS/_logs/shard-i-of-N.log; progress is the count of
// records in the store, polled. A failed child does not stop the others (their
// cells are independent); the error names every failed shard and its log.
func RunShards(ctx context.Context, plan ShardPlan, progress io.Writer) error {
	if plan.Jobs < 2 {
		return fmt.Errorf("jobs: want ≥ 2 jobs, got %d", plan.Jobs)
	}
	if len(plan.Command) == 0 {
		return errors.New("jobs: no command to run")
	}
	logDir := filepath.Join(plan.Results, "_logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	byExp, err := recordPaths(plan)
	if err != nil {
		return err
	}
	var paths []string
	for _, s := range plan.Specs {
		paths = append(paths, byExp[s.Name]...)
	}
	total, done := len(paths), CountRecords(paths)
	threads := ThreadsPerShard(plan.Jobs)

	type outcome struct {
		shard int
		log   string
		err   error
	}
	outcomes := make([]outcome, plan.Jobs)
	var wg sync.WaitGroup
	for i := 0; i < plan.Jobs; i++ {
		logPath := filepath.Join(logDir, fmt.Sprintf("shard-%d-of-%d.log", i, plan.Jobs))
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		args := append(append([]string(nil), plan.Command[1:]...), plan.Args...)
		args = append(args, "--shard", fmt.Sprintf("%d/%d", i, plan.Jobs), "--no_progress")
		cmd := exec.CommandContext(ctx, plan.Command[0], args...)
		cmd.Stdout, cmd.Stderr = f, f
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(threads))
		// On Ctrl-C the children get the same signal from the terminal; the
		// context kill is the fallback for a parent stopped by SIGTERM alone.
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 30 * time.Second
		if err := cmd.Start(); err != nil {
			f.Close()
			return fmt.Errorf("jobs: start shard %d/%d: %w", i, plan.Jobs, err)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := cmd.Wait()
			f.Close()
			outcomes[i] = outcome{shard: i, log: logPath, err: err}
		}(i)
	}

	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	var bar *progressbar.ProgressBar
	if progress != nil && total > done {
		bar = progressbar.NewOptions(total-done,
			progressbar.OptionSetWriter(progress),
			progressbar.OptionSetDescription(fmt.Sprintf("%d jobs × %d threads", plan.Jobs, threads)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(progress) }))
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for loop := true; loop; {
		select {
		case <-finished:
			loop = false
		case <-tick.C:
		}
		if bar != nil {
			bar.Set(CountRecords(paths) - done)
		}
	}
	var failed []string
	for _, o := range outcomes {
		if o.err != nil {
			failed = append(failed, fmt.Sprintf("shard %d/%d: %s (%v; log %s)", o.shard, plan.Jobs, lastLine(o.log), o.err, o.log))
		}
	}
	if len(failed) > 0 {
		return errors.New("jobs: " + strings.Join(failed, "; "))
	}
	return ctx.Err()
}

// recordPaths resolves each experiment's grid once: experiment name → the
// paths its cells' records will have in the store.
func recordPaths(plan ShardPlan) (map[string][]string, error) {
	out := map[string][]string{}
	for _, s := range plan.Specs {
		paths, err := RecordPaths(s, plan.Preset(s), plan.Results)
		if err != nil {
			return nil, err
		}
		out[s.Name] = paths
	}
	return out, nil
}

// PrintShardStatus prints, per experiment, how many cells have a record.
func PrintShardStatus(w io.Writer, plan ShardPlan) error {
	byExp, err := recordPaths(plan)
	if err != nil {
		return err
	}
	for _, s := range plan.Specs {
		preset := plan.Preset(s)
		if preset == "" {
			preset = "none"
		}
		paths := byExp[s.Name]
		fmt.Fprintf(w, "%s (preset %s, %d jobs): %d of %d cells have a record in %s\n", s.Name, preset, plan.Jobs, CountRecords(paths), len(paths), filepath.Join(plan.Results, s.Name))
	}
	return nil
}

// lastLine returns the last non-empty line of a shard's log (its error, when
// it failed), or "" when the log cannot be read.
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Sweep is what `roads run` and `roads repro` run: experiments at their
// presets, in this process or as Jobs local shard processes of Command.
type Sweep struct {
	Specs  []*Spec
	Preset func(*Spec) string
	// Options are the runner's (Preset is set per spec from Preset).
	Options Options
	// Jobs > 1 runs the sweep as that many shard processes: Command + Args
	// (see ShardPlan); Options.Shard must then be the whole grid.
	Jobs    int
	Command []string
	Args    []string
}

// Run runs the sweep and writes what each experiment did to status (nil:
// nowhere): WriteSummary's lines in process, PrintShardStatus's with jobs.
// It returns the in-process summaries, those of the experiments that ran
// even when one fails (none with jobs).
func (s Sweep) Run(ctx context.Context, status io.Writer) ([]*Summary, error) {
	if s.Jobs > 1 {
		if s.Options.Shard.Count > 1 {
			return nil, errors.New("jobs: a sweep of local shard processes runs every shard itself: no --shard")
		}
		plan := ShardPlan{Command: s.Command, Specs: s.Specs, Preset: s.Preset, Args: s.Args, Results: s.Options.Results, Jobs: s.Jobs}
		err := RunShards(ctx, plan, s.Options.Progress)
		if status != nil {
			if serr := PrintShardStatus(status, plan); serr != nil && err == nil {
				err = serr
			}
		}
		return nil, err
	}
	var sums []*Summary
	for _, spec := range s.Specs {
		opts := s.Options
		opts.Preset = s.Preset(spec)
		sum, err := Run(ctx, spec, opts)
		if sum != nil {
			sums = append(sums, sum)
			if status != nil {
				WriteSummary(status, sum, opts.Results)
			}
		}
		if err != nil {
			return sums, err
		}
	}
	return sums, nil
}
