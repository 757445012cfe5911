package task

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Config is a task as data: which generator family, its parameters and the
// seed. Built-in presets are Configs with names; a JSON file with the same
// fields (optionally starting from a preset through "base") defines a custom
// task. Task.Config returns the resolved form, with every parameter explicit,
// which is what run directories should record.
type Config struct {
	// Name labels the task in reports (a preset name or a user's choice).
	Name string `json:"name"`
	// Family selects the generator: "summarize", "token_mdp" or "paths".
	Family string `json:"family,omitempty"`
	// Base, in input files only, names a preset whose family and parameters
	// are the starting point; Params then override individual fields.
	Base string `json:"base,omitempty"`
	// Seed fixes the vocabulary draw, hidden tables, prompt streams and
	// corruption assignment: another seed gives a different but statistically
	// similar task.
	Seed uint64 `json:"seed"`
	// Params holds the family's parameters (SummarizeParams or MDPParams);
	// omitted fields take the family defaults.
	Params json.RawMessage `json:"params,omitempty"`
}

// Family names.
const (
	FamilySummarize = "summarize"
	FamilyTokenMDP  = "token_mdp"
	FamilyPaths     = "paths"
)

// DefaultTask is the preset used when a command is given no --task.
const DefaultTask = "sorted"

type preset struct {
	family  string
	summary string
	params  string // JSON overrides of the family defaults
}

var presets = map[string]preset{
	"summarize": {FamilySummarize, "TL;DR analog: list the document's named entities in order of first mention, 3-6 items", `{}`},
	"summarize_short": {FamilySummarize, "summarize with 2-3 items and budget 3: a shorter horizon, smaller gap",
		`{"items_min":2,"items_max":3,"budget":3,"horizon":6}`},
	"summarize_long": {FamilySummarize, "summarize with 6-8 items and budget 8: a longer horizon, larger gap",
		`{"items_min":6,"items_max":8,"budget":8,"horizon":16}`},
	"two_word": {FamilySummarize, "gap closed by horizon: the same documents, completions capped at 2 tokens",
		`{"budget":2,"horizon":2,"corruptions":["drop","neighbour","hallucinate"]}`},
	"sorted": {FamilySummarize, "default: summarize whose summary lists the entities alphabetically: checking is one comparison per token, writing needs a sort; demonstrations drop or duplicate items (length-neutral errors)",
		`{"gold":"sorted","corruptions":["drop","duplicate"],"demo_corruption":0.3,"budget":12}`},
	"sorted_two_word": {FamilySummarize, "sorted with the gap closed by horizon: completions capped at 2 tokens, so any two entities of the document in alphabetical order score the reference's 2 (generating is verifying); demonstrations drop items",
		`{"gold":"sorted","corruptions":["drop"],"demo_corruption":0.3,"budget":2,"horizon":2}`},
	"hidden_ref": {FamilySummarize, "gap closed by a hidden reference: gold = ROUGE-L F1 against a per-document reference no visible rule reproduces",
		`{"gold":"hidden_ref","label_temperature":0.1}`},
	"paths": {FamilyPaths, "path-star graphs: write the path from the start to the goal; checking is one edge lookup per step and one comparison with the goal, writing needs arm_len-1 hops of backward chaining for the first step",
		`{}`},
	"paths_adjacent": {FamilyPaths, "paths with the gap closed: arm_len 1, the goal is a child of the start (writing is one lookup, as checking)",
		`{"arm_len":1}`},
	"mdp_sparse": {FamilyTokenMDP, "token MDP, reward k-sparse linear in unigram/bigram/prompt-pair features (simple verifier)", `{"reward":"sparse"}`},
	"mdp_teacher": {FamilyTokenMDP, "token MDP, reward = log-likelihood under a random teacher transformer of the policy's size (no gap)",
		`{"reward":"teacher","length_penalty":3.5,"label_temperature":4}`},
}

// PresetNames lists the built-in presets in sorted order.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PresetSummary is a one-line description of a preset ("" if unknown).
func PresetSummary(name string) string { return presets[name].summary }

// Preset returns the named preset's config (seed 1).
func Preset(name string) (Config, error) {
	p, ok := presets[name]
	if !ok {
		return Config{}, fmt.Errorf("task: unknown preset %q (presets: %s)", name, strings.Join(PresetNames(), ", "))
	}
	return Config{Name: name, Family: p.family, Seed: 1, Params: json.RawMessage(p.params)}, nil
}

