package recipe

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"roads/task"
)

// The data commands' configurations refuse bad settings before writing
// anything, and what they write reads back as the recipe's own prompts,
// demonstrations and pairs.
func TestDataCommandConfigs(t *testing.T) {
	dir := t.TempDir()
	bad := []struct {
		name string
		src  func(*Source)
		want string
	}{
		{"no --out", func(s *Source) {}, "--out and a positive --n"},
		{"zero --n", func(s *Source) { s.Out, s.N = filepath.Join(dir, "x.jsonl"), 0 }, "--out and a positive --n"},
		{"bad split", func(s *Source) { s.Out, s.Split = filepath.Join(dir, "x.jsonl"), "dev" }, "dev"},
		{"unknown task", func(s *Source) { s.Out, s.Task = filepath.Join(dir, "x.jsonl"), "nosuch" }, "nosuch"},
	}
	for _, c := range bad {
		src := DefaultSource()
		c.src(&src)
		_, err := WritePrompts(src)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "data prompts: ") {
			t.Errorf("%s: got %v, want an error naming %q", c.name, err, c.want)
		}
		if _, err := WriteDemos(DemosConfig{Source: src, CorruptionRate: -1}); err == nil {
			t.Errorf("%s: demos accepted it", c.name)
		}
		if _, err := os.Stat(filepath.Join(dir, "x.jsonl")); err == nil {
			t.Fatalf("%s: a file was written", c.name)
		}
	}

	tk, err := task.Load("sorted")
	if err != nil {
		t.Fatal(err)
	}
	src := DefaultSource()
	src.Task, src.N, src.Seed, src.Out = "sorted", 7, 3, filepath.Join(dir, "prompts.jsonl")
	r, err := WritePrompts(src)
	if err != nil || r.Rows != 7 || r.Task != tk.Name() || r.Split != "train" {
		t.Fatalf("prompts: %+v, %v", r, err)
	}
	got, err := ReadPrompts(src.Out, src.Keys, tk.Tokenizer())
	if err != nil {
		t.Fatal(err)
	}
	if want := Prompts(tk, task.Train, StreamPrompts, 3, 7); !reflect.DeepEqual(got, want) {
		t.Fatalf("prompts read back differ from the prompt stream:\n%v\n%v", got, want)
	}

	dc := DemosConfig{Source: src, CorruptionRate: -1}
	dc.Out = filepath.Join(dir, "demos.jsonl")
	d, err := WriteDemos(dc)
	if err != nil || d.Rows != 7 || d.CorruptionRate != tk.DemoRate() {
		t.Fatalf("demos: %+v, %v", d, err)
	}
	ex, err := ReadSFTExamples(dc.Out, dc.Keys, tk.Tokenizer())
	if err != nil {
		t.Fatal(err)
	}
	demos, err := Demonstrations(tk, task.Train, 3, 7, tk.DemoRate())
	if err != nil {
		t.Fatal(err)
	}
	for i := range demos { // ReadSFTExamples appends EOS to each completion
		want := append(append([]int32(nil), demos[i].Completion...), tk.Tokenizer().EOS())
		if !reflect.DeepEqual(ex[i].Prompt, demos[i].Prompt) || !reflect.DeepEqual(ex[i].Completion, want) {
			t.Fatalf("demo %d read back differs: %v %v / %v %v", i, ex[i].Prompt, ex[i].Completion, demos[i].Prompt, demos[i].Completion)
		}
	}

	gc := DefaultGenConfig()
	gc.Source = src
	gc.Out, gc.Policy, gc.N = filepath.Join(dir, "pairs.jsonl"), "corrupt:0.5", 20
	g, err := WritePreferences(gc)
	if err != nil || g.Stats.Pairs == 0 || g.BTTemperature != tk.LabelTemperature() || g.K != 2 {
		t.Fatalf("gen: %+v, %v", g, err)
	}
	pairs, err := ReadPreferencePairs(gc.Out, gc.Keys, tk.Tokenizer())
	if err != nil || len(pairs) != g.Stats.Pairs {
		t.Fatalf("gen read back: %d pairs, %v; wrote %d", len(pairs), err, g.Stats.Pairs)
	}
	gc.Policy = "nosuch_policy"
	gc.Out = filepath.Join(dir, "none.jsonl")
	if _, err := WritePreferences(gc); err == nil {
		t.Fatal("an unknown policy was accepted")
	}
	if _, err := os.Stat(gc.Out); err == nil {
		t.Fatal("a file was written for an unknown policy")
	}
}

// The other commands' configurations name the flag at fault before reading
// any file.
func TestCommandConfigsRefuseBadSettings(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nosuch")
	score := func(f func(*ScoreConfig)) error {
		c := DefaultScoreConfig()
		c.Model, c.Data = missing, missing
		f(&c)
		_, err := Score(c)
		return err
	}
	bon := func(f func(*BoNConfig)) error {
		c := DefaultBoNConfig()
		c.Model, c.Verifier = missing, "gold"
		f(&c)
		_, err := BestOfN(c, nil)
		return err
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"score without --model", score(func(c *ScoreConfig) { c.Model = "" }), "--model and --data are required"},
		{"score β 0", score(func(c *ScoreConfig) { c.Beta = 0 }), "--beta 0: want > 0"},
		{"score missing model", score(func(c *ScoreConfig) {}), "nosuch"},
		{"rm eval without --data", func() error { _, err := EvalVerifier(VerifierEvalConfig{Verifier: "gold"}); return err }(), "--verifier and --data are required"},
		{"rm eval gold without a task", func() error {
			_, err := EvalVerifier(VerifierEvalConfig{Verifier: "gold", Data: missing})
			return err
		}(), "gold"},
		{"bon without --verifier", bon(func(c *BoNConfig) { c.Verifier = "" }), "--model and --verifier are required"},
		{"bon N 0", bon(func(c *BoNConfig) { c.N = []int{1, 0} }), "--n: 0 is not a positive integer"},
		{"bon no N", bon(func(c *BoNConfig) { c.N = nil }), "--n: no N values"},
		{"bon 0 prompts", bon(func(c *BoNConfig) { c.NumPrompts = 0 }), "--num_prompts = 0"},
		{"bon missing model", bon(func(c *BoNConfig) {}), "nosuch"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, c.err, c.want)
		}
	}
}
