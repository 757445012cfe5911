package methods

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"roads/exp"
	"roads/report"
	"roads/task"
)

// tinySpec runs the real SFT method end to end on a tiny grid: two seeds,
// a 1-layer width-16 model, 10 SFT steps.
const tinySpec = `{
  "name": "tiny",
  "title": "tiny end-to-end grid",
  "inherit": "common",
  "params": {
    "policy_model": {"d_model": 16, "n_layer": 1, "n_head": 2},
    "demos": {"n": 64}, "sft": {"max_steps": 10, "per_device_train_batch_size": 16}, "eval": {"prompts": 16, "samples_per_prompt": 2}
  },
  "axes": {"task": ["summarize", "two_word"], "seed": [1, 2], "method": ["sft"]},
  "table": {"rows": ["task", "method"], "metrics": ["gold", "gold_frac", "win_rate", "kl"]},
  "plots": [{"kind": "curve", "file": "loss", "curve": "train/loss", "series": "task"}]
}`

func runTiny(t *testing.T, dir string) map[string]map[string]float64 {
	t.Helper()
	spec, err := exp.ParseSpec("tiny.json", []byte(tinySpec))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := exp.Run(context.Background(), spec, exp.Options{Results: dir})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ran != 4 {
		t.Fatalf("ran %d cells", sum.Ran)
	}
	st, _ := exp.OpenStore(dir, "tiny")
	recs, err := st.Records()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, r := range recs {
		out[r.ID] = r.Metrics
		if len(r.Curves["train/loss"]) == 0 || len(r.Samples) == 0 || len(r.Artifacts) != 1 || r.Artifacts[0].Kind != "sft" {
			t.Fatalf("record %s: curves %v samples %d artifacts %v", r.Label(), r.Curves, len(r.Samples), r.Artifacts)
		}
		if r.Metrics["kl"] != 0 {
			t.Fatalf("%s: KL of the SFT model to itself = %v", r.Label(), r.Metrics["kl"])
		}
		for _, k := range []string{"gold", "gold_frac", "win_rate", "reference_gold", "rouge_l", "mean_length", "eos_rate"} {
			if _, ok := r.Metrics[k]; !ok {
				t.Fatalf("%s lacks metric %s", r.Label(), k)
			}
		}
	}
	return out
}

func TestSFTEndToEnd(t *testing.T) {
	a := t.TempDir()
	first := runTiny(t, a)
	// Same cells in another store: bit-identical metrics (determinism).
	if second := runTiny(t, t.TempDir()); !reflect.DeepEqual(first, second) {
		t.Fatalf("two runs differ:\n%v\n%v", first, second)
	}
	// Each (task, seed) trained its own SFT model once.
	models, _ := filepath.Glob(filepath.Join(a, "_artifacts", "sft", "*", "model.safetensors"))
	if len(models) != 4 {
		t.Fatalf("%d SFT artefacts, want 4", len(models))
	}
	out := t.TempDir()
	rep, err := report.Generate(a, out)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, want := range []string{"| task | method | gold | gold_frac | win_rate | kl | seeds |", "| summarize | sft |", "| two_word | sft |", "(plots/tiny_loss.png)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if s, ok := rep.Summary("tiny", "gold"); !ok || s["summarize"].N != 2 {
		t.Fatalf("summary %v", s)
	}
}

