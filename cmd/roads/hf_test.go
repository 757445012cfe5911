package main

import (
	"path/filepath"
	"strings"
	"testing"

	"roads/ckpt"
	"roads/model"
	"roads/task"
	"roads/tok"
)

// An HF GPT-2 and an HF GPT-NeoX directory (the format transformers'
// from_pretrained reads; model/hf_test.go checks both against PyTorch) go
// through every training command with their own tokenizer.json, and every
// directory the commands write is again an HF directory of the same family.
func TestImportedHFModelsFineTuneEndToEnd(t *testing.T) {
	tk, err := task.Load(tinyTask)
	if err != nil {
		t.Fatal(err)
	}
	for _, family := range []string{model.TypeGPT2, model.TypeGPTNeoX} {
		t.Run(family, func(t *testing.T) {
			dir, _, prefs := tinySetup(t)
			at := func(name string) string { return filepath.Join(dir, name) }
			mc := model.NewConfig(tk.Tokenizer().VocabSize(), tk.MaxTotalLen(), 16, 1, 2)
			mc.EOSTokenID, mc.PadTokenID = int(tk.Tokenizer().EOS()), int(tk.Tokenizer().PAD())
			mc.ModelType, mc.HeadBias = family, false
			if family == model.TypeGPT2 {
				mc.TieWordEmbeddings = true
			} else {
				mc.Activation, mc.RotaryPct, mc.UseParallelResidual = "gelu", 0.25, true
			}
			m, err := model.New(mc, 7)
			if err != nil {
				t.Fatal(err)
			}
			hf := at("hf")
			if err := model.SaveDir(hf, m, tk.Tokenizer()); err != nil {
				t.Fatal(err)
			}
			wantArch := map[string][2]string{model.TypeGPT2: {"GPT2LMHeadModel", "GPT2ForSequenceClassification"},
				model.TypeGPTNeoX: {"GPTNeoXForCausalLM", "GPTNeoXForSequenceClassification"}}[family]
			isHF := func(d string, scalar bool) {
				t.Helper()
				c := readJSONFile(t, filepath.Join(d, ckpt.ConfigFile))
				arch := wantArch[0]
				if scalar {
					arch = wantArch[1]
				}
				if c["model_type"] != family || c["architectures"].([]any)[0] != arch {
					t.Errorf("%s: model_type %v architectures %v, want %s %s", d, c["model_type"], c["architectures"], family, arch)
				}
				f, err := ckpt.ReadSafetensors(filepath.Join(d, ckpt.ModelFile))
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range f.Tensors {
					if !strings.HasPrefix(x.Name, "transformer.") && !strings.HasPrefix(x.Name, "gpt_neox.") && x.Name != "score.weight" && x.Name != "embed_out.weight" {
						t.Errorf("%s: tensor %q is not an HF name", d, x.Name)
					}
				}
			}

			quiet := []string{"--disable_tqdm", "--per_device_train_batch_size", "8", "--logging_steps", "1"}
			demos := at("demos.jsonl")
			mustRun(t, runData, "demos", "--task", tinyTask, "--n", "16", "--out", demos)
			mustRun(t, cmdRun("sft"), with(quiet, "--model", hf, "--data", demos, "--output_dir", at("hf_sft"), "--max_steps", "3", "--save_steps", "2")...)
			isHF(at("hf_sft"), false)
			isHF(at("hf_sft/checkpoint-2"), false)
			sft := at("hf_sft")
			// A model roads sft builds from scratch is an HF GPT-2 by default.
			mustRun(t, cmdRun("sft"), with(quiet, "--task", tinyTask, "--data", demos, "--output_dir", at("new_sft"), "--max_steps", "1", "--d_model", "16", "--n_layer", "1", "--n_head", "2")...)
			if c := readJSONFile(t, filepath.Join(at("new_sft"), ckpt.ConfigFile)); c["model_type"] != model.TypeGPT2 || c["architectures"].([]any)[0] != "GPT2LMHeadModel" {
				t.Errorf("roads sft's new model: model_type %v architectures %v", c["model_type"], c["architectures"])
			}
			mustRun(t, runDPO, with(quiet, "--model", sft, "--data", prefs, "--output_dir", at("dpo"), "--max_steps", "2")...)
			isHF(at("dpo"), false)
			mustRun(t, cmdRun("rm"), with(quiet, "--kind", "global", "--readout", "last", "--data", prefs, "--model", sft, "--output_dir", at("rm"), "--max_steps", "2")...)
			isHF(at("rm"), true)
			online := with(quiet, "--task", tinyTask, "--num_sample_prompts", "2", "--model", sft, "--num_prompts", "8", "--max_steps", "1")
			mustRun(t, cmdRun("online-dpo"), with(online, "--verifier", at("rm"), "--num_generations", "2", "--output_dir", at("odpo"))...)
			mustRun(t, cmdRun("rloo"), with(online, "--verifier", at("rm"), "--output_dir", at("rloo"))...)
			mustRun(t, cmdRun("grpo"), with(online, "--verifier", "gold", "--output_dir", at("grpo"))...)
			mustRun(t, cmdRun("ppo"), with(online, "--verifier", at("rm"), "--output_dir", at("ppo"))...)
			for _, d := range []string{"odpo", "rloo", "grpo", "ppo"} {
				isHF(at(d), false)
			}
			isHF(at("ppo/value_model"), true)
			if out := mustRun(t, runSample, "--model", at("ppo"), "--prompt", tk.Decode(tk.Prompts(task.Test, 0, 1)[0]), "--max_new_tokens", "4"); !strings.Contains(out, "log π") {
				t.Errorf("sample: %q", out)
			}
		})
	}
}

