package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"roads/ckpt"
)

// Hugging Face model directories. A model of type gpt2 or gpt_neox is read
// from, and written as, the directory transformers' from_pretrained reads:
// config.json in that family's keys, model.safetensors (or shards listed in
// model.safetensors.index.json) with its tensor names and layouts. In memory
// every family is the same trunk (see Config); only the file format differs:
//
//	roads                  gpt2 (Conv1D: [in, out])               gpt_neox (nn.Linear: [out, in])
//	wte.weight             transformer.wte.weight                 gpt_neox.embed_in.weight
//	wpe.weight             transformer.wpe.weight                 — (rotary)
//	h.i.ln_1.*             transformer.h.i.ln_1.*                 gpt_neox.layers.i.input_layernorm.*
//	h.i.attn.{q,k,v}_proj  transformer.h.i.attn.c_attn  [D, 3D]   gpt_neox.layers.i.attention.query_key_value [3D, D],
//	                                                              rows per head: q_h, k_h, v_h
//	h.i.attn.o_proj        transformer.h.i.attn.c_proj  [D, D]    gpt_neox.layers.i.attention.dense
//	h.i.ln_2.*             transformer.h.i.ln_2.*                 gpt_neox.layers.i.post_attention_layernorm.*
//	h.i.mlp.fc_in          transformer.h.i.mlp.c_fc     [D, F]    gpt_neox.layers.i.mlp.dense_h_to_4h
//	h.i.mlp.fc_out         transformer.h.i.mlp.c_proj   [F, D]    gpt_neox.layers.i.mlp.dense_4h_to_h
//	ln_f.*                 transformer.ln_f.*                     gpt_neox.final_layer_norm.*
//	lm_head.weight         lm_head.weight (absent when tied)      embed_out.weight
//	score.weight           score.weight                           score.weight

// hfTensor is one tensor of an HF file and where its elements live in the
// model's flat buffer: element i of the file's row-major data is
// buffer[at.off + dst(i)] (dst nil: the identity).
type hfTensor struct {
	name  string
	shape []int
	at    span
	dst   func(i int) int
}

// transposed maps a file tensor [rows, cols] onto a buffer holding its
// transpose [cols, rows] (Conv1D's [in, out] onto nn.Linear's [out, in]).
func transposed(rows, cols int) func(int) int {
	return func(i int) int { return (i%cols)*rows + i/cols }
}

// neoxQKVRow maps a row of GPT-NeoX's query_key_value output, ordered head by
// head (q_h, k_h, v_h, each hd rows), onto roads' q | k | v order.
func neoxQKVRow(D, H int) func(int) int {
	hd := D / H
	return func(o int) int {
		h, part, j := o/(3*hd), (o/hd)%3, o%hd
		return part*D + h*hd + j
	}
}