// TestSFTStopBaseline: the length-rule arms share the SFT model, stop within
// their token budget with EOS, pay a non-negative KL to the SFT model, and a
// cell without truncate.max_tokens is refused by name.
func TestSFTStopBaseline(t *testing.T) {
	dir := t.TempDir()
	spec, err := exp.ParseSpec("stop.json", []byte(`{
  "name": "stop", "title": "stop", "inherit": "common",
  "params": {"policy_model": {"d_model": 16, "n_layer": 1, "n_head": 2},
    "demos": {"n": 64}, "sft": {"max_steps": 10, "per_device_train_batch_size": 16}, "eval": {"prompts": 16, "samples_per_prompt": 2}},
  "axes": {"seed": [1], "method": ["sft", "sft_stop1", "sft_stop2"]}
}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exp.Run(context.Background(), spec, exp.Options{Results: dir}); err != nil {
		t.Fatal(err)
	}
	st, _ := exp.OpenStore(dir, "stop")
	recs, err := st.Records()
	if err != nil || len(recs) != 3 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	sftDirs, _ := filepath.Glob(filepath.Join(dir, "_artifacts", "sft", "*", "model.safetensors"))
	if len(sftDirs) != 1 {
		t.Fatalf("%d SFT models, want 1 shared by the three arms", len(sftDirs))
	}
	for _, r := range recs {
		m := r.Metrics
		switch r.Method {
		case "sft_stop1", "sft_stop2":
			limit := 1.0
			if r.Method == "sft_stop2" {
				limit = 2
			}
			if m["mean_length"] > limit || m["eos_rate"] != 1 || !(m["kl"] >= 0) {
				t.Errorf("%s: mean length %v (limit %v), EOS rate %v, KL %v", r.Method, m["mean_length"], limit, m["eos_rate"], m["kl"])
			}
		case "sft":
			if m["mean_length"] <= 2 {
				t.Errorf("sft: mean length %v; the test needs an SFT model whose samples run past 2 tokens", m["mean_length"])
			}
		}
	}

	bad, err := exp.ParseSpec("bad.json", []byte(`{"name": "bad", "title": "bad", "inherit": "common",
  "params": {"policy_model": {"d_model": 16, "n_layer": 1, "n_head": 2}, "demos": {"n": 64}, "sft": {"max_steps": 2}},
  "axes": {"seed": [1], "method": ["sft_stop1"]}, "method_params": {"sft_stop1": {"truncate": {"max_tokens": null}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = exp.Run(context.Background(), bad, exp.Options{Results: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "needs truncate.max_tokens ≥ 0") {
		t.Fatalf("missing max_tokens: %v", err)
	}
}

// TestDemoFit: the sft method's fit to its demonstrator. On summarize (rate
// 0.5, two options per reference unit, every demonstration of a prompt
// equally likely) the demonstrator's NLL is exactly ln 2 per reference unit;
// any model's held-out NLL is above it (Gibbs' inequality); and a model
// trained 300 steps on 16 demonstrations fits them far better than fresh
// ones (memorisation, what sft_train_nll against sft_val_nll exposes).
func TestDemoFit(t *testing.T) {
	dir := t.TempDir()
	spec, err := exp.ParseSpec("fit.json", []byte(`{
  "name": "fit", "title": "fit", "inherit": "common",
  "params": {"task": "summarize", "policy_model": {"d_model": 32, "n_layer": 1, "n_head": 2},
    "demos": {"n": 16}, "sft": {"max_steps": 300, "per_device_train_batch_size": 16, "learning_rate": 0.003}, "eval": {"prompts": 8, "samples_per_prompt": 1}},
  "axes": {"seed": [1], "method": ["sft"]}
}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exp.Run(context.Background(), spec, exp.Options{Results: dir}); err != nil {
		t.Fatal(err)
	}
	st, _ := exp.OpenStore(dir, "fit")
	recs, err := st.Records()
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	m := recs[0].Metrics
	t.Logf("NLL per demonstration: train %.3f, held-out %.3f, demonstrator %.3f", m["sft_train_nll"], m["sft_val_nll"], m["demo_val_nll"])

	tk, err := task.Load("summarize,seed=1")
	if err != nil {
		t.Fatal(err)
	}
	val, err := Demonstrations(tk, task.Validation, Demos{N: heldOutDemos}, 1)
	if err != nil {
		t.Fatal(err)
	}
	units := 0
	for _, d := range val {
		ref, err := tk.Reference(d.Prompt)
		if err != nil {
			t.Fatal(err)
		}
		units += len(ref)
	}
	if want := math.Ln2 * float64(units) / float64(len(val)); math.Abs(m["demo_val_nll"]-want) > 1e-9*want {
		t.Errorf("demo_val_nll %v, want ln 2 × mean reference length = %v", m["demo_val_nll"], want)
	}
	if !(m["sft_val_nll"] > m["demo_val_nll"]) {
		t.Errorf("held-out NLL %v is not above the demonstrator's own %v", m["sft_val_nll"], m["demo_val_nll"])
	}
	if !(m["sft_train_nll"] > 0 && m["sft_train_nll"] < m["sft_val_nll"]/2) {
		t.Errorf("train NLL %v against held-out %v: 300 steps on 16 demonstrations should memorise them", m["sft_train_nll"], m["sft_val_nll"])
	}
}

// TestDemonstrationsArePrefixStable: the first n demonstrations of a larger
// draw are the draw of n, which addDemoFit relies on to score a cell's
// training data without drawing all of it.
func TestDemonstrationsArePrefixStable(t *testing.T) {
	tk, err := task.Load("sorted,seed=2")
	if err != nil {
		t.Fatal(err)
	}
	small, err := Demonstrations(tk, task.Train, Demos{N: 50}, 7)
	if err != nil {
		t.Fatal(err)
	}
	large, err := Demonstrations(tk, task.Train, Demos{N: 200}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(small, large[:50]) {
		t.Fatal("the first 50 of 200 demonstrations differ from a draw of 50")
	}
}

// TestDemonstrationsRate: corruption_rate 0 writes the references, and a rate
// outside [0, 1] is refused by name.
func TestDemonstrationsRate(t *testing.T) {
	tk, err := task.Load("sorted,seed=2")
	if err != nil {
		t.Fatal(err)
	}
	zero, bad := 0.0, 1.5
	demos, err := Demonstrations(tk, task.Validation, Demos{N: 20, CorruptionRate: &zero}, 3)
	if err != nil {
		t.Fatal(err)
	}
	eos := tk.Tokenizer().EOS()
	for i, d := range demos {
		ref, err := tk.Reference(d.Prompt)
		if err != nil {
			t.Fatal(err)
		}
		if want := append(append([]int32(nil), ref...), eos); !reflect.DeepEqual(d.Completion, want) {
			t.Fatalf("demonstration %d at rate 0: %v, want the reference %v", i, d.Completion, want)
		}
	}
	_, err = Demonstrations(tk, task.Train, Demos{N: 5, CorruptionRate: &bad}, 3)
	if err == nil || !strings.Contains(err.Error(), "demos.corruption_rate = 1.5, want a rate in [0, 1]") {
		t.Fatalf("rate 1.5: %v", err)
	}
}
