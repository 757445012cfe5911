// Package filelock is the one exclusive lock roads takes on a file: a run's
// output_dir and an experiment cell in flight. On unix it is an flock(2)
// lock, so the kernel drops it when the holder exits however it exits (kill
// -9 included): a dead process never leaves a stale lock to break by hand.
// The lock file records the holder ("pid N on HOST") for the refusal
// message.
package filelock

import (
	"errors"
	"fmt"
)

// Supported says whether Acquire really locks on this platform (elsewhere it
// always succeeds and excludes nothing).
const Supported = supported

// HeldError is the refusal: another process holds the lock.
type HeldError struct {
	Path   string // the lock file
	Holder string // what the holder wrote, "pid N on HOST"; "" if unreadable
}

func (e *HeldError) Error() string {
	who := e.Holder
	if who == "" {
		who = "another process"
	}
	return fmt.Sprintf("%s is held by %s", e.Path, who)
}

// IsHeld reports whether err is (or wraps) a HeldError.
func IsHeld(err error) bool {
	var h *HeldError
	return errors.As(err, &h)
}

// Lock is a held lock.
type Lock struct {
	path   string
	remove bool
	unlock func()
}

// Acquire takes the exclusive lock on path (created if missing) or refuses at
// once with a *HeldError. It never waits.
func Acquire(path string) (*Lock, error) { return acquire(path, false) }

// AcquireTemp is Acquire for a lock file that should not outlive its holder:
// Release removes it. (A process that dies leaves the file, unlocked; the
// next Acquire takes it.)
func AcquireTemp(path string) (*Lock, error) { return acquire(path, true) }

// Release drops the lock (removing the file first for AcquireTemp locks).
// It is safe to call more than once.
func (l *Lock) Release() {
	if l == nil || l.unlock == nil {
		return
	}
	l.unlock()
	l.unlock = nil
}
