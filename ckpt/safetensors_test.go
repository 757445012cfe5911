package ckpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// file assembles a safetensors file from a header string and a byte buffer, padding nothing.
func file(header string, buffer []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, buffer...)
}

func f32Bytes(vals ...float32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func encode(t *testing.T, tensors []Tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, tensors, meta); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The expected bytes are the Rust crate's own serialization tests (safetensors/src/tensor.rs:
// test_serialization, test_serialization_forced_alignement, test_empty), spelled as header text.
func TestEncodeMatchesRustCrate(t *testing.T) {
	data := []float32{0, 1, 2, 3, 4, 5}
	cases := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		header  string
		buffer  []byte
	}{
		{"attn.0 (64-byte header, no padding)", []Tensor{NewF32("attn.0", []int{1, 2, 3}, data)}, nil,
			`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`, f32Bytes(data...)},
		{"attn0 (padded to 72)", []Tensor{NewF32("attn0", []int{1, 1, 2, 3}, data)}, nil,
			`{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       `, f32Bytes(data...)},
		{"empty", nil, nil, `{}      `, nil},
		{"metadata only", nil, map[string]string{"framework": "pt"}, `{"__metadata__":{"framework":"pt"}}     `, nil},
	}
	for _, c := range cases {
		got := encode(t, c.tensors, c.meta)
		if want := file(c.header, c.buffer); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, want)
		}
	}
}

// sample is a canonical file's worth of tensors exercising every writer path: several dtypes (sorted I64
// before F32), a scalar, a zero-sized tensor, names that need JSON escapes or sort by bytes.
func sample() ([]Tensor, map[string]string) {
	return []Tensor{
		NewF32("transformer.h.1.mlp.c_fc.weight", []int{2, 3}, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, float32(math.Copysign(0, -1))}),
		NewF32("transformer.h.0.attn.c_attn.weight", []int{3}, []float32{0.1, 0.2, 0.3}),
		NewF32("empty", []int{0, 4}, nil),
		NewF32("scalar", []int{}, []float32{42}),
		NewF32("quote\"back\\slash\nnl\x01<&>é", []int{1}, []float32{float32(math.NaN())}),
		NewI64("step", []int{}, []int64{-7}),
		NewI64("Zcounts", []int{2}, []int64{1 << 40, 3}),
	}, map[string]string{"format": "pt", "a<b>": "x&y\ttab", "zeta": ""}
}

