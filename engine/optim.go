package engine

import (
	"fmt"
	"math"
	"strings"
)

// Param is one named tensor of a model: its values and, unless the model is
// frozen, its gradient (same length; nil when frozen).
type Param struct {
	Name  string
	Shape []int
	Data  []float32
	Grad  []float32
}

// Tensor is a named float32 array, used to export and import optimiser state.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// AdamWConfig holds AdamW's hyper-parameters. Defaults (DefaultAdamW) follow
// PyTorch and Hugging Face TrainingArguments: betas 0.9/0.999, eps 1e-8,
// weight decay 0.
type AdamWConfig struct {
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
}

// DefaultAdamW returns the PyTorch/TRL defaults.
func DefaultAdamW() AdamWConfig {
	return AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
}

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), exactly as
// torch.optim.AdamW: for step t = 1, 2, ... and each parameter p with gradient g
//
//	p ← p·(1 − lr·λ)                       (only where decay is on)
//	m ← β1·m + (1−β1)·g,   v ← β2·v + (1−β2)·g²
//	p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε)
//
// With WeightDecay 0 it is plain Adam (torch.optim.Adam).
type AdamW struct {
	Config AdamWConfig
	params []Param
	decay  []bool
	m, v   [][]float32
	step   int
	starts []int            // virtual start of each parameter (multiples of 8), then the total
	consts [2][8][8]float32 // vector constants without and with weight decay
}

// NewAdamW creates the optimiser for params (their Data and Grad slices are
// kept; frozen params with nil Grad are an error). decay reports whether a
// parameter gets weight decay; nil means all do.
func NewAdamW(params []Param, cfg AdamWConfig, decay func(name string) bool) (*AdamW, error) {
	o := &AdamW{Config: cfg}
	if cfg.Beta1 < 0 || cfg.Beta1 >= 1 || cfg.Beta2 < 0 || cfg.Beta2 >= 1 || cfg.Eps < 0 || cfg.WeightDecay < 0 {
		return nil, fmt.Errorf("adamw: invalid hyper-parameters %+v (need 0 ≤ betas < 1, eps ≥ 0, weight decay ≥ 0)", cfg)
	}
	for _, p := range params {
		if p.Grad == nil {
			return nil, fmt.Errorf("adamw: parameter %s has no gradient (frozen model?)", p.Name)
		}
		if len(p.Grad) != len(p.Data) {
			return nil, fmt.Errorf("adamw: parameter %s has %d values but %d gradients", p.Name, len(p.Data), len(p.Grad))
		}
		o.params = append(o.params, p)
		o.decay = append(o.decay, decay == nil || decay(p.Name))
		o.m = append(o.m, make([]float32, len(p.Data)))
		o.v = append(o.v, make([]float32, len(p.Data)))
	}
	return o, nil
}

// Steps reports how many updates have been applied.
func (o *AdamW) Steps() int { return o.step }

// Step applies one update with learning rate lr using the current gradients.
// All parameters are updated in one parallel pass over a virtual index space
// in which every parameter starts at a multiple of 8, so that ranges cut at
// multiples of 8 split each parameter at vector boundaries.
func (o *AdamW) Step(lr float64) {
	o.step++
	c := o.Config
	bc1 := 1 - math.Pow(c.Beta1, float64(o.step))
	bc2 := 1 - math.Pow(c.Beta2, float64(o.step))
	b1, b2 := float32(c.Beta1), float32(c.Beta2)
	stepSize := float32(lr / bc1)
	invSqrtBC2 := float32(1 / math.Sqrt(bc2))
	eps := float32(c.Eps)
	setAdamConsts(&o.consts[0], b1, b2, invSqrtBC2, eps, stepSize, 1)
	setAdamConsts(&o.consts[1], b1, b2, invSqrtBC2, eps, stepSize, float32(1-lr*c.WeightDecay))
	if o.starts == nil {
		total := 0
		for _, p := range o.params {
			o.starts = append(o.starts, total)
			total += (len(p.Data) + vecAlign - 1) &^ (vecAlign - 1)
		}
		o.starts = append(o.starts, total)
	}
	ParallelFor(o.starts[len(o.params)], 8192, func(lo, hi int) {
		for i, p := range o.params {
			start := o.starts[i]
			a, b := max(lo-start, 0), min(hi-start, len(p.Data))
			if a >= b {
				continue
			}
			consts := &o.consts[0]
			if o.decay[i] {
				consts = &o.consts[1]
			}
			adamUpdate(p.Data[a:b], p.Grad[a:b], o.m[i][a:b], o.v[i][a:b], consts)
		}
	})
}

