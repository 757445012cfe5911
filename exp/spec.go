package exp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"roads/experiments"
)

// Spec is one experiment: a grid of cells. A cell's parameters are, merged in
// this order (later wins):
//
//	params  ←  presets[P].params  ←  method_params[M]  ←  presets[P].method_params[M]  ←  the cell's axis values
//
// where M is the cell's method. The grid is the Cartesian product of the axes
// in the order written, the first axis outermost (so "task", "seed" first and
// "method" last keeps the cells that share an SFT model together).
type Spec struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Inherit names a settings file (experiments/NAME.json, normally
	// "common") whose params, method_params and presets lie under this
	// spec's own: see Inherit below. The stored spec.json is the merged
	// result, with Inherit cleared.
	Inherit     string `json:"inherit,omitempty"`
	Description string `json:"description,omitempty"`
	// Paper quotes the paper's numbers this experiment mirrors.
	Paper        string            `json:"paper,omitempty"`
	Params       Params            `json:"params"`
	MethodParams map[string]Params `json:"method_params,omitempty"`
	Axes         Axes              `json:"axes"`
	Presets      map[string]Preset `json:"presets,omitempty"`
	Table        *TableSpec        `json:"table,omitempty"`
	Comparisons  []Comparison      `json:"comparisons,omitempty"`
	Plots        []PlotSpec        `json:"plots,omitempty"`

	// Source is where the spec was read from (a path or "embedded:NAME").
	Source string `json:"-"`
}

// Preset scales an experiment: parameter overrides and replacement axis
// values (typically smaller models and fewer seeds for "quick", more seeds
// for "full").
type Preset struct {
	Description  string            `json:"description,omitempty"`
	Params       Params            `json:"params,omitempty"`
	MethodParams map[string]Params `json:"method_params,omitempty"`
	// Axes replaces the values of existing axes; it cannot add an axis.
	Axes Axes `json:"axes,omitempty"`
}

// Axis is one dimension of the grid. Its name is a parameter path
// ("method", "seed", "task", "n_pairs", "rm.d_model").
type Axis struct {
	Name   string
	Values []any
}

// Axes keeps the axes in the order the spec file lists them.
type Axes []Axis

// UnmarshalJSON reads a JSON object of name → list of values, keeping the
// order of the keys.
func (a *Axes) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("axes: want an object of axis name → list of values")
	}
	var out Axes
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name := tok.(string)
		var values []any
		if err := dec.Decode(&values); err != nil {
			return fmt.Errorf("axes.%s: want a list of values: %w", name, err)
		}
		out = append(out, Axis{Name: name, Values: values})
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	*a = out
	return nil
}

// MarshalJSON writes the axes as an object in their order.
func (a Axes) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, ax := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(ax.Name)
		v, err := json.Marshal(ax.Values)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Names lists the axis names in order.
func (a Axes) Names() []string {
	out := make([]string, len(a))
	for i, ax := range a {
		out[i] = ax.Name
	}
	return out
}

// Find returns the axis with the given name.
func (a Axes) Find(name string) (Axis, bool) {
	for _, ax := range a {
		if ax.Name == name {
			return ax, true
		}
	}
	return Axis{}, false
}

// Selector picks cells by axis values: {"method": "dpo", "task": "two_word"}.
// The special values "$max" and "$min" pick the largest or smallest value of
// a numeric axis among the results present (e.g. the largest n_pairs run).
type Selector map[string]any

// Term is one weighted arm of a contrast.
type Term struct {
	Coef  float64  `json:"coef"`
	Where Selector `json:"where"`
}

// Comparison is a paired contrast between arms of an experiment, and the
// prediction it tests. Cells are paired on every axis value the contrast does
// not fix (normally seed, and task where the arms share it), so the
// comparison of method A and method B at seed s uses the same task instance,
// data and SFT model. A and B are shorthand for the terms +1·A − 1·B.
type Comparison struct {
	ID     string   `json:"id"`
	Title  string   `json:"title"`
	Metric string   `json:"metric"`
	A      Selector `json:"a,omitempty"`
	B      Selector `json:"b,omitempty"`
	Terms  []Term   `json:"terms,omitempty"`
	// Where restricts every term (e.g. {"task": "summarize"}).
	Where Selector `json:"where,omitempty"`
	// Expect is the predicted sign of the contrast: "positive", "negative" or
	// "zero" (within ±Margin). With a Hypothesis it is what that hypothesis
	// predicts; without one, the paper's pattern.
	Expect string `json:"expect"`
	// Margin is the equivalence margin in the metric's units: a contrast whose
	// whole CI lies within ±Margin counts as no effect.
	Margin     float64 `json:"margin,omitempty"`
	Hypothesis string  `json:"hypothesis,omitempty"`
	// PaperOutcome is what the paper found for this prediction: "supported"
	// or "not supported".
	PaperOutcome string `json:"paper_outcome,omitempty"`
	// Paper quotes the paper's numbers for the same comparison.
	Paper string `json:"paper,omitempty"`
}