func TestRoundTripByteIdentical(t *testing.T) {
	tensors, meta := sample()
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := WriteSafetensors(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	f, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	first := encode(t, tensors, meta)
	if again := encode(t, f.Tensors, f.Metadata); !bytes.Equal(first, again) {
		t.Fatalf("load -> save changed the bytes:\n%q\n%q", first, again)
	}
	// The decoded tensors are the written ones, in canonical order: I64 (higher alignment rank) first.
	var names []string
	for _, x := range f.Tensors {
		names = append(names, x.Name)
	}
	want := []string{"Zcounts", "step", "empty", "quote\"back\\slash\nnl\x01<&>é", "scalar",
		"transformer.h.0.attn.c_attn.weight", "transformer.h.1.mlp.c_fc.weight"}
	if !slices.Equal(names, want) {
		t.Fatalf("order %q, want %q", names, want)
	}
	got, _ := f.Tensor("transformer.h.1.mlp.c_fc.weight")
	vals, err := got.Float32s()
	if err != nil || !slices.Equal(got.Shape, []int{2, 3}) || vals[2] != 3.5 || !math.IsInf(float64(vals[3]), 1) || !math.Signbit(float64(vals[5])) {
		t.Fatalf("values %v shape %v err %v", vals, got.Shape, err)
	}
	counts, _ := f.Tensor("Zcounts")
	if iv, err := counts.Int64s(); err != nil || !slices.Equal(iv, []int64{1 << 40, 3}) {
		t.Fatalf("int64 %v %v", iv, err)
	}
	// Every tensor starts 8-byte aligned in the file because the header is padded.
	if n := binary.LittleEndian.Uint64(first); n%8 != 0 {
		t.Fatalf("header length %d not a multiple of 8", n)
	}
}

// A valid file in a layout our writer would never produce (pretty JSON, metadata last, buffer order unlike
// name order, unpadded header, F16/BF16 data) decodes to the same content; re-encoding gives the canonical
// layout, which is then a fixed point. So load -> save is byte-identical exactly for canonical files, and
// preserves names, dtypes, shapes, element bytes and metadata for every valid file.
func TestRoundTripNonCanonicalLayout(t *testing.T) {
	half := []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c} // F16: 1, -2, 2^-24, +Inf
	bf := []byte{0x80, 0x3f, 0x40, 0xc0}                           // BF16: 1, -3
	buffer := append(append(f32Bytes(2.5), half...), bf...)
	header := `{
  "z": {"data_offsets": [0, 4], "shape": [], "dtype": "F32"},
  "b": {"dtype": "BF16", "shape": [2], "data_offsets": [12, 16]},
  "a": {"dtype": "F16", "shape": [2, 2], "data_offsets": [4, 12]},
  "__metadata__": {"k": "v"}
}`
	input := file(header, buffer)
	f, err := Decode(input, "hand.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := f.Tensor("a")
	if v, _ := a.Float32s(); !slices.Equal(v, []float32{1, -2, 1.0 / (1 << 24), float32(math.Inf(1))}) {
		t.Fatalf("F16 values %v", v)
	}
	b, _ := f.Tensor("b")
	if v, _ := b.Float32s(); !slices.Equal(v, []float32{1, -3}) {
		t.Fatalf("BF16 values %v", v)
	}
	canonical := encode(t, f.Tensors, f.Metadata)
	if bytes.Equal(canonical, input) {
		t.Fatal("the hand-made layout should differ from the canonical one")
	}
	wantHeader := `{"__metadata__":{"k":"v"},"z":{"dtype":"F32","shape":[],"data_offsets":[0,4]},` +
		`"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},"a":{"dtype":"F16","shape":[2,2],"data_offsets":[8,16]}}`
	wantHeader += strings.Repeat(" ", (8-len(wantHeader)%8)%8)
	if want := file(wantHeader, append(append(f32Bytes(2.5), bf...), half...)); !bytes.Equal(canonical, want) {
		t.Fatalf("canonical form\n got %q\nwant %q", canonical, want)
	}
	g, err := Decode(canonical, "canonical")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range f.Tensors {
		y, ok := g.Tensor(x.Name)
		if !ok || x.DType != y.DType || !slices.Equal(x.Shape, y.Shape) || !bytes.Equal(x.Raw, y.Raw) {
			t.Fatalf("tensor %q changed: %+v vs %+v", x.Name, x, y)
		}
	}
	if again := encode(t, g.Tensors, g.Metadata); !bytes.Equal(again, canonical) {
		t.Fatal("canonical form is not a fixed point")
	}
}

// Every binary16 value widens to the float32 the definition gives: (-1)^s 2^(e-15) (1 + m/1024) for normal
// numbers, (-1)^s 2^-14 (m/1024) for subnormal ones.
func TestFloat16AllValues(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		s, e, m := h>>15, (h>>10)&0x1f, h&0x3ff
		got := float16ToFloat32(uint16(h))
		var want float64
		switch {
		case e == 0x1f && m != 0:
			if !math.IsNaN(float64(got)) {
				t.Fatalf("%#04x: got %v, want NaN", h, got)
			}
			continue
		case e == 0x1f:
			want = math.Inf(1)
		case e == 0:
			want = math.Ldexp(float64(m)/1024, -14)
		default:
			want = math.Ldexp(1+float64(m)/1024, e-15)
		}
		if s == 1 {
			want = -want
		}
		if got != float32(want) || math.Signbit(float64(got)) != (s == 1) {
			t.Fatalf("%#04x: got %v, want %v", h, got, want)
		}
	}
}

