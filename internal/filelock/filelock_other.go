//go:build !unix

package filelock

const supported = false

// acquire excludes nothing where flock(2) does not exist.
func acquire(path string, remove bool) (*Lock, error) {
	return &Lock{path: path, remove: remove, unlock: func() {}}, nil
}
