package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roads/model"
	"roads/tok"
)

// TestBadInputs is the regression suite of issue 12: each bad input or fault
// a user met, with the error it must give. Every case is refused with a
// message naming what is wrong (file and line, flag, field or tensor), and
// none writes its --output_dir.
func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	write := func(name, content string) string { writeFile(t, at(name), content); return at(name) }
	good := write("good.jsonl", strings.Repeat(`{"prompt": "ab", "completion": "cd"}`+"\n", 8))
	prefs := write("prefs.jsonl", strings.Repeat(`{"prompt": "ab", "chosen": "cd", "rejected": "ef"}`+"\n", 8))
	small := []string{"--max_steps", "1", "--per_device_train_batch_size", "8", "--d_model", "16", "--n_layer", "1", "--n_head", "2", "--disable_tqdm"}

	// A tiny model directory (byte tokenizer) and broken copies of it.
	mdir := at("model")
	m, err := model.New(model.NewConfig(259, 16, 16, 1, 2), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := model.SaveDir(mdir, m, tok.Bytes{}); err != nil {
		t.Fatal(err)
	}
	copyModel := func(name string, edit func(dir string)) string {
		d := at(name)
		os.MkdirAll(d, 0o755)
		for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json"} {
			b, _ := os.ReadFile(filepath.Join(mdir, f))
			os.WriteFile(filepath.Join(d, f), b, 0o644)
		}
		edit(d)
		return d
	}
	editConfig := func(key string, v any) func(string) {
		return func(d string) {
			var c map[string]any
			b, _ := os.ReadFile(filepath.Join(d, "config.json"))
			json.Unmarshal(b, &c)
			c[key] = v
			b, _ = json.Marshal(c)
			os.WriteFile(filepath.Join(d, "config.json"), b, 0o644)
		}
	}
	wideConfig := copyModel("wide", editConfig("d_model", 32))
	hugeConfig := copyModel("huge", editConfig("d_model", 1<<16))
	noTok := copyModel("notok", func(d string) { os.Remove(filepath.Join(d, "tokenizer.json")) })
	truncated := copyModel("truncated", func(d string) {
		p := filepath.Join(d, "model.safetensors")
		b, _ := os.ReadFile(p)
		os.WriteFile(p, b[:len(b)/2], 0o644)
	})
	notJSON := copyModel("notjson", func(d string) { os.WriteFile(filepath.Join(d, "config.json"), []byte("model: gpt"), 0o644) })
	nan := at("nan")
	{
		m2, _ := model.New(model.NewConfig(259, 16, 16, 1, 2), 1)
		m2.Params()[3].Data[2] = float32(math.NaN())
		model.SaveDir(nan, m2, tok.Bytes{})
	}

	cases := []struct {
		name string
		cmd  string
		args []string
		want string
	}{
		{"spec file that does not exist", "run", []string{at("nosuch.json")}, "no such file"},
		{"NaN flag", "sft", with(small, "--data", good, "--weight_decay", "NaN"), "--weight_decay NaN: want a finite number"},
		{"Inf flag", "dpo", []string{"--beta", "inf"}, "--beta +Inf: want a finite number"},
		{"negative threads", "sft", with(small, "--data", good, "--threads", "-2"), "--threads -2"},
		{"unknown --config key", "sft", with(small, "--data", good, "--config", write("c.json", `{"learning_rat": 1}`)), `unknown field "learning_rat"`},
		{"misspelt task parameter", "data", []string{"task", "--task", "two_word,horizn=3"}, "horizn"},
		{"non-JSON line", "sft", with(small, "--data", write("bad.jsonl", `{"prompt": "a", "completion": "b"}`+"\nnot json\n")), "bad.jsonl:2"},
		{"invalid UTF-8", "sft", with(small, "--data", write("utf.jsonl", "{\"prompt\": \"a\xff\", \"completion\": \"b\"}\n")), "utf.jsonl:1: byte 14: invalid UTF-8"},
		{"missing field", "rm", with([]string{"--max_steps", "1", "--disable_tqdm"}, "--data", write("miss.jsonl", `{"prompt": "a", "chosen": " b"}`+"\n"), "--model", mdir), "rejected"},
		{"every pair degenerate", "dpo", with([]string{"--max_steps", "1", "--disable_tqdm"}, "--data", write("same.jsonl", strings.Repeat(`{"prompt": "a", "chosen": " b", "rejected": " b"}`+"\n", 4)), "--model", mdir), "every one of the 4 rows has chosen == rejected"},
		{"over-long row", "sft", with(small, "--data", write("long.jsonl", `{"prompt": "a", "completion": "`+strings.Repeat("y", 1<<20+1)+`"}`+"\n")), "1048579 tokens, more than any model's context"},
		{"model too large", "sft", with(small, "--data", good, "--d_model", "65536", "--n_head", "4"), "at most 65536"},
		{"config.json disagrees with the weights", "sample", []string{"--model", wideConfig, "--prompt", "ab"}, `tensor "wte.weight" has shape [259 16] but config.json`},
		{"config.json far too large", "sample", []string{"--model", hugeConfig, "--prompt", "ab"}, "exceed the limit of 2147483648"},
		{"config.json not JSON", "sample", []string{"--model", notJSON, "--prompt", "ab"}, "config.json: invalid character"},
		{"truncated safetensors", "sample", []string{"--model", truncated, "--prompt", "ab"}, "out of range: the byte buffer holds"},
		{"NaN weight", "sample", []string{"--model", nan, "--prompt", "ab"}, "holds a non-finite value (NaN)"},
		{"missing tokenizer.json", "sample", []string{"--model", noTok, "--prompt", "ab"}, "has no tokenizer.json: pass --tokenizer bytes"},
		// Files and paths.
		{"data file that does not exist", "sft", with(small, "--data", at("nosuch.jsonl")), "nosuch.jsonl: no such file or directory"},
		{"empty data file", "sft", with(small, "--data", write("empty.jsonl", "")), "empty.jsonl: no records"},
		{"model directory that does not exist", "sft", with(small, "--data", good, "--model", at("nosuchmodel")), "nosuchmodel/config.json: no such file or directory"},
		{"--config file that does not exist", "sft", with(small, "--data", good, "--config", at("nocfg.json")), "--config: open"},
		{"tokenizer file that does not exist", "tokenize", []string{"--tokenizer", at("nosuchtok.json"), "--text", "hi"}, "--tokenizer: stat"},
		{"results directory that does not exist", "report", []string{"--results", at("nosuchresults")}, "results store: open"},
		// Rows.
		{"field of the wrong type", "sft", with(small, "--data", write("num.jsonl", `{"prompt": 3, "completion": "b"}`+"\n")), `num.jsonl:1: field "prompt": want a string, got number`},
		{"empty text row", "sft", with(small, "--data", write("emptytext.jsonl", `{"text": "ab"}`+"\n"+`{"text": ""}`+"\n")), "emptytext.jsonl:2: an empty row"},
		{"JSON nested beyond any row", "sft", with(small, "--data", write("deep.jsonl", strings.Repeat("[", 100000)+"\n")), "deep.jsonl:1: invalid JSON"},
		{"SFT rows given to DPO", "dpo", with([]string{"--max_steps", "1", "--disable_tqdm"}, "--data", good, "--model", mdir), `good.jsonl:1: field "chosen": missing`},
		{"every completion empty", "dpo", with([]string{"--max_steps", "1", "--disable_tqdm"}, "--data", write("emptyc.jsonl", strings.Repeat(`{"prompt": "ab", "chosen": "", "rejected": ""}`+"\n", 4)), "--model", mdir), "every one of the 4 rows has chosen == rejected"},
		// Flags and settings, each named.
		{"unknown flag", "sft", with(small, "--data", good, "--nosuchflag", "3"), "flag provided but not defined: -nosuchflag"},
		{"unparseable flag value", "sft", with(small, "--data", good, "--learning_rate", "abc"), `invalid value "abc" for flag -learning_rate`},
		{"negative learning rate", "sft", with(small, "--data", good, "--learning_rate", "-1"), "learning_rate must be positive and finite, got -1"},
		{"zero batch", "sft", with(small, "--data", good, "--per_device_train_batch_size", "0"), "per_device_train_batch_size must be positive, got 0"},
		{"negative save_steps", "sft", with(small, "--data", good, "--save_steps", "-1"), "save_steps must not be negative, got -1"},
		{"negative max_length", "sft", with(small, "--data", good, "--max_length", "-2"), "--max_length -2"},
		{"unknown lr schedule", "sft", with(small, "--data", good, "--lr_scheduler_type", "nosuch"), `unknown kind "nosuch"`},
		{"n_head does not divide d_model", "sft", with(small, "--data", good, "--n_head", "3"), "d_model 16 is not divisible by n_head 3"},
		{"negative n_positions", "sft", with(small, "--data", good, "--n_positions", "-2"), "n_positions must be positive, got -2"},
		{"--config value of the wrong type", "sft", with(small, "--data", good, "--config", write("cfgtype.json", `{"learning_rate": "x"}`)), "learning_rate of type float64"},
		{"NaN label_smoothing", "dpo", with([]string{"--max_steps", "1", "--disable_tqdm"}, "--data", good, "--model", mdir, "--label_smoothing", "NaN"), "--label_smoothing NaN: want a finite number"},
		{"label_smoothing out of range", "dpo", with([]string{"--max_steps", "1", "--disable_tqdm"}, "--data", prefs, "--model", mdir, "--label_smoothing", "0.7"), "label_smoothing = 0.7, want in [0, 0.5)"},
		{"zero beta", "dpo", with([]string{"--max_steps", "1", "--disable_tqdm"}, "--data", prefs, "--model", mdir, "--beta", "0"), "beta = 0, want a finite value > 0"},
		{"unknown loss_type", "dpo", with([]string{"--max_steps", "1", "--disable_tqdm"}, "--data", prefs, "--model", mdir, "--loss_type", "nosuch"), `loss_type "nosuch"`},
		{"negative temperature", "sample", []string{"--model", mdir, "--prompt", "ab", "--temperature", "-1"}, "temperature must be finite and ≥ 0, got -1"},
		{"policy of another vocabulary", "eval", []string{"--model", mdir}, "differs from task sorted's vocabulary"},
		// Tasks, tokenizers and experiment specs.
		{"unknown task preset", "data", []string{"gen", "--task", "nosuch", "--out", at("x.jsonl"), "--n", "3"}, `unknown preset "nosuch"`},
		{"unknown data subcommand", "data", []string{"nosuch"}, `unknown data subcommand "nosuch"`},
		{"unsupported tokenizer model", "tokenize", []string{"--tokenizer", write("badtok.json", `{"model": {"type": "Nope"}}`), "--text", "hi"}, `badtok.json: tok: tokenizer.json model type "Nope" is not supported`},
		{"spec with an unknown key", "run", []string{write("badkey.json", `{"name": "x", "nosuch": 1}`)}, `badkey.json:1:15: json: unknown field "nosuch"`},
		{"spec that is not JSON", "run", []string{write("notjson.json", `not json`)}, "notjson.json:1:3: invalid character"},
		{"unknown preset of an experiment", "run", []string{"main", "--preset", "nosuch"}, `experiment main has no preset "nosuch" (presets: full, quick, smoke)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := at("out-" + strings.ReplaceAll(c.name, " ", "_"))
			args := c.args
			if c.cmd == "sft" || c.cmd == "dpo" || c.cmd == "rm" {
				args = with(args, "--output_dir", out)
			}
			err := commands[c.cmd].run(args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("roads %s: %v, want an error containing %q", c.cmd, err, c.want)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Fatalf("the refused run wrote %s", out)
			}
		})
	}

	// Inputs that look odd but are fine must keep working.
	bom := write("bom.jsonl", "\ufeff"+strings.Repeat(`{"prompt": "ab", "completion": "cd"}`+"\n", 8))
	if err := cmdRun("sft")(with(small, "--data", bom, "--output_dir", at("bom-run")), &bytes.Buffer{}); err != nil {
		t.Errorf("a JSONL file with a UTF-8 BOM: %v, want it read", err)
	}

	// A finished run directory is keyed by what was asked.
	run := at("run")
	if err := cmdRun("sft")(with(small, "--data", good, "--output_dir", run), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(run, "training_config.json"))
	other := write("other.jsonl", strings.Repeat(`{"prompt": "ab", "completion": "xy"}`+"\n", 8))
	for _, c := range []struct {
		args []string
		want string
	}{
		{with(small, "--data", other, "--output_dir", run), "the training data differs"},
		{with(small, "--data", good, "--output_dir", run, "--learning_rate", "0.5"), "setting learning_rate is 0.001 in the run, 0.5 now"},
	} {
		if err := cmdRun("sft")(c.args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rerun into a finished output_dir: %v, want %q", err, c.want)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(run, "training_config.json")); !bytes.Equal(before, after) {
		t.Error("a refused rerun rewrote training_config.json")
	}
}
