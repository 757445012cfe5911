package tok

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
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
	nfc          bool                  // normalizer NFC
	chatTemplate string                // tokenizer_config.json's chat_template
	split        func(string) []string // the pre-tokenizer's regex split
	eos, pad     int32
	unk          int32 // model.unk_token's id, or -1: a symbol outside the vocabulary is then an error
	// single is the TemplateProcessing post-processor's template for one
	// sequence: ids to put around it (-1 marks the sequence); nil without one.
	single []int32
	cache  map[string][]int32
}

type addedToken struct {
	ID      int32  `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
}

// hfBPEFile is the part of tokenizer.json a BPE model needs.
type hfBPEFile struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         struct {
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
	split, nfc, err := byteLevelPipeline(f.Normalizer, f.PreTokenizer, f.Decoder)
	if err != nil {
		return nil, err
	}
	if f.Model.ByteFallback {
		return nil, fmt.Errorf("tok: tokenizer.json model.byte_fallback is true: a SentencePiece-style BPE, not byte-level BPE (not supported)")
	}
	if len(f.Model.Vocab) == 0 {
		return nil, fmt.Errorf("tok: tokenizer.json model.vocab is empty")
	}
	t := &BPE{raw: append([]byte(nil), data...), vocab: f.Model.Vocab, ranks: map[[2]string]int{}, addedID: map[int32]bool{},
		ignoreMerges: f.Model.IgnoreMerges, cache: map[string][]int32{}, split: split, nfc: nfc}
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
	if t.single, err = templateOf(f.PostProcessor); err != nil {
		return nil, err
	}
	t.eos, t.pad, t.unk = -1, -1, -1
	if u := f.Model.UnkToken; u != nil && *u != "" {
		id, ok := f.Model.Vocab[*u]
		if !ok {
			return nil, fmt.Errorf("tok: tokenizer.json model.unk_token %q is not in model.vocab", *u)
		}
		t.unk = id
	}
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

// The Split regexes of the Sequence[Split, ByteLevel] pre-tokenizers this
// package implements, exactly as tokenizer.json spells them.
const (
	qwen2Regex  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	llama3Regex = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// byteLevelPipeline accepts the pieces this tokenizer implements and returns
// the pre-tokenizer's split: no normalizer or NFC; ByteLevel with GPT-2's
// regex (GPT-2, GPT-NeoX), or Sequence[Split(Qwen2 / Llama-3 regex,
// Isolated), ByteLevel(use_regex false)] (Qwen2/3, Llama-3); a ByteLevel
// decoder or none.
func byteLevelPipeline(norm, pre, dec json.RawMessage) (split func(string) []string, nfc bool, err error) {
	typeOf := func(raw json.RawMessage) (string, map[string]any) {
		var m map[string]any
		if len(raw) == 0 || string(raw) == "null" || json.Unmarshal(raw, &m) != nil {
			return "", nil
		}
		s, _ := m["type"].(string)
		return s, m
	}
	switch nt, _ := typeOf(norm); nt {
	case "":
	case "NFC":
		nfc = true
	default:
		return nil, false, fmt.Errorf("tok: tokenizer.json normalizer %q is not supported (want null or NFC)", nt)
	}
	byteLevel := func(m map[string]any, wantRegex bool) error {
		if v, ok := m["add_prefix_space"].(bool); ok && v {
			return fmt.Errorf("tok: tokenizer.json pre_tokenizer ByteLevel add_prefix_space true is not supported")
		}
		if v, ok := m["use_regex"].(bool); ok && v != wantRegex || !ok && !wantRegex {
			return fmt.Errorf("tok: tokenizer.json pre_tokenizer ByteLevel use_regex %v is not supported here", m["use_regex"])
		}
		return nil
	}
	pt, pm := typeOf(pre)
	switch pt {
	case "ByteLevel":
		if err := byteLevel(pm, true); err != nil {
			return nil, false, err
		}
		split = gpt2Split
	case "Sequence":
		raw, _ := json.Marshal(pm["pretokenizers"])
		var seq []map[string]any
		json.Unmarshal(raw, &seq)
		if len(seq) != 2 || seq[0]["type"] != "Split" || seq[1]["type"] != "ByteLevel" {
			return nil, false, fmt.Errorf("tok: tokenizer.json pre_tokenizer Sequence: only [Split, ByteLevel] is supported")
		}
		if err := byteLevel(seq[1], false); err != nil {
			return nil, false, err
		}
		pat, _ := seq[0]["pattern"].(map[string]any)
		re, _ := pat["Regex"].(string)
		if seq[0]["behavior"] != "Isolated" || seq[0]["invert"] == true {
			return nil, false, fmt.Errorf("tok: tokenizer.json pre_tokenizer Split: behavior %v invert %v not supported (want Isolated, false)", seq[0]["behavior"], seq[0]["invert"])
		}
		switch re {
		case qwen2Regex:
			split = func(s string) []string { return qwenSplit(s, 1) }
		case llama3Regex:
			split = func(s string) []string { return qwenSplit(s, 3) }
		default:
			return nil, false, fmt.Errorf("tok: tokenizer.json pre_tokenizer Split regex %q is not one this package implements (GPT-2, Qwen2, Llama-3)", re)
		}
	default:
		return nil, false, fmt.Errorf("tok: tokenizer.json pre_tokenizer %q is not supported yet (want ByteLevel, or Sequence[Split, ByteLevel])", pt)
	}
	if dt, _ := typeOf(dec); dt != "" && dt != "ByteLevel" {
		return nil, false, fmt.Errorf("tok: tokenizer.json decoder %q is not supported (want ByteLevel)", dt)
	}
	return split, nfc, nil
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
		segment := text[:at]
		if t.nfc {
			segment = norm.NFC.String(segment)
		}
		for _, piece := range t.split(segment) {
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
		if !ok && t.unk >= 0 {
			id, ok = t.unk, true
		}
		if !ok {
			return nil, fmt.Errorf("tok: BPE: symbol %q of %q is not in the vocabulary (and model.unk_token is null)", s, piece)
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
	at := func(i int) (rune, int) { return runeAt(s, i) }
	class := runeClass
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

// qwenSplit is the Qwen2 (maxDigits 1) and Llama-3 (maxDigits 3) pre-tokenizer,
// the regex
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// as a scanner: the first alternative that matches at a position wins, with
// the regex's greedy lengths. Invalid UTF-8 bytes count as "other".
func qwenSplit(s string, maxDigits int) []string {
	var out []string
	at := func(i int) (rune, int) { return runeAt(s, i) }
	isNL := func(r rune) bool { return r == '\r' || r == '\n' }
	class := runeClass
	letters := func(i int) int {
		for i < len(s) {
			r, n := at(i)
			if class(r) != 1 {
				break
			}
			i += n
		}
		return i
	}
	for i := 0; i < len(s); {
		r, n := at(i)
		// (?i:'s|'t|'re|'ve|'m|'ll|'d)
		if r == '\'' {
			rest := strings.ToLower(s[i+1 : min(len(s), i+3)])
			matched := 0
			for _, suf := range []string{"s", "t", "re", "ve", "m", "ll", "d"} {
				if strings.HasPrefix(rest, suf) {
					matched = 1 + len(suf)
					break
				}
			}
			if matched > 0 {
				out = append(out, s[i:i+matched])
				i += matched
				continue
			}
		}
		// [^\r\n\p{L}\p{N}]?\p{L}+
		if class(r) == 1 {
			end := letters(i)
			out = append(out, s[i:end])
			i = end
			continue
		}
		if !isNL(r) && class(r) != 2 {
			if r2, _ := at(i + n); r2 >= 0 && class(r2) == 1 {
				end := letters(i + n)
				out = append(out, s[i:end])
				i = end
				continue
			}
		}
		// \p{N}{1,maxDigits}
		if class(r) == 2 {
			end, k := i, 0
			for end < len(s) && k < maxDigits {
				r2, n2 := at(end)
				if class(r2) != 2 {
					break
				}
				end += n2
				k++
			}
			out = append(out, s[i:end])
			i = end
			continue
		}
		// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
		j := i
		if r == ' ' {
			j++
		}
		if r2, _ := at(j); r2 >= 0 && class(r2) == 3 {
			end := j
			for end < len(s) {
				r3, n3 := at(end)
				if class(r3) != 3 {
					break
				}
				end += n3
			}
			for end < len(s) && (s[end] == '\r' || s[end] == '\n') {
				end++
			}
			out = append(out, s[i:end])
			i = end
			continue
		}
		// whitespace: \s*[\r\n]+, then \s+(?!\S), then \s+
		if class(r) == 0 {
			end := i
			lastNL := -1
			for end < len(s) {
				r3, n3 := at(end)
				if class(r3) != 0 {
					break
				}
				if isNL(r3) {
					lastNL = end + n3
				}
				end += n3
			}
			if lastNL > 0 {
				out = append(out, s[i:lastNL])
				i = lastNL
				continue
			}
			if end < len(s) {
				_, last := utf8.DecodeLastRuneInString(s[i:end])
				if end-last > i {
					end -= last
				}
			}
			out = append(out, s[i:end])
			i = end
			continue
		}
		out = append(out, s[i:i+n]) // unreachable
		i += n
	}
	return out
}

// TokenizerConfig is the part of tokenizer_config.json roads reads: the
// special tokens (a string, or an AddedToken object with "content") and the
// chat template (a Jinja2 string, rendered elsewhere).
type TokenizerConfig struct {
	BOS, EOS, PAD string
	ChatTemplate  string
}

// ParseTokenizerConfig decodes tokenizer_config.json bytes (source names the
// file in errors).
func ParseTokenizerConfig(source string, data []byte) (TokenizerConfig, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return TokenizerConfig{}, fmt.Errorf("%s: %w", source, err)
	}
	token := func(key string) (string, error) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return "", nil
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s, nil
		}
		var obj struct {
			Content string `json:"content"`
		}
		if err := json.Unmarshal(v, &obj); err != nil || obj.Content == "" {
			return "", fmt.Errorf("%s: field %q: want a string or {\"content\": ...}", source, key)
		}
		return obj.Content, nil
	}
	var c TokenizerConfig
	var err error
	if c.BOS, err = token("bos_token"); err != nil {
		return c, err
	}
	if c.EOS, err = token("eos_token"); err != nil {
		return c, err
	}
	if c.PAD, err = token("pad_token"); err != nil {
		return c, err
	}
	if v, ok := raw["chat_template"]; ok && string(v) != "null" {
		if err := json.Unmarshal(v, &c.ChatTemplate); err != nil {
			return c, fmt.Errorf("%s: field \"chat_template\": want a string (named templates are not supported)", source)
		}
	}
	return c, nil
}

// templateOf reads a TemplateProcessing post-processor (directly, or inside a
// Sequence with ByteLevel) into its single-sequence template; null, ByteLevel
// and no post-processor give nil.
func templateOf(raw json.RawMessage) ([]int32, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var pp struct {
		Type       string            `json:"type"`
		Processors []json.RawMessage `json:"processors"`
		Single     []struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
			Sequence *struct {
				ID string `json:"id"`
			} `json:"Sequence"`
		} `json:"single"`
		SpecialTokens map[string]struct {
			IDs []int32 `json:"ids"`
		} `json:"special_tokens"`
	}
	if err := json.Unmarshal(raw, &pp); err != nil {
		return nil, fmt.Errorf("tok: tokenizer.json post_processor: %w", err)
	}
	switch pp.Type {
	case "ByteLevel":
		return nil, nil
	case "Sequence":
		var out []int32
		for _, p := range pp.Processors {
			t, err := templateOf(p)
			if err != nil {
				return nil, err
			}
			if t != nil {
				out = t
			}
		}
		return out, nil
	case "TemplateProcessing":
		out := []int32{}
		for i, item := range pp.Single {
			switch {
			case item.Sequence != nil && item.Sequence.ID == "A":
				out = append(out, -1)
			case item.SpecialToken != nil:
				st, ok := pp.SpecialTokens[item.SpecialToken.ID]
				if !ok || len(st.IDs) == 0 {
					return nil, fmt.Errorf("tok: tokenizer.json post_processor.single[%d]: special token %q is not in special_tokens", i, item.SpecialToken.ID)
				}
				out = append(out, st.IDs...)
			default:
				return nil, fmt.Errorf("tok: tokenizer.json post_processor.single[%d]: want a SpecialToken or Sequence A", i)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("tok: tokenizer.json post_processor %q is not supported (want null, ByteLevel or TemplateProcessing)", pp.Type)
}

// EncodeSpecial is Encode with the post-processor's special tokens added
// (HF's add_special_tokens=True): Llama's BOS, for instance. Without a
// TemplateProcessing post-processor it equals Encode.
func (t *BPE) EncodeSpecial(text string) ([]int32, error) {
	ids, err := t.Encode(text)
	if err != nil || t.single == nil {
		return ids, err
	}
	var out []int32
	for _, id := range t.single {
		if id < 0 {
			out = append(out, ids...)
		} else {
			out = append(out, id)
		}
	}
	return out, nil
}

// ChatTemplater is a tokenizer that carries a chat template.
type ChatTemplater interface{ ChatTemplate() string }

// ChatTemplate is tokenizer_config.json's chat_template ("" when none).
func (t *BPE) ChatTemplate() string { return t.chatTemplate }

// ApplyConfig sets EOS and PAD from a tokenizer_config.json (a token it names
// must be in the vocabulary; PAD falls back to EOS) and keeps its chat
// template.
func (t *BPE) ApplyConfig(c TokenizerConfig) error {
	t.chatTemplate = c.ChatTemplate
	lookup := func(field, s string) (int32, error) {
		for id, tokStr := range t.tokens {
			if tokStr == s && (t.addedID[int32(id)] || t.vocab[s] == int32(id)) {
				return int32(id), nil
			}
		}
		return -1, fmt.Errorf("tok: tokenizer_config.json %s %q is not a token of tokenizer.json", field, s)
	}
	if c.EOS != "" {
		id, err := lookup("eos_token", c.EOS)
		if err != nil {
			return err
		}
		t.eos = id
	}
	if c.PAD != "" {
		id, err := lookup("pad_token", c.PAD)
		if err != nil {
			return err
		}
		t.pad = id
	} else if t.pad < 0 || c.EOS != "" {
		t.pad = t.eos
	}
	return nil
}

// runeAt decodes the rune at byte i of s (-1, 0 past the end; an invalid byte
// is utf8.RuneError of size 1).
func runeAt(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	return utf8.DecodeRuneInString(s[i:])
}

// runeClass is the pre-tokenizer regexes' partition of characters: 0 white
// space (\s), 1 letter (\p{L}), 2 number (\p{N}), 3 anything else.
func runeClass(r rune) int {
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
