// Package data reads and writes the TRL "standard" dataset formats as JSON
// Lines: language modelling {"text"}, prompt-only {"prompt"},
// prompt-completion {"prompt","completion"} and preference with an explicit
// prompt {"prompt","chosen","rejected"} plus optional
// {"score_chosen","score_rejected"}. Field names can be remapped (Keys).
//
// Readers report every malformed line as "file:line: field "x": problem";
// writers go through a temporary file and a rename, so an existing output is
// replaced only by a complete new one and never left half-written.
package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"roads/internal/atomicfile"
	"unicode/utf8"
)

// Keys names the JSON fields of each role; the zero value of a field means
// its TRL default (see DefaultKeys).
type Keys struct {
	Text, Prompt, Completion, Chosen, Rejected, ScoreChosen, ScoreRejected string
}

// DefaultKeys are TRL's field names.
func DefaultKeys() Keys {
	return Keys{Text: "text", Prompt: "prompt", Completion: "completion", Chosen: "chosen", Rejected: "rejected",
		ScoreChosen: "score_chosen", ScoreRejected: "score_rejected"}
}

// WithDefaults returns k with its empty names filled with TRL's.
func (k Keys) WithDefaults() Keys {
	d := DefaultKeys()
	for _, f := range []struct {
		dst *string
		def string
	}{
		{&k.Text, d.Text}, {&k.Prompt, d.Prompt}, {&k.Completion, d.Completion}, {&k.Chosen, d.Chosen},
		{&k.Rejected, d.Rejected}, {&k.ScoreChosen, d.ScoreChosen}, {&k.ScoreRejected, d.ScoreRejected},
	} {
		if *f.dst == "" {
			*f.dst = f.def
		}
	}
	return k
}

// AddFlags registers --text_key, --prompt_key, --completion_key,
// --chosen_key, --rejected_key, --score_chosen_key and --score_rejected_key
// (OpenRLHF-style remapping), defaulting to TRL's names.
func (k *Keys) AddFlags(fs *flag.FlagSet) {
	d := DefaultKeys()
	fs.StringVar(&k.Text, "text_key", d.Text, "JSON field holding language-modelling text")
	fs.StringVar(&k.Prompt, "prompt_key", d.Prompt, "JSON field holding the prompt")
	fs.StringVar(&k.Completion, "completion_key", d.Completion, "JSON field holding the completion")
	fs.StringVar(&k.Chosen, "chosen_key", d.Chosen, "JSON field holding the preferred completion")
	fs.StringVar(&k.Rejected, "rejected_key", d.Rejected, "JSON field holding the dispreferred completion")
	fs.StringVar(&k.ScoreChosen, "score_chosen_key", d.ScoreChosen, "JSON field holding the chosen completion's score")
	fs.StringVar(&k.ScoreRejected, "score_rejected_key", d.ScoreRejected, "JSON field holding the rejected completion's score")
}

// Text is a language-modelling row.
type Text struct{ Text string }

// PromptOnly is a prompt-only row (online methods sample the completion).
type PromptOnly struct{ Prompt string }

// PromptCompletion is an SFT demonstration.
type PromptCompletion struct{ Prompt, Completion string }

// Preference is a comparison with an explicit prompt. Scores (gold rewards in
// roads' generated data) are optional and for analysis only: trainers must
// learn from the label (which side is chosen), never from the scores.
type Preference struct {
	Prompt, Chosen, Rejected   string
	HasScores                  bool
	ScoreChosen, ScoreRejected float64
}

// LineError is a problem with one line of a JSONL file.
type LineError struct {
	File  string
	Line  int
	Field string // "" when the line as a whole is bad
	Msg   string
}

func (e *LineError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: field %q: %s", e.File, e.Line, e.Field, e.Msg)
}

// Record is one parsed JSONL object with its line number.
type Record struct {
	File   string
	Line   int
	Fields map[string]json.RawMessage
}

// ReadRecords parses a JSONL file into objects. Blank lines are skipped; any
// other line must be one JSON object. An input with no records is an error.
func ReadRecords(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	recs, err := readRecords(path, f)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no records", path)
	}
	return recs, nil
}

