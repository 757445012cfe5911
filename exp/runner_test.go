package exp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roads/internal/filelock"
)

// testSpec is a small grid: 2 tasks × 3 seeds × 3 methods = 18 cells.
const testSpec = `{
  "name": "toy",
  "title": "toy experiment",
  "params": {"n_pairs": 100, "sft": {"steps": 10}},
  "method_params": {"better": {"boost": 1.5}},
  "axes": {"task": ["a", "b"], "seed": [1, 2, 3], "method": ["base", "better", "other"]},
  "presets": {"quick": {"axes": {"seed": [1]}}}
}`

func mustSpec(t testing.TB, js string) *Spec {
	t.Helper()
	s, err := ParseSpec("toy.json", []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeMethod is deterministic in the cell. It builds a shared "sft"
// artefact per (task, seed), counting real builds, and derives its metrics
// from that artefact's content, so a wrongly shared artefact shows up in the
// records.
type fakeMethod struct {
	builds *atomic.Int64
	calls  *atomic.Int64
	// inCell, if set, runs inside every cell after the artefact is ready
	// (used to fail or hang a chosen cell).
	inCell func(c Cell) error
}

func newFake() *fakeMethod {
	return &fakeMethod{builds: new(atomic.Int64), calls: new(atomic.Int64)}
}

func (f *fakeMethod) Run(ctx context.Context, c Cell, art *Artifacts) (Result, error) {
	f.calls.Add(1)
	task, err := c.String("task")
	if err != nil {
		return Result{}, err
	}
	steps, err := c.Int("sft.steps")
	if err != nil {
		return Result{}, err
	}
	key := map[string]any{"task": task, "seed": c.Seed(), "steps": steps}
	dir, err := art.Dir(ctx, "sft", key, func(ctx context.Context, dir string) error {
		f.builds.Add(1)
		return os.WriteFile(filepath.Join(dir, "model.txt"), []byte(fmt.Sprintf("%s/%d/%d", task, c.Seed(), steps)), 0o644)
	})
	if err != nil {
		return Result{}, err
	}
	model, err := Memo(art, "sft-loaded", key, func() (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, "model.txt"))
		return string(b), err
	})
	if err != nil {
		return Result{}, err
	}
	if want := fmt.Sprintf("%s/%d/%d", task, c.Seed(), steps); model != want {
		return Result{}, fmt.Errorf("artefact holds %q, want %q", model, want)
	}
	if f.inCell != nil {
		if err := f.inCell(c); err != nil {
			return Result{}, err
		}
	}
	boost := 1.0
	if c.Has("boost") {
		boost, _ = c.Float("boost")
	}
	// A seed- and task-dependent base level plus a method effect.
	level := float64(len(model)) + float64(c.Seed())*0.25
	gold := level * boost
	if c.Method() == "other" {
		gold = level - 0.5
	}
	return Result{
		Metrics: map[string]float64{"gold": gold, "kl": 0.1 * float64(c.Seed())},
		Curves:  map[string][]Point{"bon": {{X: 1, Y: gold}, {X: 4, Y: gold + 1}}},
		Samples: []Sample{{Prompt: "p " + task, Completion: c.Method(), Gold: gold}},
	}, nil
}

func runToy(t *testing.T, results string, m Method, opts Options) (*Summary, error) {
	t.Helper()
	reg := NewRegistry()
	for _, name := range []string{"base", "better", "other"} {
		reg.Register(name, m)
	}
	opts.Results = results
	opts.Methods = reg
	if opts.Artifacts == nil {
		opts.Artifacts = NewArtifacts(filepath.Join(results, "_artifacts"))
		opts.Artifacts.Poll = 5 * time.Millisecond
	}
	return Run(context.Background(), mustSpec(t, testSpec), opts)
}

// comparable strips what legitimately differs between two runs of the same
// cell: wall-clock timing, the build's version stamp, and which run built
// the shared artefacts.
func comparable(t *testing.T, results string) map[string]string {
	t.Helper()
	st := &Store{Dir: filepath.Join(results, "toy"), Experiment: "toy"}
	recs, err := st.Records()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range recs {
		r.Timing, r.Version, r.Artifacts = Timing{}, Version{}, nil
		b, _ := json.Marshal(r)
		out[r.ID] = string(b)
	}
	return out
}

