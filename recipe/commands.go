package recipe

import (
	"errors"
	"fmt"

	"roads/data"
	"roads/eval"
	"roads/task"
)

// The configurations of `roads data demos|gen|prompts`: the CLI binds its
// flags from these structs (cliflag.Bind) and calls the functions below, so
// the data a command writes is made by the same recipe as an experiment's.

// Source is what the data commands share: which prompts (task, split, seed,
// n) and where the JSONL goes, under which field names.
type Source struct {
	Task  string    `json:"task" help:"task: a preset (list: roads data task --list), a preset with overrides (summarize,horizon=8,seed=2), or a config .json file"`
	N     int       `json:"n" help:"number of prompts (demos: one demonstration per prompt)"`
	Seed  uint64    `json:"seed" help:"data seed: picks the prompts (a stream of the split); demos: the corruptions; gen: the samples and the labels"`
	Out   string    `json:"out" help:"output JSONL file (TRL format: prompt/completion for demos, preference with explicit prompt plus score_chosen/score_rejected = gold for gen, prompt-only for prompts)"`
	Split string    `json:"split" help:"prompt split: train, validation or test"`
	Keys  data.Keys `json:"-" flag:"-"` // bound by data.Keys.AddFlags
}

// DefaultSource: 1,000 prompts of the default task's train split, seed 0.
func DefaultSource() Source {
	return Source{Task: task.DefaultTask, N: 1000, Split: "train", Keys: data.DefaultKeys()}
}

// load checks Out and N, then resolves the task and the split.
func (s Source) load() (*task.Task, task.Split, error) {
	if s.Out == "" || s.N <= 0 {
		return nil, 0, errors.New("--out and a positive --n are required")
	}
	t, err := task.Load(s.Task)
	if err != nil {
		return nil, 0, err
	}
	split, err := task.ParseSplit(s.Split)
	return t, split, err
}

// DemosConfig is `roads data demos`.
type DemosConfig struct {
	Source
	CorruptionRate float64 `json:"corruption_rate" help:"corruption rate of the demonstrations (-1 = the task's documented demo_corruption)"`
}

// DemosResult is what WriteDemos wrote (the JSON keys are the command's).
type DemosResult struct {
	Out               string  `json:"out"`
	Rows              int     `json:"rows"`
	Task              string  `json:"task"`
	Split             string  `json:"split"`
	Seed              uint64  `json:"seed"`
	CorruptionRate    float64 `json:"corruption_rate"`
	MeanGold          float64 `json:"mean_gold"`
	MeanReferenceGold float64 `json:"mean_reference_gold"`
	MeanLength        float64 `json:"mean_length"`
}

// WriteDemos writes the task demonstrator's demonstrations for c's prompts
// as TRL prompt/completion JSONL.
func WriteDemos(c DemosConfig) (DemosResult, error) {
	t, split, err := c.load()
	if err != nil {
		return DemosResult{}, fmt.Errorf("data demos: %w", err)
	}
	rate := c.CorruptionRate
	if rate < 0 {
		rate = t.DemoRate()
	}
	demos, err := Demonstrations(t, split, c.Seed, c.N, rate)
	if err != nil {
		return DemosResult{}, err
	}
	st, err := SummariseDemos(t, demos)
	if err != nil {
		return DemosResult{}, err
	}
	rows := DemoRows(t, demos)
	if err := data.WritePromptCompletions(c.Out, rows, c.Keys); err != nil {
		return DemosResult{}, err
	}
	return DemosResult{Out: c.Out, Rows: len(rows), Task: t.Name(), Split: split.String(), Seed: c.Seed, CorruptionRate: rate,
		MeanGold: st.MeanGold, MeanReferenceGold: st.MeanReferenceGold, MeanLength: st.MeanLength}, nil
}

// GenConfig is `roads data gen`: preference pairs of a policy's samples,
// labelled by the task's gold reward.
type GenConfig struct {
	Source
	Policy string `json:"policy" help:"sampling policy: reference, random, demo (the task's SFT demonstrator), corrupt:<rate>, or a model directory (normally the SFT model)"`
	PrefSettings
	BTTemperature float64 `json:"bt_temperature" help:"Bradley–Terry temperature, P(a≻b)=σ((r_a-r_b)/T); 0 = noiseless; -1 = the task's label_temperature"`
	Temperature   float64 `json:"temperature" help:"policy sampling temperature (0 = greedy)"`
	MaxNewTokens  int     `json:"max_new_tokens" help:"completion cap (0 = the task's horizon)"`
	KeepIdentical bool    `json:"keep_identical" help:"keep pairs whose two completions are identical"`
}

// DefaultGenConfig: DefaultPrefSettings, the task's label temperature,
// sampling at temperature 1.
func DefaultGenConfig() GenConfig {
	return GenConfig{Source: DefaultSource(), PrefSettings: DefaultPrefSettings(), BTTemperature: -1, Temperature: 1}
}

// GenResult is what WritePreferences wrote (the JSON keys are the command's).
type GenResult struct {
	Out           string         `json:"out"`
	Task          string         `json:"task"`
	Policy        string         `json:"policy"`
	Split         string         `json:"split"`
	Seed          uint64         `json:"seed"`
	Mode          string         `json:"mode"`
	K             int            `json:"-"`
	BTTemperature float64        `json:"bt_temperature"`
	Stats         eval.PrefStats `json:"stats"`
}

// WritePreferences samples c.Policy on c's prompts, labels the pairs by the
// gold reward and writes them as TRL preference JSONL.
func WritePreferences(c GenConfig) (GenResult, error) {
	t, split, err := c.load()
	if err != nil {
		return GenResult{}, fmt.Errorf("data gen: %w", err)
	}
	pol, err := eval.LoadPolicy(c.Policy, t)
	if err != nil {
		return GenResult{}, err
	}
	temp := c.BTTemperature
	if temp < 0 {
		temp = t.LabelTemperature()
	}
	opt := c.PrefSettings.Options(temp)
	opt.SampleTemperature, opt.Greedy, opt.MaxNewTokens, opt.KeepIdentical = c.Temperature, c.Temperature == 0, c.MaxNewTokens, c.KeepIdentical
	pairs, st, err := Preferences(t, pol, split, c.Seed, c.N, opt)
	if err != nil {
		return GenResult{}, err
	}
	if len(pairs) == 0 {
		return GenResult{}, fmt.Errorf("data gen: no pairs survived (%d identical, %d gold ties dropped); try --keep_identical or a more diverse policy", st.Identical, st.GoldTies)
	}
	if err := data.WritePreferences(c.Out, PreferenceRows(t, pairs), c.Keys); err != nil {
		return GenResult{}, err
	}
	return GenResult{Out: c.Out, Task: t.Name(), Policy: c.Policy, Split: split.String(), Seed: c.Seed, Mode: c.Mode, K: c.K,
		BTTemperature: temp, Stats: st}, nil
}

// PromptsResult is what WritePrompts wrote.
type PromptsResult struct {
	Out, Task, Split string
	Rows             int
	Seed             uint64
}

// WritePrompts writes s's prompts (the prompt stream of the split) as TRL
// prompt-only JSONL.
func WritePrompts(s Source) (PromptsResult, error) {
	t, split, err := s.load()
	if err != nil {
		return PromptsResult{}, fmt.Errorf("data prompts: %w", err)
	}
	rows := PromptRows(t, Prompts(t, split, StreamPrompts, s.Seed, s.N))
	return PromptsResult{Out: s.Out, Task: t.Name(), Split: split.String(), Rows: len(rows), Seed: s.Seed}, data.WritePrompts(s.Out, rows, s.Keys)
}
