package recipe

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"roads/ckpt"
	"roads/data"
	"roads/eval"
	"roads/model"
	"roads/pft"
	"roads/task"
	"roads/tok"
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

// ScoreConfig is `roads score`: per-example log-probs, DPO implicit rewards,
// verifier and gold scores of a JSONL file.
type ScoreConfig struct {
	Model    string    `json:"model" help:"policy model directory whose log-probs to report"`
	Ref      string    `json:"ref" help:"reference model directory (log π_ref and the DPO implicit reward); optional"`
	Verifier string    `json:"verifier" help:"verifier to score with: a reward-model, DPO-run or model directory, or gold; optional"`
	Data     string    `json:"data" help:"JSONL: preference rows (prompt, chosen, rejected) or prompt/completion rows"`
	Task     string    `json:"task" help:"task preset, preset with overrides (summarize,horizon=8) or task config .json (gold rewards; the tokenizer when the model directory has none)"`
	Beta     float64   `json:"beta" help:"β of the implicit reward β (log π − log π_ref)"`
	Output   string    `json:"output" help:"write the JSONL here (atomically) instead of stdout"`
	Keys     data.Keys `json:"-" flag:"-"` // bound by data.Keys.AddFlags
}

// DefaultScoreConfig: β 0.1, TRL's DPO default.
func DefaultScoreConfig() ScoreConfig { return ScoreConfig{Beta: 0.1, Keys: data.DefaultKeys()} }

// Validate checks the settings before any file is read.
func (c ScoreConfig) Validate() error {
	if c.Model == "" || c.Data == "" {
		return errors.New("--model and --data are required")
	}
	if !(c.Beta > 0) {
		return fmt.Errorf("--beta %v: want > 0", c.Beta)
	}
	return nil
}

// Score loads c's models, verifier, task and rows and scores every row.
func Score(c ScoreConfig) ([]ScoredRow, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	policy, tk, err := LoadModel(c.Model)
	if err != nil {
		return nil, err
	}
	if policy.Config().Head != "lm" {
		return nil, fmt.Errorf("--model %s has a %q head; log-probs need an LM head", c.Model, policy.Config().Head)
	}
	var t *task.Task
	var pt pft.Task
	var gold pft.Verifier
	if c.Task != "" {
		if t, err = task.Load(c.Task); err != nil {
			return nil, err
		}
		pt, gold = t, pft.Gold{Task: t}
		if tk == nil {
			tk = t.Tokenizer()
		}
	}
	if tk == nil {
		return nil, fmt.Errorf("model %s has no tokenizer.json: pass --task to use a task's tokenizer", c.Model)
	}
	var ref *model.Model
	if c.Ref != "" {
		if ref, _, err = LoadModel(c.Ref); err != nil {
			return nil, err
		}
		if ref.Config().VocabSize != policy.Config().VocabSize {
			return nil, fmt.Errorf("--ref %s: vocab_size %d, the policy's is %d", c.Ref, ref.Config().VocabSize, policy.Config().VocabSize)
		}
	}
	var v pft.Verifier
	if c.Verifier != "" {
		if v, err = pft.LoadVerifier(c.Verifier, pt); err != nil {
			return nil, err
		}
	}
	rows, err := ReadScoreRows(c.Data, c.Keys, tk)
	if err != nil {
		return nil, err
	}
	return ScoreRows(c.Data, rows, policy, ref, v, gold, c.Beta, policy.Config().EOSTokenID)
}

// VerifierEvalConfig is `roads rm eval`: any verifier's Bradley–Terry
// accuracy and likelihood on held-out preference pairs, beside the best
// length-only rule's accuracy on the same pairs.
type VerifierEvalConfig struct {
	Verifier string    `json:"verifier" help:"verifier: a reward-model, DPO-run or model directory, or gold"`
	Data     string    `json:"data" help:"preference JSONL (prompt, chosen, rejected)"`
	Task     string    `json:"task" help:"task preset, preset with overrides (summarize,horizon=8) or task config .json (needed for gold, and for the tokenizer when the directory has none)"`
	Keys     data.Keys `json:"-" flag:"-"` // bound by data.Keys.AddFlags
}

// VerifierEvalResult is what EvalVerifier measured (the JSON keys are the
// command's).
type VerifierEvalResult struct {
	Verifier           string  `json:"verifier"`
	Kind               string  `json:"kind"`
	Data               string  `json:"data"`
	Pairs              int     `json:"pairs"`
	Likelihood         float64 `json:"bt_likelihood"`
	LogLikelihood      float64 `json:"bt_log_likelihood"`
	Accuracy           float64 `json:"accuracy"`
	LengthRuleAccuracy float64 `json:"length_rule_accuracy"`
	LengthRule         string  `json:"length_rule"`
}