// utf8BOM is the byte-order mark some editors put at the start of a file.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// invalidUTF8At is the offset of the first byte of b that is not valid UTF-8,
// or -1.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

func readRecords(name string, r io.Reader) ([]Record, error) {
	br := bufio.NewReader(r)
	var recs []Record
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if line == 1 {
			b = bytes.TrimPrefix(b, utf8BOM) // written by some editors; not part of the JSON
		}
		if bad := invalidUTF8At(b); bad >= 0 {
			return nil, fmt.Errorf("%s:%d: byte %d: invalid UTF-8 (JSONL must be UTF-8 text; decoding it would silently replace the bytes with U+FFFD)", name, line, bad+1)
		}
		trimmed := bytes.TrimSpace(b)
		if len(trimmed) > 0 {
			rec, perr := parseLine(name, line, trimmed)
			if perr != nil {
				return nil, perr
			}
			recs = append(recs, rec)
		}
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
	}
}

func parseLine(name string, line int, b []byte) (Record, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return Record{}, &LineError{File: name, Line: line, Msg: "invalid JSON: " + err.Error()}
	}
	if _, ok := v.(map[string]any); !ok {
		return Record{}, &LineError{File: name, Line: line, Msg: "want a JSON object, got " + jsonKind(v)}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return Record{}, &LineError{File: name, Line: line, Msg: "invalid JSON: " + err.Error()}
	}
	return Record{File: name, Line: line, Fields: fields}, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// String returns a required string field.
func (r Record) String(key string) (string, error) {
	raw, ok := r.Fields[key]
	if !ok {
		return "", &LineError{File: r.File, Line: r.Line, Field: key, Msg: "missing"}
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", &LineError{File: r.File, Line: r.Line, Field: key, Msg: err.Error()}
	}
	switch s := v.(type) {
	case string:
		return s, nil
	case []any:
		return "", &LineError{File: r.File, Line: r.Line, Field: key, Msg: "conversational (message list) format is not supported; want a string"}
	default:
		return "", &LineError{File: r.File, Line: r.Line, Field: key, Msg: "want a string, got " + jsonKind(v)}
	}
}

// Number returns an optional numeric field and whether it is present.
func (r Record) Number(key string) (float64, bool, error) {
	raw, ok := r.Fields[key]
	if !ok {
		return 0, false, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false, &LineError{File: r.File, Line: r.Line, Field: key, Msg: err.Error()}
	}
	f, isNum := v.(float64)
	if !isNum {
		return 0, false, &LineError{File: r.File, Line: r.Line, Field: key, Msg: "want a number, got " + jsonKind(v)}
	}
	return f, true, nil
}

// ReadText reads {"text"} rows.
func ReadText(path string, k Keys) ([]Text, error) {
	k = k.WithDefaults()
	return readTyped(path, func(r Record) (Text, error) {
		s, err := r.String(k.Text)
		return Text{s}, err
	})
}

// ReadPrompts reads {"prompt"} rows (other fields are ignored, so a
// prompt-completion or preference file also serves as a prompt list).
func ReadPrompts(path string, k Keys) ([]PromptOnly, error) {
	k = k.WithDefaults()
	return readTyped(path, func(r Record) (PromptOnly, error) {
		s, err := r.String(k.Prompt)
		return PromptOnly{s}, err
	})
}

// ReadPromptCompletions reads {"prompt","completion"} rows.
func ReadPromptCompletions(path string, k Keys) ([]PromptCompletion, error) {
	k = k.WithDefaults()
	return readTyped(path, func(r Record) (PromptCompletion, error) {
		var row PromptCompletion
		var err error
		if row.Prompt, err = r.String(k.Prompt); err != nil {
			return row, err
		}
		row.Completion, err = r.String(k.Completion)
		return row, err
	})
}

// ReadPreferences reads {"prompt","chosen","rejected"} rows with optional
// scores (both or neither).
func ReadPreferences(path string, k Keys) ([]Preference, error) {
	return readTyped(path, preferenceOf(k))
}

