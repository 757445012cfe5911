package model

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roads/tok"
)

func TestSaveLoadDirRoundTrip(t *testing.T) {
	cfg := testConfig("lm")
	cfg.EOSTokenID, cfg.PadTokenID = 1, 0 // the word tokenizer's
	m := newRandomModel(t, cfg, 7)
	words, err := tok.NewWords([]string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "m")
	if err := SaveDir(dir, m, words); err != nil {
		t.Fatal(err)
	}
	// A directory whose config and tokenizer disagree on EOS is refused.
	other := testConfig("lm") // eos_token_id 9
	bad := filepath.Join(t.TempDir(), "bad")
	if err := SaveDir(bad, newRandomModel(t, other, 7), words); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadDir(bad); err == nil || !strings.Contains(err.Error(), "eos_token_id 9 is not the tokenizer's EOS token (id 1)") {
		t.Fatalf("EOS mismatch: %v", err)
	}
	back, tk, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Config() != cfg {
		t.Fatalf("config changed: %+v vs %+v", back.Config(), cfg)
	}
	if tk == nil || tk.VocabSize() != words.VocabSize() {
		t.Fatalf("tokenizer not restored: %v", tk)
	}
	a, b := m.Params(), back.Params()
	for i := range a {
		for j := range a[i].Data {
			if a[i].Data[j] != b[i].Data[j] {
				t.Fatalf("%s[%d] = %v after load, want %v", a[i].Name, j, b[i].Data[j], a[i].Data[j])
			}
		}
	}
	// load → save is byte-identical.
	dir2 := filepath.Join(t.TempDir(), "m2")
	if err := SaveDir(dir2, back, tk); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json"} {
		x, _ := os.ReadFile(filepath.Join(dir, f))
		y, _ := os.ReadFile(filepath.Join(dir2, f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs after load → save", f)
		}
	}
}

func TestLoadDirErrors(t *testing.T) {
	cfg := testConfig("lm")
	m := newRandomModel(t, cfg, 7)
	dir := filepath.Join(t.TempDir(), "m")
	if err := SaveDir(dir, m, nil); err != nil {
		t.Fatal(err)
	}
	// A config whose shapes disagree with the stored tensors names the tensor.
	bigger := cfg
	bigger.DModel *= 2
	bigger.DFF *= 2
	if err := bigger.Save(filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "wte.weight") {
		t.Fatalf("shape mismatch error = %v, want it to name wte.weight", err)
	}
	// A truncated weights file is rejected with the file named.
	if err := cfg.Save(filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.safetensors")
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("truncated file error = %v", err)
	}
	if _, _, err := LoadDir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing directory accepted")
	}
}
