// Package task is roads' suite of synthetic preference tasks: seeded prompt
// generators with disjoint train/validation/test splits, a word-level
// tokenizer per task, reference completions, an exactly known gold reward
// r*(prompt, completion) and a knob that opens or closes the
// generation–verification gap (Swamy et al. 2025, §4.4). docs/tasks.md
// explains each task and why verifying is, or is not, simpler than generating.
//
// Token conventions: prompts end with a separator token; completions are
// token ids without EOS or PAD (EOS is appended by whoever trains or scores
// log-probabilities); a completion may contain only the ids AllowedOutput
// marks, and at most Horizon of them.
package task

import (
	"encoding/json"
	"fmt"
	"strings"

	"roads/tok"
)

// Split is one of the three disjoint prompt partitions.
type Split int

const (
	Train Split = iota
	Validation
	Test
)

func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Validation:
		return "validation"
	case Test:
		return "test"
	}
	return fmt.Sprintf("split(%d)", int(s))
}

// ParseSplit accepts train, validation (or val) and test.
func ParseSplit(s string) (Split, error) {
	switch strings.ToLower(s) {
	case "train":
		return Train, nil
	case "validation", "val", "valid":
		return Validation, nil
	case "test":
		return Test, nil
	}
	return 0, fmt.Errorf("task: unknown split %q (want train, validation or test)", s)
}

// Split fractions, in percent of the prompt space (by content hash).
const (
	trainPercent      = 80
	validationPercent = 10
)

// Stream tags keep the RNG streams of different purposes apart.
const (
	tagPrompts uint64 = iota + 1
	tagSplit
	tagVocab
	tagKind
	tagCycle
	tagHidden
	tagWeights
	tagTeacher
	tagDemo
)

// family is what a generator family implements; Task adds the shared parts.
type family interface {
	tokenizer() *tok.Words
	// genPrompt draws one candidate prompt (its split is decided by Task).
	genPrompt(r *RNG) []int32
	// reference, gold and script check the prompt's layout themselves.
	reference(prompt []int32) ([]int32, error)
	gold(prompt, completion []int32) (float64, error)
	script(prompt []int32, rate float64) (Script, error)
	allowed() []bool
	horizon() int
	maxPromptLen() int
	demoRate() float64
	labelTemperature() float64
	gap() string
	params() any
}

// Task is one configured task. It is immutable and safe for concurrent use.
type Task struct {
	cfg Config
	fam family
}

// New builds a task from a config, filling and validating its parameters.
func New(cfg Config) (*Task, error) {
	if cfg.Base != "" {
		return nil, fmt.Errorf("task %q: \"base\" must be resolved by ReadConfig/ParseSpec before New", cfg.Name)
	}
	var fam family
	var err error
	switch cfg.Family {
	case FamilySummarize:
		fam, err = newSummarize(cfg)
	case FamilyTokenMDP:
		fam, err = newTokenMDP(cfg)
	case FamilyPaths:
		fam, err = newPaths(cfg)
	default:
		return nil, fmt.Errorf("task %q: unknown family %q (want %s, %s or %s)", cfg.Name, cfg.Family, FamilySummarize, FamilyTokenMDP, FamilyPaths)
	}
	if err != nil {
		return nil, fmt.Errorf("task %q: %w", cfg.Name, err)
	}
	resolved, err := json.Marshal(fam.params())
	if err != nil {
		return nil, fmt.Errorf("task %q: %w", cfg.Name, err)
	}
	cfg.Params = resolved
	return &Task{cfg: cfg, fam: fam}, nil
}

// Name is the task's label.
func (t *Task) Name() string { return t.cfg.Name }

// Config returns the resolved config: every parameter explicit.
func (t *Task) Config() Config { return t.cfg }

// Tokenizer is the task's word-level vocabulary (PAD 0, EOS 1, UNK 2); save it
// beside every model trained on the task.
func (t *Task) Tokenizer() *tok.Words { return t.fam.tokenizer() }

// Horizon is the maximum completion length in tokens (EOS excluded); a
// sampler forces EOS after this many tokens.
func (t *Task) Horizon() int { return t.fam.horizon() }

// MaxPromptLen bounds prompt length in tokens (separator included).
func (t *Task) MaxPromptLen() int { return t.fam.maxPromptLen() }

// MaxTotalLen = MaxPromptLen + Horizon + 1 (the EOS): the smallest
// n_positions a model for this task needs.
func (t *Task) MaxTotalLen() int { return t.MaxPromptLen() + t.Horizon() + 1 }

// AllowedOutput is a vocabulary-sized mask of the ids a completion may
// contain; EOS is allowed, PAD, UNK and the prompt separator are not.
// The returned slice is a copy.
func (t *Task) AllowedOutput() []bool { return append([]bool(nil), t.fam.allowed()...) }

// DemoRate is the documented corruption rate of SFT demonstrations.
func (t *Task) DemoRate() float64 { return t.fam.demoRate() }

// LabelTemperature is the default Bradley–Terry temperature for preference
// labels, chosen per task because reward scales differ.
func (t *Task) LabelTemperature() float64 { return t.fam.labelTemperature() }

