package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const gpt2Fixture = "../../tok/testdata/gpt2/tokenizer.json.gz"

// roads tokenize with the committed GPT-2 tokenizer prints the reference ids
// (@huggingface/tokenizers: "Hello world" → 15496 995) and decodes them back.
func TestTokenizeGPT2(t *testing.T) {
	out := mustRun(t, runTokenize, "--tokenizer", gpt2Fixture, "--text", "Hello world", "--decode")
	if out != "15496 995\nHello world\n" {
		t.Fatalf("tokenize: %q", out)
	}
	js := mustRun(t, runTokenize, "--tokenizer", gpt2Fixture, "--text", " don't", "--json")
	if !strings.Contains(js, `"ids": [`) || !strings.Contains(js, `"Ġdon"`) {
		t.Fatalf("tokenize --json: %s", js)
	}
}

// A truncated or non-JSON tokenizer.json, a WordPiece model and a missing
// file are clear errors naming the file.
func TestTokenizeBadTokenizer(t *testing.T) {
	dir := t.TempDir()
	trunc := filepath.Join(dir, "trunc.json")
	os.WriteFile(trunc, []byte(`{"model": {"type": "BPE", "vocab": {"a"`), 0o644)
	wp := filepath.Join(dir, "wp.json")
	os.WriteFile(wp, []byte(`{"model": {"type": "WordPiece", "vocab": {"a": 0}}}`), 0o644)
	for _, c := range []struct{ path, want string }{
		{trunc, trunc + ": not JSON (truncated or not a tokenizer.json)"},
		{wp, `model type "WordPiece" is not supported`},
		{filepath.Join(dir, "nosuch.json"), "no such file"},
	} {
		err := runTokenize([]string{"--tokenizer", c.path, "--text", "a"}, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.path, err, c.want)
		}
	}
}