// adamUpdate applies the AdamW update to one range (vector body, scalar tail).
func adamUpdate(w, g, m, v []float32, c *[8][8]float32) {
	k := vecLen(len(w))
	if k > 0 {
		vAdam(&w[0], &g[0], &m[0], &v[0], k, c)
	}
	b1, b2, invSqrtBC2, eps, stepSize, keep := c[0][0], c[2][0], c[4][0], c[5][0], c[6][0], c[7][0]
	for j := k; j < len(w); j++ {
		gj := g[j]
		mj := b1*m[j] + (1-b1)*gj
		vj := b2*v[j] + (1-b2)*gj*gj
		m[j], v[j] = mj, vj
		denom := float32(math.Sqrt(float64(vj)))*invSqrtBC2 + eps
		w[j] = w[j]*keep - stepSize*mj/denom
	}
}

// setAdamConsts lays out the update's constants for the vector kernel, each
// broadcast to 8 lanes: β1, 1−β1, β2, 1−β2, 1/√(1−β2ᵗ), ε, step size, keep.
func setAdamConsts(c *[8][8]float32, b1, b2, invSqrtBC2, eps, stepSize, keep float32) {
	for i, v := range [8]float32{b1, 1 - b1, b2, 1 - b2, invSqrtBC2, eps, stepSize, keep} {
		for j := range c[i] {
			c[i][j] = v
		}
	}
}

// State exports the optimiser state: the step count and, per parameter, the
// first and second moments named "<param>.exp_avg" and "<param>.exp_avg_sq"
// (PyTorch's names). The tensors share memory with the optimiser.
func (o *AdamW) State() (step int, tensors []Tensor) {
	for i, p := range o.params {
		tensors = append(tensors,
			Tensor{Name: p.Name + ".exp_avg", Shape: p.Shape, Data: o.m[i]},
			Tensor{Name: p.Name + ".exp_avg_sq", Shape: p.Shape, Data: o.v[i]})
	}
	return o.step, tensors
}

// LoadState imports state exported by State (copying the data). Every moment
// tensor must be present with the parameter's shape; extra tensors are an error.
func (o *AdamW) LoadState(step int, tensors []Tensor) error {
	if step < 0 {
		return fmt.Errorf("adamw state: negative step %d", step)
	}
	byName := make(map[string]Tensor, len(tensors))
	for _, t := range tensors {
		if _, dup := byName[t.Name]; dup {
			return fmt.Errorf("adamw state: tensor %s appears twice", t.Name)
		}
		byName[t.Name] = t
	}
	for i, p := range o.params {
		for _, part := range []struct {
			suffix string
			dst    []float32
		}{{".exp_avg", o.m[i]}, {".exp_avg_sq", o.v[i]}} {
			name := p.Name + part.suffix
			t, ok := byName[name]
			if !ok {
				return fmt.Errorf("adamw state: missing tensor %s", name)
			}
			if !sameShape(t.Shape, p.Shape) || len(t.Data) != len(part.dst) {
				return fmt.Errorf("adamw state: tensor %s has shape %v (%d values), want %v", name, t.Shape, len(t.Data), p.Shape)
			}
			delete(byName, name)
		}
	}
	if len(byName) > 0 {
		var extra []string
		for n := range byName {
			extra = append(extra, n)
		}
		return fmt.Errorf("adamw state: unknown tensors %s", strings.Join(extra, ", "))
	}
	for i, p := range o.params {
		copy(o.m[i], findTensor(tensors, p.Name+".exp_avg").Data)
		copy(o.v[i], findTensor(tensors, p.Name+".exp_avg_sq").Data)
	}
	o.step = step
	return nil
}

