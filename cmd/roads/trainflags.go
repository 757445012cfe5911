package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"roads/model"
	"strings"
)

// configFlagValue finds --config FILE (or -config, =FILE forms) in args
// before the flag set is parsed, so the file can supply defaults that
// explicit flags then override (TRL's precedence).
func configFlagValue(args []string) string {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// loadConfigFile decodes a JSON config into cfg (fields it names replace the
// defaults; unknown fields are an error naming the file).
func loadConfigFile(path string, cfg any) error {
	if path == "" {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")))) // a leading byte-order mark is not JSON
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	return nil
}

// addConfigFlags binds --config, every flag of the algorithm's config
// struct cfg (bindConfigFlags: TRL's TrainingArguments names and the
// algorithm's own, help text from the struct tags) and --max_params.
func addConfigFlags(fs *flag.FlagSet, cfg any, skip ...string) {
	fs.String("config", "", "JSON file with any of these settings (flags given explicitly win)")
	bindConfigFlags(fs, cfg, skip...)
	fs.Int64Var(&model.MaxParams, "max_params", model.MaxParams, "refuse a model (new or loaded) with more parameters than this, before allocating it")
}

// newModelArch is the architecture of a model built from scratch (sft, rm
// without --model). The default family is Hugging Face GPT-2, so what roads
// sft writes opens in transformers; gpt_neox builds a Pythia-style model and
// roads-gpt the architecture of roads' experiments (a bias on the LM head).
type newModelArch struct {
	ModelType         string  `json:"model_type"`
	DModel            int     `json:"d_model"`
	NLayer            int     `json:"n_layer"`
	NHead             int     `json:"n_head"`
	TieWordEmbeddings bool    `json:"tie_word_embeddings,omitempty"`
	RotaryPct         float64 `json:"rotary_pct,omitempty"`
}

func defaultNewModelArch() newModelArch {
	return newModelArch{ModelType: model.TypeGPT2, DModel: 64, NLayer: 2, NHead: 4, RotaryPct: 0.25}
}

func (a *newModelArch) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.ModelType, "model_type", a.ModelType, "family of a new model: gpt2, gpt_neox (Pythia: rotary, parallel residual, exact GELU) or roads-gpt (learned positions, biased LM head)")
	fs.IntVar(&a.DModel, "d_model", a.DModel, "width of a new model")
	fs.IntVar(&a.NLayer, "n_layer", a.NLayer, "layers of a new model")
	fs.IntVar(&a.NHead, "n_head", a.NHead, "attention heads of a new model")
	fs.BoolVar(&a.TieWordEmbeddings, "tie_word_embeddings", a.TieWordEmbeddings, "a new model's LM head is the transposed token embedding")
	fs.Float64Var(&a.RotaryPct, "rotary_pct", a.RotaryPct, "gpt_neox: fraction of each head's channels with rotary embeddings")
}

// config is the new model's configuration for a vocabulary and context.
func (a newModelArch) config(tk interface {
	VocabSize() int
	EOS() int32
	PAD() int32
}, positions int) (model.Config, error) {
	mc := model.NewConfig(tk.VocabSize(), positions, a.DModel, a.NLayer, a.NHead)
	mc.EOSTokenID, mc.PadTokenID = int(tk.EOS()), int(tk.PAD())
	mc.ModelType, mc.TieWordEmbeddings = a.ModelType, a.TieWordEmbeddings
	switch a.ModelType {
	case model.ModelType:
	case model.TypeGPT2:
		mc.HeadBias = false
	case model.TypeGPTNeoX:
		mc.HeadBias, mc.Activation, mc.RotaryPct, mc.UseParallelResidual = false, "gelu", a.RotaryPct, true
	default:
		return model.Config{}, fmt.Errorf("--model_type %q: want gpt2, gpt_neox or %s", a.ModelType, model.ModelType)
	}
	return mc, mc.Validate()
}
