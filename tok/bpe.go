package tok

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// BPE is a Hugging Face byte-level BPE tokenizer (GPT-2, GPT-NeoX / Pythia
// style) loaded from tokenizer.json: added tokens are matched first, the rest
// of the text is split by the GPT-2 pre-tokenizer (gpt2Split), each piece's
// UTF-8 bytes are mapped to printable characters (bytesToUnicode) and merged
// by the ranked merges. Decode reverses the byte mapping exactly, so
// Decode(Encode(s)) == s for every string.
type BPE struct {
	raw          []byte // the tokenizer.json it was loaded from (Marshal writes it back)
	vocab        map[string]int32
	tokens       []string // id → token (byte-level characters, or an added token's content)
	ranks        map[[2]string]int
	added        []addedToken // longest content first
	addedID      map[int32]bool
	ignoreMerges bool
	eos, pad     int32
	cache        map[string][]int32
}

type addedToken struct {
	ID      int32  `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
}

// hfBPEFile is the part of tokenizer.json a BPE model needs.
type hfBPEFile struct {
	AddedTokens  []addedToken    `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Decoder      json.RawMessage `json:"decoder"`
	Model        struct {
		Type         string           `json:"type"`
		Vocab        map[string]int32 `json:"vocab"`
		Merges       []json.RawMessage
		IgnoreMerges bool    `json:"ignore_merges"`
		UnkToken     *string `json:"unk_token"`
		ByteFallback bool    `json:"byte_fallback"`
	} `json:"model"`
}

// parseBPE builds a BPE tokenizer from tokenizer.json bytes.
func parseBPE(data []byte) (*BPE, error) {
	var f hfBPEFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tok: parse tokenizer.json: %w", err)
	}
	var mergesField struct {
		Model struct {
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	json.Unmarshal(data, &mergesField)
	if err := checkByteLevelPipeline(f.Normalizer, f.PreTokenizer, f.Decoder); err != nil {
		return nil, err
	}
	if f.Model.ByteFallback {
		return nil, fmt.Errorf("tok: tokenizer.json model.byte_fallback is true: a SentencePiece-style BPE, not byte-level BPE (not supported)")
	}
	if len(f.Model.Vocab) == 0 {
		return nil, fmt.Errorf("tok: tokenizer.json model.vocab is empty")
	}
	t := &BPE{raw: append([]byte(nil), data...), vocab: f.Model.Vocab, ranks: map[[2]string]int{}, addedID: map[int32]bool{},
		ignoreMerges: f.Model.IgnoreMerges, cache: map[string][]int32{}}
	size := 0
	for s, id := range f.Model.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("tok: tokenizer.json model.vocab: %q has negative id %d", s, id)
		}
		size = max(size, int(id)+1)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.Content == "" {
			return nil, fmt.Errorf("tok: tokenizer.json added_tokens: bad entry id %d content %q", a.ID, a.Content)
		}
		size = max(size, int(a.ID)+1)
	}
	if size > 1<<24 {
		return nil, fmt.Errorf("tok: tokenizer.json: vocabulary of %d ids is too large", size)
	}
	t.tokens = make([]string, size)
	for s, id := range f.Model.Vocab {
		t.tokens[id] = s
	}
	for _, a := range f.AddedTokens {
		t.tokens[a.ID] = a.Content
		t.addedID[a.ID] = true
		t.added = append(t.added, a)
	}
	sort.SliceStable(t.added, func(i, j int) bool { return len(t.added[i].Content) > len(t.added[j].Content) })
	for i, raw := range mergesField.Model.Merges {
		var pair [2]string
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			a, b, ok := strings.Cut(s, " ")
			if !ok || a == "" || b == "" || strings.Contains(b, " ") {
				return nil, fmt.Errorf("tok: tokenizer.json model.merges[%d] = %q: want \"left right\"", i, s)
			}
			pair = [2]string{a, b}
		} else {
			var p []string
			if err := json.Unmarshal(raw, &p); err != nil || len(p) != 2 {
				return nil, fmt.Errorf("tok: tokenizer.json model.merges[%d]: want \"left right\" or [\"left\", \"right\"]", i)
			}
			pair = [2]string{p[0], p[1]}
		}
		if _, dup := t.ranks[pair]; !dup {
			t.ranks[pair] = i
		}
	}
	t.eos, t.pad = -1, -1
	for _, a := range t.added { // the end-of-text token of the common families
		switch a.Content {
		case "<|endoftext|>", "</s>", "<|end_of_text|>", "<|im_end|>":
			if t.eos < 0 {
				t.eos = a.ID
			}
		case "<pad>", "<|pad|>", "[PAD]":
			t.pad = a.ID
		}
	}
	if t.pad < 0 {
		t.pad = t.eos // GPT-2 has no pad token: pad with EOS, as TRL does
	}
	return t, nil
}

