// Package ckpt stores model weights, optimizer state and trainer state as a Hugging Face-style directory:
// config.json, model.safetensors, optimizer.safetensors, trainer_state.json and tokenizer.json, with
// checkpoints in output_dir/checkpoint-N like the HF Trainer. Every write is atomic (temp file or temp
// directory, fsync, rename), so an interrupted save never replaces or corrupts an earlier result.
//
// This file is the safetensors codec. The format (https://github.com/huggingface/safetensors):
//
//	[8 bytes]  N, little-endian uint64: length of the JSON header
//	[N bytes]  UTF-8 JSON: {"__metadata__": {string: string}, name: {"dtype", "shape", "data_offsets": [start, end]}, ...}
//	[rest]     the byte buffer; offsets are relative to its start; tensors are row-major, little-endian
//
// The writer reproduces the Rust crate's canonical layout byte for byte: tensors ordered by descending dtype
// alignment rank and then by name, packed without gaps in that order, the header listing __metadata__ first
// (keys sorted; the crate leaves them in hash order) and then the tensors in buffer order, compact JSON,
// padded with spaces to a multiple of 8 bytes so that every tensor starts 8-byte aligned.
package ckpt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxHeaderSize bounds the JSON header, as the Rust crate does (100 MB), so a corrupt length prefix cannot
// make the reader allocate or scan gigabytes.
const MaxHeaderSize = 100_000_000

// DType names an element type exactly as it is spelled in the header.
type DType string

// Element types. The order of dtypeRank is the Rust crate's Dtype enum order (increasing alignment); the
// writer sorts by descending rank.
const (
	BOOL   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	F8E5M2 DType = "F8_E5M2"
	F8E4M3 DType = "F8_E4M3"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
)

var dtypeRank = map[DType]int{BOOL: 0, U8: 1, I8: 2, F8E5M2: 3, F8E4M3: 4, I16: 5, U16: 6, F16: 7, BF16: 8,
	I32: 9, U32: 10, F32: 11, F64: 12, I64: 13, U64: 14}

// Size is the number of bytes per element, or 0 for a dtype this package does not know.
func (d DType) Size() int {
	switch d {
	case BOOL, U8, I8, F8E5M2, F8E4M3:
		return 1
	case I16, U16, F16, BF16:
		return 2
	case I32, U32, F32:
		return 4
	case F64, I64, U64:
		return 8
	}
	return 0
}

// Tensor is one named tensor as stored in a safetensors file: Raw holds the row-major little-endian element
// bytes. Tensors returned by Decode alias the decoded buffer.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Raw   []byte
}

// NewF32 encodes float32 values as an F32 tensor (copying them).
func NewF32(name string, shape []int, data []float32) Tensor {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DType: F32, Shape: slices.Clone(shape), Raw: raw}
}

// NewI64 encodes int64 values as an I64 tensor (copying them).
func NewI64(name string, shape []int, data []int64) Tensor {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return Tensor{Name: name, DType: I64, Shape: slices.Clone(shape), Raw: raw}
}

