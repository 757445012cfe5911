package recipe

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"roads/data"
	"roads/model"
	"roads/pft"
	"roads/task"
)

// TestTruncateSFTExamples: max_length keeps the start of prompt+completion;
// a prompt that fills it, a negative value and (without it) an example
// longer than any context are refused, naming the file and line.
func TestTruncateSFTExamples(t *testing.T) {
	ex := func() []pft.SFTExample {
		return []pft.SFTExample{{Prompt: []int32{1, 2}, Completion: []int32{3, 4, 5}}, {Prompt: []int32{1}, Completion: []int32{2}}}
	}
	got, err := TruncateSFTExamples("f.jsonl", ex(), 4)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got[0].Completion, []int32{3, 4}) || !slices.Equal(got[1].Completion, []int32{2}) {
		t.Fatalf("max_length 4: completions %v, %v", got[0].Completion, got[1].Completion)
	}
	if got, _ := TruncateSFTExamples("f.jsonl", ex(), 0); len(got[0].Completion) != 3 {
		t.Fatalf("max_length 0 cut a completion to %d tokens", len(got[0].Completion))
	}
	long := []pft.SFTExample{{Completion: make([]int32, model.MaxPositions+1)}}
	for _, tc := range []struct {
		ex   []pft.SFTExample
		n    int
		want string
	}{
		{ex(), 2, "f.jsonl:1: the prompt alone has 2 tokens, so --max_length 2 leaves no completion"},
		{ex(), -1, "--max_length -1"},
		{long, 0, "f.jsonl:1: 1048577 tokens, more than any model's context"},
	} {
		if _, err := TruncateSFTExamples("f.jsonl", tc.ex, tc.n); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("max_length %d: %v, want %q", tc.n, err, tc.want)
		}
	}
}

// TestLoadOnline: the reference defaults to a frozen copy of the policy
// (recorded as ref_model), the task's config is recorded, prompts come from
// the task's train split or from a JSONL file; missing inputs and a
// non-positive prompt count are refused before any model is read.
func TestLoadOnline(t *testing.T) {
	tk, err := task.Load("sorted")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(model.NewConfig(tk.Tokenizer().VocabSize(), tk.MaxTotalLen(), 16, 1, 2), 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "sft")
	if err := model.SaveDir(dir, m, tk.Tokenizer()); err != nil {
		t.Fatal(err)
	}
	in := pft.Inputs{Task: "sorted", Model: dir, Verifier: "gold"}
	o, err := LoadOnline(&in, 5, data.Keys{}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if in.RefModel != dir || len(in.TaskConfig) == 0 {
		t.Fatalf("recorded ref_model %q, task config %d bytes", in.RefModel, len(in.TaskConfig))
	}
	if o.Ref == o.Policy || !o.Ref.Frozen() || o.Policy.Frozen() {
		t.Fatal("the reference must be a frozen copy of the policy")
	}
	want := tk.Prompts(task.Train, 7, 5)
	if len(o.Prompts) != 5 || !slices.Equal(o.Prompts[4], want[4]) {
		t.Fatalf("prompts: got %d, want the train split's stream 7", len(o.Prompts))
	}
	rows := PromptRows(tk, want[:3])
	path := filepath.Join(t.TempDir(), "p.jsonl")
	if err := data.WritePrompts(path, rows, data.Keys{}); err != nil {
		t.Fatal(err)
	}
	in = pft.Inputs{Task: "sorted", Model: dir, Verifier: "gold", Dataset: path}
	if o, err = LoadOnline(&in, 0, data.Keys{}, 7); err != nil || len(o.Prompts) != 3 || !slices.Equal(o.Prompts[2], want[2]) {
		t.Fatalf("prompts from %s: %v (%d prompts)", path, err, len(o.Prompts))
	}
	for _, tc := range []struct {
		in   pft.Inputs
		n    int
		want string
	}{
		{pft.Inputs{Task: "sorted", Model: dir}, 5, "--task, --model and --verifier are required"},
		{pft.Inputs{Task: "sorted", Model: "no/such/dir", Verifier: "gold"}, 0, "--num_prompts = 0"},
		{pft.Inputs{Task: "sorted", Model: "no/such/dir", Verifier: "gold"}, 5, "model no/such/dir"},
	} {
		if _, err := LoadOnline(&tc.in, tc.n, data.Keys{}, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%+v: %v, want %q", tc.in, err, tc.want)
		}
	}
}

// TestLoadRewardModel: a new reward model's context is n_positions, else
// the task's max_total_len; eval_fraction holds pairs out, and without any
// held-out pairs load_best_model_at_end is switched off.
func TestLoadRewardModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prefs.jsonl")
	tk, _ := task.Load("sorted")
	p := tk.Prompts(task.Train, 0, 1)[0]
	ref, _ := tk.Reference(p)
	row := data.Preference{Prompt: tk.Decode(p), Chosen: CompletionText(tk, ref), Rejected: CompletionText(tk, ref[:1])}
	rows := []data.Preference{}
	for range 10 {
		rows = append(rows, row)
	}
	if err := data.WritePreferences(path, rows, data.Keys{}); err != nil {
		t.Fatal(err)
	}
	arch := model.Arch{ModelType: model.TypeGPT2, DModel: 16, NLayer: 1, NHead: 2}
	cfg := pft.DefaultRewardTrainConfig()
	cfg.Dataset, cfg.EvalFraction, cfg.Task = path, 0, "sorted"
	l, err := LoadRewardModel(&cfg, arch, 0, data.Keys{})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Policy.Config().NPositions; got != tk.MaxTotalLen() {
		t.Fatalf("context %d, want the task's %d", got, tk.MaxTotalLen())
	}
	if cfg.LoadBestModelAtEnd || len(l.Eval) != 0 || len(l.Pairs) != 10 || l.Policy.Config().Head != "scalar" {
		t.Fatalf("no eval: load_best %v, %d eval, %d train pairs, head %q", cfg.LoadBestModelAtEnd, len(l.Eval), len(l.Pairs), l.Policy.Config().Head)
	}
	cfg = pft.DefaultRewardTrainConfig()
	cfg.Dataset, cfg.EvalFraction, cfg.Task = path, 0.2, "sorted"
	if l, err = LoadRewardModel(&cfg, arch, 300, data.Keys{}); err != nil {
		t.Fatal(err)
	}
	if got := l.Policy.Config().NPositions; got != 300 || len(l.Eval) != 2 || len(l.Pairs) != 8 || !cfg.LoadBestModelAtEnd {
		t.Fatalf("context %d (want 300), %d eval / %d train pairs, load_best %v", got, len(l.Eval), len(l.Pairs), cfg.LoadBestModelAtEnd)
	}
	cfg = pft.DefaultRewardTrainConfig()
	cfg.Dataset = path
	if _, err := LoadRewardModel(&cfg, arch, 0, data.Keys{}); err == nil || !strings.Contains(err.Error(), "no tokenizer") {
		t.Fatalf("neither --model nor --task: %v", err)
	}
}