// hfTensors lists the file tensors of c's model type in the order
// save_pretrained writes them.
func (l *layout) hfTensors(c Config) []hfTensor {
	D, F, V, H := c.DModel, c.DFF, c.VocabSize, c.NHead
	var ts []hfTensor
	add := func(name string, at span, dst func(int) int, shape ...int) {
		ts = append(ts, hfTensor{name, shape, at, dst})
	}
	switch c.ModelType {
	case TypeGPT2:
		p := "transformer."
		add(p+"wte.weight", l.wte, nil, V, D)
		add(p+"wpe.weight", l.wpe, nil, c.NPositions, D)
		for i, s := range l.layers {
			q := fmt.Sprintf("%sh.%d.", p, i)
			add(q+"ln_1.weight", s.ln1W, nil, D)
			add(q+"ln_1.bias", s.ln1B, nil, D)
			add(q+"attn.c_attn.weight", s.qkvW, transposed(D, 3*D), D, 3*D)
			add(q+"attn.c_attn.bias", s.qkvB, nil, 3*D)
			add(q+"attn.c_proj.weight", s.oW, transposed(D, D), D, D)
			add(q+"attn.c_proj.bias", s.oB, nil, D)
			add(q+"ln_2.weight", s.ln2W, nil, D)
			add(q+"ln_2.bias", s.ln2B, nil, D)
			add(q+"mlp.c_fc.weight", s.fcInW, transposed(D, F), D, F)
			add(q+"mlp.c_fc.bias", s.fcInB, nil, F)
			add(q+"mlp.c_proj.weight", s.fcOutW, transposed(F, D), F, D)
			add(q+"mlp.c_proj.bias", s.fcOutB, nil, D)
		}
		add(p+"ln_f.weight", l.lnfW, nil, D)
		add(p+"ln_f.bias", l.lnfB, nil, D)
	case TypeGPTNeoX:
		p := "gpt_neox."
		add(p+"embed_in.weight", l.wte, nil, V, D)
		row := neoxQKVRow(D, H)
		for i, s := range l.layers {
			q := fmt.Sprintf("%slayers.%d.", p, i)
			add(q+"input_layernorm.weight", s.ln1W, nil, D)
			add(q+"input_layernorm.bias", s.ln1B, nil, D)
			add(q+"post_attention_layernorm.weight", s.ln2W, nil, D)
			add(q+"post_attention_layernorm.bias", s.ln2B, nil, D)
			add(q+"attention.query_key_value.weight", s.qkvW, func(i int) int { return row(i/D)*D + i%D }, 3*D, D)
			add(q+"attention.query_key_value.bias", s.qkvB, row, 3*D)
			add(q+"attention.dense.weight", s.oW, nil, D, D)
			add(q+"attention.dense.bias", s.oB, nil, D)
			add(q+"mlp.dense_h_to_4h.weight", s.fcInW, nil, F, D)
			add(q+"mlp.dense_h_to_4h.bias", s.fcInB, nil, F)
			add(q+"mlp.dense_4h_to_h.weight", s.fcOutW, nil, D, F)
			add(q+"mlp.dense_4h_to_h.bias", s.fcOutB, nil, D)
		}
		add(p+"final_layer_norm.weight", l.lnfW, nil, D)
		add(p+"final_layer_norm.bias", l.lnfB, nil, D)
	}
	switch {
	case c.Head == "scalar":
		add("score.weight", l.headW, nil, 1, D)
	case c.TieWordEmbeddings:
	case c.ModelType == TypeGPT2:
		add("lm_head.weight", l.headW, nil, V, D)
	default:
		add("embed_out.weight", l.headW, nil, V, D)
	}
	return ts
}

