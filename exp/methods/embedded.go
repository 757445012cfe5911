package methods

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"roads/ckpt"
	"roads/exp"
	"roads/experiments/checkpoints"
)

// Embedded SFT models. The quick preset's SFT models (d128, 2,000 steps) take
// about 15 minutes to train on 2 cores, three times the README's budget for
// `roads repro`, so the binary carries them (package
// experiments/checkpoints). SFTModel uses one only when the cell's SFT key is
// byte for byte the key the embedded model was trained under; anything else
// trains as before. ExportSFT regenerates them.

// embeddedFiles are the files of an SFT artefact that are embedded (the
// checkpoint-N/ directories, with their optimizer state, and
// training_config.json, which names the machine's output directory, are not).
var embeddedFiles = []string{"key.json", "config.json", "model.safetensors", "tokenizer.json", "metrics.jsonl"}

// EmbeddedMarker is the file SFTModel writes into an artefact restored from
// the binary; its content names the source.
const EmbeddedMarker = "embedded.json"

// embeddedLookup finds an embedded artefact (a variable so that tests can
// embed models of their own).
var embeddedLookup = checkpoints.Lookup

type noEmbeddedKey struct{}

// WithoutEmbedded returns a context under which SFTModel trains every model
// instead of restoring an embedded one (regeneration; `--no_embedded_sft`).
func WithoutEmbedded(ctx context.Context) context.Context {
	return context.WithValue(ctx, noEmbeddedKey{}, true)
}

func embeddedAllowed(ctx context.Context) bool {
	off, _ := ctx.Value(noEmbeddedKey{}).(bool)
	return !off
}

// restoreEmbedded fills the partial artefact directory dir with the embedded
// model of (kind, key) if there is one. dir already holds the key.json the
// cache wrote for key; the embedded key.json must equal it byte for byte.
func restoreEmbedded(ctx context.Context, kind string, key any, dir string) (bool, error) {
	if !embeddedAllowed(ctx) {
		return false, nil
	}
	hash, err := exp.HashKey(key)
	if err != nil {
		return false, err
	}
	src, ok := embeddedLookup(kind, hash)
	if !ok {
		return false, nil
	}
	want, err := os.ReadFile(filepath.Join(dir, "key.json"))
	if err != nil {
		return false, err
	}
	got, err := fs.ReadFile(src, "key.json")
	if err != nil {
		return false, err
	}
	if !bytes.Equal(want, got) {
		return false, fmt.Errorf("embedded %s/%s: its key.json differs from the key this cell asks for (a stale embed: regenerate with `roads checkpoints`)", kind, hash)
	}
	for _, name := range embeddedFiles[1:] {
		b, err := fs.ReadFile(src, name)
		if err != nil {
			return false, fmt.Errorf("embedded %s/%s: %w", kind, hash, err)
		}
		if err := ckpt.WriteFileAtomic(filepath.Join(dir, name), b); err != nil {
			return false, err
		}
	}
	marker := map[string]string{"source": "experiments/checkpoints/" + kind + "/" + hash,
		"regenerate": "go run ./cmd/roads checkpoints --out experiments/checkpoints"}
	return true, ckpt.WriteJSON(filepath.Join(dir, EmbeddedMarker), marker)
}

// IsEmbedded says whether an artefact directory was restored from the
// binary.
func IsEmbedded(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, EmbeddedMarker))
	return err == nil
}

// ExportSFT trains (never restores) the SFT model of every "sft" cell of
// spec at preset in the cache cacheDir and writes each finished artefact to
// outDir/sft/<hash>/ with the embedded files only, metrics.jsonl without its
// wall_time field (the rest is a function of the key and the matrix-multiply
// kernel, so a rerun is bit for bit the same). It returns the hashes written.
func ExportSFT(ctx context.Context, spec *exp.Spec, preset, cacheDir, outDir string) ([]string, error) {
	cells, err := spec.Cells(preset)
	if err != nil {
		return nil, err
	}
	art := exp.NewArtifacts(cacheDir)
	ctx = WithoutEmbedded(ctx)
	var hashes []string
	for _, c := range cells {
		if c.Method() != "sft" {
			continue
		}
		arch, err := policyArch(c)
		if err != nil {
			return nil, err
		}
		_, dir, err := SFTModel(ctx, c, art, arch)
		if err != nil {
			return nil, err
		}
		if IsEmbedded(dir) {
			return nil, fmt.Errorf("export %s: the cached artefact %s was restored from the binary, not trained; use an empty cache", c.ID, dir)
		}
		var files []ckpt.DirFile
		for _, name := range embeddedFiles {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return nil, fmt.Errorf("export %s: %w", c.ID, err)
			}
			if name == "metrics.jsonl" {
				if b, err = dropField(b, "wall_time"); err != nil {
					return nil, fmt.Errorf("export %s: %s: %w", c.ID, name, err)
				}
			}
			files = append(files, ckpt.BytesFile(name, b))
		}
		hash := filepath.Base(dir)
		if err := ckpt.SaveDir(filepath.Join(outDir, "sft", hash), files...); err != nil {
			return nil, err
		}
		hashes = append(hashes, hash)
	}
	if len(hashes) == 0 {
		return nil, fmt.Errorf("export: %s (preset %q) has no sft cells", spec.Name, preset)
	}
	sort.Strings(hashes)
	return hashes, nil
}

// dropField removes a top-level field from every line of a JSONL file
// (re-encoded with sorted keys, as the trainers write it).
func dropField(jsonl []byte, field string) ([]byte, error) {
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(jsonl))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		delete(m, field)
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if out.Len() == 0 {
		return nil, errors.New("no lines")
	}
	return out.Bytes(), nil
}