// Load builds a task from a --task value: a preset name, optionally followed
// by comma-separated overrides ("summarize,horizon=8,seed=3"), or a path to a
// JSON config file (anything ending in .json or containing a path separator).
func Load(spec string) (*Task, error) {
	cfg, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	return New(cfg)
}

// ParseSpec turns a --task value into a Config without building the task.
func ParseSpec(spec string) (Config, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		spec = DefaultTask
	}
	if strings.HasSuffix(spec, ".json") || strings.ContainsAny(spec, `/\`) {
		return ReadConfig(spec)
	}
	parts := splitTopLevel(spec)
	cfg, err := Preset(parts[0])
	if err != nil {
		return Config{}, err
	}
	overrides := map[string]json.RawMessage{}
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if !ok || k == "" {
			return Config{}, fmt.Errorf("task %q: override %q is not key=value", spec, kv)
		}
		switch k {
		case "seed":
			if _, err := fmt.Sscan(v, &cfg.Seed); err != nil {
				return Config{}, fmt.Errorf("task %q: seed %q is not a non-negative integer", spec, v)
			}
			continue
		case "name":
			cfg.Name = v
			continue
		}
		raw := json.RawMessage(v)
		if !json.Valid(raw) {
			quoted, _ := json.Marshal(v) // a bare word is a string value
			raw = quoted
		}
		overrides[k] = raw
	}
	if len(overrides) > 0 {
		merged, err := mergeParams(cfg.Params, overrides)
		if err != nil {
			return Config{}, fmt.Errorf("task %q: %w", spec, err)
		}
		cfg.Params = merged
	}
	return cfg, nil
}

// ReadConfig reads a task config file; "base" is resolved here.
func ReadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("task: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig decodes a task config file's bytes (path names it in errors).
func ParseConfig(path string, data []byte) (Config, error) {
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))) // a leading byte-order mark is not JSON
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("task config %s: %w", path, err)
	}
	if cfg.Base != "" {
		base, err := Preset(cfg.Base)
		if err != nil {
			return Config{}, fmt.Errorf("task config %s: base: %w", path, err)
		}
		if cfg.Family != "" && cfg.Family != base.Family {
			return Config{}, fmt.Errorf("task config %s: family %q conflicts with base preset %q (family %q)", path, cfg.Family, cfg.Base, base.Family)
		}
		cfg.Family = base.Family
		var over map[string]json.RawMessage
		if len(cfg.Params) > 0 {
			if err := json.Unmarshal(cfg.Params, &over); err != nil {
				return Config{}, fmt.Errorf("task config %s: params: %w", path, err)
			}
		}
		merged, err := mergeParams(base.Params, over)
		if err != nil {
			return Config{}, fmt.Errorf("task config %s: %w", path, err)
		}
		cfg.Params = merged
		if cfg.Name == "" {
			cfg.Name = cfg.Base
		}
		cfg.Base = ""
	}
	if cfg.Name == "" {
		return Config{}, fmt.Errorf("task config %s: field \"name\" is missing", path)
	}
	if cfg.Family == "" {
		return Config{}, fmt.Errorf("task config %s: field \"family\" is missing (or give \"base\": a preset name)", path)
	}
	return cfg, nil
}

// mergeParams overlays key/value overrides on a params object.
func mergeParams(base json.RawMessage, over map[string]json.RawMessage) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(base) > 0 {
		if err := json.Unmarshal(base, &m); err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
	}
	for k, v := range over {
		m[k] = v
	}
	return json.Marshal(m)
}

// decodeParams fills dst (already holding the family defaults) from raw,
// rejecting unknown fields so a typo never silently falls back to a default.
func decodeParams(raw json.RawMessage, dst any) error {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("params: %w", err)
	}
	return nil
}

// splitTopLevel splits on commas outside brackets, braces and quotes, so an
// override value may be a JSON list: summarize,corruptions=["drop","neighbour"].
func splitTopLevel(s string) []string {
	var parts []string
	depth, start, quoted := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' && (i == 0 || s[i-1] != '\\'):
			quoted = !quoted
		case quoted:
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}
