package methods

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"roads/exp"
	"roads/experiments/checkpoints"
	"roads/internal/gemm"
	"roads/model"
	"roads/pft"
	"roads/task"
)

// embedSpec is a one-seed tiny SFT grid for the regeneration tests.
const embedSpec = `{
  "name": "embed", "title": "embed", "inherit": "common",
  "params": {"policy_model": {"d_model": 16, "n_layer": 1, "n_head": 2},
    "demos": {"n": 64}, "sft": {"max_steps": 10, "per_device_train_batch_size": 16}, "eval": {"prompts": 16, "samples_per_prompt": 2}},
  "axes": {"seed": [1], "method": ["sft"]}
}`

func parseEmbedSpec(t *testing.T) *exp.Spec {
	t.Helper()
	spec, err := exp.ParseSpec("embed.json", []byte(embedSpec))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestExportSFTIsBitForBit: `roads checkpoints` (ExportSFT) run twice from
// empty caches writes byte-identical directories, with exactly the embedded
// files, no wall-clock time, and the key the runner asks for; on the kernel
// that made the committed fixture it also reproduces the fixture byte for
// byte.
func TestExportSFTIsBitForBit(t *testing.T) {
	spec := parseEmbedSpec(t)
	ctx := context.Background()
	a, b := t.TempDir(), t.TempDir()
	ha, err := ExportSFT(ctx, spec, "", filepath.Join(t.TempDir(), "cache"), a)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := ExportSFT(ctx, spec, "", filepath.Join(t.TempDir(), "cache"), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ha) != 1 || !reflect.DeepEqual(ha, hb) {
		t.Fatalf("hashes %v vs %v", ha, hb)
	}
	ta, tb := readTree(t, a), readTree(t, b)
	if len(ta) != len(embeddedFiles) {
		t.Fatalf("exported %d files, want %v", len(ta), embeddedFiles)
	}
	for name, data := range ta {
		if !bytes.Equal(data, tb[name]) {
			t.Errorf("%s differs between two regenerations", name)
		}
	}
	if m := ta["sft/"+ha[0]+"/metrics.jsonl"]; bytes.Contains(m, []byte("wall_time")) || !bytes.Contains(m, []byte(`"loss"`)) {
		t.Errorf("metrics.jsonl: %.200s", m)
	}
	fixture := filepath.Join("testdata", "embedded_tiny")
	if os.Getenv("ROADS_WRITE_FIXTURE") == "1" {
		os.RemoveAll(fixture)
		for name, data := range ta {
			p := filepath.Join(fixture, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(fixture, "KERNEL"), []byte(gemm.Kernel()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kernel, err := os.ReadFile(filepath.Join(fixture, "KERNEL"))
	if err != nil {
		t.Fatal(err)
	}
	if k := strings.TrimSpace(string(kernel)); k != gemm.Kernel() {
		t.Logf("fixture made with the %s kernel, this machine runs %s: compared two regenerations only", k, gemm.Kernel())
		return
	}
	want := readTree(t, filepath.Join(fixture, "sft"))
	if len(want) != len(ta) {
		t.Fatalf("fixture has %d files, regeneration %d (regenerate it: ROADS_WRITE_FIXTURE=1 go test ./exp/methods -run TestExportSFTIsBitForBit)", len(want), len(ta))
	}
	for name, data := range want {
		if !bytes.Equal(data, ta["sft/"+name]) {
			t.Errorf("regenerated %s differs from the committed fixture", name)
		}
	}
}

// TestRestoredSFTMatchesTrained: a cell whose SFT key is embedded restores
// the model instead of training it, says so (sft_embedded, a note, the
// marker file), and scores exactly what the trained model scores; a cell
// under WithoutEmbedded trains.
func TestRestoredSFTMatchesTrained(t *testing.T) {
	spec := parseEmbedSpec(t)
	ctx := context.Background()
	emb := t.TempDir()
	if _, err := ExportSFT(ctx, spec, "", filepath.Join(t.TempDir(), "cache"), emb); err != nil {
		t.Fatal(err)
	}
	saved := embeddedLookup
	defer func() { embeddedLookup = saved }()
	embeddedLookup = func(kind, hash string) (fs.FS, bool) {
		dir := filepath.Join(emb, kind, hash)
		if _, err := os.Stat(filepath.Join(dir, "key.json")); err != nil {
			return nil, false
		}
		return os.DirFS(dir), true
	}
	run := func(ctx context.Context) (*exp.Record, string) {
		dir := t.TempDir()
		if _, err := exp.Run(ctx, spec, exp.Options{Results: dir}); err != nil {
			t.Fatal(err)
		}
		st, _ := exp.OpenStore(dir, "embed")
		recs, err := st.Records()
		if err != nil || len(recs) != 1 {
			t.Fatalf("%d records, %v", len(recs), err)
		}
		sft, _ := filepath.Glob(filepath.Join(dir, "_artifacts", "sft", "*"))
		return recs[0], sft[0]
	}
	restored, rdir := run(ctx)
	trained, tdir := run(WithoutEmbedded(ctx))
	if !IsEmbedded(rdir) || IsEmbedded(tdir) {
		t.Fatalf("embedded markers: restored %v, trained %v", IsEmbedded(rdir), IsEmbedded(tdir))
	}
	if restored.Metrics["sft_embedded"] != 1 || trained.Metrics["sft_embedded"] != 0 {
		t.Fatalf("sft_embedded: restored %v, trained %v", restored.Metrics["sft_embedded"], trained.Metrics["sft_embedded"])
	}
	if len(restored.Notes) == 0 || !strings.Contains(strings.Join(restored.Notes, " "), "restored from the binary") {
		t.Errorf("restored record notes: %q", restored.Notes)
	}
	delete(restored.Metrics, "sft_embedded")
	delete(trained.Metrics, "sft_embedded")
	if !reflect.DeepEqual(restored.Metrics, trained.Metrics) {
		t.Fatalf("restored and trained SFT score differently:\n%v\n%v", restored.Metrics, trained.Metrics)
	}
}

// TestQuickPresetSFTIsEmbedded: every SFT model the main experiment's quick
// preset asks for is in the binary under exactly its key (a changed default
// would silently make `roads repro` train for a quarter of an hour).
func TestQuickPresetSFTIsEmbedded(t *testing.T) {
	spec, err := exp.LoadSpec("main")
	if err != nil {
		t.Fatal(err)
	}
	cells, err := spec.Cells("quick")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cells {
		if c.Method() != "sft" {
			continue
		}
		n++
		tk, err := Task(c)
		if err != nil {
			t.Fatal(err)
		}
		arch, err := policyArch(c)
		if err != nil {
			t.Fatal(err)
		}
		key, err := sftKeyOf(c, tk, arch)
		if err != nil {
			t.Fatal(err)
		}
		hash, err := exp.HashKey(key)
		if err != nil {
			t.Fatal(err)
		}
		src, ok := checkpoints.Lookup("sft", hash)
		if !ok {
			t.Errorf("%s: SFT key %s is not embedded (regenerate: go run ./cmd/roads checkpoints)", c.Label(), hash)
			continue
		}
		raw, err := fs.ReadFile(src, "key.json")
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Kind string          `json:"kind"`
			Hash string          `json:"hash"`
			Key  json.RawMessage `json:"key"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil || rec.Kind != "sft" || rec.Hash != hash {
			t.Fatalf("%s: key.json %s (%v)", path.Join("sft", hash), raw, err)
		}
		var got any
		if err := json.Unmarshal(rec.Key, &got); err != nil {
			t.Fatal(err)
		}
		if h, err := exp.HashKey(got); err != nil || h != hash {
			t.Errorf("%s: the embedded key hashes to %s, not %s (%v)", c.Label(), h, hash, err)
		}
	}
	if n < 3 {
		t.Fatalf("the quick preset has %d SFT cells, want ≥ 3 seeds", n)
	}
}

// TestGoldOrdered: pairs are turned so that chosen is gold-preferred, ties
// dropped, and a length mismatch is refused.
func TestGoldOrdered(t *testing.T) {
	a, b, c := []int32{1}, []int32{2, 2}, []int32{3}
	pairs := []pft.PreferencePair{{Prompt: a, Chosen: a, Rejected: b}, {Prompt: a, Chosen: b, Rejected: c}, {Prompt: a, Chosen: c, Rejected: a}}
	got, err := goldOrdered(pairs, []float64{0.5, -1, 0})
	if err != nil {
		t.Fatal(err)
	}
	want := []pft.PreferencePair{{Prompt: a, Chosen: a, Rejected: b}, {Prompt: a, Chosen: c, Rejected: b}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := goldOrdered(pairs, []float64{1}); err == nil || !strings.Contains(err.Error(), "3 pairs but 1 gold margins") {
		t.Fatalf("mismatch: %v", err)
	}
}

// TestOnPolicyPairsAreGoldOrdered: every on-policy pair's chosen side has the
// strictly higher gold reward, and the pairs are a function of the seed.
func TestOnPolicyPairsAreGoldOrdered(t *testing.T) {
	tk, err := task.New(mustConfig(t, "sorted"))
	if err != nil {
		t.Fatal(err)
	}
	mc := model.NewConfig(tk.Tokenizer().VocabSize(), tk.MaxTotalLen(), 16, 1, 2)
	mc.EOSTokenID, mc.PadTokenID = int(tk.Tokenizer().EOS()), int(tk.Tokenizer().PAD())
	m, err := model.New(mc, 1)
	if err != nil {
		t.Fatal(err)
	}
	prompts := tk.Prompts(task.Validation, 7, 40)
	pairs, err := OnPolicyPairs(tk, m, prompts, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) < 20 {
		t.Fatalf("%d pairs from 40 prompts of a random policy", len(pairs))
	}
	for i, p := range pairs {
		gc, err1 := tk.Gold(p.Prompt, p.Chosen)
		gr, err2 := tk.Gold(p.Prompt, p.Rejected)
		if err1 != nil || err2 != nil || !(gc > gr) {
			t.Fatalf("pair %d: gold %v vs %v (%v %v)", i, gc, gr, err1, err2)
		}
	}
	again, _ := OnPolicyPairs(tk, m, prompts, 3)
	if !reflect.DeepEqual(pairs, again) {
		t.Fatal("same seed, different on-policy pairs")
	}
}

func mustConfig(t *testing.T, spec string) task.Config {
	t.Helper()
	cfg, err := task.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
