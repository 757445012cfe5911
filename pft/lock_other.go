//go:build !unix

package pft

// lockFile is the name a unix run would lock; elsewhere runs are not locked.
const lockFile = ".roads.lock"

// runDirLocking says whether lockRunDir really locks on this platform.
const runDirLocking = false

// lockRunDir is a no-op where flock(2) does not exist.
func lockRunDir(dir string) (release func(), err error) { return func() {}, nil }
