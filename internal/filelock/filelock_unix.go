//go:build unix

package filelock

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

const supported = true

func acquire(path string, remove bool) (*Lock, error) {
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			holder, _ := os.ReadFile(path)
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, &HeldError{Path: path, Holder: strings.TrimSpace(string(holder))}
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		// A holder that removes its file on release may have done so between
		// our open and our flock: then we hold a lock on an unlinked inode
		// that nobody else can see. Check that the path still names our file.
		if remove && !sameFile(f, path) {
			f.Close()
			if attempt < 100 {
				continue
			}
			return nil, fmt.Errorf("lock %s: the file keeps being replaced", path)
		}
		f.Truncate(0)
		host, _ := os.Hostname()
		fmt.Fprintf(f, "pid %d on %s\n", os.Getpid(), host)
		return &Lock{path: path, remove: remove, unlock: func() {
			if remove {
				os.Remove(path) // while still holding it, so no one locks the old inode after us
			}
			syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		}}, nil
	}
}

// sameFile says whether path still names the open file f.
func sameFile(f *os.File, path string) bool {
	var fst, pst syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &fst) != nil || syscall.Stat(path, &pst) != nil {
		return false
	}
	return fst.Dev == pst.Dev && fst.Ino == pst.Ino
}
