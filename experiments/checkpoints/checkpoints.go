// Package checkpoints embeds the SFT models that the experiments' quick
// preset starts from, so that `roads repro` (the README's main job) fits in a
// few minutes on 2 cores: training the three d128 SFT models it needs takes
// about 15 minutes there.
//
// sft/<hash>/ is a finished "sft" artefact of the experiment runner's cache
// (exp.Artifacts), named by the hash of the settings it was trained with
// (task, demonstrations, architecture, SFT arguments, seed); its key.json is
// that key. The runner uses an embedded model only when the cell asks for
// exactly that key, so a changed setting trains a fresh model as before. The
// models are regenerated bit for bit (on the same matrix-multiply kernel) by
//
//	go run ./cmd/roads checkpoints --out experiments/checkpoints
//
// which trains the SFT models of the main experiment's quick preset and copies
// each finished artefact here without its checkpoint-N/ directories.
package checkpoints

import (
	"embed"
	"io/fs"
	"path"
)

// FS holds sft/<hash>/*.
//
//go:embed sft
var FS embed.FS

// Lookup returns the embedded artefact (kind, hash) as a file system rooted
// at its directory.
func Lookup(kind, hash string) (fs.FS, bool) {
	dir := path.Join(kind, hash)
	if _, err := fs.Stat(FS, path.Join(dir, "key.json")); err != nil {
		return nil, false
	}
	sub, err := fs.Sub(FS, dir)
	if err != nil {
		return nil, false
	}
	return sub, true
}

// Hashes lists the embedded artefacts of kind.
func Hashes(kind string) []string {
	ents, err := fs.ReadDir(FS, kind)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}
