package exp

// Parameters are plain JSON values (map[string]any, []any, float64, string,
// bool, nil) so that a cell's configuration has exactly one canonical byte
// form, and so that every hyper-parameter a method reads is visible in the
// record and in the cell ID. The helpers here merge overrides, address nested
// values by dotted path ("dpo.beta") and produce the canonical encoding.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strings"
)

// Params is a JSON object of hyper-parameters. Nested objects group the
// settings of one stage ("sft": {...}, "dpo": {...}).
type Params = map[string]any

// canonicalJSON encodes v with sorted object keys and no insignificant space.
// encoding/json already sorts map keys and prints float64 in the shortest
// form that round-trips, so equal values always give equal bytes.
func canonicalJSON(v any) ([]byte, error) {
	norm, err := normalize(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(norm)
}

// normalize turns any JSON-encodable value into plain JSON values
// (map[string]any, []any, float64, string, bool, nil) by a round trip, and
// rejects NaN and infinities, which JSON cannot hold.
func normalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// HashKey is the short hex SHA-256 of the canonical JSON of key: cell IDs and
// artefact keys are both made this way.
func HashKey(key any) (string, error) {
	b, err := canonicalJSON(key)
	if err != nil {
		return "", fmt.Errorf("hash key: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:IDLength], nil
}

// IDLength is the number of hex digits of a cell or artefact ID (64 bits).
const IDLength = 16

// deepCopy copies a plain JSON value.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}

func copyParams(p Params) Params {
	if p == nil {
		return Params{}
	}
	return deepCopy(p).(map[string]any)
}

// mergeInto applies overrides onto dst: objects merge key by key,
// recursively; any other value (numbers, strings, lists) replaces the old one.
// A key containing dots addresses a nested value ("dpo.beta": 0.1 is the same
// as "dpo": {"beta": 0.1}).
func mergeInto(dst Params, overrides Params) error {
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := deepCopy(overrides[k])
		if strings.Contains(k, ".") {
			if err := setPath(dst, k, v, true); err != nil {
				return err
			}
			continue
		}
		if src, ok := v.(map[string]any); ok {
			if old, ok := dst[k].(map[string]any); ok {
				if err := mergeInto(old, src); err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
				continue
			}
		}
		dst[k] = v
	}
	return nil
}

// setPath sets the value at a dotted path, creating intermediate objects.
// With merge, an object value is merged into an existing object.
func setPath(dst Params, path string, v any, merge bool) error {
	parts := strings.Split(path, ".")
	cur := dst
	for i, p := range parts[:len(parts)-1] {
		if p == "" {
			return fmt.Errorf("%q: empty path element", path)
		}
		next, ok := cur[p]
		if !ok || next == nil {
			m := map[string]any{}
			cur[p] = m
			cur = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%q: %s is a %s, not an object", path, strings.Join(parts[:i+1], "."), kindOf(next))
		}
		cur = m
	}
	last := parts[len(parts)-1]
	if last == "" {
		return fmt.Errorf("%q: empty path element", path)
	}
	if src, ok := v.(map[string]any); ok && merge {
		if old, ok := cur[last].(map[string]any); ok {
			return mergeInto(old, src)
		}
	}
	cur[last] = v
	return nil
}

// getPath returns the value at a dotted path.
func getPath(p Params, path string) (any, bool) {
	var cur any = p
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// kindOf names a JSON value's type for error messages.
func kindOf(v any) string {
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
		return "list"
	case map[string]any:
		return "object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// valueString renders an axis value for labels: strings bare, everything
// else as compact JSON.
func valueString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := canonicalJSON(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// ValueString renders an axis value the way tables and labels show it.
func ValueString(v any) string { return valueString(v) }

// SameValue reports whether two JSON values are equal (by canonical form).
func SameValue(a, b any) bool {
	x, err1 := canonicalJSON(a)
	y, err2 := canonicalJSON(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// asInt converts a JSON number to an int if it is integral.
func asInt(v any) (int64, bool) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// lineCol converts a byte offset in data into a 1-based line and column.
func lineCol(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line, col = 1, 1
	for _, c := range data[:offset] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// decodeStrict decodes JSON data into v, rejecting unknown fields and
// trailing data; errors name source and, where known, the line.
func decodeStrict(source string, data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))) // a leading byte-order mark is not JSON
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(source, data, err)
	}
	if dec.More() {
		line, _ := lineCol(data, dec.InputOffset())
		return fmt.Errorf("%s:%d: unexpected data after the JSON value", source, line)
	}
	return nil
}

// jsonError adds file:line to a JSON decoding error where the error carries
// an offset.
func jsonError(source string, data []byte, err error) error {
	var off int64 = -1
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		off = e.Offset
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		line, col := lineCol(data, int64(len(data)))
		return fmt.Errorf("%s:%d:%d: unexpected end of JSON input", source, line, col)
	}
	// An unknown field carries no offset: point at the field's first
	// occurrence as a key.
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		if loc := regexp.MustCompile(regexp.QuoteMeta(`"`+m[1]+`"`) + `\s*:`).FindIndex(data); loc != nil {
			off = int64(loc[0])
		}
	}
	if off >= 0 {
		line, col := lineCol(data, off)
		return fmt.Errorf("%s:%d:%d: %w", source, line, col, err)
	}
	return fmt.Errorf("%s: %w", source, err)
}

var unknownField = regexp.MustCompile(`unknown field "([^"]*)"`)
