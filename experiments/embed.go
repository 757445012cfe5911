// Package experiments holds the experiment specs of roads (one JSON file per
// experiment, see docs/experiments.md) and embeds them in the binary, so
// `roads run main` and `roads repro` work from any directory. The files here
// are the source: edit them, rebuild, and the binary carries the change;
// `roads run experiments/main.json` reads the file itself when it exists.
package experiments

import "embed"

// FS holds every *.json spec in this directory.
//
//go:embed *.json
var FS embed.FS
