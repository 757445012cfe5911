//go:build unix

package pft

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// lockFile is the exclusive lock a run holds on its output_dir. It is an
// flock(2) lock, so the kernel drops it when the holder exits, however it
// exits: a dead process never leaves a stale lock. The file records the
// holder's pid for the refusal message.
const lockFile = ".roads.lock"

// runDirLocking says whether lockRunDir really locks on this platform.
const runDirLocking = true

// lockRunDir takes the lock or refuses at once, naming the holder.
func lockRunDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock output_dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "another run"
			}
			return nil, fmt.Errorf("output_dir %s is in use by %s (lock %s): two runs must not write one directory", dir, who, path)
		}
		return nil, fmt.Errorf("lock output_dir %s: %w", dir, err)
	}
	f.Truncate(0)
	host, _ := os.Hostname()
	fmt.Fprintf(f, "pid %d on %s\n", os.Getpid(), host)
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
