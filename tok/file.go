package tok

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LoadFile reads a tokenizer.json given as a file (gzipped when its name ends
// in .gz) or as a directory holding one, with the tokenizer_config.json
// beside it when present.
func LoadFile(path string) (Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		path = filepath.Join(path, "tokenizer.json")
	}
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a leading byte-order mark is not JSON
	if !json.Valid(data) {
		return nil, fmt.Errorf("%s: not JSON (truncated or not a tokenizer.json)", path)
	}
	tk, err := Unmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := ApplyConfigIn(tk, filepath.Dir(path)); err != nil {
		return nil, err
	}
	return tk, nil
}

// ReadFile reads a file, gunzipping it when its name ends in .gz.
func ReadFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil || !strings.HasSuffix(path, ".gz") {
		return data, err
	}
	z, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if data, err = io.ReadAll(z); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// BenchEncode times tk's encoding of ≥ 1 MiB of text: the "text" fields of
// the JSONL corpus (gzipped when it ends in .gz), joined by spaces and
// doubled until long enough (bench/tokenize_node.mjs builds the same text).
// It returns the best tokens/s of three passes after a warm-up pass (the
// reference caches pieces too) and the token count.
func BenchEncode(tk Tokenizer, corpusPath string) (float64, int, error) {
	raw, err := ReadFile(corpusPath)
	if err != nil {
		return 0, 0, err
	}
	var b strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		var row struct{ Text string }
		if json.Unmarshal([]byte(line), &row) == nil {
			b.WriteString(row.Text)
			b.WriteString(" ")
		}
	}
	text := b.String()
	if strings.TrimSpace(text) == "" {
		return 0, 0, fmt.Errorf("%s: no \"text\" fields", corpusPath)
	}
	for len(text) < 1<<20 {
		text += text
	}
	ids, err := tk.Encode(text)
	if err != nil {
		return 0, 0, err
	}
	best := 0.0
	for range 3 {
		start := time.Now()
		ids, _ = tk.Encode(text)
		best = max(best, float64(len(ids))/time.Since(start).Seconds())
	}
	return best, len(ids), nil
}
