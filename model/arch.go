package model

import "fmt"

// Arch is the family and shape of a model built from scratch: `roads sft`
// and `roads rm` without --model, and the experiments' "policy_model" and
// "rm_model". The default family is Hugging Face GPT-2, so every directory
// such a model is saved to opens in transformers (GPT2LMHeadModel,
// GPT2ForSequenceClassification); gpt_neox builds a Pythia-style model; the
// roads-gpt family (learned positions, a bias on the LM head, which no HF
// class has) is kept for the directories written before 2026-12-03.
type Arch struct {
	ModelType         string  `json:"model_type" help:"family of a new model: gpt2, gpt_neox (Pythia: rotary, parallel residual, exact GELU) or roads-gpt (learned positions, biased LM head; not loadable by transformers)"`
	DModel            int     `json:"d_model" help:"width of a new model"`
	NLayer            int     `json:"n_layer" help:"layers of a new model"`
	NHead             int     `json:"n_head" help:"attention heads of a new model"`
	TieWordEmbeddings bool    `json:"tie_word_embeddings,omitempty" help:"a new model's LM head is the transposed token embedding"`
	RotaryPct         float64 `json:"rotary_pct,omitempty" help:"gpt_neox: fraction of each head's channels with rotary embeddings (0: Pythia's 0.25)"`
}

// DefaultRotaryPct is Pythia's rotary_pct, used by a gpt_neox Arch that
// leaves it 0.
const DefaultRotaryPct = 0.25

// Resolved returns a with its defaults filled in (model_type gpt2; a gpt_neox
// rotary_pct of 0 becomes DefaultRotaryPct, and other families' is dropped),
// so that two spellings of the same architecture compare and hash equal.
func (a Arch) Resolved() Arch {
	if a.ModelType == "" {
		a.ModelType = TypeGPT2
	}
	switch {
	case a.ModelType != TypeGPTNeoX:
		a.RotaryPct = 0
	case a.RotaryPct == 0:
		a.RotaryPct = DefaultRotaryPct
	}
	return a
}

// Config is the language-model config of a for a vocabulary, a context and
// the EOS and PAD ids (-1: none), validated.
func (a Arch) Config(vocab, positions, eos, pad int) (Config, error) {
	a = a.Resolved()
	c := NewConfig(vocab, positions, a.DModel, a.NLayer, a.NHead)
	c.EOSTokenID, c.PadTokenID = eos, pad
	c.ModelType, c.TieWordEmbeddings = a.ModelType, a.TieWordEmbeddings
	switch a.ModelType {
	case ModelType:
	case TypeGPT2:
		c.HeadBias = false
	case TypeGPTNeoX:
		c.HeadBias, c.Activation, c.RotaryPct, c.UseParallelResidual = false, "gelu", a.RotaryPct, true
	default:
		return Config{}, fmt.Errorf("model_type %q: want %s, %s or %s", a.ModelType, TypeGPT2, TypeGPTNeoX, ModelType)
	}
	return c, c.Validate()
}