// hfIgnored are tensors HF files may hold that carry no weights: causal-mask
// buffers and rotary frequency tables, which older transformers versions
// saved.
func hfIgnored(name string) bool {
	for _, suf := range []string{".attn.bias", ".attn.masked_bias", ".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

// FileViews are the tensors model.safetensors holds for m's model type. For
// roads-gpt they alias the model (as Views); for the HF types they are fresh
// copies in the HF names and layouts: after filling them (loading a
// checkpoint) call LoadFileViews to put the values into the model.
func (m *Model) FileViews() []ckpt.View {
	if !m.cfg.isHF() {
		return m.Views()
	}
	ts := m.lay.hfTensors(m.cfg)
	vs := make([]ckpt.View, len(ts))
	for k, t := range ts {
		src := t.at.of(m.data)
		v := ckpt.View{Name: t.name, Shape: t.shape, Data: make([]float32, len(src))}
		if t.dst == nil {
			copy(v.Data, src)
		} else {
			for i := range v.Data {
				v.Data[i] = src[t.dst(i)]
			}
		}
		vs[k] = v
	}
	return vs
}

// LoadFileViews copies views laid out as FileViews into the model (a no-op
// for roads-gpt, whose file views alias it).
func (m *Model) LoadFileViews(vs []ckpt.View) error {
	if !m.cfg.isHF() {
		return nil
	}
	ts := m.lay.hfTensors(m.cfg)
	if len(vs) != len(ts) {
		return fmt.Errorf("load weights: %d tensors for %d", len(vs), len(ts))
	}
	for k, t := range ts {
		if vs[k].Name != t.name || len(vs[k].Data) != t.at.n {
			return fmt.Errorf("load weights: tensor %d is %q (%d values), want %q (%d)", k, vs[k].Name, len(vs[k].Data), t.name, t.at.n)
		}
		scatter(t, vs[k].Data, m.data)
	}
	return nil
}

func scatter(t hfTensor, src, buf []float32) {
	dst := t.at.of(buf)
	if t.dst == nil {
		copy(dst, src)
		return
	}
	for i, v := range src {
		dst[t.dst(i)] = v
	}
}

func (c Config) isHF() bool { return c.ModelType == TypeGPT2 || c.ModelType == TypeGPTNeoX }

// IndexFile lists the shards of a sharded checkpoint.
const IndexFile = "model.safetensors.index.json"

// readWeightFiles reads the weight files of dir: model.safetensors, or every
// shard named in model.safetensors.index.json. It returns name → tensor and
// name → file (for messages).
func readWeightFiles(dir string) (map[string]ckpt.Tensor, map[string]string, error) {
	byName, fileOf := map[string]ckpt.Tensor{}, map[string]string{}
	files := []string{filepath.Join(dir, ckpt.ModelFile)}
	index := filepath.Join(dir, IndexFile)
	if _, err := os.Stat(files[0]); errors.Is(err, os.ErrNotExist) {
		raw, ierr := os.ReadFile(index)
		if ierr != nil {
			hint := ""
			if _, err := os.Stat(filepath.Join(dir, "pytorch_model.bin")); err == nil {
				hint = ": pytorch_model.bin (a pickle) is not read; save the model with safetensors (save_pretrained(..., safe_serialization=True))"
			}
			return nil, nil, fmt.Errorf("%s: no %s and no %s%s", dir, ckpt.ModelFile, IndexFile, hint)
		}
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", index, err)
		}
		if len(idx.WeightMap) == 0 {
			return nil, nil, fmt.Errorf("%s: empty weight_map", index)
		}
		seen := map[string]bool{}
		files = files[:0]
		for _, f := range idx.WeightMap {
			if f != filepath.Base(f) {
				return nil, nil, fmt.Errorf("%s: shard %q is not a file name in the directory", index, f)
			}
			if !seen[f] {
				seen[f] = true
				files = append(files, filepath.Join(dir, f))
			}
		}
		sort.Strings(files)
		defer func() {
			for name, f := range idx.WeightMap {
				if got, ok := fileOf[name]; ok && filepath.Base(got) != f {
					slog.Warn("sharded checkpoint: tensor found in another shard than the index says", "tensor", name, "index", f, "found in", filepath.Base(got))
				}
			}
		}()
	}
	for _, path := range files {
		f, err := ckpt.ReadSafetensors(path)
		if err != nil {
			return nil, nil, err
		}
		for _, t := range f.Tensors {
			if prev, dup := fileOf[t.Name]; dup {
				return nil, nil, fmt.Errorf("%s: tensor %q is also in %s", path, t.Name, prev)
			}
			byName[t.Name], fileOf[t.Name] = t, path
		}
	}
	return byName, fileOf, nil
}

// loadHFWeights reads an HF directory's weights into a new model of config
// c, checking every tensor's presence and shape before allocating.
func loadHFWeights(dir string, c Config) (*Model, error) {
	byName, fileOf, err := readWeightFiles(dir)
	if err != nil {
		return nil, err
	}
	lay := newLayout(c)
	want := lay.hfTensors(c)
	// GPT2Model (no head) files name tensors without "transformer."; accept
	// both spellings of every tensor.
	lookup := func(name string) (ckpt.Tensor, string, bool) {
		if t, ok := byName[name]; ok {
			return t, name, true
		}
		for _, p := range []string{"transformer.", "gpt_neox."} {
			if bare, ok := strings.CutPrefix(name, p); ok {
				if t, ok := byName[bare]; ok {
					return t, bare, true
				}
			}
		}
		return ckpt.Tensor{}, "", false
	}
	used := map[string]bool{}
	found := make([]ckpt.Tensor, len(want))
	for k, w := range want {
		t, name, ok := lookup(w.name)
		if !ok {
			return nil, fmt.Errorf("%s: missing tensor %q (config.json: %s, %s)", dir, w.name, c.ModelType, c.shapeSummary())
		}
		if !slices.Equal(t.Shape, w.shape) {
			return nil, fmt.Errorf("%s: tensor %q has shape %v but config.json (%s) implies %v", fileOf[name], name, t.Shape, c.shapeSummary(), w.shape)
		}
		used[name] = true
		found[k] = t
	}
	var unknown []string
	for name := range byName {
		if used[name] || hfIgnored(name) {
			continue
		}
		if c.TieWordEmbeddings && (name == "lm_head.weight" || name == "embed_out.weight") {
			continue // a tied head saved anyway: it equals the embedding
		}
		unknown = append(unknown, name)
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		slog.Warn("model weights: tensors this architecture does not use are ignored", "dir", dir, "count", len(unknown), "first", unknown[0])
	}
	m := newEmpty(c, true)
	for k, w := range want {
		vals, err := found[k].Float32s()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		scatter(w, vals, m.data)
	}
	return m, nil
}

// gpt2File is config.json of a Hugging Face GPT-2 model: the keys
// transformers' GPT2Config writes (pointers: nil is "not in the file").
type gpt2File struct {
	ModelType                  string            `json:"model_type"`
	Architectures              []string          `json:"architectures,omitempty"`
	VocabSize                  *int              `json:"vocab_size"`
	NPositions                 *int              `json:"n_positions"`
	NCtx                       *int              `json:"n_ctx,omitempty"`
	NEmbd                      *int              `json:"n_embd"`
	NLayer                     *int              `json:"n_layer"`
	NHead                      *int              `json:"n_head"`
	NInner                     *int              `json:"n_inner"`
	ActivationFunction         *string           `json:"activation_function"`
	LayerNormEpsilon           *float64          `json:"layer_norm_epsilon"`
	InitializerRange           *float64          `json:"initializer_range"`
	TieWordEmbeddings          *bool             `json:"tie_word_embeddings,omitempty"`
	BOSTokenID                 *int              `json:"bos_token_id"`
	EOSTokenID                 *int              `json:"eos_token_id"`
	PadTokenID                 *int              `json:"pad_token_id,omitempty"`
	NumLabels                  *int              `json:"num_labels,omitempty"`
	ID2Label                   map[string]string `json:"id2label,omitempty"`
	ScaleAttnWeights           *bool             `json:"scale_attn_weights,omitempty"`
	ScaleAttnByInverseLayerIdx *bool             `json:"scale_attn_by_inverse_layer_idx,omitempty"`
	ReorderAndUpcastAttn       *bool             `json:"reorder_and_upcast_attn,omitempty"`
	TorchDType                 string            `json:"torch_dtype,omitempty"`
	RoadsScalarReadout         *string           `json:"roads_scalar_readout,omitempty"`
}

// neoxFile is config.json of a Hugging Face GPT-NeoX model (Pythia). Newer
// transformers call rotary_pct partial_rotary_factor and rotary_emb_base
// rope_theta; both spellings are read, the Pythia ones written.
type neoxFile struct {
	ModelType             string            `json:"model_type"`
	Architectures         []string          `json:"architectures,omitempty"`
	VocabSize             *int              `json:"vocab_size"`
	MaxPositionEmbeddings *int              `json:"max_position_embeddings"`
	HiddenSize            *int              `json:"hidden_size"`
	NumHiddenLayers       *int              `json:"num_hidden_layers"`
	NumAttentionHeads     *int              `json:"num_attention_heads"`
	IntermediateSize      *int              `json:"intermediate_size"`
	HiddenAct             *string           `json:"hidden_act"`
	RotaryPct             *float64          `json:"rotary_pct"`
	PartialRotaryFactor   *float64          `json:"partial_rotary_factor,omitempty"`
	RotaryEmbBase         *float64          `json:"rotary_emb_base"`
	RopeTheta             *float64          `json:"rope_theta,omitempty"`
	UseParallelResidual   *bool             `json:"use_parallel_residual"`
	AttentionBias         *bool             `json:"attention_bias,omitempty"`
	LayerNormEps          *float64          `json:"layer_norm_eps"`
	InitializerRange      *float64          `json:"initializer_range"`
	TieWordEmbeddings     *bool             `json:"tie_word_embeddings"`
	BOSTokenID            *int              `json:"bos_token_id"`
	EOSTokenID            *int              `json:"eos_token_id"`
	PadTokenID            *int              `json:"pad_token_id,omitempty"`
	NumLabels             *int              `json:"num_labels,omitempty"`
	ID2Label              map[string]string `json:"id2label,omitempty"`
	RopeScaling           json.RawMessage   `json:"rope_scaling,omitempty"`
	TorchDType            string            `json:"torch_dtype,omitempty"`
	RoadsScalarReadout    *string           `json:"roads_scalar_readout,omitempty"`
}

// hfKnownKeys are config.json keys read elsewhere or safe to ignore
// (dropout rates, which inference and roads' training do not use, and
// bookkeeping); any other key draws a warning naming it.
var hfKnownKeys = map[string]bool{
	"_name_or_path": true, "transformers_version": true, "use_cache": true, "torch_dtype": true,
	"attn_pdrop": true, "embd_pdrop": true, "resid_pdrop": true, "summary_activation": true,
	"summary_first_dropout": true, "summary_proj_to_labels": true, "summary_type": true, "summary_use_proj": true,
	"task_specific_params": true, "label2id": true, "problem_type": true, "attention_dropout": true,
	"hidden_dropout": true, "classifier_dropout": true, "use_return_dict": true, "output_hidden_states": true,
	"output_attentions": true, "return_dict": true, "is_decoder": true, "gradient_checkpointing": true,
}

// parseHF decodes an HF config.json (model_type gpt2 or gpt_neox) into a
// Config: every size must be present; keys roads does not know are warned
// about, values it cannot honour (absolute attention without scaling, no
// attention bias, rope scaling) are errors naming the key.
func parseHF(path string, raw []byte, modelType string) (Config, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return Config{}, fmt.Errorf("model config %s: %w", path, err)
	}
	c := defaults()
	c.ModelType, c.HeadBias = modelType, false
	fail := func(format string, a ...any) (Config, error) {
		return Config{}, fmt.Errorf("model config %s: %s", path, fmt.Sprintf(format, a...))
	}
	var known map[string]bool
	var archs []string
	var numLabels *int
	var id2label map[string]string
	var readout *string
	switch modelType {
	case TypeGPT2:
		var f gpt2File
		if err := json.Unmarshal(raw, &f); err != nil {
			return fail("%v", err)
		}
		known = jsonKeys(f)
		if err := needSizes(path, []size{{"vocab_size", f.VocabSize, &c.VocabSize}, {"n_positions", f.NPositions, &c.NPositions},
			{"n_embd", f.NEmbd, &c.DModel}, {"n_layer", f.NLayer, &c.NLayer}, {"n_head", f.NHead, &c.NHead}}); err != nil {
			return Config{}, err
		}
		c.DFF = 4 * c.DModel
		if f.NInner != nil {
			c.DFF = *f.NInner
		}
		var err error
		if c.Activation, err = hfActivation(path, "activation_function", f.ActivationFunction, "gelu_new"); err != nil {
			return Config{}, err
		}
		if f.LayerNormEpsilon != nil {
			c.LayerNormEps = *f.LayerNormEpsilon
		}
		if f.InitializerRange != nil {
			c.InitStd = *f.InitializerRange
		}
		c.TieWordEmbeddings = f.TieWordEmbeddings == nil || *f.TieWordEmbeddings
		if f.ScaleAttnWeights != nil && !*f.ScaleAttnWeights {
			return fail("scale_attn_weights false is not supported (roads scales attention by 1/√head_dim)")
		}
		if f.ScaleAttnByInverseLayerIdx != nil && *f.ScaleAttnByInverseLayerIdx {
			return fail("scale_attn_by_inverse_layer_idx true is not supported")
		}
		setIDs(&c, f.EOSTokenID, f.PadTokenID)
		archs, numLabels, id2label, readout = f.Architectures, f.NumLabels, f.ID2Label, f.RoadsScalarReadout
	case TypeGPTNeoX:
		var f neoxFile
		if err := json.Unmarshal(raw, &f); err != nil {
			return fail("%v", err)
		}
		known = jsonKeys(f)
		if err := needSizes(path, []size{{"vocab_size", f.VocabSize, &c.VocabSize}, {"max_position_embeddings", f.MaxPositionEmbeddings, &c.NPositions},
			{"hidden_size", f.HiddenSize, &c.DModel}, {"num_hidden_layers", f.NumHiddenLayers, &c.NLayer},
			{"num_attention_heads", f.NumAttentionHeads, &c.NHead}, {"intermediate_size", f.IntermediateSize, &c.DFF}}); err != nil {
			return Config{}, err
		}
		var err error
		if c.Activation, err = hfActivation(path, "hidden_act", f.HiddenAct, "gelu"); err != nil {
			return Config{}, err
		}
		c.RotaryPct = 0.25 // GPTNeoXConfig's defaults
		for _, p := range []*float64{f.RotaryPct, f.PartialRotaryFactor} {
			if p != nil {
				c.RotaryPct = *p
			}
		}
		for _, p := range []*float64{f.RotaryEmbBase, f.RopeTheta} {
			if p != nil {
				c.RotaryEmbBase = *p
			}
		}
		c.UseParallelResidual = f.UseParallelResidual == nil || *f.UseParallelResidual
		if f.AttentionBias != nil && !*f.AttentionBias {
			return fail("attention_bias false is not supported (roads' attention projections have biases)")
		}
		if len(f.RopeScaling) > 0 && string(f.RopeScaling) != "null" {
			return fail("rope_scaling %s is not supported", f.RopeScaling)
		}
		if f.LayerNormEps != nil {
			c.LayerNormEps = *f.LayerNormEps
		}
		if f.InitializerRange != nil {
			c.InitStd = *f.InitializerRange
		}
		c.TieWordEmbeddings = f.TieWordEmbeddings != nil && *f.TieWordEmbeddings
		setIDs(&c, f.EOSTokenID, f.PadTokenID)
		archs, numLabels, id2label, readout = f.Architectures, f.NumLabels, f.ID2Label, f.RoadsScalarReadout
	}
	// The head comes from architectures: …ForSequenceClassification is a
	// reward model (num_labels 1, score at the last non-pad token).
	for _, a := range archs {
		if strings.HasSuffix(a, "ForSequenceClassification") {
			c.Head, c.ScalarReadout, c.TieWordEmbeddings = "scalar", "last", false
			n := len(id2label)
			if numLabels != nil {
				n = *numLabels
			}
			if n != 1 && n != 0 {
				return fail("%s with num_labels %d: a reward model has one (num_labels 1)", a, n)
			}
			if readout != nil {
				// HF reads the score at the last non-pad token; a roads
				// reward model trained with another readout says so in a
				// key of its own (transformers keeps unknown keys).
				c.ScalarReadout = *readout
			}
		} else if !strings.HasSuffix(a, "LMHeadModel") && !strings.HasSuffix(a, "ForCausalLM") && !strings.HasSuffix(a, "Model") {
			return fail("architectures %q: want a causal LM or a sequence classifier", a)
		}
	}
	var unknown []string
	for k := range keys {
		if !known[k] && !hfKnownKeys[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		slog.Warn("model config: keys roads does not use are ignored", "file", path, "keys", strings.Join(unknown, ", "))
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("model config %s: %w", path, err)
	}
	return c, nil
}

// hfActivation maps an HF activation name (key's value, def when absent)
// to roads' two GELUs.
func hfActivation(path, key string, v *string, def string) (string, error) {
	name := def
	if v != nil {
		name = *v
	}
	switch name {
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		return "gelu_new", nil
	case "gelu":
		return "gelu", nil
	}
	return "", fmt.Errorf("model config %s: %s %q is not supported (gelu_new, gelu_pytorch_tanh or gelu)", path, key, name)
}

// size is a required size key of an HF config and the Config field it sets.
type size struct {
	key      string
	src, dst *int
}

// needSizes copies every size, naming the first missing key.
func needSizes(path string, sizes []size) error {
	for _, s := range sizes {
		if s.src == nil {
			return fmt.Errorf("model config %s: %s is missing", path, s.key)
		}
		*s.dst = *s.src
	}
	return nil
}

// setIDs takes eos/pad ids from an HF config (null or absent: none). An id
// outside the vocabulary is left for Validate to name.
func setIDs(c *Config, eos, pad *int) {
	if eos != nil {
		c.EOSTokenID = *eos
	}
	if pad != nil {
		c.PadTokenID = *pad
	}
}

// jsonKeys lists the JSON keys of a struct type's fields.
func jsonKeys(v any) map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out[name] = true
	}
	return out
}

