// Package tok holds roads' tokenizers: a byte-level one (any text, used before
// a task supplies its own vocabulary), a word-level one (the task suite's) and
// Hugging Face byte-level BPE (GPT-2, GPT-NeoX; bpe.go).
// Both reserve an EOS and a PAD id and are saved beside every model as
// tokenizer.json in the Hugging Face layout (WordLevel model for words).
package tok

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"roads/internal/atomicfile"
)

// Tokenizer maps text to token ids and back.
type Tokenizer interface {
	// Encode splits text into ids. It fails on text it cannot represent.
	Encode(text string) ([]int32, error)
	// Decode joins ids into text; EOS and PAD are dropped.
	Decode(ids []int32) string
	VocabSize() int
	EOS() int32
	PAD() int32
	// Token is the printable form of one id.
	Token(id int32) string
}

// Bytes is the byte-level tokenizer: ids 0..255 are bytes, 256 is EOS, 257 PAD.
type Bytes struct{}

const (
	byteEOS = 256
	bytePAD = 257
)

func (Bytes) Encode(text string) ([]int32, error) {
	ids := make([]int32, len(text))
	for i := 0; i < len(text); i++ {
		ids[i] = int32(text[i])
	}
	return ids, nil
}

func (Bytes) Decode(ids []int32) string {
	b := make([]byte, 0, len(ids))
	for _, id := range ids {
		if id >= 0 && id < 256 {
			b = append(b, byte(id))
		}
	}
	return string(b)
}

func (Bytes) VocabSize() int { return 258 }
func (Bytes) EOS() int32     { return byteEOS }
func (Bytes) PAD() int32     { return bytePAD }
func (Bytes) Token(id int32) string {
	switch {
	case id == byteEOS:
		return EOSToken
	case id == bytePAD:
		return PADToken
	case id >= 0 && id < 256:
		return string([]byte{byte(id)})
	}
	return fmt.Sprintf("<invalid %d>", id)
}

// Special token spellings, shared by every tokenizer.
const (
	EOSToken = "<eos>"
	PADToken = "<pad>"
	UNKToken = "<unk>"
)

// Words is a whitespace-split word-level tokenizer with a fixed vocabulary.
// Ids 0, 1 and 2 are PAD, EOS and UNK; words follow in the given order.
type Words struct {
	vocab []string
	index map[string]int32
}

// NewWords builds a word tokenizer over the given words (duplicates and the
// special spellings are rejected so ids stay stable).
func NewWords(words []string) (*Words, error) {
	w := &Words{vocab: []string{PADToken, EOSToken, UNKToken}, index: map[string]int32{PADToken: 0, EOSToken: 1, UNKToken: 2}}
	for _, s := range words {
		if s == "" || strings.ContainsAny(s, " \t\n\r") {
			return nil, fmt.Errorf("tok: word %q is empty or contains whitespace", s)
		}
		if _, dup := w.index[s]; dup {
			return nil, fmt.Errorf("tok: duplicate word %q", s)
		}
		w.index[s] = int32(len(w.vocab))
		w.vocab = append(w.vocab, s)
	}
	return w, nil
}

// Encode splits on whitespace; an unknown word is an error naming it.
func (w *Words) Encode(text string) ([]int32, error) {
	fields := strings.Fields(text)
	ids := make([]int32, len(fields))
	for i, f := range fields {
		id, ok := w.index[f]
		if !ok {
			return nil, fmt.Errorf("tok: word %q (position %d) is not in the vocabulary", f, i)
		}
		ids[i] = id
	}
	return ids, nil
}

func (w *Words) Decode(ids []int32) string {
	parts := make([]string, 0, len(ids))
	for _, id := range ids {
		if id == 0 || id == 1 {
			continue
		}
		parts = append(parts, w.Token(id))
	}
	return strings.Join(parts, " ")
}

func (w *Words) VocabSize() int { return len(w.vocab) }
func (w *Words) EOS() int32     { return 1 }
func (w *Words) PAD() int32     { return 0 }
func (w *Words) Token(id int32) string {
	if id < 0 || int(id) >= len(w.vocab) {
		return fmt.Sprintf("<invalid %d>", id)
	}
	return w.vocab[id]
}

