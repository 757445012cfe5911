package exp

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// WriteSummary prints what a Run did, one line per experiment plus its
// failed, busy and skipped cells (`roads run`).
func WriteSummary(w io.Writer, s *Summary, results string) {
	preset := s.Preset
	if preset == "" {
		preset = "none"
	}
	fmt.Fprintf(w, "%s (preset %s, shard %s): %d cells in the grid, %d in this shard: %d already done, %d run, %d failed, %d skipped (method not wired); records in %s\n",
		s.Experiment, preset, s.Shard, s.GridCells, s.ShardCells, s.Done, s.Ran, len(s.Failed), len(s.Skipped), filepath.Join(results, s.Experiment))
	for _, f := range s.Failed {
		fmt.Fprintf(w, "  failed: %v\n", f)
	}
	for _, b := range s.Busy {
		fmt.Fprintf(w, "  busy (another runner has it, %s): %s %s\n", b.Holder, b.Cell.ID, b.Cell.Label())
	}
	if len(s.Skipped) > 0 {
		methods := map[string]bool{}
		for _, c := range s.Skipped {
			methods[c.Method()] = true
		}
		fmt.Fprintf(w, "  skipped methods: %s\n", strings.Join(slices.Sorted(maps.Keys(methods)), ", "))
	}
}

// WriteSummariesJSON prints the summaries as one JSON array (`roads run --json`).
func WriteSummariesJSON(w io.Writer, sums []*Summary) error {
	type failed struct {
		ID    string `json:"id"`
		Cell  string `json:"cell"`
		Error string `json:"error"`
	}
	type out struct {
		Experiment string   `json:"experiment"`
		Preset     string   `json:"preset"`
		Shard      string   `json:"shard"`
		Grid       int      `json:"grid_cells"`
		InShard    int      `json:"shard_cells"`
		Done       int      `json:"already_done"`
		Ran        int      `json:"ran"`
		Skipped    int      `json:"skipped"`
		Busy       int      `json:"busy"`
		Failed     []failed `json:"failed"`
	}
	res := make([]out, 0, len(sums))
	for _, s := range sums {
		o := out{Experiment: s.Experiment, Preset: s.Preset, Shard: s.Shard.String(), Grid: s.GridCells, InShard: s.ShardCells,
			Done: s.Done, Ran: s.Ran, Skipped: len(s.Skipped), Busy: len(s.Busy), Failed: []failed{}}
		for _, f := range s.Failed {
			o.Failed = append(o.Failed, failed{ID: f.Cell.ID, Cell: f.Cell.Label(), Error: f.Err.Error()})
		}
		res = append(res, o)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteCellList lists the cells of specs in shard (id, done or todo, axis
// values, whether the method is registered), as text or JSON (`roads run
// --list`).
func WriteCellList(w io.Writer, specs []*Spec, pick func(*Spec) string, shard Shard, results string, asJSON bool) error {
	type row struct {
		Experiment string         `json:"experiment"`
		Preset     string         `json:"preset"`
		ID         string         `json:"id"`
		Done       bool           `json:"done"`
		Method     string         `json:"method"`
		Axes       map[string]any `json:"axes"`
		Registered bool           `json:"method_wired"`
	}
	var rows []row
	for _, s := range specs {
		st, err := Status(s, pick(s), shard, results)
		if err != nil {
			return err
		}
		for _, c := range st {
			axes := map[string]any{}
			for _, a := range c.Cell.Axes {
				axes[a.Name] = a.Value
			}
			_, wired := DefaultRegistry().Lookup(c.Cell.Method())
			rows = append(rows, row{Experiment: s.Name, Preset: pick(s), ID: c.Cell.ID, Done: c.Done, Method: c.Cell.Method(), Axes: axes, Registered: wired})
			if !asJSON {
				state := "todo"
				if c.Done {
					state = "done"
				}
				note := ""
				if !wired {
					note = "  (method not wired)"
				}
				fmt.Fprintf(w, "%s  %s  %-4s  %s%s\n", s.Name, c.Cell.ID, state, c.Cell.Label(), note)
			}
		}
	}
	if asJSON {
		if rows == nil {
			rows = []row{}
		}
		b, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	return nil
}
