package exp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"roads/internal/filelock"
)

// Shard selects a deterministic slice of a grid: cell k (in grid order) goes
// to shard k mod Count. Index is 0-based, so a Slurm array (0..N−1) or a
// Kubernetes Indexed Job ($JOB_COMPLETION_INDEX) maps onto it directly. The
// zero value selects every cell.
type Shard struct {
	Index, Count int
}

// ParseShard parses "i/n" with 0 ≤ i < n.
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: want i/n, e.g. 0/4", s)
	}
	if n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %q: want 0 ≤ i < n (shards are numbered from 0)", s)
	}
	return Shard{Index: i, Count: n}, nil
}

func (s Shard) String() string {
	if s.Count <= 1 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Select returns the shard's cells, in grid order.
func (s Shard) Select(cells []Cell) []Cell {
	if s.Count <= 1 {
		return cells
	}
	var out []Cell
	for k, c := range cells {
		if k%s.Count == s.Index {
			out = append(out, c)
		}
	}
	return out
}

// Options configures Run.
type Options struct {
	Preset  string // "" runs the spec without a preset
	Results string // results store root (required)
	// CacheDir holds the shared artefacts; default Results/_artifacts.
	CacheDir string
	Shard    Shard
	// Methods maps method names to implementations; nil means the default
	// registry (DefaultRegistry).
	Methods *Registry
	// Progress receives the progress bar (cells done, ETA); nil for none.
	Progress io.Writer
	Log      *slog.Logger // per-cell log lines; nil for none
	// KeepGoing runs the remaining cells after a cell fails (the failed cell
	// gets no record, so a rerun retries it); otherwise Run stops at the
	// first failure.
	KeepGoing bool
	// Force reruns cells that already have a record, replacing it.
	Force bool
	// AllowMissing skips cells whose method is not registered instead of
	// refusing to start.
	AllowMissing bool
	// Artifacts overrides the cache built from CacheDir (tests share one
	// between runs to count builds).
	Artifacts *Artifacts
}

// Summary says what Run did.
type Summary struct {
	Experiment string
	Preset     string
	Shard      Shard
	GridCells  int    // cells in the whole grid
	ShardCells int    // cells in this shard
	Done       int    // already had a record
	Ran        int    // finished and recorded by this run
	Skipped    []Cell // method not registered (AllowMissing)
	Busy       []Busy // held by another process when this one reached them
	Failed     []CellError
}

// Busy is a cell another runner was working on (its lock was held), left to
// that runner: two processes never run one cell.
type Busy struct {
	Cell   Cell
	Holder string // "pid N on HOST"
}

// CellError is a failed cell.
type CellError struct {
	Cell Cell
	Err  error
}

func (e CellError) Error() string {
	return fmt.Sprintf("cell %s (%s): %v", e.Cell.ID, e.Cell.Label(), e.Err)
}

func (e CellError) Unwrap() error { return e.Err }

// CellStatus is a cell and whether its record exists.
type CellStatus struct {
	Cell Cell
	Done bool
}

// RecordPaths are the paths the records of spec's cells (under preset) have
// in the results store, in grid order, whether or not they exist yet.
func RecordPaths(spec *Spec, preset, results string) ([]string, error) {
	cells, err := spec.Cells(preset)
	if err != nil {
		return nil, err
	}
	store := &Store{Dir: filepath.Join(results, spec.Name), Experiment: spec.Name}
	paths := make([]string, len(cells))
	for i, c := range cells {
		paths[i] = store.Path(c.ID)
	}
	return paths, nil
}

// CountRecords returns how many of paths exist. Polling needs only whether a
// record is there (records are written by rename, so one that exists is
// whole), which is cheaper than Status's loading each record.
func CountRecords(paths []string) int {
	n := 0
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			n++
		}
	}
	return n
}

// Status lists a shard's cells and which of them are finished.
func Status(spec *Spec, preset string, shard Shard, results string) ([]CellStatus, error) {
	cells, err := spec.Cells(preset)
	if err != nil {
		return nil, err
	}
	store := &Store{Dir: filepath.Join(results, spec.Name), Experiment: spec.Name}
	var out []CellStatus
	for _, c := range shard.Select(cells) {
		rec, err := store.Load(c.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, CellStatus{Cell: c, Done: rec != nil})
	}
	return out, nil
}

