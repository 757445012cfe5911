package exp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Cell is one point of an experiment's grid: everything a method needs to
// produce one result record.
type Cell struct {
	// ID is CellID(Experiment, Params): a function of the resolved
	// configuration alone, so the same cell gets the same ID in every run, on
	// every machine, under every preset that resolves to it.
	ID         string
	Experiment string
	// Preset is the preset the cell was resolved under ("" for none). It is
	// recorded but not hashed: only its effect on Params matters.
	Preset string
	// Axes are the cell's axis values in grid order.
	Axes []AxisValue
	// Params is the resolved configuration (plain JSON values).
	Params Params
}

// AxisValue is one coordinate of a cell.
type AxisValue struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// cellKey is what a cell ID hashes. Changing it changes every ID (the tests
// pin one), which would make every stored result look unfinished.
type cellKey struct {
	Experiment string `json:"experiment"`
	Params     Params `json:"params"`
}

// CellID is the first 16 hex digits of SHA-256 over the canonical JSON
// (sorted keys, no spaces) of {"experiment": NAME, "params": PARAMS}.
func CellID(experiment string, params Params) (string, error) {
	return HashKey(cellKey{Experiment: experiment, Params: params})
}

// Method is the cell's method name.
func (c Cell) Method() string {
	m, _ := c.Params["method"].(string)
	return m
}

// Seed is the cell's seed (validated as a non-negative integer).
func (c Cell) Seed() uint64 {
	s, _ := asInt(c.Params["seed"])
	return uint64(s)
}

// Label renders the axis values, e.g. "task=summarize seed=1 method=dpo".
func (c Cell) Label() string {
	parts := make([]string, len(c.Axes))
	for i, a := range c.Axes {
		parts[i] = a.Name + "=" + valueString(a.Value)
	}
	return strings.Join(parts, " ")
}

// Axis returns the cell's value of an axis.
func (c Cell) Axis(name string) (any, bool) {
	for _, a := range c.Axes {
		if a.Name == name {
			return a.Value, true
		}
	}
	return nil, false
}

func (c Cell) paramError(path, want string, v any) error {
	return fmt.Errorf("cell %s (%s): parameter %q: want %s, got %s %s", c.ID, c.Label(), path, want, kindOf(v), valueString(v))
}

// Has reports whether a parameter is set.
func (c Cell) Has(path string) bool {
	_, ok := getPath(c.Params, path)
	return ok
}

// Value returns a parameter (a dotted path) or an error naming it.
func (c Cell) Value(path string) (any, error) {
	v, ok := getPath(c.Params, path)
	if !ok {
		return nil, fmt.Errorf("cell %s (%s): parameter %q is not set", c.ID, c.Label(), path)
	}
	return v, nil
}

// String returns a string parameter.
func (c Cell) String(path string) (string, error) {
	v, err := c.Value(path)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", c.paramError(path, "a string", v)
	}
	return s, nil
}

// Float returns a numeric parameter.
func (c Cell) Float(path string) (float64, error) {
	v, err := c.Value(path)
	if err != nil {
		return 0, err
	}
	f, ok := v.(float64)
	if !ok {
		return 0, c.paramError(path, "a number", v)
	}
	return f, nil
}

// Int returns an integer parameter.
func (c Cell) Int(path string) (int, error) {
	v, err := c.Value(path)
	if err != nil {
		return 0, err
	}
	i, ok := asInt(v)
	if !ok || i > math.MaxInt32 || i < math.MinInt32 {
		return 0, c.paramError(path, "an integer", v)
	}
	return int(i), nil
}

// Bool returns a boolean parameter.
func (c Cell) Bool(path string) (bool, error) {
	v, err := c.Value(path)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, c.paramError(path, "true or false", v)
	}
	return b, nil
}

// Decode decodes a parameter (typically an object of a stage's settings) into
// v, which should hold the defaults: fields the cell sets override them, and
// an unknown field is an error naming the cell and the parameter.
func (c Cell) Decode(path string, v any) error {
	raw, err := c.Value(path)
	if err != nil {
		return err
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("cell %s (%s): parameter %q: %w", c.ID, c.Label(), path, err)
	}
	return nil
}
