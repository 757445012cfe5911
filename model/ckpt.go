package model

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"

	"roads/ckpt"
	"roads/tok"
)

// Views exposes the parameters as named tensors for the checkpoint code. The
// data alias the model: loading into a view loads the model.
func (m *Model) Views() []ckpt.View {
	ps := m.Params()
	vs := make([]ckpt.View, len(ps))
	for i, p := range ps {
		vs[i] = ckpt.View{Name: p.Name, Shape: p.Shape, Data: p.Data}
	}
	return vs
}

// SaveDir writes a model directory in the Hugging Face layout: config.json,
// model.safetensors and, when t is non-nil, tokenizer.json. The directory is
// replaced atomically: an earlier model there survives any failure.
func SaveDir(dir string, m *Model, t tok.Tokenizer) error {
	var tokJSON []byte
	if t != nil {
		var err error
		if tokJSON, err = tok.Marshal(t); err != nil {
			return fmt.Errorf("save model %s: %w", dir, err)
		}
	}
	if err := ckpt.SaveModel(dir, m.cfg.FileConfig(), m.FileViews(), tokJSON); err != nil {
		return fmt.Errorf("save model %s: %w", dir, err)
	}
	return nil
}

// LoadDir reads a model directory written by SaveDir (or a checkpoint-N
// directory): the config is validated, every tensor must match a parameter by
// name and shape, and the tokenizer is returned when tokenizer.json exists
// (nil otherwise). The model has gradient buffers; Freeze it for a reference.
func LoadDir(dir string) (*Model, tok.Tokenizer, error) {
	cfg, err := LoadConfig(filepath.Join(dir, ckpt.ConfigFile))
	if err != nil {
		return nil, nil, err
	}
	if cfg.isHF() {
		if cfg, err = applyGenerationConfig(dir, cfg); err != nil {
			return nil, nil, err
		}
	}
	weights := filepath.Join(dir, ckpt.ModelFile)
	var m *Model
	if cfg.isHF() {
		if m, err = loadHFWeights(dir, cfg); err != nil {
			return nil, nil, err
		}
	} else {
		// Check every tensor's shape in the safetensors header against what
		// config.json implies before allocating the model: a config that does not
		// match its weights fails here, naming the tensor, not in an allocation.
		f, err := ckpt.ReadSafetensors(weights)
		if err != nil {
			return nil, nil, err
		}
		for _, s := range newLayout(cfg).specs {
			t, ok := f.Tensor(s.name)
			if !ok {
				return nil, nil, fmt.Errorf("%s: missing tensor %q (config.json: %s)", weights, s.name, cfg.shapeSummary())
			}
			if !slices.Equal(t.Shape, s.shape) {
				return nil, nil, fmt.Errorf("%s: tensor %q has shape %v but config.json (%s) implies %v", weights, s.name, t.Shape, cfg.shapeSummary(), s.shape)
			}
		}
		m = newEmpty(cfg, true)
		if err := f.LoadInto(weights, m.Views()); err != nil {
			return nil, nil, err
		}
	}
	for _, p := range m.Params() { // a NaN weight would only show up later as NaN log-probs
		for i, v := range p.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, nil, fmt.Errorf("%s: tensor %q holds a non-finite value (%v) at flat index %d", weights, p.Name, v, i)
			}
		}
	}
	var t tok.Tokenizer
	if ok, err := fileExists(filepath.Join(dir, ckpt.TokenizerFile)); err != nil {
		return nil, nil, err
	} else if ok {
		if t, err = tok.Load(dir); err != nil {
			return nil, nil, err
		}
		// Training appends the tokenizer's EOS and sampling stops at the
		// config's: the two must be one token.
		if eos := m.cfg.EOSTokenID; eos >= 0 && t.EOS() >= 0 && int(t.EOS()) != eos {
			return nil, nil, fmt.Errorf("%s: config.json's eos_token_id %d is not the tokenizer's EOS token (id %d)", dir, eos, t.EOS())
		}
		if t.VocabSize() > m.cfg.VocabSize {
			return nil, nil, fmt.Errorf("%s: the tokenizer has %d ids, more than config.json's vocab_size %d", dir, t.VocabSize(), m.cfg.VocabSize)
		}
	}
	return m, t, nil
}
