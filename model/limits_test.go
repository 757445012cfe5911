package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roads/tok"
)

// The closed-form parameter count equals the layout's for every head kind.
func TestConfigNumParams(t *testing.T) {
	for _, c := range []Config{
		NewConfig(11, 9, 8, 2, 2),
		func() Config { c := NewConfig(11, 9, 8, 3, 4); c.TieWordEmbeddings = true; return c }(),
		func() Config { c := NewConfig(11, 9, 8, 1, 2); c.Head = "scalar"; c.DFF = 12; return c }(),
		BenchConfig(256, 64),
	} {
		if got, want := c.NumParams(), int64(newLayout(c).total); got != want {
			t.Errorf("%s: NumParams %d, layout %d", c.shapeSummary(), got, want)
		}
	}
}

// Sizes past the documented maxima, or a parameter count past MaxParams, are
// refused by Validate (so by New and LoadDir) before any allocation.
func TestConfigSizeLimits(t *testing.T) {
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.DModel, c.NHead, c.DFF = 1<<20, 4, 4 }, "d_model 1048576 / d_ff 4: at most 65536"},
		{func(c *Config) { c.NLayer = 100000 }, "n_layer 100000: at most 1024"},
		{func(c *Config) { c.NPositions = 10000003 }, "n_positions 10000003: at most 1048576"},
		{func(c *Config) { c.VocabSize = 1 << 23 }, "vocab_size 8388608: at most 4194304"},
		{func(c *Config) { c.DModel, c.DFF, c.NLayer = 8192, 32768, 64 }, "exceed the limit of 2147483648; --max_params raises it"},
	} {
		cfg := NewConfig(11, 9, 8, 2, 2)
		c.edit(&cfg)
		if _, err := New(cfg, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: %v, want %q", err, c.want)
		}
	}
	old := MaxParams
	MaxParams = 100
	defer func() { MaxParams = old }()
	if _, err := New(NewConfig(11, 9, 8, 2, 2), 1); err == nil || !strings.Contains(err.Error(), "exceed the limit of 100") {
		t.Errorf("MaxParams 100: %v", err)
	}
}

// A config.json whose sizes disagree with the safetensors it sits next to is
// an error naming the tensor and both shapes, raised before the model is
// allocated; a config too large to allocate fails earlier, on MaxParams.
func TestLoadDirChecksConfigAgainstHeader(t *testing.T) {
	dir := t.TempDir()
	m, err := New(NewConfig(11, 9, 16, 1, 2), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveDir(dir, m, tok.Bytes{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.json")
	raw, _ := os.ReadFile(path)
	var cfg map[string]any
	json.Unmarshal(raw, &cfg)
	cfg["d_model"], cfg["d_ff"] = 32, 128
	cfg["n_head"] = 2
	raw, _ = json.Marshal(cfg)
	os.WriteFile(path, raw, 0o644)
	_, _, err = LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), `tensor "wte.weight" has shape [11 16] but config.json (vocab_size 11, n_positions 9, d_model 32, d_ff 128, n_layer 1, head lm) implies [11 32]`) {
		t.Fatalf("mismatched config: %v", err)
	}
	cfg["d_model"], cfg["d_ff"] = 1<<16, 1<<16
	raw, _ = json.Marshal(cfg)
	os.WriteFile(path, raw, 0o644)
	if _, _, err = LoadDir(dir); err == nil || !strings.Contains(err.Error(), "exceed the limit of 2147483648") {
		t.Fatalf("huge config: %v", err)
	}
}

// A NaN inside a model's weights is caught at load, naming the tensor and
// the index.
func TestLoadDirRefusesNonFiniteWeights(t *testing.T) {
	dir := t.TempDir()
	m, err := New(NewConfig(11, 9, 16, 1, 2), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		if p.Name == "h.0.mlp.fc_in.weight" {
			p.Data[7] = float32(math.NaN())
		}
	}
	if err := SaveDir(dir, m, tok.Bytes{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), `tensor "h.0.mlp.fc_in.weight" holds a non-finite value (NaN) at flat index 7`) {
		t.Fatalf("NaN weight: %v", err)
	}
}
