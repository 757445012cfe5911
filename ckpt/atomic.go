package ckpt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"roads/internal/atomicfile"
	"strings"
)

// testHookWrite, when set (by tests only), runs after each file's content is written and before it is
// committed; an error it returns simulates a failure mid-save (disk full, crash).
var testHookWrite func(path string) error

// WriteFileAtomic writes data to path via a temp file in the same directory, fsync and rename: readers see
// the old file or the new one, never a partial one.
func WriteFileAtomic(path string, data []byte) error {
	return writeFileAtomic(path, func(w io.Writer) error { _, err := w.Write(data); return err })
}

// WriteJSON writes v as indented JSON (plus a final newline) to path atomically.
func WriteJSON(path string, v any) error {
	data, err := marshalJSON(v)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return WriteFileAtomic(path, data)
}

// ReadJSON decodes the JSON file at path into v, naming the file and the byte offset on error.
func ReadJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read json: %w", err)
	}
	return DecodeJSON(path, data, v)
}

// DecodeJSON decodes a JSON file's bytes into v, naming source and the byte
// offset of a syntax error; a leading byte-order mark is not JSON and is
// dropped.
func DecodeJSON(source string, data []byte, v any) error {
	if err := json.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), v); err != nil {
		if se, ok := err.(*json.SyntaxError); ok {
			return fmt.Errorf("%s: invalid JSON at byte %d: %w", source, se.Offset, err)
		}
		return fmt.Errorf("%s: %w", source, err)
	}
	return nil
}

func marshalJSON(v any) ([]byte, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// writeFileAtomic streams content into path through internal/atomicfile (temp file, fsync, rename, fsync
// of the directory); testHookWrite runs after the content, before the commit.
func writeFileAtomic(path string, content func(io.Writer) error) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		if err := content(w); err != nil {
			return err
		}
		if testHookWrite != nil {
			return testHookWrite(path)
		}
		return nil
	})
}

func writeAndSync(f *os.File, content func(io.Writer) error) error {
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := content(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Sync()
}

func syncDir(dir string) error { return atomicfile.SyncDir(dir) }

// DirFile is one file of a directory written by SaveDir: a name inside the directory and its content.
type DirFile struct {
	Name    string
	Content func(io.Writer) error
}

// BytesFile is a DirFile holding fixed bytes.
func BytesFile(name string, data []byte) DirFile {
	return DirFile{name, func(w io.Writer) error { _, err := w.Write(data); return err }}
}

// JSONFile is a DirFile holding v as indented JSON.
func JSONFile(name string, v any) DirFile {
	return DirFile{name, func(w io.Writer) error {
		data, err := marshalJSON(v)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}}
}

// SafetensorsFile is a DirFile holding tensors in the safetensors format.
func SafetensorsFile(name string, tensors []Tensor, metadata map[string]string) DirFile {
	return DirFile{name, func(w io.Writer) error { return Encode(w, tensors, metadata) }}
}

// SaveDir writes files into a fresh temp directory next to dir, fsyncs them and the directory, and only then
// renames it to dir, so dir never exists half-written. An existing dir is replaced only once the new one is
// complete: the old one is renamed aside (to the hidden temp name plus ".old"), the new one renamed in, and
// the old one removed. A crash between those two renames leaves dir absent (never partial) with both
// versions intact under hidden names; checkpoint-N directories are normally new, so this window is rare.
// (An atomic swap needs renameat2(RENAME_EXCHANGE), which the standard library does not expose.)
// On error nothing at dir changes.
func SaveDir(dir string, files ...DirFile) (err error) {
	dir = filepath.Clean(dir)
	parent, base := filepath.Split(dir)
	if parent == "" {
		parent = "."
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	seen := map[string]bool{}
	for _, file := range files {
		if file.Name == "" || strings.ContainsRune(file.Name, os.PathSeparator) || file.Name == "." || file.Name == ".." || seen[file.Name] {
			return fmt.Errorf("save %s: invalid or duplicate file name %q", dir, file.Name)
		}
		seen[file.Name] = true
		if err := writeNewFile(filepath.Join(tmp, file.Name), file.Content); err != nil {
			return fmt.Errorf("save %s: %w", dir, err)
		}
	}
	if err := syncDir(tmp); err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return fmt.Errorf("save %s: %w", dir, err)
	}
	if err := replaceDir(tmp, dir); err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	return syncDir(parent)
}

func writeNewFile(path string, content func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := writeAndSync(f, content); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if testHookWrite != nil {
		if err := testHookWrite(path); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", filepath.Base(path), err)
		}
	}
	return f.Close()
}

// replaceDir moves the complete directory tmp to dir, replacing any existing dir, and removes the old one.
func replaceDir(tmp, dir string) error {
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		return os.Rename(tmp, dir)
	}
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Rename(old, dir) // put the old one back
		return err
	}
	return os.RemoveAll(old)
}
