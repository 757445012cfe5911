package exp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"roads/internal/atomicfile"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// The results store is a directory tree of JSON files:
//
//	RESULTS/<experiment>/spec.json        the experiment spec (rewritten by every run)
//	RESULTS/<experiment>/<cell-id>.json   one record per finished cell
//	RESULTS/_artifacts/...                shared artefacts (see Artifacts), by default
//
// Every file is written to a hidden temp file in the same directory, synced
// and renamed into place, so a reader (or a run resumed after a kill) sees a
// whole record or none. Names starting with "." or "_" are not experiments or
// records. Any other *.json file in an experiment directory must be a valid
// record: a damaged one is an error naming the file, never silently skipped.

// RecordSchema is the version of the record format.
const RecordSchema = 1

// Record is one finished cell: its configuration, what the method measured,
// and how and when it was produced.
type Record struct {
	Schema     int         `json:"schema"`
	ID         string      `json:"id"`
	Experiment string      `json:"experiment"`
	Preset     string      `json:"preset,omitempty"`
	Method     string      `json:"method"`
	Seed       uint64      `json:"seed"`
	Axes       []AxisValue `json:"axes"`
	Config     Params      `json:"config"`
	Result
	Artifacts []ArtifactUse `json:"artifacts,omitempty"`
	Timing    Timing        `json:"timing"`
	Version   Version       `json:"version"`
}

// Timing says when a cell ran and for how long (artefact builds and waits
// included; Artifacts lists each artefact's share).
type Timing struct {
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
}

// Version identifies the code that produced a record.
type Version struct {
	Go       string `json:"go"`
	Revision string `json:"vcs_revision,omitempty"`
	Modified bool   `json:"vcs_modified,omitempty"`
	Host     string `json:"host,omitempty"`
}

// CurrentVersion reads the build's VCS stamp (absent under -buildvcs=false).
func CurrentVersion() Version {
	v := Version{Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	v.Host, _ = os.Hostname()
	return v
}

// Cell rebuilds the cell a record was made from.
func (r *Record) Cell() Cell {
	return Cell{ID: r.ID, Experiment: r.Experiment, Preset: r.Preset, Axes: r.Axes, Params: r.Config}
}

// Axis returns the record's value of an axis.
func (r *Record) Axis(name string) (any, bool) { return r.Cell().Axis(name) }

// Label renders the record's axis values.
func (r *Record) Label() string { return r.Cell().Label() }

// check verifies a loaded record against itself and its file name.
func (r *Record) check(wantID string) error {
	if r.Schema != RecordSchema {
		return fmt.Errorf("schema %d, want %d", r.Schema, RecordSchema)
	}
	if r.ID != wantID {
		return fmt.Errorf("id %q does not match the file name", r.ID)
	}
	id, err := CellID(r.Experiment, r.Config)
	if err != nil {
		return err
	}
	if id != r.ID {
		return fmt.Errorf("id %s is not the hash of its config (%s): edited by hand, or written by a roads with another cell-ID scheme", r.ID, id)
	}
	if m, _ := r.Config["method"].(string); m != r.Method {
		return fmt.Errorf("method %q differs from config.method %q", r.Method, m)
	}
	for _, a := range r.Axes {
		v, ok := getPath(r.Config, a.Name)
		if !ok || !SameValue(v, a.Value) {
			return fmt.Errorf("axis %s = %s differs from the config", a.Name, valueString(a.Value))
		}
	}
	return r.Result.validate()
}

var recordName = regexp.MustCompile(`^[0-9a-f]{16}\.json$`)

// Store is one experiment's directory of records.
type Store struct {
	Dir        string
	Experiment string
}

// OpenStore opens (creating it) RESULTS/<experiment>.
func OpenStore(results, experiment string) (*Store, error) {
	dir := filepath.Join(results, experiment)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("results store: %w", err)
	}
	return &Store{Dir: dir, Experiment: experiment}, nil
}

// Path is where a cell's record lives.
func (s *Store) Path(id string) string { return filepath.Join(s.Dir, id+".json") }

// Load reads one record; a missing record is (nil, nil).
func (s *Store) Load(id string) (*Record, error) {
	rec, err := readRecord(s.Path(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return rec, err
}

// Put writes a record atomically.
func (s *Store) Put(r *Record) error {
	return writeJSONAtomic(s.Path(r.ID), r)
}

// WriteSpec records the spec the records were made from.
func (s *Store) WriteSpec(spec *Spec) error {
	return writeJSONAtomic(filepath.Join(s.Dir, "spec.json"), spec)
}

// Records reads every record of the experiment, sorted by ID.
func (s *Store) Records() ([]*Record, error) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("results store: %w", err)
	}
	var out []*Record
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "spec.json" || !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(s.Dir, name)
		if !recordName.MatchString(name) {
			return nil, fmt.Errorf("%s: not a record (record files are <16 hex digits>.json); move it out of the results store", path)
		}
		rec, err := readRecord(path)
		if err != nil {
			return nil, err
		}
		if rec.Experiment != s.Experiment {
			return nil, fmt.Errorf("%s: a record of experiment %q in the directory of %q", path, rec.Experiment, s.Experiment)
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// readRecord decodes and checks a record file, naming it in every error.
func readRecord(path string) (*Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Record
	if err := decodeStrict(path, data, &r); err != nil {
		return nil, fmt.Errorf("corrupt result record: %w (delete the file to rerun its cell)", err)
	}
	id := strings.TrimSuffix(filepath.Base(path), ".json")
	if err := r.check(id); err != nil {
		return nil, fmt.Errorf("corrupt result record %s: %w (delete the file to rerun its cell)", path, err)
	}
	return &r, nil
}

// ExperimentResults is one experiment directory of a results store.
type ExperimentResults struct {
	Spec    *Spec
	Records []*Record
}

// LoadResults reads every experiment directory under results (those not
// starting with "_" or "."). Each needs its spec.json; records are checked.
func LoadResults(results string) ([]ExperimentResults, error) {
	entries, err := os.ReadDir(results)
	if err != nil {
		return nil, fmt.Errorf("results store: %w", err)
	}
	var out []ExperimentResults
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		specPath := filepath.Join(results, name, "spec.json")
		spec, err := ReadSpec(specPath)
		if err != nil {
			return nil, err
		}
		if spec.Name != name {
			return nil, fmt.Errorf("%s: experiment %q in directory %q", specPath, spec.Name, name)
		}
		st := &Store{Dir: filepath.Join(results, name), Experiment: name}
		recs, err := st.Records()
		if err != nil {
			return nil, err
		}
		out = append(out, ExperimentResults{Spec: spec, Records: recs})
	}
	return out, nil
}

// writeJSONAtomic writes v as indented JSON via a synced temp file and a
// rename, so path holds the old content or the new, never a part.
func writeJSONAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// writeFileAtomic writes data to path via a temp file and a rename.
func writeFileAtomic(path string, data []byte) error { return atomicfile.WriteFile(path, data) }