// Contrast returns the comparison's terms (A and B expanded).
func (c Comparison) Contrast() []Term {
	if len(c.Terms) > 0 {
		return c.Terms
	}
	return []Term{{Coef: 1, Where: c.A}, {Coef: -1, Where: c.B}}
}

// Expectations.
const (
	ExpectPositive = "positive"
	ExpectNegative = "negative"
	ExpectZero     = "zero"
)

// Verdicts (of comparisons and hypotheses).
const (
	Supported     = "supported"
	NotSupported  = "not supported"
	Inconclusive  = "inconclusive"
	paperVerdicts = "supported, not supported"
)

// TableSpec chooses the experiment table's rows and columns. Rows default to
// every axis except seed; metrics default to gold, win_rate and kl.
type TableSpec struct {
	Rows    []string `json:"rows,omitempty"`
	Metrics []string `json:"metrics,omitempty"`
}

// PlotSpec is one figure of the report.
//
//	kind "axis":    metric (y, mean ± 95% CI over seeds) against an axis (x), one line per series value
//	kind "curve":   a recorded curve (BoN, training loss) averaged over seeds, one line per series value
//	kind "scatter": one metric against another, one point (± CI) per series value
type PlotSpec struct {
	Kind   string   `json:"kind"`
	File   string   `json:"file"`
	Title  string   `json:"title,omitempty"`
	X      string   `json:"x,omitempty"`      // axis (kind axis) or metric (kind scatter)
	Y      string   `json:"y,omitempty"`      // metric (axis, scatter)
	Curve  string   `json:"curve,omitempty"`  // curve name (kind curve)
	Series string   `json:"series,omitempty"` // axis whose values are the lines
	Where  Selector `json:"where,omitempty"`
	LogX   bool     `json:"log_x,omitempty"`
	XLabel string   `json:"x_label,omitempty"`
	YLabel string   `json:"y_label,omitempty"`
}

var (
	namePattern       = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	hypothesisPattern = regexp.MustCompile(`^H[1-6]$`)
)

// ParseSpec decodes and validates a spec; source names it in errors (a
// file path, or "embedded:NAME" for a built-in one). An inherited settings
// file is looked up next to a spec file first, then among the built-in ones.
func ParseSpec(source string, data []byte) (*Spec, error) {
	var s Spec
	if err := decodeStrict(source, data, &s); err != nil {
		return nil, err
	}
	s.Source = source
	if s.Inherit != "" {
		if err := s.inherit(); err != nil {
			return nil, fmt.Errorf("%s: inherit %q: %w", source, s.Inherit, err)
		}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return &s, nil
}

// ReadSpec reads a spec file.
func ReadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read experiment spec: %w", err)
	}
	return ParseSpec(path, data)
}

// Settings is a shared settings file (experiments/common.json): what every
// experiment that inherits it starts from.
type Settings struct {
	Description  string            `json:"description,omitempty"`
	Params       Params            `json:"params"`
	MethodParams map[string]Params `json:"method_params,omitempty"`
	// Presets are merged into the experiment's presets of the same name
	// (created if the experiment has none); a preset axis applies only to an
	// experiment that has that axis and does not set it itself.
	Presets map[string]Preset `json:"presets,omitempty"`
}

// settingsFiles are the experiments/*.json files that are not experiments.
var settingsFiles = map[string]bool{"common": true}