// Run runs the shard's unfinished cells of spec under opts.Preset, one at a
// time in grid order, writing one record per finished cell. A cell with a
// record is skipped, so rerunning after a kill loses at most the cell that
// was in flight (and its artefacts resume from their .partial directories).
func Run(ctx context.Context, spec *Spec, opts Options) (*Summary, error) {
	if opts.Results == "" {
		return nil, errors.New("run: a results directory is required")
	}
	cells, err := spec.Cells(opts.Preset)
	if err != nil {
		return nil, err
	}
	reg := opts.Methods
	if reg == nil {
		reg = DefaultRegistry()
	}
	sum := &Summary{Experiment: spec.Name, Preset: opts.Preset, Shard: opts.Shard, GridCells: len(cells)}
	mine := opts.Shard.Select(cells)
	sum.ShardCells = len(mine)

	// Refuse to start (or skip, with AllowMissing) when a method is not wired.
	var runnable []Cell
	missing := map[string]bool{}
	for _, c := range mine {
		if _, ok := reg.Lookup(c.Method()); ok {
			runnable = append(runnable, c)
			continue
		}
		missing[c.Method()] = true
		sum.Skipped = append(sum.Skipped, c)
	}
	if len(missing) > 0 && !opts.AllowMissing {
		names := make([]string, 0, len(missing))
		for m := range missing {
			names = append(names, m)
		}
		return nil, fmt.Errorf("%s: method(s) %s not registered (registered: %s)", spec.Source, strings.Join(sortedStrings(names), ", "), reg.describe())
	}

	store, err := OpenStore(opts.Results, spec.Name)
	if err != nil {
		return nil, err
	}
	if err := store.WriteSpec(spec); err != nil {
		return nil, err
	}
	var todo []Cell
	for _, c := range runnable {
		rec, err := store.Load(c.ID)
		if err != nil {
			return nil, err // a damaged record is an error, not a cell to redo silently
		}
		if rec != nil && !opts.Force {
			sum.Done++
			continue
		}
		todo = append(todo, c)
	}

	art := opts.Artifacts
	if art == nil {
		dir := opts.CacheDir
		if dir == "" {
			dir = filepath.Join(opts.Results, "_artifacts")
		}
		art = NewArtifacts(dir)
		art.Log = opts.Log
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Info("run", "experiment", spec.Name, "preset", opts.Preset, "shard", opts.Shard.String(),
		"grid", len(cells), "shard_cells", len(mine), "done", sum.Done, "todo", len(todo), "skipped", len(sum.Skipped))

	var bar *progressbar.ProgressBar
	if opts.Progress != nil && len(todo) > 0 {
		desc := spec.Name
		if opts.Shard.Count > 1 {
			desc += " [shard " + opts.Shard.String() + "]"
		}
		bar = progressbar.NewOptions(len(todo),
			progressbar.OptionSetWriter(opts.Progress),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(500*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(opts.Progress) }))
	}
	version := CurrentVersion()
	for _, c := range todo {
		if err := ctx.Err(); err != nil {
			return sum, fmt.Errorf("run %s: stopped: %w", spec.Name, err)
		}
		// A cell in flight holds RESULTS/<experiment>/<id>.lock, so a second
		// runner over the same store (another shard plan, a second terminal)
		// leaves it alone instead of computing it twice and racing the record.
		lock, err := filelock.AcquireTemp(store.Path(c.ID) + ".lock")
		if h, ok := err.(*filelock.HeldError); ok {
			log.Warn("cell busy: another runner holds it", "id", c.ID, "cell", c.Label(), "holder", h.Holder)
			sum.Busy = append(sum.Busy, Busy{Cell: c, Holder: h.Holder})
			continue
		}
		if err != nil {
			return sum, fmt.Errorf("run %s: cell %s: %w", spec.Name, c.ID, err)
		}
		if rec, err := store.Load(c.ID); err != nil || (rec != nil && !opts.Force) {
			lock.Release() // finished by another runner while this one worked on earlier cells
			if err != nil {
				return sum, err
			}
			sum.Done++
			if bar != nil {
				bar.Add(1)
			}
			continue
		}
		log.Info("cell start", "id", c.ID, "cell", c.Label())
		rec, err := runCell(ctx, reg, c, art, version)
		if err == nil {
			err = store.Put(rec)
		}
		lock.Release()
		if err != nil {
			if ctx.Err() != nil {
				return sum, fmt.Errorf("run %s: stopped in cell %s: %w", spec.Name, c.ID, ctx.Err())
			}
			var ce CellError
			if !errors.As(err, &ce) {
				return sum, err // the store failed, not the cell
			}
			log.Error("cell failed", "id", c.ID, "cell", c.Label(), "err", ce.Err)
			sum.Failed = append(sum.Failed, ce)
			if !opts.KeepGoing {
				return sum, ce
			}
			if bar != nil {
				bar.Add(1)
			}
			continue
		}
		sum.Ran++
		log.Info("cell done", "id", c.ID, "cell", c.Label(), "seconds", rec.Timing.Seconds)
		if bar != nil {
			bar.Add(1)
		}
	}
	if len(sum.Failed) > 0 {
		return sum, fmt.Errorf("run %s: %d of %d cells failed; first: %w", spec.Name, len(sum.Failed), len(todo), sum.Failed[0])
	}
	return sum, nil
}

// runCell runs one cell and builds its record; a failure of the method is a
// CellError.
func runCell(ctx context.Context, reg *Registry, c Cell, art *Artifacts, version Version) (*Record, error) {
	method, _ := reg.Lookup(c.Method())
	art.takeUses()
	start := time.Now()
	res, err := runMethod(ctx, method, c, art)
	if err == nil {
		err = res.validate()
	}
	if err != nil {
		return nil, CellError{Cell: c, Err: err}
	}
	rec := &Record{Schema: RecordSchema, ID: c.ID, Experiment: c.Experiment, Preset: c.Preset, Method: c.Method(), Seed: c.Seed(),
		Axes: c.Axes, Config: c.Params, Result: res, Artifacts: art.takeUses(),
		Timing: Timing{Started: start.UTC(), Seconds: time.Since(start).Seconds()}, Version: version}
	return rec, nil
}

// runMethod calls the method, turning a panic into an error so one broken
// cell cannot take a whole sweep down without a trace.
func runMethod(ctx context.Context, m Method, c Cell, art *Artifacts) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("method %s panicked: %v\n%s", c.Method(), p, debug.Stack())
		}
	}()
	res, err = m.Run(ctx, c, art)
	if err != nil {
		err = fmt.Errorf("method %s: %w", c.Method(), err)
	}
	return res, err
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