// checkByteLevelPipeline accepts the pieces this tokenizer implements: no
// normalizer (or NFC), the ByteLevel pre-tokenizer with GPT-2's regex, and a
// ByteLevel decoder (or none).
func checkByteLevelPipeline(norm, pre, dec json.RawMessage) error {
	typeOf := func(raw json.RawMessage) (string, map[string]any) {
		var m map[string]any
		if len(raw) == 0 || string(raw) == "null" || json.Unmarshal(raw, &m) != nil {
			return "", nil
		}
		s, _ := m["type"].(string)
		return s, m
	}
	if nt, _ := typeOf(norm); nt != "" && nt != "NFC" {
		return fmt.Errorf("tok: tokenizer.json normalizer %q is not supported (want null or NFC)", nt)
	}
	pt, pm := typeOf(pre)
	if pt != "ByteLevel" {
		return fmt.Errorf("tok: tokenizer.json pre_tokenizer %q is not supported yet (want ByteLevel, GPT-2 / GPT-NeoX)", pt)
	}
	if v, ok := pm["add_prefix_space"].(bool); ok && v {
		return fmt.Errorf("tok: tokenizer.json pre_tokenizer ByteLevel add_prefix_space true is not supported")
	}
	if v, ok := pm["use_regex"].(bool); ok && !v {
		return fmt.Errorf("tok: tokenizer.json pre_tokenizer ByteLevel use_regex false is not supported")
	}
	if dt, _ := typeOf(dec); dt != "" && dt != "ByteLevel" {
		return fmt.Errorf("tok: tokenizer.json decoder %q is not supported (want ByteLevel)", dt)
	}
	return nil
}

// byteToRune is GPT-2's bytes_to_unicode: printable bytes map to themselves,
// the others to 256, 257, … in byte order, so every byte has a visible,
// non-space character.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := map[rune]byte{}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}()

// Encode splits text at added tokens, pre-tokenizes the rest and merges.
func (t *BPE) Encode(text string) ([]int32, error) {
	var ids []int32
	for len(text) > 0 {
		at, tok := t.nextAdded(text)
		for _, piece := range gpt2Split(text[:at]) {
			pid, err := t.encodePiece(piece)
			if err != nil {
				return nil, err
			}
			ids = append(ids, pid...)
		}
		if tok == nil {
			break
		}
		ids = append(ids, tok.ID)
		text = text[at+len(tok.Content):]
	}
	return ids, nil
}

// nextAdded finds the first added token in text (longest at a position).
func (t *BPE) nextAdded(text string) (int, *addedToken) {
	best, bestAt := -1, len(text)
	for i := range t.added {
		if k := strings.Index(text, t.added[i].Content); k >= 0 && (k < bestAt || (k == bestAt && best >= 0 && len(t.added[i].Content) > len(t.added[best].Content))) {
			best, bestAt = i, k
		}
	}
	if best < 0 {
		return len(text), nil
	}
	return bestAt, &t.added[best]
}