// preferenceOf converts a record to a standard preference row.
func preferenceOf(k Keys) func(Record) (Preference, error) {
	k = k.WithDefaults()
	return func(r Record) (Preference, error) {
		var row Preference
		var err error
		if row.Prompt, err = r.String(k.Prompt); err != nil {
			return row, err
		}
		if row.Chosen, err = r.String(k.Chosen); err != nil {
			return row, err
		}
		if row.Rejected, err = r.String(k.Rejected); err != nil {
			return row, err
		}
		sc, hasC, err := r.Number(k.ScoreChosen)
		if err != nil {
			return row, err
		}
		sr, hasR, err := r.Number(k.ScoreRejected)
		if err != nil {
			return row, err
		}
		switch {
		case hasC && !hasR:
			return row, &LineError{File: r.File, Line: r.Line, Field: k.ScoreRejected, Msg: fmt.Sprintf("missing (%q is present)", k.ScoreChosen)}
		case hasR && !hasC:
			return row, &LineError{File: r.File, Line: r.Line, Field: k.ScoreChosen, Msg: fmt.Sprintf("missing (%q is present)", k.ScoreRejected)}
		}
		row.HasScores, row.ScoreChosen, row.ScoreRejected = hasC, sc, sr
		return row, nil
	}
}

func readTyped[T any](path string, conv func(Record) (T, error)) ([]T, error) {
	recs, err := ReadRecords(path)
	if err != nil {
		return nil, err
	}
	return convertAll(recs, conv)
}

func convertAll[T any](recs []Record, conv func(Record) (T, error)) ([]T, error) {
	out := make([]T, len(recs))
	for i, r := range recs {
		var err error
		if out[i], err = conv(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// field is one key/value of an output object, kept in order.
type field struct {
	key   string
	value any
}

// marshal encodes without HTML escaping, so words like ">" or "<eos>" stay
// readable in the files.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// writeObject writes one JSON object with fields in the given order.
func writeObject(w *bufio.Writer, fields []field) error {
	w.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			w.WriteString(", ")
		}
		k, err := marshal(f.key)
		if err != nil {
			return err
		}
		v, err := marshal(f.value)
		if err != nil {
			return fmt.Errorf("field %q: %w", f.key, err)
		}
		w.Write(k)
		w.WriteString(": ")
		w.Write(v)
	}
	w.WriteString("}\n")
	return nil
}

func writeRows[T any](path string, rows []T, fields func(T) []field) error {
	return WriteAtomic(path, func(out io.Writer) error {
		w := bufio.NewWriter(out)
		for i, r := range rows {
			if err := writeObject(w, fields(r)); err != nil {
				return fmt.Errorf("row %d: %w", i, err)
			}
		}
		return w.Flush()
	})
}

// WriteText writes {"text"} rows.
func WriteText(path string, rows []Text, k Keys) error {
	k = k.WithDefaults()
	return writeRows(path, rows, func(r Text) []field { return []field{{k.Text, r.Text}} })
}

// WritePrompts writes {"prompt"} rows.
func WritePrompts(path string, rows []PromptOnly, k Keys) error {
	k = k.WithDefaults()
	return writeRows(path, rows, func(r PromptOnly) []field { return []field{{k.Prompt, r.Prompt}} })
}

// WritePromptCompletions writes {"prompt","completion"} rows.
func WritePromptCompletions(path string, rows []PromptCompletion, k Keys) error {
	k = k.WithDefaults()
	return writeRows(path, rows, func(r PromptCompletion) []field {
		return []field{{k.Prompt, r.Prompt}, {k.Completion, r.Completion}}
	})
}

// WritePreferences writes {"prompt","chosen","rejected"} rows, with
// "score_chosen"/"score_rejected" when a row has scores.
func WritePreferences(path string, rows []Preference, k Keys) error {
	k = k.WithDefaults()
	return writeRows(path, rows, func(r Preference) []field {
		f := []field{{k.Prompt, r.Prompt}, {k.Chosen, r.Chosen}, {k.Rejected, r.Rejected}}
		if r.HasScores {
			f = append(f, field{k.ScoreChosen, r.ScoreChosen}, field{k.ScoreRejected, r.ScoreRejected})
		}
		return f
	})
}

// WriteAtomic writes path through a temporary file in the same directory,
// synced and renamed over path only after write succeeds. On any error the
// temporary file is removed and an existing path is left untouched.
func WriteAtomic(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, write); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

// Message is one turn of TRL's conversational format.
type Message struct{ Role, Content string }

// ConversationalPreference is a {"prompt": [...], "chosen": [...],
// "rejected": [...]} row.
type ConversationalPreference struct {
	File                     string
	Line                     int
	Prompt, Chosen, Rejected []Message
}

// Conversation is an SFT {"messages": [...]} row.
type Conversation struct {
	File     string
	Line     int
	Messages []Message
}

// knownRoles are the roles of TRL's conversational datasets.
var knownRoles = map[string]bool{"system": true, "user": true, "assistant": true, "tool": true}

// IsConversational reports whether field key holds a message list.
func (r Record) IsConversational(key string) bool {
	raw, ok := r.Fields[key]
	return ok && len(bytes.TrimSpace(raw)) > 0 && bytes.TrimSpace(raw)[0] == '['
}

// Messages returns a required message-list field, each message an object
// with a known "role" and a string "content"; errors name file:line and the
// element (prompt[2].role).
func (r Record) Messages(key string) ([]Message, error) {
	raw, ok := r.Fields[key]
	if !ok {
		return nil, &LineError{File: r.File, Line: r.Line, Field: key, Msg: "missing"}
	}
	var list []map[string]any
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, &LineError{File: r.File, Line: r.Line, Field: key, Msg: "want a list of {\"role\", \"content\"} messages"}
	}
	out := make([]Message, len(list))
	for i, m := range list {
		at := fmt.Sprintf("%s[%d]", key, i)
		role, ok := m["role"].(string)
		switch {
		case m["role"] == nil:
			return nil, &LineError{File: r.File, Line: r.Line, Field: at + ".role", Msg: "missing"}
		case !ok:
			return nil, &LineError{File: r.File, Line: r.Line, Field: at + ".role", Msg: "want a string, got " + jsonKind(m["role"])}
		case !knownRoles[role]:
			return nil, &LineError{File: r.File, Line: r.Line, Field: at + ".role", Msg: fmt.Sprintf("unknown role %q (want system, user, assistant or tool)", role)}
		}
		content, ok := m["content"].(string)
		if !ok {
			msg := "missing"
			if m["content"] != nil {
				msg = "want a string, got " + jsonKind(m["content"])
			}
			return nil, &LineError{File: r.File, Line: r.Line, Field: at + ".content", Msg: msg}
		}
		out[i] = Message{Role: role, Content: content}
	}
	return out, nil
}