// EvalVerifier scores c.Data's pairs with c.Verifier.
func EvalVerifier(c VerifierEvalConfig) (VerifierEvalResult, error) {
	if c.Verifier == "" || c.Data == "" {
		return VerifierEvalResult{}, errors.New("--verifier and --data are required")
	}
	var t *task.Task
	var pt pft.Task
	if c.Task != "" {
		var err error
		if t, err = task.Load(c.Task); err != nil {
			return VerifierEvalResult{}, err
		}
		pt = t
	}
	v, err := pft.LoadVerifier(c.Verifier, pt)
	if err != nil {
		return VerifierEvalResult{}, err
	}
	tk, err := verifierTokenizer(c.Verifier, t)
	if err != nil {
		return VerifierEvalResult{}, err
	}
	pairs, err := ReadPreferencePairs(c.Data, c.Keys, tk)
	if err != nil {
		return VerifierEvalResult{}, err
	}
	res, err := pft.EvaluateVerifier(v, pairs)
	if err != nil {
		return VerifierEvalResult{}, err
	}
	lenAcc, lenRule, err := pft.LengthRuleAccuracy(pairs)
	if err != nil {
		return VerifierEvalResult{}, err
	}
	return VerifierEvalResult{Verifier: c.Verifier, Kind: fmt.Sprint(v), Data: c.Data, Pairs: res.Pairs, Likelihood: res.Likelihood,
		LogLikelihood: res.LogLikelihood, Accuracy: res.Accuracy, LengthRuleAccuracy: lenAcc, LengthRule: lenRule}, nil
}

// verifierTokenizer is the task's tokenizer, or the verifier directory's.
func verifierTokenizer(dir string, t *task.Task) (tok.Tokenizer, error) {
	if t != nil {
		return t.Tokenizer(), nil
	}
	if dir == "gold" {
		return nil, errors.New("verifier gold needs --task")
	}
	tk, err := tok.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("verifier %s: no tokenizer (pass --task): %w", dir, err)
	}
	return tk, nil
}

// BoNConfig is `roads bon`: the gold reward of a verifier's best-of-N pick
// of a policy's samples on the task's test prompts (stream 0).
type BoNConfig struct {
	Task       string `json:"task" help:"task preset, preset with overrides (summarize,horizon=8) or task config .json"`
	Model      string `json:"model" help:"policy directory whose samples are picked from"`
	Verifier   string `json:"verifier" help:"verifier: a reward-model directory, a DPO run (implicit reward), a model directory (Σ log π), or gold (the oracle curve)"`
	N          []int  `json:"n" help:"comma-separated N values; max(N) samples are drawn per prompt"`
	NumPrompts int    `json:"num_prompts" help:"prompts of the task's test split (stream 0)"`
	Seed       uint64 `json:"seed" help:"sampling seed"`
	OutputDir  string `json:"output_dir" help:"if set, write bon.json there"`
}

// DefaultBoNConfig: N = 1 … 64 in powers of two on 200 prompts.
func DefaultBoNConfig() BoNConfig {
	return BoNConfig{Task: task.DefaultTask, N: []int{1, 2, 4, 8, 16, 32, 64}, NumPrompts: 200, Seed: 42}
}

// Validate checks the settings before any model is read.
func (c BoNConfig) Validate() error {
	if c.Model == "" || c.Verifier == "" {
		return errors.New("--model and --verifier are required")
	}
	if len(c.N) == 0 {
		return errors.New("--n: no N values")
	}
	for _, n := range c.N {
		if n < 1 {
			return fmt.Errorf("--n: %d is not a positive integer", n)
		}
	}
	if c.NumPrompts <= 0 {
		return fmt.Errorf("--num_prompts = %d, want > 0", c.NumPrompts)
	}
	return nil
}

// BoNRecord is bon.json: the settings and the curve.
type BoNRecord struct {
	Task         string        `json:"task"`
	Model        string        `json:"model"`
	Verifier     string        `json:"verifier"`
	VerifierKind string        `json:"verifier_kind"`
	Seed         uint64        `json:"seed"`
	Result       pft.BoNResult `json:"result"`
}

// BestOfN loads c's task, policy and verifier and measures the curve; it
// writes OutputDir/bon.json when OutputDir is set.
func BestOfN(c BoNConfig, progress io.Writer) (BoNRecord, error) {
	if err := c.Validate(); err != nil {
		return BoNRecord{}, err
	}
	t, err := task.Load(c.Task)
	if err != nil {
		return BoNRecord{}, err
	}
	policy, _, err := LoadModel(c.Model)
	if err != nil {
		return BoNRecord{}, err
	}
	policy.Freeze()
	v, err := pft.LoadVerifier(c.Verifier, t)
	if err != nil {
		return BoNRecord{}, err
	}
	if progress != nil {
		fmt.Fprintf(progress, "bon: sampling %d × %d completions...\n", c.NumPrompts, slices.Max(c.N))
	}
	res, err := pft.BestOfNEval(policy, v, t, t.Prompts(task.Test, 0, c.NumPrompts), c.N, c.Seed)
	if err != nil {
		return BoNRecord{}, err
	}
	rec := BoNRecord{Task: t.Name(), Model: c.Model, Verifier: c.Verifier, VerifierKind: fmt.Sprint(v), Seed: c.Seed, Result: res}
	if c.OutputDir != "" {
		if err := os.MkdirAll(c.OutputDir, 0o755); err != nil {
			return BoNRecord{}, err
		}
		if err := ckpt.WriteJSON(filepath.Join(c.OutputDir, "bon.json"), rec); err != nil {
			return BoNRecord{}, err
		}
	}
	return rec, nil
}