// ID returns the id of a word and whether it is in the vocabulary.
func (w *Words) ID(word string) (int32, bool) {
	id, ok := w.index[word]
	return id, ok
}

// hfFile is the subset of Hugging Face tokenizer.json that roads writes.
type hfFile struct {
	Version      string          `json:"version"`
	AddedTokens  []hfAdded       `json:"added_tokens"`
	PreTokenizer *hfType         `json:"pre_tokenizer"`
	Model        hfModel         `json:"model"`
	Roads        json.RawMessage `json:"roads,omitempty"`
}

type hfAdded struct {
	ID      int32  `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
}

type hfType struct {
	Type string `json:"type"`
}

type hfModel struct {
	Type     string           `json:"type"`
	Vocab    map[string]int32 `json:"vocab,omitempty"`
	UnkToken string           `json:"unk_token,omitempty"`
}

// Marshal renders a tokenizer as tokenizer.json bytes.
func Marshal(t Tokenizer) ([]byte, error) {
	var f hfFile
	f.Version = "1.0"
	switch t := t.(type) {
	case Bytes:
		f.Model = hfModel{Type: "RoadsBytes"}
		f.AddedTokens = []hfAdded{{byteEOS, EOSToken, true}, {bytePAD, PADToken, true}}
	case *BPE:
		return append([]byte(nil), t.raw...), nil // written back as it was read
	case *Words:
		f.PreTokenizer = &hfType{Type: "WhitespaceSplit"}
		f.Model = hfModel{Type: "WordLevel", Vocab: t.index, UnkToken: UNKToken}
		f.AddedTokens = []hfAdded{{0, PADToken, true}, {1, EOSToken, true}, {2, UNKToken, true}}
	default:
		return nil, fmt.Errorf("tok: cannot save tokenizer of type %T", t)
	}
	return json.MarshalIndent(f, "", "  ")
}

// Unmarshal parses tokenizer.json bytes written by Marshal.
func Unmarshal(data []byte) (Tokenizer, error) {
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tok: parse tokenizer.json: %w", err)
	}
	switch f.Model.Type {
	case "RoadsBytes":
		return Bytes{}, nil
	case "BPE":
		return parseBPE(data)
	case "WordLevel":
		n := len(f.Model.Vocab)
		words := make([]string, n)
		for s, id := range f.Model.Vocab {
			if id < 0 || int(id) >= n || words[id] != "" {
				return nil, fmt.Errorf("tok: tokenizer.json vocab: id %d of %q is out of range or repeated", id, s)
			}
			words[id] = s
		}
		if n < 3 || words[0] != PADToken || words[1] != EOSToken || words[2] != UNKToken {
			return nil, fmt.Errorf("tok: tokenizer.json vocab must start with %s, %s, %s", PADToken, EOSToken, UNKToken)
		}
		return NewWords(words[3:])
	}
	return nil, fmt.Errorf("tok: tokenizer.json model type %q is not supported (want BPE, WordLevel or RoadsBytes)", f.Model.Type)
}

// Save writes dir/tokenizer.json atomically.
func Save(dir string, t Tokenizer) error {
	data, err := Marshal(t)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "tokenizer.json")
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("tok: save: %w", err)
	}
	return nil
}

// Load reads dir/tokenizer.json (and, for a BPE tokenizer,
// dir/tokenizer_config.json when present): LoadFile of a directory.
func Load(dir string) (Tokenizer, error) { return LoadFile(dir) }

// ApplyConfigIn applies dir/tokenizer_config.json (special tokens, chat
// template) to a BPE tokenizer when the file exists; other tokenizers carry
// their specials themselves.
func ApplyConfigIn(t Tokenizer, dir string) error {
	bpe, ok := t.(*BPE)
	if !ok {
		return nil
	}
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil // no tokenizer_config.json: tokenizer.json's own specials
	}
	c, err := ParseTokenizerConfig(cfgPath, raw)
	if err != nil {
		return err
	}
	if err := bpe.ApplyConfig(c); err != nil {
		return fmt.Errorf("%s: %w", cfgPath, err)
	}
	return nil
}