// ReadConversationalPreferences reads {"prompt", "chosen", "rejected"} rows
// whose fields are message lists.
func ReadConversationalPreferences(path string, k Keys) ([]ConversationalPreference, error) {
	return readTyped(path, conversationalPreferenceOf(k))
}

// ReadAnyPreferences reads preference JSONL once, in TRL's standard format
// (std) or, when the first row's prompt is a message list, its conversational
// format (conv).
func ReadAnyPreferences(path string, k Keys) (std []Preference, conv []ConversationalPreference, err error) {
	recs, err := ReadRecords(path)
	if err != nil {
		return nil, nil, err
	}
	if recs[0].IsConversational(k.WithDefaults().Prompt) {
		conv, err = convertAll(recs, conversationalPreferenceOf(k))
		return nil, conv, err
	}
	std, err = convertAll(recs, preferenceOf(k))
	return std, nil, err
}

// conversationalPreferenceOf converts a record of message lists.
func conversationalPreferenceOf(k Keys) func(Record) (ConversationalPreference, error) {
	k = k.WithDefaults()
	return func(r Record) (ConversationalPreference, error) {
		row := ConversationalPreference{File: r.File, Line: r.Line}
		var err error
		if row.Prompt, err = r.Messages(k.Prompt); err != nil {
			return row, err
		}
		if row.Chosen, err = r.Messages(k.Chosen); err != nil {
			return row, err
		}
		row.Rejected, err = r.Messages(k.Rejected)
		return row, err
	}
}

// ReadConversations reads SFT {"messages": [...]} rows.
func ReadConversations(path string) ([]Conversation, error) {
	return readTyped(path, func(r Record) (Conversation, error) {
		m, err := r.Messages("messages")
		return Conversation{File: r.File, Line: r.Line, Messages: m}, err
	})
}