// SampleConfig is `roads sample`: completions of one prompt from a model
// directory, with the KV cache.
type SampleConfig struct {
	Model              string  `json:"model" help:"model directory (config.json, model.safetensors, tokenizer.json)"`
	Prompt             string  `json:"prompt" help:"prompt text"`
	NumReturnSequences int     `json:"num_return_sequences" help:"completions to sample"`
	MaxNewTokens       int     `json:"max_new_tokens" help:"largest number of new tokens"`
	Temperature        float64 `json:"temperature" help:"sampling temperature (0: greedy)"`
	TopK               int     `json:"top_k" help:"keep the k most likely tokens (0: all)"`
	Seed               uint64  `json:"seed" help:"sampling seed"`
	Tokenizer          string  `json:"tokenizer" help:"bytes: use the byte-level tokenizer for a model directory without tokenizer.json (otherwise that is an error)"`
}

// DefaultSampleConfig: one sequence of up to 32 tokens at temperature 1.
func DefaultSampleConfig() SampleConfig {
	return SampleConfig{NumReturnSequences: 1, MaxNewTokens: 32, Temperature: 1, Seed: 42}
}

// Sampled is one completion of `roads sample` (the JSON keys are the
// command's); Text is the prompt and the completion as one line.
type Sampled struct {
	Prompt     string  `json:"prompt"`
	Completion string  `json:"completion"`
	LogProb    float64 `json:"logprob"` // Σ log π of the completion's tokens, rounded to 1e-6
	EOS        bool    `json:"eos"`
	Text       string  `json:"-"`
}

// Sample draws c's completions. clampedTo > 0 when MaxNewTokens did not fit
// in the context after the prompt and generation stops at the context.
func Sample(c SampleConfig) (rows []Sampled, clampedTo int, err error) {
	if c.Model == "" {
		return nil, 0, errors.New("--model is required")
	}
	m, tk, err := model.LoadDir(c.Model)
	if err != nil {
		return nil, 0, err
	}
	m.Freeze()
	if tk == nil {
		if c.Tokenizer != "bytes" {
			return nil, 0, fmt.Errorf("model %s has no tokenizer.json: pass --tokenizer bytes to encode the prompt with the byte-level tokenizer", c.Model)
		}
		tk = tok.Bytes{}
	}
	ids, err := tk.Encode(c.Prompt)
	if err != nil {
		return nil, 0, fmt.Errorf("--prompt: %w", err)
	}
	if len(ids) == 0 {
		return nil, 0, errors.New("--prompt is empty: the model needs at least one token to condition on")
	}
	room := m.Config().NPositions - len(ids)
	if room <= 0 {
		return nil, 0, fmt.Errorf("--prompt has %d tokens; the model's context is %d", len(ids), m.Config().NPositions)
	}
	if c.MaxNewTokens > room {
		c.MaxNewTokens, clampedTo = room, room
	}
	prompts := make([][]int32, c.NumReturnSequences)
	for i := range prompts {
		prompts[i] = ids
	}
	g, err := m.Sample(prompts, model.SampleOptions{MaxNewTokens: c.MaxNewTokens, Temperature: c.Temperature, TopK: c.TopK, Seed: c.Seed})
	if err != nil {
		return nil, 0, err
	}
	sep := "" // a word-level tokenizer's prompt and completion are separate words
	if _, words := tk.(*tok.Words); words && c.Prompt != "" && !strings.HasSuffix(c.Prompt, " ") {
		sep = " "
	}
	for i := range prompts {
		row := g.Row(i)
		lp := 0.0
		for t := range row {
			lp += float64(g.LogProbs[i*g.MaxNew+t])
		}
		s := Sampled{Prompt: c.Prompt, Completion: tk.Decode(row), LogProb: math.Round(lp*1e6) / 1e6, EOS: g.EOS[i]}
		end := ""
		if s.EOS {
			end = " " + tok.EOSToken
		}
		s.Text = fmt.Sprintf("%s%s%s\t(log π = %.3f)", c.Prompt, sep, s.Completion+end, lp)
		rows = append(rows, s)
	}
	return rows, clampedTo, nil
}