func TestDecodeRejectsCorruptFiles(t *testing.T) {
	eight := make([]byte, 8)
	hugeLen := binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1)
	cases := []struct {
		name, tensor, want string
		data               []byte
	}{
		{"shorter than prefix", "", "file is 5 bytes, shorter than the 8-byte header length prefix", []byte{1, 2, 3, 4, 5}},
		{"header over limit", "", "header length 100000001 exceeds the 100000000-byte limit", append(hugeLen, '{', '}')},
		{"header past end", "", "header length 50 exceeds the 2 bytes after the prefix (truncated file?)",
			append(binary.LittleEndian.AppendUint64(nil, 50), '{', '}')},
		{"invalid utf-8", "", "header is not valid UTF-8", file("{\"\xff\":1}", nil)},
		{"not an object", "", "header is not a JSON object", file(`[1,2]`, nil)},
		{"invalid json", "", "invalid JSON header", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},}`, eight)},
		{"unterminated json", "a", "invalid JSON header", file(`{"a":{"dtype":"F32"`, eight)},
		{"bytes after json", "", "unexpected bytes after the JSON header", file(`{} x`, nil)},
		{"unknown dtype", "w", `unknown dtype "F17"`, file(`{"w":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}}`, eight)},
		{"negative dim", "w", "negative dimension in shape [-2 -1]", file(`{"w":{"dtype":"F32","shape":[-2,-1],"data_offsets":[0,8]}}`, eight)},
		{"fractional dim", "w", "invalid header entry", file(`{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}`, eight)},
		{"shape overflow", "w", "overflows", file(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight)},
		{"missing field", "w", "lacks one of dtype, shape, data_offsets", file(`{"w":{"dtype":"F32","shape":[2]}}`, eight)},
		{"unknown field", "w", `unknown field "offsets"`, file(`{"w":{"dtype":"F32","shape":[2],"offsets":[0,8]}}`, eight)},
		{"offsets arity", "w", "data_offsets [0] must be [start, end]", file(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`, eight)},
		{"offsets reversed", "w", "data_offsets [8 0] must be [start, end] with 0 <= start <= end", file(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, eight)},
		{"offsets past buffer", "w", "data_offsets [0 16] out of range: the byte buffer holds 8 bytes (truncated file?)",
			file(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, eight)},
		{"length vs shape", "w", "data_offsets [0 8] hold 8 bytes but shape [3] of F32 needs 12", file(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight)},
		{"duplicate name", "w", "duplicate name in header",
			file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight)},
		{"overlap", "b", `data_offsets [4,8] overlap tensor "a" ending at 8`,
			file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight)},
		{"hole", "b", "data_offsets [8,12] leave a hole: bytes [4,8) belong to no tensor",
			file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12))},
		{"hole at start", "a", "leave a hole: bytes [0,4)", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight)},
		{"trailing bytes", "", "4 trailing bytes after the last tensor (buffer holds 12, tensors cover 8)",
			file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 12))},
		{"bad metadata", "", "__metadata__ must be an object of string to string", file(`{"__metadata__":{"n":1}}`, nil)},
		{"null metadata", "", "__metadata__ must be an object of string to string", file(`{"__metadata__":null}`, nil)},
	}
	for _, c := range cases {
		_, err := Decode(c.data, "bad.safetensors")
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a *FormatError", c.name, err)
			continue
		}
		if fe.File != "bad.safetensors" || fe.Tensor != c.tensor || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %q (tensor %q), want tensor %q and %q", c.name, err, fe.Tensor, c.tensor, c.want)
		}
	}
	// The error text names the file and tensor.
	_, err := Decode(file(`{"w":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}}`, eight), "x/model.safetensors")
	if want := `safetensors x/model.safetensors: tensor "w": unknown dtype "F17"`; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestEncodeRejectsBadTensors(t *testing.T) {
	cases := []struct {
		name    string
		tensors []Tensor
		want    string
	}{
		{"duplicate", []Tensor{NewF32("a", []int{1}, []float32{1}), NewF32("a", []int{1}, []float32{2})}, `tensor "a": duplicate name`},
		{"reserved", []Tensor{NewF32("__metadata__", []int{1}, []float32{1})}, "reserved for the metadata map"},
		{"length", []Tensor{NewF32("a", []int{2}, []float32{1})}, `tensor "a": 4 bytes of data but shape [2] of F32 needs 8`},
		{"dtype", []Tensor{{Name: "a", DType: "F17", Shape: []int{1}, Raw: make([]byte, 4)}}, `unknown dtype "F17"`},
		{"negative", []Tensor{{Name: "a", DType: F32, Shape: []int{-1}}}, "negative dimension"},
		{"utf-8", []Tensor{NewF32("a\xff", []int{1}, []float32{1})}, "not valid UTF-8"},
	}
	for _, c := range cases {
		err := Encode(&bytes.Buffer{}, c.tensors, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// Every strict prefix of a valid file must be rejected (the length prefix fixes the header size and the
// offsets fix the buffer size), and no prefix or byte flip may panic.
func TestTruncatedAndFlippedNeverPanic(t *testing.T) {
	tensors, meta := sample()
	valid := encode(t, tensors, meta)
	for cut := 0; cut < len(valid); cut++ {
		if _, err := Decode(valid[:cut], "cut"); err == nil {
			t.Fatalf("prefix of %d of %d bytes was accepted", cut, len(valid))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		data := slices.Clone(valid)
		for range 1 + rng.IntN(3) {
			data[rng.IntN(len(data))] ^= byte(1 + rng.IntN(255))
		}
		if f, err := Decode(data, "flip"); err == nil {
			checkReencodes(t, f) // a flip that keeps the file valid must still round-trip
		}
	}
}

// checkReencodes asserts the guarantee of TestRoundTripNonCanonicalLayout for any decodable file.
func checkReencodes(t *testing.T, f *File) {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, f.Tensors, f.Metadata); err != nil {
		t.Fatalf("decoded file does not re-encode: %v", err)
	}
	g, err := Decode(buf.Bytes(), "re-encoded")
	if err != nil {
		t.Fatalf("re-encoded file does not decode: %v", err)
	}
	if len(g.Tensors) != len(f.Tensors) || len(g.Metadata) != len(f.Metadata) {
		t.Fatalf("re-encoding changed the content")
	}
	for _, x := range f.Tensors {
		y, ok := g.Tensor(x.Name)
		if !ok || x.DType != y.DType || !slices.Equal(x.Shape, y.Shape) || !bytes.Equal(x.Raw, y.Raw) {
			t.Fatalf("tensor %q changed on re-encoding", x.Name)
		}
	}
	for k, v := range f.Metadata {
		if g.Metadata[k] != v {
			t.Fatalf("metadata %q changed on re-encoding", k)
		}
	}
	var again bytes.Buffer
	if err := Encode(&again, g.Tensors, g.Metadata); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatalf("canonical encoding is not a fixed point (err %v)", err)
	}
}

func FuzzReadSafetensors(f *testing.F) {
	tensors, meta := sample()
	var buf bytes.Buffer
	if err := Encode(&buf, tensors, meta); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(file(`{}`, nil))
	f.Add(file(`{"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}`, make([]byte, 8)))
	f.Add(file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 8)))
	f.Add(file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}`, make([]byte, 8)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		if file, err := Decode(data, "fuzz"); err == nil {
			checkReencodes(t, file)
		}
	})
}

// BenchmarkLoadF32 measures decoding a 16 MB file of four F32 tensors into float32 buffers.
func BenchmarkLoadF32(b *testing.B) {
	var views []View
	for i := range 4 {
		views = append(views, View{fmt.Sprintf("w%d", i), []int{1024, 1024}, make([]float32, 1<<20)})
	}
	var buf bytes.Buffer
	if err := Encode(&buf, F32Tensors(views), nil); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		f, err := Decode(data, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if err := f.loadInto("bench", views, f.Tensors); err != nil {
			b.Fatal(err)
		}
	}
}