func findTensor(ts []Tensor, name string) Tensor {
	for _, t := range ts {
		if t.Name == name {
			return t
		}
	}
	return Tensor{}
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// normChunk is the fixed block size of the gradient-norm reduction: each block
// is summed in float64 in index order, then the blocks in order.
const normChunk = 8192

// GradNorm returns the global L2 norm of all gradients, √Σ g², computed in
// float64 in a fixed order.
func GradNorm(params []Param) float64 {
	var total float64
	var partial []float64
	for _, p := range params {
		g := p.Grad
		chunks := (len(g) + normChunk - 1) / normChunk
		if cap(partial) < chunks {
			partial = make([]float64, chunks)
		}
		partial = partial[:chunks]
		ParallelChunks(chunks, func(c int) {
			var s float64
			for _, x := range g[c*normChunk : min(len(g), (c+1)*normChunk)] {
				s += float64(x) * float64(x)
			}
			partial[c] = s
		})
		for _, s := range partial {
			total += s
		}
	}
	return math.Sqrt(total)
}

// ClipGradNorm scales all gradients by maxNorm/(norm + 1e-6) when their global
// norm exceeds maxNorm (torch.nn.utils.clip_grad_norm_) and returns the norm
// before clipping. maxNorm ≤ 0 only measures.
func ClipGradNorm(params []Param, maxNorm float64) float64 {
	norm := GradNorm(params)
	if maxNorm <= 0 || norm <= maxNorm {
		return norm
	}
	coef := float32(maxNorm / (norm + 1e-6))
	for _, p := range params {
		g := p.Grad
		ParallelFor(len(g), 8192, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				g[j] *= coef
			}
		})
	}
	return norm
}

// Schedule is a learning-rate multiplier over optimiser steps, as Hugging Face
// transformers' get_scheduler: a linear warm-up from 0 over WarmupSteps, then
//
//	constant: 1
//	linear:   (Total − step)/(Total − Warmup), down to 0 at TotalSteps
//	cosine:   ½(1 + cos(π·progress)), progress = (step − Warmup)/(Total − Warmup)
type Schedule struct {
	Kind        string // "constant", "constant_with_warmup", "linear" or "cosine"
	WarmupSteps int
	TotalSteps  int
}

// Validate checks the kind and step counts.
func (s Schedule) Validate() error {
	switch s.Kind {
	case "constant", "constant_with_warmup", "linear", "cosine":
	default:
		return fmt.Errorf("lr schedule: unknown kind %q (want constant, constant_with_warmup, linear or cosine)", s.Kind)
	}
	if s.WarmupSteps < 0 {
		return fmt.Errorf("lr schedule: negative warmup steps %d", s.WarmupSteps)
	}
	if (s.Kind == "linear" || s.Kind == "cosine") && s.TotalSteps <= 0 {
		return fmt.Errorf("lr schedule: %s needs total steps > 0, got %d", s.Kind, s.TotalSteps)
	}
	return nil
}

// Factor returns the multiplier for the update that follows `step` completed
// updates (step 0 is the first update, as in Hugging Face's LambdaLR).
func (s Schedule) Factor(step int) float64 {
	if step < s.WarmupSteps {
		return float64(step) / float64(max(1, s.WarmupSteps))
	}
	span := float64(max(1, s.TotalSteps-s.WarmupSteps))
	progress := float64(step-s.WarmupSteps) / span
	switch s.Kind {
	case "linear":
		return max(0, 1-progress)
	case "cosine":
		return max(0, 0.5*(1+math.Cos(math.Pi*progress)))
	}
	return 1
}