// hfFile is the config.json SaveDir writes for an HF model type.
func (c Config) hfFile() any {
	ptr := func(v int) *int { return &v }
	f64 := func(v float64) *float64 { return &v }
	str := func(v string) *string { return &v }
	bl := func(v bool) *bool { return &v }
	idOrNil := func(id int) *int {
		if id < 0 {
			return nil
		}
		return ptr(id)
	}
	scalar := c.Head == "scalar"
	var numLabels *int
	var readout *string
	if scalar {
		numLabels = ptr(1)
		if c.ScalarReadout != "last" {
			readout = str(c.ScalarReadout)
		}
	}
	switch c.ModelType {
	case TypeGPT2:
		arch := "GPT2LMHeadModel"
		if scalar {
			arch = "GPT2ForSequenceClassification"
		}
		act := "gelu_new"
		if c.Activation == "gelu" {
			act = "gelu"
		}
		return gpt2File{ModelType: TypeGPT2, Architectures: []string{arch}, VocabSize: ptr(c.VocabSize), NPositions: ptr(c.NPositions),
			NCtx: ptr(c.NPositions), NEmbd: ptr(c.DModel), NLayer: ptr(c.NLayer), NHead: ptr(c.NHead), NInner: ptr(c.DFF),
			ActivationFunction: str(act), LayerNormEpsilon: f64(c.LayerNormEps), InitializerRange: f64(c.InitStd),
			TieWordEmbeddings: bl(c.TieWordEmbeddings || scalar), BOSTokenID: idOrNil(c.EOSTokenID), EOSTokenID: idOrNil(c.EOSTokenID),
			PadTokenID: idOrNil(c.PadTokenID), NumLabels: numLabels, TorchDType: "float32", RoadsScalarReadout: readout}
	default:
		arch := "GPTNeoXForCausalLM"
		if scalar {
			arch = "GPTNeoXForSequenceClassification"
		}
		return neoxFile{ModelType: TypeGPTNeoX, Architectures: []string{arch}, VocabSize: ptr(c.VocabSize),
			MaxPositionEmbeddings: ptr(c.NPositions), HiddenSize: ptr(c.DModel), NumHiddenLayers: ptr(c.NLayer),
			NumAttentionHeads: ptr(c.NHead), IntermediateSize: ptr(c.DFF), HiddenAct: str(c.Activation),
			RotaryPct: f64(c.RotaryPct), RotaryEmbBase: f64(c.RotaryEmbBase), UseParallelResidual: bl(c.UseParallelResidual),
			AttentionBias: bl(true), LayerNormEps: f64(c.LayerNormEps), InitializerRange: f64(c.InitStd),
			TieWordEmbeddings: bl(c.TieWordEmbeddings), BOSTokenID: idOrNil(c.EOSTokenID), EOSTokenID: idOrNil(c.EOSTokenID),
			PadTokenID: idOrNil(c.PadTokenID), NumLabels: numLabels, TorchDType: "float32", RoadsScalarReadout: readout}
	}
}