func (s *Spec) loadSettings() (*Settings, error) {
	name := s.Inherit
	if !namePattern.MatchString(name) || !settingsFiles[name] {
		return nil, fmt.Errorf("not a settings file (have: common)")
	}
	var data []byte
	source := "embedded:" + name
	if !strings.HasPrefix(s.Source, "embedded:") {
		path := filepath.Join(filepath.Dir(s.Source), name+".json")
		if b, err := os.ReadFile(path); err == nil {
			data, source = b, path
		}
	}
	if data == nil {
		b, err := fs.ReadFile(experiments.FS, name+".json")
		if err != nil {
			return nil, err
		}
		data = b
	}
	var set Settings
	if err := decodeStrict(source, data, &set); err != nil {
		return nil, err
	}
	return &set, nil
}

// inherit merges the settings file under the spec: settings params, then the
// spec's params on top; method_params per method (only for the methods this
// experiment uses); presets per name.
func (s *Spec) inherit() error {
	set, err := s.loadSettings()
	if err != nil {
		return err
	}
	params := copyParams(set.Params)
	if err := mergeInto(params, s.Params); err != nil {
		return fmt.Errorf("params: %w", err)
	}
	s.Params = params

	used := s.methodNames()
	mp := map[string]Params{}
	for m, p := range set.MethodParams {
		if used[m] {
			mp[m] = copyParams(p)
		}
	}
	for m, p := range s.MethodParams {
		if mp[m] == nil {
			mp[m] = Params{}
		}
		if err := mergeInto(mp[m], p); err != nil {
			return fmt.Errorf("method_params.%s: %w", m, err)
		}
	}
	s.MethodParams = mp
	if len(mp) == 0 {
		s.MethodParams = nil
	}

	for name, sp := range set.Presets {
		own, has := s.Presets[name]
		merged := Preset{Description: sp.Description, Params: copyParams(sp.Params)}
		if has && own.Description != "" {
			merged.Description = own.Description
		}
		if err := mergeInto(merged.Params, own.Params); err != nil {
			return fmt.Errorf("presets.%s.params: %w", name, err)
		}
		for m, p := range sp.MethodParams {
			if used[m] {
				if merged.MethodParams == nil {
					merged.MethodParams = map[string]Params{}
				}
				merged.MethodParams[m] = copyParams(p)
			}
		}
		for m, p := range own.MethodParams {
			if merged.MethodParams == nil {
				merged.MethodParams = map[string]Params{}
			}
			if merged.MethodParams[m] == nil {
				merged.MethodParams[m] = Params{}
			}
			if err := mergeInto(merged.MethodParams[m], p); err != nil {
				return fmt.Errorf("presets.%s.method_params.%s: %w", name, m, err)
			}
		}
		merged.Axes = own.Axes
		for _, ax := range sp.Axes {
			if _, mine := s.Axes.Find(ax.Name); !mine {
				continue
			}
			if _, set := own.Axes.Find(ax.Name); set {
				continue
			}
			merged.Axes = append(merged.Axes, ax)
		}
		if len(merged.Params) == 0 {
			merged.Params = nil
		}
		if s.Presets == nil {
			s.Presets = map[string]Preset{}
		}
		s.Presets[name] = merged
	}
	s.Inherit = ""
	return nil
}

// methodNames collects every method a cell of any preset can have.
func (s *Spec) methodNames() map[string]bool {
	out := map[string]bool{}
	if m, ok := s.Params["method"].(string); ok {
		out[m] = true
	}
	add := func(axes Axes) {
		if ax, ok := axes.Find("method"); ok {
			for _, v := range ax.Values {
				if m, ok := v.(string); ok {
					out[m] = true
				}
			}
		}
	}
	add(s.Axes)
	for _, p := range s.Presets {
		add(p.Axes)
	}
	return out
}

