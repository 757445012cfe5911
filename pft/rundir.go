package pft

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"roads/ckpt"
	"roads/model"
)

// A run directory is keyed by what was asked. When a run starts it records
// run_fingerprint.json: the resolved settings (training_config.json's
// content, less the fields that cannot change a result), a SHA-256 of the
// training data it was given and one of the initial weights. A later start in
// the same output_dir resumes only when all three match; otherwise it is
// refused, naming the first differing setting (or the data, or the weights),
// unless overwrite_output_dir asks to start afresh (TRL's flag of that name).
// training_config.json and the fingerprint are written only once these checks
// and the resume have succeeded, each atomically.

// FingerprintFile is the run directory's record of what the run was asked.
const FingerprintFile = "run_fingerprint.json"

// runFingerprint is run_fingerprint.json.
type runFingerprint struct {
	Settings    map[string]any `json:"settings"`
	DataSHA256  string         `json:"data_sha256"`
	InitSHA256  string         `json:"init_weights_sha256"`
	DataSummary string         `json:"data,omitempty"`
}

// volatileSettings never change what a run computes: where it is written,
// whether a progress bar is drawn, how many threads do the arithmetic (same
// seed ⇒ same result at any thread count), and the overwrite flag itself.
var volatileSettings = map[string]bool{"output_dir": true, "disable_tqdm": true, "threads": true, "overwrite_output_dir": true}

// newFingerprint fingerprints a run: settings (any JSON-encodable config),
// data (the examples, pairs or prompts it trains on) and the initial weights
// of the trained models.
func newFingerprint(settings, data any, models ...*model.Model) (runFingerprint, error) {
	var fp runFingerprint
	raw, err := json.Marshal(settings)
	if err != nil {
		return fp, fmt.Errorf("fingerprint settings: %w", err)
	}
	if err := json.Unmarshal(raw, &fp.Settings); err != nil {
		return fp, fmt.Errorf("fingerprint settings: %w", err)
	}
	for k := range volatileSettings {
		delete(fp.Settings, k)
	}
	h := sha256.New()
	if data != nil {
		if err := json.NewEncoder(h).Encode(data); err != nil {
			return fp, fmt.Errorf("fingerprint data: %w", err)
		}
	}
	fp.DataSHA256 = hex.EncodeToString(h.Sum(nil))
	w := sha256.New()
	var buf [4]byte
	for _, m := range models {
		for _, p := range m.Params() {
			w.Write([]byte(p.Name))
			for _, v := range p.Data {
				b := math.Float32bits(v)
				buf[0], buf[1], buf[2], buf[3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
				w.Write(buf[:])
			}
		}
	}
	fp.InitSHA256 = hex.EncodeToString(w.Sum(nil))
	return fp, nil
}

// diff names the first difference between a recorded fingerprint and this
// run's ("" when they match).
func (fp runFingerprint) diff(now runFingerprint) string {
	if d := firstDiff("", fp.Settings, now.Settings); d != "" {
		return d
	}
	if fp.DataSHA256 != now.DataSHA256 {
		return fmt.Sprintf("the training data differs from the data the run was started with (sha256 %.12s… then, %.12s… now)", fp.DataSHA256, now.DataSHA256)
	}
	if fp.InitSHA256 != now.InitSHA256 {
		return fmt.Sprintf("the initial model differs from the one the run was started from (weights sha256 %.12s… then, %.12s… now)", fp.InitSHA256, now.InitSHA256)
	}
	return ""
}

// firstDiff walks two decoded JSON values in sorted key order and describes
// the first setting whose value differs.
func firstDiff(path string, then, now any) string {
	tm, ok1 := then.(map[string]any)
	nm, ok2 := now.(map[string]any)
	if ok1 && ok2 {
		keys := map[string]bool{}
		for k := range tm {
			keys[k] = true
		}
		for k := range nm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if d := firstDiff(p, tm[k], nm[k]); d != "" {
				return d
			}
		}
		return ""
	}
	a, _ := json.Marshal(then)
	b, _ := json.Marshal(now)
	if string(a) == string(b) {
		return ""
	}
	return fmt.Sprintf("setting %s is %s in the run, %s now", path, a, b)
}

// prepareRunDir checks output_dir against this run's fingerprint before
// anything in it is changed: a directory with a different fingerprint, or
// with checkpoints and no fingerprint at all, is refused unless overwrite is
// set, in which case its contents are removed.
func prepareRunDir(kind, dir string, fp runFingerprint, overwrite bool) error {
	path := filepath.Join(dir, FingerprintFile)
	var recorded runFingerprint
	err := ckpt.ReadJSON(path, &recorded)
	switch {
	case err == nil:
		d := recorded.diff(fp)
		if d == "" {
			return nil
		}
		if !overwrite {
			return fmt.Errorf("%s: output_dir %s holds a run started with other inputs: %s; use another output_dir, or --overwrite_output_dir to start afresh", kind, dir, d)
		}
	case errors.Is(err, fs.ErrNotExist):
		used, uerr := holdsRun(dir)
		if uerr != nil {
			return fmt.Errorf("%s: %w", kind, uerr)
		}
		if !used {
			return nil
		}
		if !overwrite {
			return fmt.Errorf("%s: output_dir %s holds checkpoints or a model but no %s, so what it was trained on is unknown; use another output_dir, or --overwrite_output_dir to start afresh", kind, dir, FingerprintFile)
		}
	default:
		if !overwrite {
			return fmt.Errorf("%s: %w (--overwrite_output_dir starts afresh)", kind, err)
		}
	}
	return clearRunDir(dir)
}

// holdsRun reports whether dir has training state: a checkpoint, metrics or
// a final model.
func holdsRun(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "checkpoint-") || n == "metrics.jsonl" || n == ckpt.ModelFile {
			return true, nil
		}
	}
	return false, nil
}

// clearRunDir removes everything in dir except the lock this process holds.
func clearRunDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == lockFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("overwrite_output_dir: %w", err)
		}
	}
	return nil
}
