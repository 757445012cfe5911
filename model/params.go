package model

import (
	"fmt"
	"math"
	"strings"

	"roads/engine"
)

// Param is one named parameter tensor (engine.Param): Name in Hugging Face
// style, Shape with Linear weights as [out, in] like nn.Linear, Data, and Grad
// (nil for frozen models). Data and Grad alias the model's storage.
type Param = engine.Param

// span is a range of the model's flat parameter buffer.
type span struct{ off, n int }

func (s span) of(buf []float32) []float32 {
	if buf == nil || s.n == 0 {
		return nil
	}
	return buf[s.off : s.off+s.n : s.off+s.n]
}

type initKind int

const (
	initNormal initKind = iota
	initResidual
	initZeros
	initOnes
)

// spec is one public parameter: its name, shape and where it lives.
type spec struct {
	name  string
	shape []int
	at    span
	init  initKind
}

type layerSpans struct {
	ln1W, ln1B, qkvW, qkvB, oW, oB, ln2W, ln2B, fcInW, fcInB, fcOutW, fcOutB span
}

// layout places every parameter in one contiguous buffer (so the optimiser,
// Clone and ZeroGrad run over a single slice). The storage order differs from
// the public order in one place: the q, k and v projections of a layer are
// stored back to back ([3D, D] weights, then [3D] biases) so that one matrix
// product computes all three.
type layout struct {
	wte, wpe     span
	layers       []layerSpans
	lnfW, lnfB   span
	headW, headB span // lm_head (or wte when tied, no bias) or score
	total        int
	specs        []spec // public order
}

func newLayout(c Config) *layout {
	l := &layout{}
	next := func(n int) span {
		s := span{l.total, n}
		l.total += n
		return s
	}
	D, F, V := c.DModel, c.DFF, c.VocabSize
	add := func(name string, at span, init initKind, shape ...int) {
		l.specs = append(l.specs, spec{name, shape, at, init})
	}
	l.wte = next(V * D)
	add("wte.weight", l.wte, initNormal, V, D)
	if c.learnedPositions() {
		l.wpe = next(c.NPositions * D)
		add("wpe.weight", l.wpe, initNormal, c.NPositions, D)
	}
	for i := 0; i < c.NLayer; i++ {
		var s layerSpans
		s.ln1W, s.ln1B = next(D), next(D)
		s.qkvW, s.qkvB = next(3*D*D), next(3*D)
		s.oW, s.oB = next(D*D), next(D)
		s.ln2W, s.ln2B = next(D), next(D)
		s.fcInW, s.fcInB = next(F*D), next(F)
		s.fcOutW, s.fcOutB = next(D*F), next(D)
		l.layers = append(l.layers, s)
		p := fmt.Sprintf("h.%d.", i)
		add(p+"ln_1.weight", s.ln1W, initOnes, D)
		add(p+"ln_1.bias", s.ln1B, initZeros, D)
		for k, name := range []string{"q_proj", "k_proj", "v_proj"} {
			add(p+"attn."+name+".weight", span{s.qkvW.off + k*D*D, D * D}, initNormal, D, D)
			add(p+"attn."+name+".bias", span{s.qkvB.off + k*D, D}, initZeros, D)
		}
		add(p+"attn.o_proj.weight", s.oW, initResidual, D, D)
		add(p+"attn.o_proj.bias", s.oB, initZeros, D)
		add(p+"ln_2.weight", s.ln2W, initOnes, D)
		add(p+"ln_2.bias", s.ln2B, initZeros, D)
		add(p+"mlp.fc_in.weight", s.fcInW, initNormal, F, D)
		add(p+"mlp.fc_in.bias", s.fcInB, initZeros, F)
		add(p+"mlp.fc_out.weight", s.fcOutW, initResidual, D, F)
		add(p+"mlp.fc_out.bias", s.fcOutB, initZeros, D)
	}
	l.lnfW, l.lnfB = next(D), next(D)
	add("ln_f.weight", l.lnfW, initOnes, D)
	add("ln_f.bias", l.lnfB, initZeros, D)
	switch {
	case c.Head == "scalar":
		l.headW = next(D)
		add("score.weight", l.headW, initNormal, 1, D)
		if c.HeadBias {
			l.headB = next(1)
			add("score.bias", l.headB, initZeros, 1)
		}
	case c.TieWordEmbeddings:
		l.headW = l.wte
	default:
		l.headW = next(V * D)
		add("lm_head.weight", l.headW, initNormal, V, D)
		if c.HeadBias {
			l.headB = next(V)
			add("lm_head.bias", l.headB, initZeros, V)
		}
	}
	return l
}

// layerW and weights are views of a flat buffer (values or gradients).
type layerW struct {
	ln1W, ln1B, qkvW, qkvB, oW, oB, ln2W, ln2B, fcInW, fcInB, fcOutW, fcOutB []float32
}