// encodePiece is the BPE of one pre-token.
func (t *BPE) encodePiece(piece string) ([]int32, error) {
	if ids, ok := t.cache[piece]; ok {
		return ids, nil
	}
	var b strings.Builder
	for i := 0; i < len(piece); i++ {
		b.WriteRune(byteToRune[piece[i]])
	}
	word := b.String()
	var syms []string
	if id, ok := t.vocab[word]; ok && t.ignoreMerges {
		return []int32{id}, nil
	}
	for _, r := range word {
		syms = append(syms, string(r))
	}
	for len(syms) > 1 {
		best, bestRank := -1, int(^uint(0)>>1)
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := t.ranks[[2]string{syms[i], syms[i+1]}]; ok && r < bestRank {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		a, c := syms[best], syms[best+1]
		merged := syms[:0:0]
		for i := 0; i < len(syms); i++ {
			if i+1 < len(syms) && syms[i] == a && syms[i+1] == c {
				merged = append(merged, a+c)
				i++
			} else {
				merged = append(merged, syms[i])
			}
		}
		syms = merged
	}
	ids := make([]int32, len(syms))
	for i, s := range syms {
		id, ok := t.vocab[s]
		if !ok {
			return nil, fmt.Errorf("tok: BPE: symbol %q of %q is not in the vocabulary", s, piece)
		}
		ids[i] = id
	}
	if len(t.cache) < 1<<16 {
		t.cache[piece] = ids
	}
	return ids, nil
}

// Decode maps ids back to bytes (added tokens as their content). EOS and PAD
// are kept: a BPE vocabulary's special tokens are text the user may want.
func (t *BPE) Decode(ids []int32) string {
	var out []byte
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.tokens) {
			continue
		}
		s := t.tokens[id]
		if t.addedID[id] {
			out = append(out, s...)
			continue
		}
		for _, r := range s {
			if b, ok := runeToByte[r]; ok {
				out = append(out, b)
			} else {
				out = utf8.AppendRune(out, r)
			}
		}
	}
	return string(out)
}

func (t *BPE) VocabSize() int { return len(t.tokens) }
func (t *BPE) EOS() int32     { return t.eos }
func (t *BPE) PAD() int32     { return t.pad }
func (t *BPE) Token(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return fmt.Sprintf("<invalid %d>", id)
	}
	return t.tokens[id]
}

// gpt2Split is GPT-2's pre-tokenizer, the regex
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// implemented as a scanner (Go's regexp has no look-ahead): at each position
// the first alternative that matches wins, each taking its longest match, as
// the regex does. \s is Unicode white space, \p{L} letters, \p{N} numbers. A
// byte that is not valid UTF-8 counts as "other" (the fourth class) and is
// kept as the byte it is.
func gpt2Split(s string) []string {
	var out []string
	at := func(i int) (rune, int) {
		if i >= len(s) {
			return -1, 0
		}
		return utf8.DecodeRuneInString(s[i:])
	}
	class := func(r rune) int { // 0 space, 1 letter, 2 number, 3 other
		switch {
		case unicode.IsSpace(r):
			return 0
		case unicode.IsLetter(r):
			return 1
		case unicode.IsNumber(r):
			return 2
		}
		return 3
	}
	runOf := func(i, c int) int { // end of the run of class c from i
		for i < len(s) {
			r, n := at(i)
			if class(r) != c {
				break
			}
			i += n
		}
		return i
	}
	for i := 0; i < len(s); {
		// 's 't 're 've 'm 'll 'd
		if s[i] == '\'' {
			matched := false
			for _, suf := range []string{"s", "t", "re", "ve", "m", "ll", "d"} {
				if strings.HasPrefix(s[i+1:], suf) {
					out = append(out, s[i:i+1+len(suf)])
					i += 1 + len(suf)
					matched = true
					break
				}
			}
			if matched {
				continue
			}
		}
		// ' ?' followed by a run of letters, numbers or others
		j := i
		if s[j] == ' ' {
			j++
		}
		if r, _ := at(j); r >= 0 {
			if c := class(r); c != 0 {
				end := runOf(j, c)
				out = append(out, s[i:end])
				i = end
				continue
			}
		}
		// \s+(?!\S), then \s+
		r, _ := at(i)
		if class(r) == 0 {
			end := runOf(i, 0)
			if end < len(s) { // followed by a non-space: leave its last space to the next token
				_, last := utf8.DecodeLastRuneInString(s[i:end])
				if end-last > i {
					end -= last
				}
			}
			out = append(out, s[i:end])
			i = end
			continue
		}
		// unreachable: every rune is in one class
		_, n := at(i)
		out = append(out, s[i:i+n])
		i += n
	}
	return out
}
