package methods

import (
	"path/filepath"
	"reflect"
	"testing"

	"roads/ckpt"
	"roads/eval"
	"roads/pft"
	"roads/recipe"
	"roads/task"
)

// A preference artefact reads back the same in both formats: pairs.jsonl +
// stats.json (written now) and the legacy pairs.json.
func TestPrefDataFormats(t *testing.T) {
	tk, err := task.Load("sorted")
	if err != nil {
		t.Fatal(err)
	}
	p := tk.Prompts(task.Train, 0, 2)
	ref0, _ := tk.Reference(p[0])
	ref1, _ := tk.Reference(p[1])
	pairs := []eval.Pair{
		{Prompt: p[0], Chosen: ref0, Rejected: ref0[:1], ScoreChosen: 4, ScoreRejected: 1.5, PChosen: 0.9},
		{Prompt: p[1], Chosen: ref1, Rejected: nil, ScoreChosen: 3, ScoreRejected: 0, PChosen: 1},
	}
	want := &PrefData{Stats: eval.PrefStats{Pairs: 2, Prompts: 2}}
	for _, q := range pairs {
		want.Pairs = append(want.Pairs, pft.PreferencePair{Prompt: q.Prompt, Chosen: q.Chosen, Rejected: q.Rejected})
		want.GoldMargins = append(want.GoldMargins, q.ScoreChosen-q.ScoreRejected)
	}
	now := t.TempDir()
	if err := recipe.WritePairs(filepath.Join(now, PairsFile), tk, pairs); err != nil {
		t.Fatal(err)
	}
	if err := ckpt.WriteJSON(filepath.Join(now, "stats.json"), want.Stats); err != nil {
		t.Fatal(err)
	}
	legacy := t.TempDir()
	if err := ckpt.WriteJSON(filepath.Join(legacy, "pairs.json"), want); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{now, legacy} {
		got, err := readPrefData(dir)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got.Pairs { // an empty rejected side reads back as an empty, not nil, slice
			if len(got.Pairs[i].Rejected) == 0 {
				got.Pairs[i].Rejected = nil
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: read %+v, want %+v", dir, got, want)
		}
	}
}