// FileConfig is what config.json holds for m's model type: the Config itself
// for roads-gpt, the family's HF keys otherwise.
func (c Config) FileConfig() any {
	if c.isHF() {
		return c.hfFile()
	}
	return c
}

// peekModelType returns config.json's model_type ("" when absent).
func peekModelType(raw []byte) string {
	var head struct {
		ModelType string `json:"model_type"`
	}
	json.Unmarshal(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")), &head)
	return head.ModelType
}

// GenerationConfigFile holds generation defaults in an HF directory.
const GenerationConfigFile = "generation_config.json"

// applyGenerationConfig takes eos_token_id and pad_token_id from
// generation_config.json when config.json has none (many HF checkpoints keep
// them only there). A list of EOS ids keeps its first: roads stops on one.
func applyGenerationConfig(dir string, c Config) (Config, error) {
	path := filepath.Join(dir, GenerationConfigFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	} else if err != nil {
		return c, err
	}
	var g struct {
		EOS json.RawMessage `json:"eos_token_id"`
		Pad *int            `json:"pad_token_id"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if c.EOSTokenID < 0 && len(g.EOS) > 0 && string(g.EOS) != "null" {
		var one int
		var many []int
		switch {
		case json.Unmarshal(g.EOS, &one) == nil:
		case json.Unmarshal(g.EOS, &many) == nil && len(many) > 0:
			one = many[0]
			if len(many) > 1 {
				slog.Warn("generation_config.json lists several EOS ids; roads stops on the first", "file", path, "eos_token_id", many)
			}
		default:
			return c, fmt.Errorf("%s: eos_token_id %s: want an id or a list of ids", path, g.EOS)
		}
		c.EOSTokenID = one
	}
	if c.PadTokenID < 0 && g.Pad != nil {
		c.PadTokenID = *g.Pad
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
