package tok

import (
	"strings"
	"testing"
)

func TestWordsRoundTrip(t *testing.T) {
	w, err := NewWords([]string{"a", "b", "cat"})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := w.Encode("cat a  b\ta")
	if err != nil {
		t.Fatal(err)
	}
	want := []int32{5, 3, 4, 3}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("ids = %v, want %v", ids, want)
		}
	}
	if got := w.Decode(append(ids, w.EOS(), w.PAD())); got != "cat a b a" {
		t.Fatalf("decode = %q", got)
	}
	if _, err := w.Encode("a dog"); err == nil || !strings.Contains(err.Error(), `"dog"`) {
		t.Fatalf("unknown word error = %v", err)
	}
	dir := t.TempDir()
	if err := Save(dir, w); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.VocabSize() != 6 || back.Token(5) != "cat" || back.EOS() != 1 {
		t.Fatalf("loaded tokenizer differs: size %d token5 %q", back.VocabSize(), back.Token(5))
	}
}

func TestWordsRejectsBadVocab(t *testing.T) {
	if _, err := NewWords([]string{"a", "a"}); err == nil {
		t.Fatal("duplicate accepted")
	}
	if _, err := NewWords([]string{"a b"}); err == nil {
		t.Fatal("whitespace accepted")
	}
	if _, err := Unmarshal([]byte(`{"model":{"type":"BPE"}}`)); err == nil || !strings.Contains(err.Error(), "pre_tokenizer") {
		t.Fatalf("BPE without a pre-tokenizer: %v", err)
	}
	if _, err := Unmarshal([]byte(`{"model":{"type":"WordLevel","vocab":{"<pad>":0,"<eos>":1,"<unk>":2,"x":7}}}`)); err == nil {
		t.Fatal("out-of-range id accepted")
	}
}

func TestBytes(t *testing.T) {
	var b Bytes
	ids, _ := b.Encode("hé")
	if len(ids) != 3 || b.Decode(append(ids, b.EOS())) != "hé" {
		t.Fatalf("bytes round trip failed: %v", ids)
	}
	data, err := Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(data)
	if err != nil || back.VocabSize() != 258 {
		t.Fatalf("bytes unmarshal: %v %v", back, err)
	}
}
