package exp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// Artifacts is the shared-artefact cache: what several cells need (the SFT
// model of a (task, seed), preference data, a DPO policy, reference
// log-probs) is built once, into a directory named by the hash of the
// settings it depends on, and reused by every later cell, run, and machine
// sharing the cache directory.
//
// Layout: ROOT/<kind>/<hash>/ is a finished artefact (with key.json, the key
// it was built for). It is built in ROOT/<kind>/<hash>.partial/ and renamed
// into place only when the build returns, so a finished directory is always
// whole. A build killed midway leaves the .partial directory behind and the
// next build of the same key continues in it, which lets a trainer that
// checkpoints (every pft trainer does) resume rather than start over.
//
// Concurrency: a builder holds ROOT/<kind>/<hash>.lock (created with
// O_EXCL, so this works across processes and, on NFS v3+, across machines)
// and touches it while it builds; others wait for the finished directory. A
// lock not touched for StaleAfter is taken to be a killed builder's and
// broken.
type Artifacts struct {
	Root string
	// StaleAfter is how old an untouched lock must be before it is broken
	// (default 2 minutes); the holder touches it every StaleAfter/4.
	StaleAfter time.Duration
	// Poll is how often a waiting process looks again (default 1 s).
	Poll time.Duration
	// MaxMemo bounds the in-memory values kept by Memo (default 16;
	// oldest out first).
	MaxMemo int
	Log     *slog.Logger

	mu        sync.Mutex
	memo      map[string]any
	memoOrder []string
	uses      []ArtifactUse
}

// ArtifactUse records that a cell used an artefact and whether it had to
// build it.
type ArtifactUse struct {
	Kind    string  `json:"kind"`
	Hash    string  `json:"hash"`
	Built   bool    `json:"built"`
	Seconds float64 `json:"seconds"` // spent in Dir (building or waiting)
}

// NewArtifacts returns a cache rooted at root.
func NewArtifacts(root string) *Artifacts {
	return &Artifacts{Root: root}
}

func (a *Artifacts) staleAfter() time.Duration {
	if a.StaleAfter > 0 {
		return a.StaleAfter
	}
	return 2 * time.Minute
}

func (a *Artifacts) poll() time.Duration {
	if a.Poll > 0 {
		return a.Poll
	}
	return time.Second
}

func (a *Artifacts) logger() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.New(slog.DiscardHandler)
}

