package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roads/data"
	"roads/recipe"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSFTThenSample(t *testing.T) {
	dir := t.TempDir()
	dataPath := filepath.Join(dir, "d.jsonl")
	var rows strings.Builder
	for range 16 {
		rows.WriteString(`{"prompt": "ab", "completion": "cd"}` + "\n")
	}
	writeFile(t, dataPath, rows.String())
	out := filepath.Join(dir, "run")
	var stdout bytes.Buffer
	err := cmdRun("sft")([]string{"--data", dataPath, "--output_dir", out, "--max_steps", "60", "--learning_rate", "1e-2",
		"--per_device_train_batch_size", "8", "--d_model", "16", "--n_layer", "1", "--n_head", "2", "--disable_tqdm"}, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if err := runSample([]string{"--model", out, "--prompt", "ab", "--temperature", "0", "--json"}, &stdout); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), `"completion":"cd"`) || !strings.Contains(stdout.String(), `"eos":true`) {
		t.Fatalf("greedy sample after SFT = %s, want completion cd then EOS", stdout.String())
	}
}

func TestSFTConfigFileAndBadData(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	writeFile(t, bad, `{"prompt": "a", "completion": "b"}`+"\n"+`{"prompt": "a", "completion": 3}`+"\n")
	err := cmdRun("sft")([]string{"--data", bad, "--output_dir", filepath.Join(dir, "r"), "--disable_tqdm"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Fatalf("malformed line error = %v, want it to name bad.jsonl:2", err)
	}
	cfgPath := filepath.Join(dir, "c.json")
	writeFile(t, cfgPath, `{"learning_rate": 0.5, "no_such_field": 1}`)
	err = cmdRun("sft")([]string{"--config", cfgPath, "--data", bad}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no_such_field") {
		t.Fatalf("unknown config field error = %v", err)
	}
	if err := runSample([]string{"--model", filepath.Join(dir, "none"), "--prompt", "x"}, &bytes.Buffer{}); err == nil {
		t.Fatal("sampling from a missing model directory succeeded")
	}
}

// TestHelpOnEverySubcommand: -h works on every command and every data / rm
// subcommand, writing nothing and failing with nothing but flag.ErrHelp.
func TestHelpOnEverySubcommand(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil { // a command that ignored -h would write here
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	var lines [][]string
	for name := range commands {
		lines = append(lines, []string{name, "-h"})
	}
	for _, sub := range []string{"demos", "gen", "prompts", "task"} {
		lines = append(lines, []string{"data", sub, "-h"})
	}
	lines = append(lines, []string{"data", "-h"}, []string{"rm", "eval", "-h"})
	for _, args := range lines {
		var out bytes.Buffer
		err := commands[args[0]].run(args[1:], &out)
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("roads %s: %v", strings.Join(args, " "), err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("-h wrote %d entries into the working directory", len(entries))
	}
	var out bytes.Buffer
	if err := runData([]string{"-h"}, &out); err != nil || !strings.Contains(out.String(), "gen ") || !strings.Contains(out.String(), "demos ") {
		t.Errorf("roads data -h: %v\n%s", err, out.String())
	}
}

// Non-finite float flags and a negative thread count are refused at parse
// time, naming the flag, before anything is read or written.
func TestNonFiniteFlagsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		run  func([]string, ioWriter) error
		args []string
		want string
	}{
		{runDPO, []string{"--beta", "inf"}, "--beta +Inf: want a finite number"},
		{cmdRun("sft"), []string{"--weight_decay", "NaN"}, "--weight_decay NaN: want a finite number"},
		{runDPO, []string{"--label_smoothing", "nan"}, "--label_smoothing NaN: want a finite number"},
		{cmdRun("sft"), []string{"--learning_rate", "-Inf"}, "--learning_rate -Inf: want a finite number"},
		{cmdRun("sft"), []string{"--threads", "-2"}, "--threads -2: want 0 (all cores) or a positive count"},
	} {
		out := filepath.Join(dir, "out")
		err := c.run(append(c.args, "--output_dir", out), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%v: the refused run created its output_dir", c.args)
		}
	}
}

// A model directory without tokenizer.json is an error naming the directory,
// unless --tokenizer bytes asks for the byte-level tokenizer.
func TestMissingTokenizerIsAnError(t *testing.T) {
	dir := t.TempDir()
	dataPath := filepath.Join(dir, "d.jsonl")
	writeFile(t, dataPath, strings.Repeat(`{"prompt": "ab", "completion": "cd"}`+"\n", 8))
	out := filepath.Join(dir, "run")
	if err := cmdRun("sft")([]string{"--data", dataPath, "--output_dir", out, "--max_steps", "2", "--per_device_train_batch_size", "8",
		"--d_model", "16", "--n_layer", "1", "--n_head", "2", "--disable_tqdm"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(out, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
	err := runSample([]string{"--model", out, "--prompt", "ab"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "model "+out+" has no tokenizer.json: pass --tokenizer bytes") {
		t.Fatalf("sample without tokenizer.json: %v", err)
	}
	if err := runSample([]string{"--model", out, "--prompt", "ab", "--tokenizer", "bytes", "--max_new_tokens", "2"}, &bytes.Buffer{}); err != nil {
		t.Fatalf("sample --tokenizer bytes: %v", err)
	}
	err = cmdRun("sft")([]string{"--data", dataPath, "--model", out, "--output_dir", filepath.Join(dir, "run2"), "--max_steps", "1", "--disable_tqdm"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "has no tokenizer.json: pass --task") {
		t.Fatalf("sft --model without tokenizer.json: %v", err)
	}
}

// An example too long for any context is refused naming its line, never
// fitted by growing n_positions; --max_length truncates it, keeping the start.
func TestSFTLengthPolicy(t *testing.T) {
	dir := t.TempDir()
	dataPath := filepath.Join(dir, "d.jsonl")
	long := strings.Repeat("x", 1<<20+10)
	writeFile(t, dataPath, `{"prompt": "ab", "completion": "cd"}`+"\n"+`{"prompt": "ab", "completion": "`+long+`"}`+"\n")
	args := []string{"--data", dataPath, "--max_steps", "1", "--per_device_train_batch_size", "2", "--d_model", "16", "--n_layer", "1", "--n_head", "2", "--disable_tqdm"}
	err := cmdRun("sft")(append(args, "--output_dir", filepath.Join(dir, "a")), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), dataPath+":2: 1048589 tokens, more than any model's context (1048576); pass --max_length") {
		t.Fatalf("overlong example: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); err == nil {
		t.Fatal("the refused run created its output_dir")
	}
	out := filepath.Join(dir, "b")
	if err := cmdRun("sft")(append(args, "--output_dir", out, "--max_length", "8"), &bytes.Buffer{}); err != nil {
		t.Fatalf("--max_length 8: %v", err)
	}
	cfg := readJSONFile(t, filepath.Join(out, "config.json"))
	if cfg["n_positions"] != 8.0 {
		t.Fatalf("n_positions %v after --max_length 8, want 8 (the longest truncated example)", cfg["n_positions"])
	}
}

// TRL's conversational formats: an SFT {"messages"} file and a preference
// file of message lists train through the chat template (ChatML for the
// byte-level tokenizer), and a malformed message is an error naming
// file:line:field.
func TestConversationalData(t *testing.T) {
	dir := t.TempDir()
	conv := filepath.Join(dir, "conv.jsonl")
	writeFile(t, conv, strings.Repeat(`{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}`+"\n", 8))
	out := filepath.Join(dir, "sft")
	small := []string{"--max_steps", "2", "--per_device_train_batch_size", "8", "--d_model", "16", "--n_layer", "1", "--n_head", "2", "--disable_tqdm"}
	if err := cmdRun("sft")(append([]string{"--data", conv, "--output_dir", out}, small...), &bytes.Buffer{}); err != nil {
		t.Fatalf("sft on messages: %v", err)
	}
	tk, err := recipe.TokenizerFor("")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := recipe.ReadSFTExamples(conv, data.Keys{}, tk)
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.Decode(ex[0].Prompt); got != "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n" {
		t.Fatalf("ChatML prompt %q", got)
	}
	if got := tk.Decode(ex[0].Completion); got != "4<|im_end|>\n" {
		t.Fatalf("ChatML completion %q", got)
	}
	prefs := filepath.Join(dir, "prefs.jsonl")
	writeFile(t, prefs, strings.Repeat(`{"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}], "rejected": [{"role": "assistant", "content": "5"}]}`+"\n", 8))
	pairs, err := recipe.ReadPreferencePairs(prefs, data.Keys{}, tk)
	if err != nil || len(pairs) != 8 || tk.Decode(pairs[0].Chosen) != "4<|im_end|>\n" {
		t.Fatalf("conversational pairs: %v %v", len(pairs), err)
	}
	if err := runDPO([]string{"--data", prefs, "--model", out, "--output_dir", filepath.Join(dir, "dpo"), "--max_steps", "1", "--per_device_train_batch_size", "8", "--disable_tqdm"}, &bytes.Buffer{}); err != nil {
		t.Fatalf("dpo on conversational pairs: %v", err)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	writeFile(t, bad, `{"prompt": [{"role": "user", "content": "a"}], "chosen": [{"role": "bot", "content": "b"}], "rejected": [{"role": "assistant", "content": "c"}]}`+"\n")
	if _, err := recipe.ReadPreferencePairs(bad, data.Keys{}, tk); err == nil || !strings.Contains(err.Error(), bad+`:1: field "chosen[0].role": unknown role "bot"`) {
		t.Fatalf("malformed message: %v", err)
	}
}
