// Package model is roads' causal transformer: a pre-LayerNorm decoder in three
// families, roads-gpt (learned positions and a biased LM head, the
// architecture of bench/torch_gpt.py and of roads' experiments), Hugging Face
// GPT-2 and GPT-NeoX/Pythia (rotary embeddings, parallel residual, exact
// GELU; hf.go reads and writes their directories), with a language-model head
// or a scalar (reward/value) head, explicit forward/backward passes over
// right-padded batches, and KV-cache sampling (Sample is the one sampler).
//
// The numerical kernels live in roads/engine; this package lays out the
// parameters, keeps the activations of one forward pass for its backward, and
// maps between batches of variable-length sequences and flat row buffers.
//
// A training step is Forward, a loss written against the Output (per-token
// log-probs and entropies, per-sequence sums, or scalar scores and readouts),
// then Backward / BackwardScalar with the loss's gradient on those outputs,
// which accumulates parameter gradients; engine.AdamW updates Params().
//
//	out, _ := m.Forward(model.Batch{Tokens: seqs, PromptLen: plens}, model.ForwardOptions{})
//	// SFT: mean NLL over the completion tokens
//	d := make([]float32, len(out.Mask))
//	for k, v := range out.Mask { d[k] = -v / float32(nTokens) }
//	m.ZeroGrad(); m.Backward(d, nil); opt.Step(lr)
//
// Generate samples with a KV cache and records log π of each sampled token,
// which a Forward on Generation.Batch(prompts) reproduces.
package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"roads/internal/atomicfile"
)

// ModelType is the value of Config.ModelType (config.json "model_type").
const ModelType = "roads-gpt"

// Config describes a model; it is saved as config.json next to the weights,
// in the spirit of Hugging Face configs (snake_case keys).
type Config struct {
	ModelType         string  `json:"model_type"`
	VocabSize         int     `json:"vocab_size"`
	NPositions        int     `json:"n_positions"` // longest sequence the position table covers
	DModel            int     `json:"d_model"`
	NLayer            int     `json:"n_layer"`
	NHead             int     `json:"n_head"`
	DFF               int     `json:"d_ff"` // MLP width, 4·d_model by default
	LayerNormEps      float64 `json:"layer_norm_eps"`
	TieWordEmbeddings bool    `json:"tie_word_embeddings"` // LM head = wteᵀ, no bias
	Head              string  `json:"head"`                // "lm" or "scalar"
	// ScalarReadout turns per-token scores into one value per sequence:
	// "last" (the score at the last non-pad token, as TRL/HF reward models),
	// "sum" or "mean" (over the response tokens).
	ScalarReadout string  `json:"scalar_readout"`
	InitStd       float64 `json:"init_std"`
	EOSTokenID    int     `json:"eos_token_id"` // -1: none
	PadTokenID    int     `json:"pad_token_id"` // -1: none
	// HeadBias gives the untied LM head and the scalar head a bias
	// (lm_head.bias, score.bias): roads-gpt's own models have one, Hugging
	// Face's GPT-2 and GPT-NeoX do not.
	HeadBias bool `json:"head_bias"`
	// Activation is the MLP's GELU: "gelu_new" (the tanh approximation of
	// GPT-2 and roads-gpt) or "gelu" (the exact x·Φ(x) of GPT-NeoX/Pythia).
	Activation string `json:"activation_function"`
	// GPT-NeoX: rotary position embeddings on the first rotary_pct of each
	// head's channels instead of a learned position table (0: learned), with
	// base rotary_emb_base; and the parallel residual
	// x + attn(LN1(x)) + mlp(LN2(x)) instead of two sequential ones.
	RotaryPct           float64 `json:"rotary_pct"`
	RotaryEmbBase       float64 `json:"rotary_emb_base"`
	UseParallelResidual bool    `json:"use_parallel_residual"`
}

// Model types: the architecture family, which also fixes the format SaveDir
// writes (see hf.go).
const (
	TypeGPT2    = "gpt2"     // Hugging Face GPT2LMHeadModel / GPT2ForSequenceClassification
	TypeGPTNeoX = "gpt_neox" // Hugging Face GPTNeoXForCausalLM / GPTNeoXForSequenceClassification
)

// RotaryDims is the number of rotated channels per head, int(head_size ·
// rotary_pct) as in GPT-NeoX (0 without rotary embeddings).
func (c Config) RotaryDims() int { return int(float64(c.HeadDim()) * c.RotaryPct) }

// learnedPositions says whether the model has a position table (wpe).
func (c Config) learnedPositions() bool { return c.RotaryPct == 0 }

