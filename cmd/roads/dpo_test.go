package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roads/data"
	"roads/model"
	"roads/recipe"
	"roads/task"
)

// The preference fine-tuning commands end to end on a tiny task, a few steps
// each: flags parse, run directories hold what they promise, and each
// command's output feeds the next (an RM run is a verifier, a DPO run is an
// implicit-reward verifier, a run directory is a policy).
const tinyTask = "summarize_short,doc_min=8,doc_max=16,entities=8"

func tinySetup(t *testing.T) (dir, sft, prefs string) {
	t.Helper()
	dir = t.TempDir()
	tk, err := task.Load(tinyTask)
	if err != nil {
		t.Fatal(err)
	}
	// An untrained policy stands in for the SFT model.
	mc := model.NewConfig(tk.Tokenizer().VocabSize(), tk.MaxTotalLen(), 16, 1, 2)
	mc.EOSTokenID, mc.PadTokenID = int(tk.Tokenizer().EOS()), int(tk.Tokenizer().PAD())
	m, err := model.New(mc, 1)
	if err != nil {
		t.Fatal(err)
	}
	sft = filepath.Join(dir, "sft")
	if err := model.SaveDir(sft, m, tk.Tokenizer()); err != nil {
		t.Fatal(err)
	}
	// Preferences: the reference summary over the same summary reversed.
	var rows []data.Preference
	for _, p := range tk.Prompts(task.Train, 0, 24) {
		ref, err := tk.Reference(p)
		if err != nil {
			t.Fatal(err)
		}
		rev := make([]int32, len(ref))
		for i, id := range ref {
			rev[len(ref)-1-i] = id
		}
		rows = append(rows, data.Preference{Prompt: tk.Decode(p), Chosen: " " + tk.Decode(ref), Rejected: " " + tk.Decode(rev) + " " + tk.Decode(ref[:1])})
	}
	prefs = filepath.Join(dir, "prefs.jsonl")
	if err := data.WritePreferences(prefs, rows, data.Keys{}); err != nil {
		t.Fatal(err)
	}
	return dir, sft, prefs
}

func mustRun(t *testing.T, run func([]string, ioWriter) error, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(args, &out); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return out.String()
}

type ioWriter = io.Writer

// cmdRun is the registered command name's entry point (the online trainers
// have no function of their own: they are rows of pft.Algorithms).
func cmdRun(name string) func([]string, io.Writer) error {
	c, ok := commands[name]
	if !ok {
		panic("no command " + name)
	}
	return c.run
}

func requireFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Error(err)
		}
	}
}