// Gap describes why verifying is (or is not) simpler than generating on this
// task and which parameter moves the gap.
func (t *Task) Gap() string { return t.fam.gap() }

// Reference returns the reference completion of a prompt: a maximiser (or,
// for mdp_teacher, a beam-search approximate maximiser) of the gold reward.
func (t *Task) Reference(prompt []int32) ([]int32, error) {
	if err := t.checkPrompt(prompt); err != nil {
		return nil, err
	}
	return t.fam.reference(prompt)
}

// Gold is the exact gold reward r*(prompt, completion). The completion must
// not contain EOS or PAD; other disallowed ids are scored as errors of the
// completion, not rejected.
func (t *Task) Gold(prompt, completion []int32) (float64, error) {
	if err := t.checkPrompt(prompt); err != nil {
		return 0, err
	}
	v := int32(t.Tokenizer().VocabSize())
	for i, id := range completion {
		switch {
		case id < 0 || id >= v:
			return 0, fmt.Errorf("task %s: completion token %d at position %d is outside the vocabulary (size %d)", t.Name(), id, i, v)
		case id == t.Tokenizer().EOS():
			return 0, fmt.Errorf("task %s: completion contains EOS at position %d (strip EOS before scoring)", t.Name(), i)
		case id == t.Tokenizer().PAD():
			return 0, fmt.Errorf("task %s: completion contains PAD at position %d", t.Name(), i)
		}
	}
	return t.fam.gold(prompt, completion)
}

// DemoScript is the process that writes demonstrations for a prompt at a
// corruption rate: each reference unit is kept with probability 1-rate and
// otherwise replaced by one fixed corruption (see docs/tasks.md). At rate 0.5
// every completion the process can write has the same probability, so the
// demonstrator's likelihood carries no information about the gold reward.
func (t *Task) DemoScript(prompt []int32, rate float64) (Script, error) {
	if rate < 0 || rate > 1 {
		return Script{}, fmt.Errorf("task %s: corruption rate %v is outside [0, 1]", t.Name(), rate)
	}
	if err := t.checkPrompt(prompt); err != nil {
		return Script{}, err
	}
	s, err := t.fam.script(prompt, rate)
	if err != nil {
		return Script{}, err
	}
	if n := s.MaxLen(); n > t.Horizon() {
		return Script{}, fmt.Errorf("task %s: demonstrations can reach %d tokens, above the horizon %d (raise horizon or drop the \"duplicate\" corruption)", t.Name(), n, t.Horizon())
	}
	return s, nil
}

// Demo samples one SFT demonstration at the task's DemoRate.
func (t *Task) Demo(prompt []int32, r *RNG) ([]int32, error) {
	s, err := t.DemoScript(prompt, t.DemoRate())
	if err != nil {
		return nil, err
	}
	return s.Sample(r), nil
}

// Prompts returns n prompts of a split from a numbered stream. Stream 0 of
// the test split is the conventional evaluation set; data commands use the
// data seed as the stream. Splits never overlap: a prompt's split is a
// function of its content (a seeded hash), and each stream keeps only the
// candidates that fall in its split. Duplicates within a split are possible
// when the prompt space is small (token_mdp).
func (t *Task) Prompts(split Split, stream uint64, n int) [][]int32 {
	r := NewRNG(t.cfg.Seed, tagPrompts, uint64(split), stream)
	out := make([][]int32, 0, n)
	for len(out) < n {
		p := t.fam.genPrompt(r)
		if t.SplitOf(p) == split {
			out = append(out, p)
		}
	}
	return out
}

// SplitOf is the split a prompt belongs to.
func (t *Task) SplitOf(prompt []int32) Split {
	h := Hash(t.cfg.Seed, tagSplit)
	for _, id := range prompt {
		h = Hash(h, uint64(id))
	}
	switch b := h % 100; {
	case b < trainPercent:
		return Train
	case b < trainPercent+validationPercent:
		return Validation
	}
	return Test
}

// Encode tokenizes text with the task's vocabulary.
func (t *Task) Encode(text string) ([]int32, error) { return t.Tokenizer().Encode(text) }

// Decode renders ids as text (EOS and PAD dropped).
func (t *Task) Decode(ids []int32) string { return t.Tokenizer().Decode(ids) }

// checkPrompt rejects ids outside the vocabulary and prompts that are too long.
func (t *Task) checkPrompt(prompt []int32) error {
	if len(prompt) == 0 {
		return fmt.Errorf("task %s: empty prompt", t.Name())
	}
	if len(prompt) > t.MaxPromptLen() {
		return fmt.Errorf("task %s: prompt has %d tokens, above the maximum %d", t.Name(), len(prompt), t.MaxPromptLen())
	}
	v := int32(t.Tokenizer().VocabSize())
	for i, id := range prompt {
		if id < 3 || id >= v {
			return fmt.Errorf("task %s: prompt token %d at position %d is a special id or outside the vocabulary", t.Name(), id, i)
		}
	}
	return nil
}