// NewConfig returns a language-model config with the defaults filled in:
// d_ff = 4·d_model, layer_norm_eps 1e-5, init_std 0.02, untied head, readout
// "last", no EOS or PAD token.
func NewConfig(vocab, nPositions, dModel, nLayer, nHead int) Config {
	c := defaults()
	c.VocabSize, c.NPositions, c.DModel, c.NLayer, c.NHead = vocab, nPositions, dModel, nLayer, nHead
	c.DFF = 4 * dModel
	return c
}

func defaults() Config {
	return Config{
		ModelType:     ModelType,
		LayerNormEps:  1e-5,
		Head:          "lm",
		ScalarReadout: "last",
		InitStd:       0.02,
		EOSTokenID:    -1,
		PadTokenID:    -1,
		HeadBias:      true,
		Activation:    "gelu_new",
		RotaryEmbBase: 10000,
	}
}

// Documented maxima of a config's sizes, checked before anything is
// allocated. MaxParams (2^31 by default) bounds the total; commands that build
// or load models offer --max_params to raise it.
const (
	MaxDim       = 1 << 16 // d_model, d_ff
	MaxLayers    = 1 << 10 // n_layer
	MaxVocab     = 1 << 22 // vocab_size
	MaxPositions = 1 << 20 // n_positions
)

// MaxParams is the largest parameter count Validate accepts.
var MaxParams int64 = 1 << 31

// NumParams is the number of scalar parameters the config implies (a tied
// head counts once), computed in closed form without allocating. It equals
// Model.NumParams of a model built from c (TestConfigNumParams).
func (c Config) NumParams() int64 {
	D, F, V, P, L := int64(c.DModel), int64(c.DFF), int64(c.VocabSize), int64(c.NPositions), int64(c.NLayer)
	perLayer := 2*D + 3*D*D + 3*D + D*D + D + 2*D + F*D + F + D*F + D
	if !c.learnedPositions() {
		P = 0
	}
	bias := int64(0)
	if c.HeadBias {
		bias = 1
	}
	n := V*D + P*D + L*perLayer + 2*D
	switch {
	case c.Head == "scalar":
		n += D + bias
	case c.TieWordEmbeddings:
	default:
		n += V*D + V*bias
	}
	return n
}

func (c Config) shapeSummary() string {
	return fmt.Sprintf("vocab_size %d, n_positions %d, d_model %d, d_ff %d, n_layer %d, head %s", c.VocabSize, c.NPositions, c.DModel, c.DFF, c.NLayer, c.Head)
}

