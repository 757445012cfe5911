package pft

import (
	"fmt"
	"path/filepath"

	"roads/internal/filelock"
)

// lockFile is the exclusive lock a run holds on its output_dir (see
// internal/filelock: the kernel drops it however the holder exits).
const lockFile = ".roads.lock"

// runDirLocking says whether lockRunDir really locks on this platform.
const runDirLocking = filelock.Supported

// lockRunDir takes the lock or refuses at once, naming the holder.
func lockRunDir(dir string) (release func(), err error) {
	l, err := filelock.Acquire(filepath.Join(dir, lockFile))
	if h, ok := err.(*filelock.HeldError); ok {
		who := h.Holder
		if who == "" {
			who = "another run"
		}
		return nil, fmt.Errorf("output_dir %s is in use by %s (lock %s): two runs must not write one directory", dir, who, h.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("lock output_dir: %w", err)
	}
	return l.Release, nil
}