type weights struct {
	wte, wpe     []float32
	layers       []layerW
	lnfW, lnfB   []float32
	headW, headB []float32
}

func (l *layout) bind(buf []float32) weights {
	w := weights{
		wte: l.wte.of(buf), wpe: l.wpe.of(buf),
		lnfW: l.lnfW.of(buf), lnfB: l.lnfB.of(buf),
		headW: l.headW.of(buf), headB: l.headB.of(buf),
	}
	for _, s := range l.layers {
		w.layers = append(w.layers, layerW{
			s.ln1W.of(buf), s.ln1B.of(buf), s.qkvW.of(buf), s.qkvB.of(buf), s.oW.of(buf), s.oB.of(buf),
			s.ln2W.of(buf), s.ln2B.of(buf), s.fcInW.of(buf), s.fcInB.of(buf), s.fcOutW.of(buf), s.fcOutB.of(buf),
		})
	}
	return w
}

// Model is a causal transformer with its parameters, gradients and the
// buffers of its last forward pass. A Model is not safe for concurrent use.
type Model struct {
	cfg  Config
	lay  *layout
	data []float32 // all parameters
	grad []float32 // all gradients; nil when frozen
	w, g weights   // views of data and grad

	ws *workspace // activations of the last Forward
	kv *kvCache   // sampling state, kept between Generate calls
}

// New builds a model from a validated config, initialised from seed:
// weights ~ N(0, init_std), the residual projections (attn.o_proj and
// mlp.fc_out weights) ~ N(0, init_std/√(2·n_layer)) as in GPT-2, biases 0,
// LayerNorm weights 1. Draws follow the public parameter order.
func New(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := newEmpty(cfg, true)
	rng := engine.NewRNG(seed)
	resStd := cfg.InitStd / math.Sqrt(2*float64(cfg.NLayer))
	for _, s := range m.lay.specs {
		v := s.at.of(m.data)
		switch s.init {
		case initNormal, initResidual:
			std := cfg.InitStd
			if s.init == initResidual {
				std = resStd
			}
			for i := range v {
				v[i] = float32(rng.NormFloat64() * std)
			}
		case initOnes:
			for i := range v {
				v[i] = 1
			}
		case initZeros:
			clear(v)
		}
	}
	return m, nil
}

func newEmpty(cfg Config, withGrad bool) *Model {
	m := &Model{cfg: cfg, lay: newLayout(cfg)}
	m.data = make([]float32, m.lay.total)
	m.w = m.lay.bind(m.data)
	if withGrad {
		m.grad = make([]float32, m.lay.total)
		m.g = m.lay.bind(m.grad)
	}
	return m
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// NumParams is the number of scalar parameters (a tied head counts once).
func (m *Model) NumParams() int { return m.lay.total }

// Params lists the parameters in a fixed order with Hugging Face-style names:
// wte.weight, wpe.weight, h.{i}.ln_1.{weight,bias},
// h.{i}.attn.{q,k,v,o}_proj.{weight,bias}, h.{i}.ln_2.*, h.{i}.mlp.fc_in.*,
// h.{i}.mlp.fc_out.*, ln_f.*, then lm_head.{weight,bias} (untied LM head; a
// tied head has no tensor of its own) or score.{weight,bias} (scalar head).
// Data and Grad alias the model, so writing Data loads weights.
func (m *Model) Params() []Param {
	ps := make([]Param, len(m.lay.specs))
	for i, s := range m.lay.specs {
		ps[i] = Param{Name: s.name, Shape: s.shape, Data: s.at.of(m.data), Grad: s.at.of(m.grad)}
	}
	return ps
}

// DecayParam reports whether AdamW should decay a parameter, following the
// Hugging Face Trainer: everything except biases and LayerNorm weights.
func DecayParam(name string) bool {
	return !strings.HasSuffix(name, ".bias") && !strings.Contains(name, "ln_")
}

// Frozen reports whether the model has no gradient buffers.
func (m *Model) Frozen() bool { return m.grad == nil }

// Freeze drops the gradient buffers: the model can still run forward passes
// and sample (a reference policy or a fixed reward model), but not backward.
func (m *Model) Freeze() {
	m.grad = nil
	m.g = weights{}
}

// ZeroGrad clears all gradients (they accumulate over Backward calls).
func (m *Model) ZeroGrad() { clear(m.grad) }

// Clone returns a deep copy of the parameters, frozen if m is frozen and with
// zero gradients otherwise. Buffers of past passes are not copied.
func (m *Model) Clone() *Model {
	c := newEmpty(m.cfg, !m.Frozen())
	copy(c.data, m.data)
	return c
}

// CopyWeightsFrom overwrites m's parameters with src's (same config).
func (m *Model) CopyWeightsFrom(src *Model) error {
	if m.cfg != src.cfg {
		return fmt.Errorf("copy weights: configs differ (%+v vs %+v)", m.cfg, src.cfg)
	}
	copy(m.data, src.data)
	return nil
}