// Validate reports the first problem with c, naming the config.json field.
func (c Config) Validate() error {
	switch {
	case c.ModelType != ModelType && c.ModelType != TypeGPT2 && c.ModelType != TypeGPTNeoX:
		return fmt.Errorf("config: model_type %q is not %q, %q or %q", c.ModelType, ModelType, TypeGPT2, TypeGPTNeoX)
	case c.VocabSize <= 0:
		return fmt.Errorf("config: vocab_size must be positive, got %d", c.VocabSize)
	case c.NPositions <= 0:
		return fmt.Errorf("config: n_positions must be positive, got %d", c.NPositions)
	case c.DModel <= 0:
		return fmt.Errorf("config: d_model must be positive, got %d", c.DModel)
	case c.NLayer <= 0:
		return fmt.Errorf("config: n_layer must be positive, got %d", c.NLayer)
	case c.NHead <= 0:
		return fmt.Errorf("config: n_head must be positive, got %d", c.NHead)
	case c.DModel%c.NHead != 0:
		return fmt.Errorf("config: d_model %d is not divisible by n_head %d", c.DModel, c.NHead)
	case c.DFF <= 0:
		return fmt.Errorf("config: d_ff must be positive, got %d", c.DFF)
	case c.DModel > MaxDim || c.DFF > MaxDim:
		return fmt.Errorf("config: d_model %d / d_ff %d: at most %d", c.DModel, c.DFF, MaxDim)
	case c.NLayer > MaxLayers:
		return fmt.Errorf("config: n_layer %d: at most %d", c.NLayer, MaxLayers)
	case c.VocabSize > MaxVocab:
		return fmt.Errorf("config: vocab_size %d: at most %d", c.VocabSize, MaxVocab)
	case c.NPositions > MaxPositions:
		return fmt.Errorf("config: n_positions %d: at most %d", c.NPositions, MaxPositions)
	case c.NumParams() > MaxParams:
		return fmt.Errorf("config: %d parameters (%.1f GB of float32 weights, more again for gradients and AdamW) exceed the limit of %d; --max_params raises it",
			c.NumParams(), float64(c.NumParams())*4/1e9, MaxParams)
	case !(c.LayerNormEps > 0):
		return fmt.Errorf("config: layer_norm_eps must be positive, got %g", c.LayerNormEps)
	case c.Head != "lm" && c.Head != "scalar":
		return fmt.Errorf("config: head %q is not \"lm\" or \"scalar\"", c.Head)
	case c.ScalarReadout != "last" && c.ScalarReadout != "sum" && c.ScalarReadout != "mean":
		return fmt.Errorf("config: scalar_readout %q is not \"last\", \"sum\" or \"mean\"", c.ScalarReadout)
	case c.TieWordEmbeddings && c.Head != "lm":
		return fmt.Errorf("config: tie_word_embeddings needs head \"lm\", got head %q", c.Head)
	case !(c.InitStd > 0):
		return fmt.Errorf("config: init_std must be positive, got %g", c.InitStd)
	case c.EOSTokenID < -1 || c.EOSTokenID >= c.VocabSize:
		return fmt.Errorf("config: eos_token_id %d is outside [-1, vocab_size %d)", c.EOSTokenID, c.VocabSize)
	case c.PadTokenID < -1 || c.PadTokenID >= c.VocabSize:
		return fmt.Errorf("config: pad_token_id %d is outside [-1, vocab_size %d)", c.PadTokenID, c.VocabSize)
	case c.Activation != "gelu_new" && c.Activation != "gelu":
		return fmt.Errorf("config: activation_function %q is not \"gelu_new\" (tanh GELU) or \"gelu\" (exact GELU)", c.Activation)
	case !(c.RotaryPct >= 0 && c.RotaryPct <= 1):
		return fmt.Errorf("config: rotary_pct %g is outside [0, 1]", c.RotaryPct)
	case c.RotaryPct > 0 && (c.RotaryDims() == 0 || c.RotaryDims()%2 != 0):
		return fmt.Errorf("config: rotary_pct %g of head size %d gives %d rotary channels; want a positive even number", c.RotaryPct, c.HeadDim(), c.RotaryDims())
	case c.RotaryPct > 0 && (!(c.RotaryEmbBase > 1) || math.IsInf(c.RotaryEmbBase, 0)):
		return fmt.Errorf("config: rotary_emb_base must be finite and > 1, got %g", c.RotaryEmbBase)
	}
	switch c.ModelType { // what each family can express
	case ModelType:
		if c.RotaryPct != 0 || c.UseParallelResidual || c.Activation != "gelu_new" {
			return fmt.Errorf("config: a %s model has learned positions, sequential blocks and the tanh GELU (rotary_pct 0, use_parallel_residual false, activation_function gelu_new); use model_type %q for GPT-NeoX", ModelType, TypeGPTNeoX)
		}
	case TypeGPT2:
		if c.RotaryPct != 0 || c.UseParallelResidual || c.HeadBias {
			return fmt.Errorf("config: a %s model has learned positions, sequential blocks and heads without bias (rotary_pct 0, use_parallel_residual false, head_bias false)", TypeGPT2)
		}
	case TypeGPTNeoX:
		if c.RotaryPct == 0 || c.HeadBias {
			return fmt.Errorf("config: a %s model has rotary embeddings (rotary_pct > 0) and heads without bias (head_bias false)", TypeGPTNeoX)
		}
	}
	return nil
}

// HeadDim is d_model / n_head.
func (c Config) HeadDim() int { return c.DModel / c.NHead }

// LoadConfig reads and validates a config.json. Fields missing from the file
// take NewConfig's defaults; unknown fields are an error (they are usually typos).
func LoadConfig(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read model config: %w", err)
	}
	return ParseConfig(path, raw)
}

// ParseConfig decodes and validates config.json's bytes (path names it in
// errors).
func ParseConfig(path string, raw []byte) (Config, error) {
	switch mt := peekModelType(raw); mt {
	case TypeGPT2, TypeGPTNeoX:
		return parseHF(path, raw, mt)
	}
	c := defaults()
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")))) // a leading byte-order mark is not JSON
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("model config %s: %w", path, err)
	}
	if c.DFF == 0 {
		c.DFF = 4 * c.DModel
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("model config %s: %w", path, err)
	}
	return c, nil
}

// Save writes c as indented JSON to path via a temporary file and a rename, so
// an earlier file is never left half-written.
func (c Config) Save(path string) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("save model config %s: %w", path, err)
	}
	raw, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("save model config %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, append(raw, '\n')); err != nil {
		return fmt.Errorf("save model config: %w", err)
	}
	return nil
}
