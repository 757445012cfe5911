package tok

import (
	"bytes"
	"testing"
)

// FuzzUnmarshal: tokenizer.json bytes either fail with an error or give a
// tokenizer that marshals to bytes which unmarshal to the same encoding of a
// probe text (no panic).
func FuzzUnmarshal(f *testing.F) {
	w, err := NewWords([]string{"<pad>", "<eos>", "<unk>", "a", "b"})
	if err == nil {
		if b, err := Marshal(w); err == nil {
			f.Add(b)
		}
	}
	if b, err := Marshal(Bytes{}); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"model":{"type":"WordLevel","vocab":{"a":0}}}`))
	f.Add([]byte(`{"model":{"type":"BPE"}}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, in []byte) {
		tk, err := Unmarshal(in)
		if err != nil {
			return
		}
		b, err := Marshal(tk)
		if err != nil {
			t.Fatalf("accepted tokenizer does not marshal: %v", err)
		}
		again, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("marshalled tokenizer does not unmarshal: %v", err)
		}
		if again.VocabSize() != tk.VocabSize() {
			t.Fatalf("vocab %d, %d after a round trip", tk.VocabSize(), again.VocabSize())
		}
		b2, _ := Marshal(again)
		if !bytes.Equal(b, b2) {
			t.Fatal("Marshal is not a fixed point")
		}
	})
}

// FuzzEncode: GPT-2 byte-level BPE encodes any bytes without error or panic,
// every id is in the vocabulary, and decoding gives the bytes back.
func FuzzEncode(f *testing.F) {
	tk := loadGPT2(f)
	for _, s := range []string{"", "Hello world", "don't  stop\n\n", "你好 🙂", "<|endoftext|>x", "\xff\xfe", " \t\r\n\u00a0", "a'S'll'LL"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := tk.Encode(s)
		if err != nil {
			t.Fatalf("Encode(%q): %v", s, err)
		}
		for _, id := range ids {
			if id < 0 || int(id) >= tk.VocabSize() {
				t.Fatalf("Encode(%q): id %d outside the vocabulary", s, id)
			}
		}
		if back := tk.Decode(ids); back != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, back)
		}
	})
}
