package exp

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
)

// Method produces one cell's result. Implementations must be deterministic in
// the cell (seed every RNG from cell.Seed() and the parameters), must build
// anything another cell could reuse (an SFT model, preference data, a DPO
// policy, reference log-probs) through art, keyed by exactly the settings it
// depends on, and must not modify a value they got from Memo.
type Method interface {
	Run(ctx context.Context, cell Cell, art *Artifacts) (Result, error)
}

// MethodFunc adapts a function to Method.
type MethodFunc func(ctx context.Context, cell Cell, art *Artifacts) (Result, error)

// Run calls f.
func (f MethodFunc) Run(ctx context.Context, cell Cell, art *Artifacts) (Result, error) {
	return f(ctx, cell, art)
}

// Result is what a method measured. Metric names used by the shipped
// experiments (docs/experiments.md lists them all): gold, gold_ci_low,
// gold_ci_high, gold_frac (gold / reference gold), win_rate, kl, rouge_l,
// mean_length, eos_rate, rm_val_likelihood, rm_val_accuracy, bon_gold_max,
// pair_gold_margin. Leave a metric out rather than record NaN.
type Result struct {
	Metrics map[string]float64 `json:"metrics"`
	// Curves are series such as "bon" (x = N, y = gold of the best of N) or
	// "train/loss" (x = step); the report averages them over seeds at equal x.
	Curves  map[string][]Point `json:"curves,omitempty"`
	Samples []Sample           `json:"samples,omitempty"`
	Notes   []string           `json:"notes,omitempty"`
}

// Point is one point of a curve.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Sample is one row of a report's sample table.
type Sample struct {
	Prompt        string  `json:"prompt"`
	Completion    string  `json:"completion"`
	Gold          float64 `json:"gold"`
	Reference     string  `json:"reference,omitempty"`
	ReferenceGold float64 `json:"reference_gold,omitempty"`
	EndedWithEOS  bool    `json:"ended_with_eos"`
}

// validate rejects what JSON cannot store or the report cannot use.
func (r Result) validate() error {
	if len(r.Metrics) == 0 {
		return fmt.Errorf("the method returned no metrics")
	}
	for name, v := range r.Metrics {
		if name == "" {
			return fmt.Errorf("a metric has an empty name")
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("metric %q = %v; leave an undefined metric out instead", name, v)
		}
	}
	for name, pts := range r.Curves {
		for i, p := range pts {
			if math.IsNaN(p.X) || math.IsInf(p.X, 0) || math.IsNaN(p.Y) || math.IsInf(p.Y, 0) {
				return fmt.Errorf("curve %q point %d = (%v, %v): want finite numbers", name, i, p.X, p.Y)
			}
		}
	}
	for i, s := range r.Samples {
		if math.IsNaN(s.Gold) || math.IsInf(s.Gold, 0) || math.IsNaN(s.ReferenceGold) || math.IsInf(s.ReferenceGold, 0) {
			return fmt.Errorf("sample %d: gold %v, reference gold %v: want finite numbers", i, s.Gold, s.ReferenceGold)
		}
	}
	return nil
}

// Registry maps method names (as the specs' "method" values) to methods.
type Registry struct {
	mu      sync.RWMutex
	methods map[string]Method
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{methods: map[string]Method{}} }

// Register adds a method; registering a name twice panics (a wiring bug).
func (r *Registry) Register(name string, m Method) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" || m == nil {
		panic("exp: Register needs a name and a method")
	}
	if _, dup := r.methods[name]; dup {
		panic("exp: method registered twice: " + name)
	}
	r.methods[name] = m
}

// Lookup returns the method registered under name.
func (r *Registry) Lookup(name string) (Method, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.methods[name]
	return m, ok
}

// Names lists the registered methods in sorted order.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.methods))
	for n := range r.methods {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (r *Registry) describe() string {
	n := r.Names()
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, ", ")
}

var defaultRegistry = NewRegistry()

// Register adds a method to the default registry, which Run uses when
// Options.Methods is nil. Wiring packages call it from init.
func Register(name string, m Method) { defaultRegistry.Register(name, m) }

// DefaultRegistry is the registry wiring packages register into.
func DefaultRegistry() *Registry { return defaultRegistry }