func readJSONFile(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPreferenceCommandsEndToEnd(t *testing.T) {
	dir, sft, prefs := tinySetup(t)
	rmQuiet := []string{"--disable_tqdm", "--task", tinyTask, "--per_device_train_batch_size", "8", "--logging_steps", "1"}
	quiet := with(rmQuiet, "--num_sample_prompts", "2")
	at := func(name string) string { return filepath.Join(dir, name) }

	// DPO, with β from a --config file and a flag that overrides the file's seed.
	cfgFile := at("dpo.json")
	writeFile(t, cfgFile, `{"beta": 0.2, "seed": 3}`)
	out := mustRun(t, runDPO, with(quiet, "--config", cfgFile, "--seed", "5", "--data", prefs, "--model", sft, "--output_dir", at("dpo"),
		"--max_steps", "3", "--eval_prompts", "3", "--eval_samples", "1")...)
	if !strings.Contains(out, "gold reward on 3 test prompts") {
		t.Errorf("dpo output %q lacks the gold evaluation", out)
	}
	requireFiles(t, at("dpo"), "training_config.json", "metrics.jsonl", "ref_logps.json", "ref_model/config.json", "checkpoint-3", "samples/step-3.jsonl", "gold_eval.json", "model.safetensors")
	tc := readJSONFile(t, at("dpo/training_config.json"))
	if tc["beta"] != 0.2 || tc["seed"] != 5.0 || tc["ref_model"] != sft || tc["task_config"] == nil {
		t.Errorf("training_config.json: beta %v seed %v ref_model %v task_config %v", tc["beta"], tc["seed"], tc["ref_model"], tc["task_config"] != nil)
	}

	// Reward models of both kinds; rm eval scores any verifier.
	mustRun(t, cmdRun("rm"), with(rmQuiet, "--kind", "global", "--readout", "sum", "--data", prefs, "--model", sft, "--output_dir", at("rm"), "--max_steps", "3", "--eval_fraction", "0.25")...)
	requireFiles(t, at("rm"), "eval_results.json", "model.safetensors", "metrics.jsonl")
	mustRun(t, cmdRun("rm"), with(rmQuiet, "--kind", "local", "--data", prefs, "--model", sft, "--output_dir", at("rm_local"), "--max_steps", "2")...)
	for verifier, kind := range map[string]string{at("dpo"): "DPO implicit", at("rm"): "global RM", at("rm_local"): "local RM", sft: "local RM", "gold": "gold"} {
		out := mustRun(t, runRMEval, "--verifier", verifier, "--data", prefs, "--task", tinyTask)
		if !strings.Contains(out, kind) || !strings.Contains(out, "BT likelihood") {
			t.Errorf("rm eval --verifier %s: %q, want a %s", verifier, out, kind)
		}
	}
	if out := mustRun(t, runRMEval, "--verifier", "gold", "--data", prefs, "--task", tinyTask, "--json"); !strings.Contains(out, `"accuracy":1`) || !strings.Contains(out, `"length_rule_accuracy":`) {
		t.Errorf("the gold verifier should rank reference over reversed summaries: %s", out)
	}

	// Online trainers against the RM, the DPO run and gold.
	online := with(quiet, "--model", sft, "--num_prompts", "8", "--max_steps", "2")
	mustRun(t, cmdRun("online-dpo"), with(online, "--verifier", at("rm"), "--num_generations", "3", "--output_dir", at("odpo"))...)
	requireFiles(t, at("odpo"), "pairs.jsonl", "online_round.json", "ref_model/config.json")
	mustRun(t, cmdRun("online-dpo"), with(online, "--verifier", at("dpo"), "--mode", "iterative", "--output_dir", at("odpo_it"))...)
	mustRun(t, cmdRun("rloo"), with(online, "--verifier", "gold", "--output_dir", at("rloo"))...)
	mustRun(t, cmdRun("grpo"), with(online, "--verifier", "gold", "--output_dir", at("grpo"))...)
	mustRun(t, cmdRun("ppo"), with(online, "--verifier", at("rm"), "--kl_coef", "0.1", "--output_dir", at("ppo"))...)
	requireFiles(t, at("ppo"), "value_model/model.safetensors", "checkpoint-2/value_model.safetensors")
	if tc := readJSONFile(t, at("ppo/training_config.json")); tc["value_model_init"] != "reward_model" || tc["kl_coef"] != 0.1 || tc["verifier"] != at("rm") {
		t.Errorf("ppo training_config.json: value_model_init %v kl_coef %v verifier %v", tc["value_model_init"], tc["kl_coef"], tc["verifier"])
	}

	// Best-of-N.
	out = mustRun(t, runBoN, "--task", tinyTask, "--model", at("rloo"), "--verifier", at("rm"), "--n", "1,2,4", "--num_prompts", "3", "--output_dir", at("bon"), "--json")
	var bon struct {
		Result struct {
			Points []struct{ N int } `json:"points"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &bon); err != nil || len(bon.Result.Points) != 3 {
		t.Errorf("bon --json = %s (%v)", out, err)
	}
	requireFiles(t, at("bon"), "bon.json")
}

func TestPreferenceCommandErrors(t *testing.T) {
	dir, sft, prefs := tinySetup(t)
	for _, c := range []struct {
		name string
		run  func([]string, ioWriter) error
		args []string
		want string
	}{
		{"dpo without data", runDPO, []string{"--model", sft, "--output_dir", dir}, "--data and --model are required"},
		{"dpo bad loss", runDPO, []string{"--model", sft, "--data", prefs, "--output_dir", filepath.Join(dir, "x"), "--loss_type", "hinge", "--disable_tqdm"}, `loss_type "hinge"`},
		{"rm bad kind", cmdRun("rm"), []string{"--kind", "both", "--data", prefs, "--model", sft, "--output_dir", dir}, `kind "both", want one of ["global" "local"]`},
		{"rm eval gold without task", runRMEval, []string{"--verifier", "gold", "--data", prefs}, "needs a task"},
		{"online without verifier", cmdRun("online-dpo"), []string{"--task", tinyTask, "--model", sft, "--output_dir", dir}, "--verifier are required"},
		{"grpo batch not a multiple", cmdRun("grpo"), []string{"--task", tinyTask, "--model", sft, "--verifier", "gold", "--output_dir", filepath.Join(dir, "g"),
			"--per_device_train_batch_size", "6", "--num_generations", "4", "--num_prompts", "4", "--disable_tqdm"}, "not a multiple of num_generations"},
		{"bon bad n", runBoN, []string{"--task", tinyTask, "--model", sft, "--verifier", "gold", "--n", "1,x"}, `for flag -n: "x" is not an integer`},
		{"bon zero n", runBoN, []string{"--task", tinyTask, "--model", sft, "--verifier", "gold", "--n", "1,0"}, `--n: 0 is not a positive integer`},
		{"config typo", cmdRun("rloo"), []string{"--config", writeTemp(t, dir, `{"betta": 1}`)}, "betta"},
	} {
		err := c.run(c.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func writeTemp(t *testing.T, dir, content string) string {
	t.Helper()
	p := filepath.Join(dir, "cfg.json")
	writeFile(t, p, content)
	return p
}

// with returns base followed by more, never sharing base's backing array.
func with(base []string, more ...string) []string {
	return append(append(make([]string, 0, len(base)+len(more)), base...), more...)
}

// Preference data whose every row has chosen == rejected is refused, naming
// the file; some such rows are kept with a warning.
func TestDegeneratePreferencesRefused(t *testing.T) {
	dir := t.TempDir()
	tk, err := task.Load(tinyTask)
	if err != nil {
		t.Fatal(err)
	}
	p := tk.Prompts(task.Train, 0, 1)[0]
	ref, _ := tk.Reference(p)
	row := func(a, b string) string {
		return fmt.Sprintf(`{"prompt": %q, "chosen": %q, "rejected": %q}`+"\n", tk.Decode(p), a, b)
	}
	same := filepath.Join(dir, "same.jsonl")
	writeFile(t, same, row(" "+tk.Decode(ref), " "+tk.Decode(ref))+row("", ""))
	if _, err := recipe.ReadPreferencePairs(same, data.Keys{}, tk.Tokenizer()); err == nil || !strings.Contains(err.Error(), same+": every one of the 2 rows has chosen == rejected") {
		t.Fatalf("all-identical pairs: %v", err)
	}
	mixed := filepath.Join(dir, "mixed.jsonl")
	writeFile(t, mixed, row(" "+tk.Decode(ref), "")+row("", ""))
	if pairs, err := recipe.ReadPreferencePairs(mixed, data.Keys{}, tk.Tokenizer()); err != nil || len(pairs) != 2 {
		t.Fatalf("mixed pairs: %d, %v", len(pairs), err)
	}
}

// runDPO is the dpo command, made from its row of pft.Algorithms.
// (A function, not a variable: package variables are set before the
// commands register.)
func runDPO(args []string, stdout io.Writer) error { return cmdRun("dpo")(args, stdout) }