// Numel is the number of elements, the product of Shape (1 for a scalar, shape []).
func (t Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32s decodes the elements as float32; F16 and BF16 widen exactly.
func (t Tensor) Float32s() ([]float32, error) {
	out := make([]float32, len(t.Raw)/max(t.DType.Size(), 1))
	if err := t.decodeFloat32sInto(out); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeFloat32sInto writes the elements into dst, which must have exactly len(Raw)/Size() elements.
func (t Tensor) decodeFloat32sInto(dst []float32) error {
	raw := t.Raw
	switch t.DType {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case BF16: // bfloat16 is the top half of a float32
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
	case F16:
		for i := range dst {
			dst[i] = float16ToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	default:
		return fmt.Errorf("tensor %q: dtype %s cannot be read as float32 (supported: F32, F16, BF16)", t.Name, t.DType)
	}
	return nil
}

// Int64s decodes the elements of an I64 tensor.
func (t Tensor) Int64s() ([]int64, error) {
	if t.DType != I64 {
		return nil, fmt.Errorf("tensor %q: dtype %s cannot be read as int64 (want I64)", t.Name, t.DType)
	}
	out := make([]int64, len(t.Raw)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(t.Raw[8*i:]))
	}
	return out, nil
}

// float16ToFloat32 widens an IEEE 754 binary16 value exactly (every half is a float32).
func float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN: keep the payload in the top mantissa bits
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0: // normal: rebias 15 -> 127
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	default: // subnormal half: mant * 2^-24, a normal float32 (exact: mant < 2^10)
		v := float32(mant) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
}

// File is the decoded content of a safetensors file: tensors in buffer order, and the __metadata__ map
// (nil when the header has none).
type File struct {
	Tensors  []Tensor
	Metadata map[string]string
}

// Tensor returns the tensor with the given name.
func (f *File) Tensor(name string) (Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// FormatError reports an invalid safetensors file, naming the file and, where one is at fault, the tensor.
type FormatError struct {
	File   string // path or other label of the source
	Tensor string // offending tensor, "" when the fault is not in one tensor
	Msg    string
}

func (e *FormatError) Error() string {
	if e.Tensor != "" {
		return fmt.Sprintf("safetensors %s: tensor %q: %s", e.File, e.Tensor, e.Msg)
	}
	return fmt.Sprintf("safetensors %s: %s", e.File, e.Msg)
}

// headerEntry is one tensor's header record; pointers tell a missing field from a zero one.
type headerEntry struct {
	DType       *DType `json:"dtype"`
	Shape       *[]int `json:"shape"`
	DataOffsets *[]int `json:"data_offsets"`
}

// Decode parses and validates a whole safetensors file held in data; source names it in errors. The
// returned tensors alias data.
func Decode(data []byte, source string) (*File, error) {
	fail := func(tensor, format string, args ...any) (*File, error) {
		return nil, &FormatError{File: source, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) < 8 {
		return fail("", "file is %d bytes, shorter than the 8-byte header length prefix (truncated?)", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return fail("", "header length %d exceeds the %d-byte limit (corrupt length prefix?)", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return fail("", "header length %d exceeds the %d bytes after the prefix (truncated file?)", n, len(data)-8)
	}
	header, buffer := data[8:8+n], data[8+n:]
	if !utf8.Valid(header) {
		return fail("", "header is not valid UTF-8")
	}

	// Walk the top-level object token by token: encoding/json would silently keep the last of two
	// duplicate names.
	dec := json.NewDecoder(bytes.NewReader(header))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fail("", "header is not a JSON object (invalid JSON at byte %d)", dec.InputOffset())
	}
	f := &File{}
	type placed struct {
		tensor     Tensor
		start, end int
	}
	var entries []placed
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail("", "invalid JSON header: %v", err)
		}
		name := tok.(string) // object keys are always strings
		if seen[name] {
			return fail(name, "duplicate name in header")
		}
		seen[name] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return fail(name, "invalid JSON header: %v", err)
		}
		if name == "__metadata__" {
			if err := json.Unmarshal(value, &f.Metadata); err != nil || f.Metadata == nil {
				return fail("", "__metadata__ must be an object of string to string: %s", truncate(value, 64))
			}
			continue
		}
		var e headerEntry
		vdec := json.NewDecoder(bytes.NewReader(value))
		vdec.DisallowUnknownFields()
		if err := vdec.Decode(&e); err != nil {
			return fail(name, "invalid header entry %s: %v", truncate(value, 64), err)
		}
		if e.DType == nil || e.Shape == nil || e.DataOffsets == nil {
			return fail(name, "header entry %s lacks one of dtype, shape, data_offsets", truncate(value, 64))
		}
		size := e.DType.Size()
		if size == 0 {
			return fail(name, "unknown dtype %q", *e.DType)
		}
		numel := 1
		for _, d := range *e.Shape {
			if d < 0 {
				return fail(name, "negative dimension in shape %v", *e.Shape)
			}
			if d != 0 && numel > math.MaxInt/8/d {
				return fail(name, "shape %v overflows", *e.Shape)
			}
			numel *= d
		}
		offs := *e.DataOffsets
		if len(offs) != 2 || offs[0] < 0 || offs[1] < offs[0] {
			return fail(name, "data_offsets %v must be [start, end] with 0 <= start <= end", offs)
		}
		if offs[1] > len(buffer) {
			return fail(name, "data_offsets %v out of range: the byte buffer holds %d bytes (truncated file?)", offs, len(buffer))
		}
		if nbytes := offs[1] - offs[0]; nbytes != numel*size {
			return fail(name, "data_offsets %v hold %d bytes but shape %v of %s needs %d", offs, nbytes, *e.Shape, *e.DType, numel*size)
		}
		t := Tensor{Name: name, DType: *e.DType, Shape: *e.Shape, Raw: buffer[offs[0]:offs[1]:offs[1]]}
		entries = append(entries, placed{t, offs[0], offs[1]})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fail("", "invalid JSON header: %v", err)
	}
	if rest := bytes.TrimLeft(header[dec.InputOffset():], " \t\r\n"); len(rest) != 0 {
		return fail("", "unexpected bytes after the JSON header: %q", truncate(rest, 32))
	}

	// The tensors must tile the buffer exactly: sorted by offset, each starts where the previous ended.
	slices.SortStableFunc(entries, func(a, b placed) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return a.end - b.end
	})
	end, prev := 0, ""
	for _, p := range entries {
		if p.start > end {
			return fail(p.tensor.Name, "data_offsets [%d,%d] leave a hole: bytes [%d,%d) belong to no tensor", p.start, p.end, end, p.start)
		}
		if p.start < end {
			return fail(p.tensor.Name, "data_offsets [%d,%d] overlap tensor %q ending at %d", p.start, p.end, prev, end)
		}
		end, prev = p.end, p.tensor.Name
		f.Tensors = append(f.Tensors, p.tensor)
	}
	if end != len(buffer) {
		return fail("", "%d trailing bytes after the last tensor (buffer holds %d, tensors cover %d)", len(buffer)-end, len(buffer), end)
	}
	return f, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// Encode writes tensors and metadata (nil for none) in the canonical layout described in the package doc.
func Encode(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	order := make([]Tensor, len(tensors))
	copy(order, tensors)
	slices.SortFunc(order, func(a, b Tensor) int {
		if c := dtypeRank[b.DType] - dtypeRank[a.DType]; c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})

	var h bytes.Buffer
	h.WriteByte('{')
	if metadata != nil {
		h.WriteString(`"__metadata__":{`)
		for i, k := range slices.Sorted(mapKeys(metadata)) {
			if i > 0 {
				h.WriteByte(',')
			}
			writeJSONString(&h, k)
			h.WriteByte(':')
			writeJSONString(&h, metadata[k])
		}
		h.WriteByte('}')
	}
	offset := 0
	for i, t := range order {
		switch {
		case t.Name == "__metadata__":
			return fmt.Errorf("tensor name %q is reserved for the metadata map", t.Name)
		case !utf8.ValidString(t.Name):
			return fmt.Errorf("tensor name %q is not valid UTF-8", t.Name)
		case i > 0 && order[i-1].Name == t.Name:
			return fmt.Errorf("tensor %q: duplicate name", t.Name)
		case t.DType.Size() == 0:
			return fmt.Errorf("tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		numel := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
			numel *= d
		}
		if len(t.Raw) != numel*t.DType.Size() {
			return fmt.Errorf("tensor %q: %d bytes of data but shape %v of %s needs %d", t.Name, len(t.Raw), t.Shape, t.DType, numel*t.DType.Size())
		}
		if metadata != nil || i > 0 {
			h.WriteByte(',')
		}
		writeJSONString(&h, t.Name)
		h.WriteString(`:{"dtype":`)
		writeJSONString(&h, string(t.DType))
		h.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, offset, offset+len(t.Raw))
		offset += len(t.Raw)
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 { // pad so the buffer, and every tensor in it, starts 8-byte aligned
		h.WriteByte(' ')
	}

	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(h.Len()))
	if _, err := w.Write(prefix[:]); err != nil {
		return err
	}
	if _, err := w.Write(h.Bytes()); err != nil {
		return err
	}
	for _, t := range order {
		if _, err := w.Write(t.Raw); err != nil {
			return err
		}
	}
	return nil
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// writeJSONString escapes s the way serde_json does (short escapes for \b \f \n \r \t, \u00xx for other
// control characters, everything else verbatim), so our headers match the Rust writer's byte for byte;
// encoding/json would also escape <, >, & and U+2028/9.
func writeJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// ReadSafetensors reads and validates a safetensors file with a single read.
func ReadSafetensors(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read safetensors: %w", err)
	}
	return Decode(data, path)
}

// WriteSafetensors writes tensors and metadata (nil for none) to path atomically.
func WriteSafetensors(path string, tensors []Tensor, metadata map[string]string) error {
	return writeFileAtomic(path, func(w io.Writer) error { return Encode(w, tensors, metadata) })
}