func TestRunRecordsSkipsAndSharesArtifacts(t *testing.T) {
	dir := t.TempDir()
	f := newFake()
	sum, err := runToy(t, dir, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.GridCells != 18 || sum.Ran != 18 || sum.Done != 0 {
		t.Fatalf("summary %+v", sum)
	}
	if got := f.builds.Load(); got != 6 {
		t.Fatalf("%d artefact builds, want one per (task, seed) = 6", got)
	}
	first := comparable(t, dir)
	if len(first) != 18 {
		t.Fatalf("%d records", len(first))
	}
	// A record carries its cell, metrics, curves, samples and provenance.
	spec := mustSpec(t, testSpec)
	cells, _ := spec.Cells("")
	st, _ := OpenStore(dir, "toy")
	rec, err := st.Load(cells[1].ID)
	if err != nil || rec == nil {
		t.Fatal(rec, err)
	}
	if rec.Method != "better" || rec.Seed != 1 || rec.Metrics["gold"] != (6+0.25)*1.5 || len(rec.Curves["bon"]) != 2 ||
		rec.Version.Go == "" || rec.Timing.Started.IsZero() || len(rec.Artifacts) != 1 || rec.Artifacts[0].Kind != "sft" {
		t.Fatalf("record %+v", rec)
	}

	// A second run finds everything done and calls no method.
	calls := f.calls.Load()
	sum, err = runToy(t, dir, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ran != 0 || sum.Done != 18 || f.calls.Load() != calls {
		t.Fatalf("rerun: %+v, %d new calls", sum, f.calls.Load()-calls)
	}
	// A fresh process (new Artifacts, same cache directory) with one record
	// deleted reruns only that cell and reuses the cached artefact.
	os.Remove(st.Path(cells[4].ID))
	f2 := newFake()
	sum, err = runToy(t, dir, f2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ran != 1 || f2.builds.Load() != 0 {
		t.Fatalf("after deleting one record: ran %d, built %d", sum.Ran, f2.builds.Load())
	}
	if !reflect.DeepEqual(first, comparable(t, dir)) {
		t.Fatal("the rerun cell's record differs")
	}
	// Force reruns everything.
	sum, err = runToy(t, dir, newFake(), Options{Force: true})
	if err != nil || sum.Ran != 18 {
		t.Fatalf("force: %+v %v", sum, err)
	}
}

func TestResumeAfterFailureMatchesUninterrupted(t *testing.T) {
	clean := t.TempDir()
	if _, err := runToy(t, clean, newFake(), Options{}); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	f := newFake()
	n := 0
	crash := errors.New("simulated crash")
	f.inCell = func(c Cell) error {
		if n++; n == 8 {
			return crash
		}
		return nil
	}
	sum, err := runToy(t, crashed, f, Options{})
	if !errors.Is(err, crash) || sum.Ran != 7 {
		t.Fatalf("crash run: ran %d, err %v", sum.Ran, err)
	}
	var ce CellError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "cell "+ce.Cell.ID+" (task=a seed=3 method=better): method better: simulated crash") {
		t.Fatalf("error does not name the cell: %v", err)
	}
	sum, err = runToy(t, crashed, newFake(), Options{})
	if err != nil || sum.Done != 7 || sum.Ran != 11 {
		t.Fatalf("resume: %+v %v", sum, err)
	}
	if !reflect.DeepEqual(comparable(t, clean), comparable(t, crashed)) {
		t.Fatal("interrupted + resumed records differ from an uninterrupted run")
	}
}

// TestResumeAfterKill kills a real process running the experiment in the
// middle of a cell (with SIGKILL: no cleanup runs), then resumes in this
// process and compares with an uninterrupted run.
func TestResumeAfterKill(t *testing.T) {
	if dir := os.Getenv("ROADS_EXP_KILL_HELPER"); dir != "" {
		killHelper(t, dir)
		return
	}
	clean := t.TempDir()
	if _, err := runToy(t, clean, newFake(), Options{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	marker := filepath.Join(dir, "in-cell")
	cmd := exec.Command(os.Args[0], "-test.run=^TestResumeAfterKill$", "-test.v")
	cmd.Env = append(os.Environ(), "ROADS_EXP_KILL_HELPER="+dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the helper is inside the 10th cell (holding an artefact
	// lock, with a .partial directory half written), then kill it.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the helper never reached the cell:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() // reap it, so its pid no longer exists
	st := &Store{Dir: filepath.Join(dir, "toy"), Experiment: "toy"}
	recs, err := st.Records()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 9 {
		t.Fatalf("%d records after the kill, want 9:\n%s", len(recs), out.String())
	}
	locks, _ := filepath.Glob(filepath.Join(dir, "_artifacts", "sft", "*.lock"))
	partial, _ := filepath.Glob(filepath.Join(dir, "_artifacts", "sft", "*.partial", "half-written"))
	if len(locks) != 1 || len(partial) != 1 {
		t.Fatalf("expected the killed builder's lock and partial artefact, got %v %v", locks, partial)
	}
	// Resume: the dead builder's lock is broken at once (same host, pid
	// gone), the partial artefact is continued, and the records match.
	f := newFake()
	sum, err := runToy(t, dir, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 9 || sum.Ran != 9 {
		t.Fatalf("resume: %+v", sum)
	}
	if !reflect.DeepEqual(comparable(t, clean), comparable(t, dir)) {
		t.Fatal("killed + resumed records differ from an uninterrupted run")
	}
	if _, err := os.Stat(filepath.Join(dir, "_artifacts", "sft")); err != nil {
		t.Fatal(err)
	}
}

// killHelper runs the toy experiment; in cell 10 (which builds a new
// artefact, task b seed 1) it half-writes the artefact, announces itself
// and hangs until killed.
func killHelper(t *testing.T, dir string) {
	reg := NewRegistry()
	f := newFake()
	hang := &hangingBuild{inner: f, dir: dir}
	for _, name := range []string{"base", "better", "other"} {
		reg.Register(name, hang)
	}
	art := NewArtifacts(filepath.Join(dir, "_artifacts"))
	_, err := Run(context.Background(), mustSpec(t, testSpec), Options{Results: dir, Methods: reg, Artifacts: art})
	t.Fatalf("the helper was not killed: %v", err)
}

type hangingBuild struct {
	inner *fakeMethod
	dir   string
	n     int
}

func (h *hangingBuild) Run(ctx context.Context, c Cell, art *Artifacts) (Result, error) {
	if h.n++; h.n < 10 {
		return h.inner.Run(ctx, c, art)
	}
	task, _ := c.String("task")
	art.Dir(ctx, "sft", map[string]any{"task": task, "seed": c.Seed(), "steps": 10}, func(ctx context.Context, d string) error {
		os.WriteFile(filepath.Join(d, "half-written"), []byte("x"), 0o644)
		os.WriteFile(filepath.Join(h.dir, "in-cell"), nil, 0o644)
		select {}
	})
	return Result{}, errors.New("unreachable")
}

func TestShardsPartitionTheGrid(t *testing.T) {
	spec := mustSpec(t, testSpec)
	cells, _ := spec.Cells("")
	for n := 1; n <= 7; n++ {
		seen := map[string]int{}
		for i := 0; i < n; i++ {
			sh, err := ParseShard(fmt.Sprintf("%d/%d", i, n))
			if err != nil {
				t.Fatal(err)
			}
			part := sh.Select(cells)
			if len(part) < len(cells)/n || len(part) > (len(cells)+n-1)/n {
				t.Fatalf("shard %d/%d has %d of %d cells", i, n, len(part), len(cells))
			}
			for _, c := range part {
				seen[c.ID]++
			}
		}
		if len(seen) != len(cells) {
			t.Fatalf("n=%d: shards cover %d of %d cells", n, len(seen), len(cells))
		}
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("n=%d: cell %s in %d shards", n, id, k)
			}
		}
	}
	for _, bad := range []string{"3/3", "-1/2", "1", "a/b", "0/0"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
}

// runConcurrently runs n runners of the toy grid over dir at once, each its
// own "process" (its own Artifacts over the shared directory), runner i with
// opts(i), and fails the test on any runner's error.
func runConcurrently(t *testing.T, dir string, f *fakeMethod, n int, opts func(i int) Options) []*Summary {
	t.Helper()
	var wg sync.WaitGroup
	sums, errs := make([]*Summary, n), make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := opts(i)
			o.Artifacts = NewArtifacts(filepath.Join(dir, "_artifacts"))
			o.Artifacts.Poll = time.Millisecond
			sums[i], errs[i] = runToy(t, dir, f, o)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return sums
}

func TestConcurrentShardsShareArtifacts(t *testing.T) {
	clean := t.TempDir()
	if _, err := runToy(t, clean, newFake(), Options{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := newFake()
	runConcurrently(t, dir, f, 3, func(i int) Options { return Options{Shard: Shard{Index: i, Count: 3}} })
	if got := f.builds.Load(); got != 6 {
		t.Fatalf("%d artefact builds across 3 concurrent shards, want 6", got)
	}
	if !reflect.DeepEqual(comparable(t, clean), comparable(t, dir)) {
		t.Fatal("sharded records differ from a single run")
	}
}

func TestArtifactLocks(t *testing.T) {
	dir := t.TempDir()
	art := NewArtifacts(dir)
	art.Poll = time.Millisecond
	key := map[string]any{"k": 1}
	hash, _ := HashKey(key)
	lock := filepath.Join(dir, "m", hash+".lock")
	os.MkdirAll(filepath.Dir(lock), 0o755)
	built := 0
	build := func(ctx context.Context, d string) error { built++; return nil }

	// A live holder on another host: wait (until the context ends).
	os.WriteFile(lock, []byte(`{"host":"elsewhere","pid":1}`), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := art.Dir(ctx, "m", key, build); !errors.Is(err, context.Canceled) || built != 0 {
		t.Fatalf("a fresh foreign lock was not respected: %v, built %d", err, built)
	}
	// The same lock untouched for longer than StaleAfter is broken.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(lock, old, old)
	if _, err := art.Dir(context.Background(), "m", key, build); err != nil || built != 1 {
		t.Fatalf("stale lock: %v, built %d", err, built)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Fatal("the lock was not released")
	}
	// A finished artefact is never rebuilt.
	if _, err := art.Dir(context.Background(), "m", key, build); err != nil || built != 1 {
		t.Fatalf("rebuilt: %v, built %d", err, built)
	}

	// A failed build keeps its .partial directory for the next attempt.
	key2 := map[string]any{"k": 2}
	_, err := art.Dir(context.Background(), "m", key2, func(ctx context.Context, d string) error {
		os.WriteFile(filepath.Join(d, "checkpoint"), []byte("step 5"), 0o644)
		return errors.New("killed")
	})
	if err == nil || !strings.Contains(err.Error(), "artifact m/") || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("failed build: %v", err)
	}
	var resumed string
	d, err := art.Dir(context.Background(), "m", key2, func(ctx context.Context, d string) error {
		b, err := os.ReadFile(filepath.Join(d, "checkpoint"))
		resumed = string(b)
		return err
	})
	if err != nil || resumed != "step 5" {
		t.Fatalf("resume: %v, saw %q", err, resumed)
	}
	var k struct {
		Kind string         `json:"kind"`
		Key  map[string]any `json:"key"`
	}
	if b, err := os.ReadFile(filepath.Join(d, "key.json")); err != nil || json.Unmarshal(b, &k) != nil || k.Kind != "m" || k.Key["k"] != 2.0 {
		t.Fatalf("key.json: %s %v", b, err)
	}
	if _, err := art.Dir(context.Background(), "Bad Kind", key, build); err == nil {
		t.Fatal("a bad kind was accepted")
	}
}

func TestCorruptAndStrayFilesAreErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := runToy(t, dir, newFake(), Options{}); err != nil {
		t.Fatal(err)
	}
	cells, _ := mustSpec(t, testSpec).Cells("")
	st, _ := OpenStore(dir, "toy")
	path := st.Path(cells[2].ID)
	good, _ := os.ReadFile(path)

	// A leftover temp file of an interrupted write is ignored.
	os.WriteFile(filepath.Join(st.Dir, "."+cells[2].ID+".json.tmp-123"), []byte("{partial"), 0o644)
	if _, err := st.Records(); err != nil {
		t.Fatalf("a hidden temp file was not ignored: %v", err)
	}

	os.WriteFile(path, good[:len(good)/2], 0o644)
	_, err := runToy(t, dir, newFake(), Options{})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corrupt result record") {
		t.Fatalf("a truncated record: %v", err)
	}
	if _, err := LoadResults(dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("LoadResults on a truncated record: %v", err)
	}
	// A record edited by hand no longer matches its ID.
	edited := strings.Replace(string(good), `"n_pairs": 100`, `"n_pairs": 101`, 1)
	os.WriteFile(path, []byte(edited), 0o644)
	if _, err := st.Records(); err == nil || !strings.Contains(err.Error(), "is not the hash of its config") {
		t.Fatalf("an edited record: %v", err)
	}
	os.WriteFile(path, good, 0o644)
	os.WriteFile(filepath.Join(st.Dir, "notes.json"), []byte("{}"), 0o644)
	if _, err := st.Records(); err == nil || !strings.Contains(err.Error(), "notes.json: not a record") {
		t.Fatalf("a stray file: %v", err)
	}
}

func TestMissingMethodsAndFailures(t *testing.T) {
	dir := t.TempDir()
	spec := mustSpec(t, testSpec)
	reg := NewRegistry()
	reg.Register("base", newFake())
	_, err := Run(context.Background(), spec, Options{Results: dir, Methods: reg})
	if err == nil || err.Error() != "toy.json: method(s) better, other not registered (registered: base)" {
		t.Fatalf("missing methods: %v", err)
	}
	sum, err := Run(context.Background(), spec, Options{Results: dir, Methods: reg, AllowMissing: true})
	if err != nil || sum.Ran != 6 || len(sum.Skipped) != 12 {
		t.Fatalf("allow missing: %+v %v", sum, err)
	}

	// KeepGoing: a panicking cell and a NaN metric fail; the rest finish.
	dir = t.TempDir()
	reg = NewRegistry()
	reg.Register("base", newFake())
	reg.Register("better", MethodFunc(func(ctx context.Context, c Cell, art *Artifacts) (Result, error) {
		if c.Seed() == 2 {
			panic("boom")
		}
		return Result{Metrics: map[string]float64{"gold": math.NaN()}}, nil
	}))
	reg.Register("other", newFake())
	sum, err = Run(context.Background(), spec, Options{Results: dir, Methods: reg, KeepGoing: true})
	if err == nil || len(sum.Failed) != 6 || sum.Ran != 12 {
		t.Fatalf("keep going: %+v %v", sum, err)
	}
	msgs := sum.Failed[0].Error() + sum.Failed[1].Error()
	if !strings.Contains(msgs, `metric "gold" = NaN; leave an undefined metric out instead`) || !strings.Contains(msgs, "method better panicked: boom") {
		t.Fatalf("failure messages: %s", msgs)
	}
	// Without KeepGoing the run stops at the first failure.
	dir = t.TempDir()
	sum, err = Run(context.Background(), spec, Options{Results: dir, Methods: reg})
	if err == nil || sum.Ran != 1 || len(sum.Failed) != 1 {
		t.Fatalf("stop at first failure: %+v %v", sum, err)
	}
	// A cancelled context stops before the next cell.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, spec, Options{Results: t.TempDir(), Methods: reg}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestStatusAndMemo(t *testing.T) {
	dir := t.TempDir()
	if _, err := runToy(t, dir, newFake(), Options{Preset: "quick"}); err != nil {
		t.Fatal(err)
	}
	st, err := Status(mustSpec(t, testSpec), "", Shard{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, s := range st {
		if s.Done {
			done++
			if s.Cell.Seed() != 1 {
				t.Fatalf("cell %s marked done", s.Cell.Label())
			}
		}
	}
	if len(st) != 18 || done != 6 {
		t.Fatalf("status: %d cells, %d done", len(st), done)
	}

	art := NewArtifacts(t.TempDir())
	art.MaxMemo = 2
	loads := 0
	load := func(v int) func() (int, error) { return func() (int, error) { loads++; return v, nil } }
	for _, k := range []int{1, 2, 1, 3, 1} {
		v, err := Memo(art, "x", k, load(k*10))
		if err != nil || v != k*10 {
			t.Fatal(v, err)
		}
	}
	if loads != 4 { // 1, 2, (1 cached), 3 evicts 1, 1 again
		t.Fatalf("%d loads, want 4", loads)
	}
	if _, err := Memo(art, "x", 3, func() (string, error) { return "", nil }); err == nil || !strings.Contains(err.Error(), "cached a int, asked for a string") {
		t.Fatalf("type mismatch: %v", err)
	}
}

func TestTrainingCurves(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	os.WriteFile(path, []byte(`{"step":10,"loss":2.5,"gold":1}
{"step":20,"loss":2.0}

{"step":5,"loss":3.0,"gold":0.5}
`), 0o644)
	c, err := TrainingCurves(path, "train/", "loss", "gold")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]Point{
		"train/loss": {{5, 3}, {10, 2.5}, {20, 2}},
		"train/gold": {{5, 0.5}, {10, 1}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("curves %v", c)
	}
	os.WriteFile(path, []byte("{\"step\":1}\n{oops\n"), 0o644)
	if _, err := TrainingCurves(path, "train/", "loss"); err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("bad line: %v", err)
	}
}

// Several runners over one store without shards (two terminals, say) never
// run a cell twice: a cell in flight is locked, and a cell finished by another
// runner is picked up as done. Together they leave the records one run does.
func TestConcurrentRunnersNeverRunACellTwice(t *testing.T) {
	if !filelock.Supported {
		t.Skip("no cell locks on this platform")
	}
	clean := t.TempDir()
	if _, err := runToy(t, clean, newFake(), Options{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := newFake()
	sums := runConcurrently(t, dir, f, 3, func(int) Options { return Options{} })
	ran := 0
	for i, s := range sums {
		if s.Ran+s.Done+len(s.Busy) != 18 {
			t.Fatalf("runner %d: ran %d + done %d + busy %d ≠ 18", i, s.Ran, s.Done, len(s.Busy))
		}
		ran += s.Ran
	}
	if ran != 18 || f.calls.Load() != 18 {
		t.Fatalf("3 runners ran %d cells with %d method calls, want each of the 18 once", ran, f.calls.Load())
	}
	if !reflect.DeepEqual(comparable(t, clean), comparable(t, dir)) {
		t.Fatal("records of concurrent runners differ from a single run")
	}
	if locks, _ := filepath.Glob(filepath.Join(dir, "toy", "*.lock")); len(locks) != 0 {
		t.Fatalf("cell locks left behind: %v", locks)
	}
}

// A cell whose lock another process holds is left to it and reported busy,
// naming the holder; once the lock is gone the next run does the cell.
func TestBusyCellIsLeftToItsHolder(t *testing.T) {
	if !filelock.Supported {
		t.Skip("no cell locks on this platform")
	}
	dir := t.TempDir()
	spec := mustSpec(t, testSpec)
	cells, _ := spec.Cells("")
	st, err := OpenStore(dir, "toy")
	if err != nil {
		t.Fatal(err)
	}
	held, err := filelock.AcquireTemp(st.Path(cells[2].ID) + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := runToy(t, dir, newFake(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ran != 17 || len(sum.Busy) != 1 || sum.Busy[0].Cell.ID != cells[2].ID ||
		!strings.Contains(sum.Busy[0].Holder, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("with cell %s held: %+v", cells[2].ID, sum)
	}
	if rec, _ := st.Load(cells[2].ID); rec != nil {
		t.Fatal("a busy cell got a record from the runner that did not hold it")
	}
	held.Release()
	sum, err = runToy(t, dir, newFake(), Options{})
	if err != nil || sum.Ran != 1 || sum.Done != 17 || len(sum.Busy) != 0 {
		t.Fatalf("after release: %+v %v", sum, err)
	}
}

// TestSweepRunsEachSpecAtItsPreset: in process, a sweep runs every spec at
// the preset its function picks, writes one summary line per experiment to
// status and returns the summaries; local shard processes refuse a --shard.
func TestSweepRunsEachSpecAtItsPreset(t *testing.T) {
	dir := t.TempDir()
	reg := NewRegistry()
	for _, name := range []string{"base", "better", "other"} {
		reg.Register(name, newFake())
	}
	spec := mustSpec(t, testSpec)
	var status bytes.Buffer
	sw := Sweep{Specs: []*Spec{spec}, Preset: func(*Spec) string { return "" }, Options: Options{Results: dir, Methods: reg}}
	sums, err := sw.Run(context.Background(), &status)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].Ran != 18 || !strings.Contains(status.String(), "toy (preset none, shard all): 18 cells in the grid") {
		t.Fatalf("summaries %+v, status %q", sums, status.String())
	}
	sw.Jobs, sw.Options.Shard = 2, Shard{Index: 0, Count: 2}
	if _, err := sw.Run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "no --shard") {
		t.Fatalf("jobs with a shard: %v", err)
	}
}