// EmbeddedNames lists the experiments built into the binary (experiments/*.json).
func EmbeddedNames() []string {
	entries, err := fs.ReadDir(experiments.FS, ".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !settingsFiles[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// EmbeddedSpec returns a built-in experiment by name.
func EmbeddedSpec(name string) (*Spec, error) {
	data, err := fs.ReadFile(experiments.FS, name+".json")
	if err != nil || settingsFiles[name] {
		return nil, fmt.Errorf("no built-in experiment %q (have %s)", name, strings.Join(EmbeddedNames(), ", "))
	}
	return ParseSpec("embedded:"+name, data)
}

func isEmbedded(name string) bool {
	for _, n := range EmbeddedNames() {
		if n == name {
			return true
		}
	}
	return false
}

// LoadSpec resolves what `roads run` is given: an existing file path wins;
// otherwise a built-in name, also accepted as "experiments/NAME.json" so the
// documented command works from any directory.
func LoadSpec(arg string) (*Spec, error) {
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		return ReadSpec(arg)
	}
	name := strings.TrimSuffix(filepath.Base(arg), ".json")
	if arg == name || arg == name+".json" || filepath.ToSlash(arg) == "experiments/"+name+".json" {
		if arg == name || isEmbedded(name) {
			return EmbeddedSpec(name)
		}
	}
	return nil, fmt.Errorf("experiment spec %s: no such file (built-in experiments: %s)", arg, strings.Join(EmbeddedNames(), ", "))
}

// Validate checks the spec and resolves every preset's grid, so that a typo
// (an unknown preset axis, a method_params entry no cell uses, a comparison
// selecting a value no axis has) is an error before anything runs.
func (s *Spec) Validate() error {
	if !namePattern.MatchString(s.Name) {
		return fmt.Errorf("name %q: want lower-case letters, digits and _", s.Name)
	}
	if len(s.Axes) == 0 {
		return errors.New("axes: at least one axis is required")
	}
	seen := map[string]bool{}
	for _, ax := range s.Axes {
		if ax.Name == "" || strings.HasPrefix(ax.Name, ".") || strings.HasSuffix(ax.Name, ".") {
			return fmt.Errorf("axes: bad axis name %q", ax.Name)
		}
		if seen[ax.Name] {
			return fmt.Errorf("axes.%s: listed twice", ax.Name)
		}
		seen[ax.Name] = true
		if err := checkAxisValues("axes."+ax.Name, ax.Values); err != nil {
			return err
		}
	}
	for pname, p := range s.Presets {
		if !namePattern.MatchString(pname) {
			return fmt.Errorf("presets: bad preset name %q", pname)
		}
		for _, ax := range p.Axes {
			if !seen[ax.Name] {
				return fmt.Errorf("presets.%s.axes.%s: not an axis of the experiment (axes: %s)", pname, ax.Name, strings.Join(s.Axes.Names(), ", "))
			}
			if err := checkAxisValues("presets."+pname+".axes."+ax.Name, ax.Values); err != nil {
				return err
			}
		}
	}
	// Every preset (and the bare spec) must resolve to a valid grid.
	usedMethods := map[string]bool{}
	for _, pname := range append([]string{""}, s.PresetNames()...) {
		cells, err := s.Cells(pname)
		if err != nil {
			return err
		}
		for _, c := range cells {
			usedMethods[c.Method()] = true
		}
	}
	for m := range s.MethodParams {
		if !usedMethods[m] {
			return fmt.Errorf("method_params.%s: no cell uses method %q", m, m)
		}
	}
	for pname, p := range s.Presets {
		for m := range p.MethodParams {
			if !usedMethods[m] {
				return fmt.Errorf("presets.%s.method_params.%s: no cell uses method %q", pname, m, m)
			}
		}
	}
	if s.Table != nil {
		for _, r := range s.Table.Rows {
			if !seen[r] {
				return fmt.Errorf("table.rows: %q is not an axis", r)
			}
		}
	}
	ids := map[string]bool{}
	for i, c := range s.Comparisons {
		where := fmt.Sprintf("comparisons[%d]", i)
		if !namePattern.MatchString(c.ID) {
			return fmt.Errorf("%s.id %q: want lower-case letters, digits and _", where, c.ID)
		}
		where = "comparisons." + c.ID
		if ids[c.ID] {
			return fmt.Errorf("%s: id used twice", where)
		}
		ids[c.ID] = true
		if err := s.validateComparison(c); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	files := map[string]bool{}
	for i, p := range s.Plots {
		if err := s.validatePlot(p); err != nil {
			return fmt.Errorf("plots[%d]: %w", i, err)
		}
		if files[p.File] {
			return fmt.Errorf("plots[%d]: file %q used twice", i, p.File)
		}
		files[p.File] = true
	}
	return nil
}

func checkAxisValues(where string, values []any) error {
	if len(values) == 0 {
		return fmt.Errorf("%s: no values", where)
	}
	for i, v := range values {
		for j := range i {
			if SameValue(v, values[j]) {
				return fmt.Errorf("%s: value %s listed twice", where, valueString(v))
			}
		}
	}
	return nil
}

// axisHasValue reports whether any preset (or the bare spec) gives axis
// name the value v.
func (s *Spec) axisHasValue(name string, v any) bool {
	lists := [][]any{}
	if ax, ok := s.Axes.Find(name); ok {
		lists = append(lists, ax.Values)
	}
	for _, p := range s.Presets {
		if ax, ok := p.Axes.Find(name); ok {
			lists = append(lists, ax.Values)
		}
	}
	for _, l := range lists {
		for _, x := range l {
			if SameValue(x, v) {
				return true
			}
		}
	}
	return false
}

func (s *Spec) checkSelector(what string, sel Selector) error {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := s.Axes.Find(k); !ok {
			return fmt.Errorf("%s.%s: not an axis (axes: %s)", what, k, strings.Join(s.Axes.Names(), ", "))
		}
		v := sel[k]
		if v == "$max" || v == "$min" {
			continue
		}
		if !s.axisHasValue(k, v) {
			return fmt.Errorf("%s.%s: no preset gives axis %s the value %s", what, k, k, valueString(v))
		}
	}
	return nil
}

func (s *Spec) validateComparison(c Comparison) error {
	if c.Metric == "" {
		return errors.New("metric is required")
	}
	if len(c.Terms) > 0 && (c.A != nil || c.B != nil) {
		return errors.New("give either a and b or terms, not both")
	}
	if len(c.Terms) == 0 && (len(c.A) == 0 || len(c.B) == 0) {
		return errors.New("a and b (or terms) are required")
	}
	for i, t := range c.Contrast() {
		if t.Coef == 0 {
			return fmt.Errorf("terms[%d]: coef is 0", i)
		}
		if len(t.Where) == 0 {
			return fmt.Errorf("terms[%d]: an empty selector", i)
		}
		if err := s.checkSelector(fmt.Sprintf("terms[%d]", i), t.Where); err != nil {
			return err
		}
		for k := range t.Where {
			if _, clash := c.Where[k]; clash {
				return fmt.Errorf("terms[%d].%s: also fixed by where", i, k)
			}
		}
	}
	if err := s.checkSelector("where", c.Where); err != nil {
		return err
	}
	switch c.Expect {
	case ExpectPositive, ExpectNegative, ExpectZero:
	default:
		return fmt.Errorf("expect %q: want positive, negative or zero", c.Expect)
	}
	if c.Margin < 0 {
		return fmt.Errorf("margin %v: must not be negative", c.Margin)
	}
	if c.Expect == ExpectZero && c.Margin == 0 {
		return errors.New(`expect "zero" needs a positive margin (the size of effect that counts as none)`)
	}
	if c.Hypothesis != "" && !hypothesisPattern.MatchString(c.Hypothesis) {
		return fmt.Errorf("hypothesis %q: want H1 … H6", c.Hypothesis)
	}
	switch c.PaperOutcome {
	case "", Supported, NotSupported:
	default:
		return fmt.Errorf("paper_outcome %q: want one of %s", c.PaperOutcome, paperVerdicts)
	}
	return nil
}

func (s *Spec) validatePlot(p PlotSpec) error {
	if !namePattern.MatchString(p.File) {
		return fmt.Errorf("file %q: want lower-case letters, digits and _ (no extension)", p.File)
	}
	if p.Series != "" {
		if _, ok := s.Axes.Find(p.Series); !ok {
			return fmt.Errorf("series %q: not an axis", p.Series)
		}
	}
	if err := s.checkSelector("where", p.Where); err != nil {
		return err
	}
	switch p.Kind {
	case "axis":
		if _, ok := s.Axes.Find(p.X); !ok {
			return fmt.Errorf("x %q: an axis plot needs an axis", p.X)
		}
		if p.Y == "" {
			return errors.New("y (a metric) is required")
		}
	case "curve":
		if p.Curve == "" {
			return errors.New("curve is required")
		}
	case "scatter":
		if p.X == "" || p.Y == "" {
			return errors.New("x and y (metrics) are required")
		}
	default:
		return fmt.Errorf("kind %q: want axis, curve or scatter", p.Kind)
	}
	return nil
}

// PresetNames lists the presets in sorted order.
func (s *Spec) PresetNames() []string {
	names := make([]string, 0, len(s.Presets))
	for n := range s.Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ResolvedAxes returns the grid's axes under a preset.
func (s *Spec) ResolvedAxes(preset string) (Axes, error) {
	p, err := s.preset(preset)
	if err != nil {
		return nil, err
	}
	out := make(Axes, len(s.Axes))
	for i, ax := range s.Axes {
		out[i] = ax
		if pa, ok := p.Axes.Find(ax.Name); ok {
			out[i].Values = pa.Values
		}
	}
	return out, nil
}

func (s *Spec) preset(name string) (Preset, error) {
	if name == "" {
		return Preset{}, nil
	}
	p, ok := s.Presets[name]
	if !ok {
		have := strings.Join(s.PresetNames(), ", ")
		if have == "" {
			have = "none"
		}
		return Preset{}, fmt.Errorf("experiment %s has no preset %q (presets: %s)", s.Name, name, have)
	}
	return p, nil
}

// Cells resolves the grid under a preset ("" for none) into cells, in grid
// order (first axis outermost).
func (s *Spec) Cells(preset string) ([]Cell, error) {
	p, err := s.preset(preset)
	if err != nil {
		return nil, err
	}
	axes, err := s.ResolvedAxes(preset)
	if err != nil {
		return nil, err
	}
	base := copyParams(s.Params)
	if err := mergeInto(base, p.Params); err != nil {
		return nil, fmt.Errorf("presets.%s.params: %w", preset, err)
	}
	total := 1
	for _, ax := range axes {
		total *= len(ax.Values)
	}
	cells := make([]Cell, 0, total)
	ids := map[string]int{}
	idx := make([]int, len(axes))
	for n := 0; n < total; n++ {
		// Odometer: the last axis turns fastest.
		rem := n
		for i := len(axes) - 1; i >= 0; i-- {
			idx[i] = rem % len(axes[i].Values)
			rem /= len(axes[i].Values)
		}
		c, err := s.cell(preset, p, base, axes, idx)
		if err != nil {
			return nil, err
		}
		if j, dup := ids[c.ID]; dup {
			return nil, fmt.Errorf("cells %d (%s) and %d (%s) resolve to the same configuration", j, cells[j].Label(), n, c.Label())
		}
		ids[c.ID] = n
		cells = append(cells, c)
	}
	return cells, nil
}

func (s *Spec) cell(preset string, p Preset, base Params, axes Axes, idx []int) (Cell, error) {
	params := copyParams(base)
	values := make([]AxisValue, len(axes))
	setAxes := func() error {
		for i, ax := range axes {
			values[i] = AxisValue{Name: ax.Name, Value: ax.Values[idx[i]]}
			if err := setPath(params, ax.Name, deepCopy(ax.Values[idx[i]]), false); err != nil {
				return fmt.Errorf("axes.%s: %w", ax.Name, err)
			}
		}
		return nil
	}
	if err := setAxes(); err != nil {
		return Cell{}, err
	}
	method, ok := params["method"].(string)
	if !ok || method == "" {
		return Cell{}, errors.New(`every cell needs a "method" (a string axis or parameter)`)
	}
	if err := mergeInto(params, s.MethodParams[method]); err != nil {
		return Cell{}, fmt.Errorf("method_params.%s: %w", method, err)
	}
	if err := mergeInto(params, p.MethodParams[method]); err != nil {
		return Cell{}, fmt.Errorf("presets.%s.method_params.%s: %w", preset, method, err)
	}
	if err := setAxes(); err != nil { // axis values win over method overrides
		return Cell{}, err
	}
	if m, _ := params["method"].(string); m != method {
		return Cell{}, fmt.Errorf("method_params.%s: must not change the method", method)
	}
	if seed, ok := asInt(params["seed"]); !ok || seed < 0 {
		return Cell{}, fmt.Errorf(`cell method=%s: "seed" must be a non-negative integer (an axis or parameter), got %s`, method, valueString(params["seed"]))
	}
	norm, err := normalize(params)
	if err != nil {
		return Cell{}, fmt.Errorf("cell method=%s: %w", method, err)
	}
	c := Cell{Experiment: s.Name, Preset: preset, Axes: values, Params: norm.(map[string]any)}
	if c.ID, err = CellID(s.Name, c.Params); err != nil {
		return Cell{}, err
	}
	return c, nil
}