var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9_\-]*$`)

// Dir returns the directory of the artefact (kind, key), calling build to
// make it if no finished one exists. key must hold every setting the
// artefact depends on (it is hashed; see HashKey) and nothing else, so that
// cells which can share it do. build writes into dir, which may hold a
// previous, interrupted attempt's files.
func (a *Artifacts) Dir(ctx context.Context, kind string, key any, build func(ctx context.Context, dir string) error) (string, error) {
	if !kindPattern.MatchString(kind) {
		return "", fmt.Errorf("artifact kind %q: want lower-case letters, digits, _ and -", kind)
	}
	hash, err := HashKey(key)
	if err != nil {
		return "", fmt.Errorf("artifact %s: %w", kind, err)
	}
	start := time.Now()
	built, err := a.dir(ctx, kind, hash, key, build)
	a.mu.Lock()
	a.uses = append(a.uses, ArtifactUse{Kind: kind, Hash: hash, Built: built, Seconds: time.Since(start).Seconds()})
	a.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("artifact %s/%s: %w", kind, hash, err)
	}
	return filepath.Join(a.Root, kind, hash), nil
}

func (a *Artifacts) dir(ctx context.Context, kind, hash string, key any, build func(ctx context.Context, dir string) error) (built bool, err error) {
	parent := filepath.Join(a.Root, kind)
	final := filepath.Join(parent, hash)
	lock := final + ".lock"
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return false, err
	}
	for {
		if ok, err := isDir(final); err != nil || ok {
			return false, err
		}
		f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			host, _ := os.Hostname()
			b, _ := json.Marshal(lockInfo{Host: host, PID: os.Getpid(), Since: time.Now().UTC()})
			_, werr := f.Write(b)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(lock)
				return false, fmt.Errorf("lock: %w", werr)
			}
			return a.buildLocked(ctx, kind, hash, key, final, lock, build)
		}
		if !errors.Is(err, fs.ErrExist) {
			return false, fmt.Errorf("lock: %w", err)
		}
		// Someone else is building: wait for them, or break a dead one's lock.
		if why := a.lockDead(lock); why != "" {
			a.logger().Warn("breaking an artifact lock", "lock", lock, "why", why)
			if err := os.Remove(lock); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return false, fmt.Errorf("break lock %s: %w", lock, err)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(a.poll()):
		}
	}
}

// lockInfo is the content of a lock file.
type lockInfo struct {
	Host  string    `json:"host"`
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
}

// lockDead says why a lock's holder is gone ("" if it may be alive): a
// process of this host that no longer exists, or a lock nobody has touched
// for StaleAfter (a holder on another machine that died).
func (a *Artifacts) lockDead(lock string) string {
	st, err := os.Stat(lock)
	if err != nil {
		return "" // gone already (or unreadable): retry the create
	}
	if data, err := os.ReadFile(lock); err == nil {
		var li lockInfo
		host, _ := os.Hostname()
		if json.Unmarshal(data, &li) == nil && li.Host == host && li.PID > 0 && li.PID != os.Getpid() && !processAlive(li.PID) {
			return fmt.Sprintf("its holder, pid %d on this host, has exited", li.PID)
		}
	}
	if age := time.Since(st.ModTime()); age > a.staleAfter() {
		return fmt.Sprintf("untouched for %s", age.Round(time.Second))
	}
	return ""
}

// buildLocked builds the artefact while holding its lock.
func (a *Artifacts) buildLocked(ctx context.Context, kind, hash string, key any, final, lock string, build func(ctx context.Context, dir string) error) (bool, error) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // heartbeat: keep the lock fresh while the build runs
		defer wg.Done()
		t := time.NewTicker(a.staleAfter() / 4)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				now := time.Now()
				os.Chtimes(lock, now, now)
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
		os.Remove(lock)
	}()
	// Finished while we waited for the lock?
	if ok, err := isDir(final); err != nil || ok {
		return false, err
	}
	partial := final + ".partial"
	if err := os.MkdirAll(partial, 0o755); err != nil {
		return false, err
	}
	if err := writeJSONAtomic(filepath.Join(partial, "key.json"), map[string]any{"kind": kind, "hash": hash, "key": key}); err != nil {
		return false, err
	}
	a.logger().Info("building artifact", "kind", kind, "hash", hash)
	start := time.Now()
	if err := build(ctx, partial); err != nil {
		return false, err
	}
	if err := os.Rename(partial, final); err != nil {
		return false, fmt.Errorf("finish: %w", err)
	}
	a.logger().Info("built artifact", "kind", kind, "hash", hash, "seconds", time.Since(start).Seconds())
	return true, nil
}

func isDir(path string) (bool, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !st.IsDir() {
		return false, fmt.Errorf("%s: exists but is not a directory", path)
	}
	return true, nil
}

// Memo returns the in-memory value cached under (kind, key), calling load on
// a miss: a loaded model or dataset is then shared by the cells of one
// process. Callers must treat the value as read-only (clone a model before
// training it).
func Memo[T any](a *Artifacts, kind string, key any, load func() (T, error)) (T, error) {
	var zero T
	hash, err := HashKey(key)
	if err != nil {
		return zero, fmt.Errorf("memo %s: %w", kind, err)
	}
	k := kind + "/" + hash
	a.mu.Lock()
	if v, ok := a.memo[k]; ok {
		a.mu.Unlock()
		t, ok := v.(T)
		if !ok {
			return zero, fmt.Errorf("memo %s: cached a %T, asked for a %T", k, v, zero)
		}
		return t, nil
	}
	a.mu.Unlock()
	v, err := load()
	if err != nil {
		return zero, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.memo == nil {
		a.memo = map[string]any{}
	}
	if _, ok := a.memo[k]; !ok {
		a.memoOrder = append(a.memoOrder, k)
	}
	a.memo[k] = v
	limit := a.MaxMemo
	if limit <= 0 {
		limit = 16
	}
	for len(a.memoOrder) > limit {
		delete(a.memo, a.memoOrder[0])
		a.memoOrder = a.memoOrder[1:]
	}
	return v, nil
}

// takeUses returns and clears the artefact uses recorded since the last call.
func (a *Artifacts) takeUses() []ArtifactUse {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.uses
	a.uses = nil
	return u
}
