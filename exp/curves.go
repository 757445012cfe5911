package exp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
)

// TrainingCurves reads a trainer's metrics.jsonl (one JSON object per log
// line with a "step") and returns one curve per requested key, named
// prefix+key (e.g. "train/loss"), x = step. Lines without the key are
// skipped; a malformed line is an error naming the file and line.
func TrainingCurves(path, prefix string, keys ...string) (map[string][]Point, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("training curves: %w", err)
	}
	out := map[string][]Point{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		step, ok := row["step"].(float64)
		if !ok {
			return nil, fmt.Errorf("%s:%d: no numeric \"step\"", path, line)
		}
		for _, k := range keys {
			if v, ok := row[k].(float64); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
				out[prefix+k] = append(out[prefix+k], Point{X: step, Y: v})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for k := range out {
		pts := out[k]
		sort.SliceStable(pts, func(i, j int) bool { return pts[i].X < pts[j].X })
	}
	return out, nil
}
