package tok

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// LoadFile reads the same tokenizer from a .json.gz file, a plain file with a
// byte-order mark and a directory, and names the file it cannot read.
func TestLoadFileForms(t *testing.T) {
	gz := filepath.Join("testdata", "gpt2", "tokenizer.json.gz")
	a, err := LoadFile(gz)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ReadFile(gz)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), append([]byte("\xef\xbb\xbf"), raw...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, filepath.Join(dir, "tokenizer.json")} {
		b, err := LoadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ia, _ := a.Encode("Hello world, don't")
		ib, _ := b.Encode("Hello world, don't")
		if a.VocabSize() != 50257 || b.VocabSize() != a.VocabSize() || !slices.Equal(ia, ib) {
			t.Fatalf("%s: vocab %d/%d, ids %v vs %v", path, a.VocabSize(), b.VocabSize(), ia, ib)
		}
	}
	bad := filepath.Join(dir, "cut.json")
	os.WriteFile(bad, raw[:len(raw)/2], 0o644)
	if _, err := LoadFile(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("a truncated file: %v", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "none.json")); err == nil || !strings.Contains(err.Error(), "none.json") {
		t.Fatalf("a missing file: %v", err)
	}
	notGz := filepath.Join(dir, "plain.json.gz")
	os.WriteFile(notGz, []byte("{}"), 0o644)
	if _, err := ReadFile(notGz); err == nil || !strings.Contains(err.Error(), notGz) {
		t.Fatalf("a .gz that is not gzip: %v", err)
	}
}

func TestBenchEncodeCountsTokens(t *testing.T) {
	dir := t.TempDir()
	corpus := filepath.Join(dir, "c.jsonl")
	os.WriteFile(corpus, []byte(`{"text": "ab"}`+"\n"+`{"text": "c"}`+"\n"), 0o644)
	tps, n, err := BenchEncode(Bytes{}, corpus)
	// "ab c " doubled to ≥ 1 MiB: 5·2^18 bytes, one token each.
	if err != nil || n != 5<<18 || !(tps > 0) {
		t.Fatalf("BenchEncode: %v tok/s, %d tokens, %v", tps, n, err)
	}
	os.WriteFile(corpus, []byte("{}\n"), 0o644)
	if _, _, err := BenchEncode(Bytes{}, corpus); err == nil || !strings.Contains(err.Error(), "no \"text\" fields") {
		t.Fatalf("a corpus without text: %v", err)
	}
}