// An HF GPT-2 directory with GPT-2's real tokenizer.json (byte-level BPE,
// 50,257 ids; tok/testdata/gpt2) samples, fine-tunes and scores English text.
func TestHFGPT2WithRealTokenizer(t *testing.T) {
	tk, err := tok.LoadFile(filepath.Join("..", "..", "tok", "testdata", "gpt2", "tokenizer.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	mc := model.NewConfig(tk.VocabSize(), 64, 16, 1, 2)
	mc.ModelType, mc.HeadBias, mc.TieWordEmbeddings = model.TypeGPT2, false, true
	mc.EOSTokenID, mc.PadTokenID = int(tk.EOS()), int(tk.PAD())
	m, err := model.New(mc, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := model.SaveDir(at("gpt2"), m, tk); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, runSample, "--model", at("gpt2"), "--prompt", "Hello, world", "--max_new_tokens", "4"); !strings.Contains(out, "log π") {
		t.Fatalf("sample: %q", out)
	}
	rows := strings.Repeat(`{"prompt": "The cat", "completion": " sat on the mat."}`+"\n", 8)
	writeFile(t, at("sft.jsonl"), rows)
	mustRun(t, cmdRun("sft"), "--model", at("gpt2"), "--data", at("sft.jsonl"), "--output_dir", at("run"), "--max_steps", "2", "--per_device_train_batch_size", "4", "--disable_tqdm")
	back, btk, err := model.LoadDir(at("run"))
	if err != nil || btk == nil || back.Config().ModelType != model.TypeGPT2 || btk.VocabSize() != 50257 {
		t.Fatalf("fine-tuned directory: %v (tokenizer %v)", err, btk != nil)
	}
	writeFile(t, at("prefs.jsonl"), `{"prompt": "The cat", "chosen": " sat on the mat.", "rejected": " mat the on sat."}`+"\n")
	if out := mustRun(t, runScore, "--model", at("run"), "--ref", at("gpt2"), "--data", at("prefs.jsonl")); !strings.Contains(out, `"implicit_reward_margin"`) {
		t.Fatalf("score: %.300s", out)
	}
}
