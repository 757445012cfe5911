package recipe

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"roads/eval"
	"roads/task"
)

// The named streams are distinct draws of one split, and the same seed and
// stream give the same prompts.
func TestStreamsAreDistinct(t *testing.T) {
	tk, err := task.Load("sorted")
	if err != nil {
		t.Fatal(err)
	}
	a := Prompts(tk, task.Train, StreamDemos, 1, 20)
	b := Prompts(tk, task.Train, StreamPrefs, 1, 20)
	if reflect.DeepEqual(a, b) {
		t.Fatal("the demonstration and preference streams drew the same prompts")
	}
	if !reflect.DeepEqual(a, Prompts(tk, task.Train, StreamDemos, 1, 20)) {
		t.Fatal("the same stream and seed drew different prompts")
	}
	if reflect.DeepEqual(a, Prompts(tk, task.Train, StreamDemos, 2, 20)) {
		t.Fatal("seeds 1 and 2 drew the same prompts")
	}
	d, err := Demonstrations(tk, task.Train, 1, 20, -1)
	if err != nil || len(d) != 20 || !reflect.DeepEqual(d[0].Prompt, a[0]) {
		t.Fatalf("demonstrations: %d, %v", len(d), err)
	}
	if _, err := Demonstrations(tk, task.Train, 1, 0, -1); err == nil {
		t.Fatal("zero demonstrations accepted")
	}
}

// pairs.jsonl round-trips every pair exactly (ids, scores, label
// probability) and its text fields are TRL's; a row without ids is an error
// naming its line.
func TestPairsRoundTrip(t *testing.T) {
	tk, _ := task.Load("sorted")
	p := tk.Prompts(task.Train, 0, 2)
	ref, _ := tk.Reference(p[0])
	pairs := []eval.Pair{
		{Prompt: p[0], Chosen: ref, Rejected: ref[:1], ScoreChosen: 4.25, ScoreRejected: -0.5, PChosen: 0.875},
		{Prompt: p[1], Chosen: ref[:2], Rejected: []int32{}, ScoreChosen: 1, ScoreRejected: 0, PChosen: 1},
	}
	path := filepath.Join(t.TempDir(), "pairs.jsonl")
	if err := WritePairs(path, tk, pairs); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPairs(path)
	if err != nil || !reflect.DeepEqual(got, pairs) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, got, pairs)
	}
	raw, _ := os.ReadFile(path)
	first := strings.SplitN(string(raw), "\n", 2)[0]
	if !strings.Contains(first, `"prompt":"`+tk.Decode(p[0])+`"`) || !strings.Contains(first, `"chosen":" `+tk.Decode(ref)+`"`) {
		t.Fatalf("row is not TRL preference JSONL: %s", first)
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte(`{"prompt": "a", "chosen": " b", "rejected": " c"}`+"\n"), 0o644)
	if _, err := ReadPairs(bad); err == nil || !strings.Contains(err.Error(), bad+":1: want prompt_ids") {
		t.Fatalf("row without ids: %v", err)
	}
}

// SummariseDemos: at corruption rate 0 the demonstrator is the reference, so
// the two mean golds agree and the length is the references'; at the task's
// rate the demonstrations score less.
func TestSummariseDemos(t *testing.T) {
	tk, err := task.Load("sorted")
	if err != nil {
		t.Fatal(err)
	}
	clean, err := Demonstrations(tk, task.Train, 2, 50, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := SummariseDemos(tk, clean)
	if err != nil {
		t.Fatal(err)
	}
	refLen := 0.0
	for _, d := range clean {
		ref, _ := tk.Reference(d.Prompt)
		refLen += float64(len(ref)) / 50
	}
	if math.Abs(st.MeanGold-st.MeanReferenceGold) > 1e-12 || math.Abs(st.MeanLength-refLen) > 1e-12 || !(st.MeanGold > 0) {
		t.Fatalf("rate 0: %+v, reference length %v", st, refLen)
	}
	noisy, _ := Demonstrations(tk, task.Train, 2, 50, -1)
	if sn, err := SummariseDemos(tk, noisy); err != nil || !(sn.MeanGold < st.MeanGold) || sn.MeanReferenceGold != st.MeanReferenceGold {
		t.Fatalf("task rate: %+v, %v (rate 0: %+v)", sn, err, st)
	}
	if _, err := SummariseDemos(tk, nil); err == nil {
		t.Fatal("no demonstrations: want an error")
	}
}
