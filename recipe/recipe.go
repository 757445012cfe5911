// Package recipe is the one recipe for a task's data: which prompts a
// (task, seed, split, n) draws, which demonstrations and preference pairs are
// made from them, and how they are written as TRL JSONL rows. The CLI
// (`roads data demos|gen|prompts`) and the experiments (exp/methods) both
// call it, so `roads data gen --seed S` writes the pairs an experiment cell
// of seed S trains on (TestDataGenEqualsExperimentPairs).
//
// Every random draw comes from a named stream of the seed (Hash(seed,
// stream)); the streams are defined here and nowhere else.
package recipe

import (
	"encoding/json"
	"fmt"
	"io"

	"roads/data"
	"roads/eval"
	"roads/task"
)

// The named random streams of a data seed. Each is a prompt stream of the
// split (task.Prompts(split, task.Hash(seed, stream), n)); demonstrations also
// draw their corruptions from task.NewRNG(seed, StreamDemos, i).
const (
	// StreamDemos: the SFT demonstrations' prompts and corruptions.
	StreamDemos uint64 = 1
	// StreamPrefs: the preference pairs' prompts (the samples and labels
	// come from eval.Preferences seeded with the data seed).
	StreamPrefs uint64 = 2
	// StreamPrompts: unlabelled prompts (`roads data prompts`, the extra
	// prompts of online prompt augmentation).
	StreamPrompts uint64 = 3
	// StreamOnPolicy: the validation prompts of the on-policy verifier pairs
	// (their samples are seeded with Hash(seed, StreamOnPolicy, 1)).
	StreamOnPolicy uint64 = 4
)

// Seeds of the experiments' gold evaluations, derived from the data seed.
const (
	evalSeedLabel uint64 = 0xe7a1
	bonSeedLabel  uint64 = 0xb0
)

// EvalSeed is the sampling seed of a cell's gold evaluation.
func EvalSeed(seed uint64) uint64 { return task.Hash(seed, evalSeedLabel) }

// BestOfNSeed is the sampling seed of a cell's Best-of-N evaluation.
func BestOfNSeed(seed uint64) uint64 { return task.Hash(seed, bonSeedLabel) }

// OnPolicySampleSeed is the sampling seed of the on-policy verifier pairs.
func OnPolicySampleSeed(seed uint64) uint64 { return task.Hash(seed, StreamOnPolicy, 1) }

// Prompts are n prompts of split drawn from stream of the data seed.
func Prompts(t *task.Task, split task.Split, stream, seed uint64, n int) [][]int32 {
	return t.Prompts(split, task.Hash(seed, stream), n)
}

// Demo is one demonstration: a prompt and its completion (no EOS).
type Demo struct {
	Prompt, Completion []int32
}

// Demonstrations draws n prompts of split from StreamDemos and one
// demonstration of each from the task's demonstrator at rate (a negative
// rate means the task's documented demo_corruption).
func Demonstrations(t *task.Task, split task.Split, seed uint64, n int, rate float64) ([]Demo, error) {
	if n <= 0 {
		return nil, fmt.Errorf("demonstrations: n = %d, want a positive count", n)
	}
	if rate < 0 {
		rate = t.DemoRate()
	}
	prompts := Prompts(t, split, StreamDemos, seed, n)
	out := make([]Demo, len(prompts))
	for i, p := range prompts {
		sc, err := t.DemoScript(p, rate)
		if err != nil {
			return nil, err
		}
		out[i] = Demo{Prompt: p, Completion: sc.Sample(task.NewRNG(seed, StreamDemos, uint64(i)))}
	}
	return out, nil
}

// DemoStats summarises demonstrations: their mean gold, the mean gold of the
// task's reference completions of the same prompts, and their mean length.
type DemoStats struct {
	MeanGold          float64 `json:"mean_gold"`
	MeanReferenceGold float64 `json:"mean_reference_gold"`
	MeanLength        float64 `json:"mean_length"`
}

// SummariseDemos computes DemoStats of demos (at least one).
func SummariseDemos(t *task.Task, demos []Demo) (DemoStats, error) {
	var st DemoStats
	if len(demos) == 0 {
		return st, fmt.Errorf("demonstrations: none to summarise")
	}
	for _, d := range demos {
		ref, err := t.Reference(d.Prompt)
		if err != nil {
			return st, err
		}
		g, err := t.Gold(d.Prompt, d.Completion)
		if err != nil {
			return st, err
		}
		gr, err := t.Gold(d.Prompt, ref)
		if err != nil {
			return st, err
		}
		st.MeanGold += g
		st.MeanReferenceGold += gr
		st.MeanLength += float64(len(d.Completion))
	}
	n := float64(len(demos))
	st.MeanGold, st.MeanReferenceGold, st.MeanLength = st.MeanGold/n, st.MeanReferenceGold/n, st.MeanLength/n
	return st, nil
}

// PrefSettings are how preference pairs are made from a policy's samples:
// an experiment's "prefs" block and `roads data gen`'s flags of the same
// names.
type PrefSettings struct {
	// Policy is the sampling policy: in an experiment "sft" (the cell's SFT
	// model); `roads data gen` takes --policy, a model directory or a script.
	Policy  string `json:"policy" flag:"-"`
	Mode    string `json:"mode" help:"bt (Bradley–Terry labels on policy samples), narrow (the paper's H4: the policy's samples labelled by the judge, noiseless), wide (half the samples from the task's demonstrator at random corruption rates)"`
	K       int    `json:"k" help:"completions sampled per prompt"`
	Pairing string `json:"pairing" help:"how the k completions are paired: disjoint ((0,1),(2,3),...), all, or length_matched (only equal-length completions, each once)"`
}

// DefaultPrefSettings: the SFT policy's samples, two per prompt, one
// Bradley–Terry-labelled pair.
func DefaultPrefSettings() PrefSettings {
	return PrefSettings{Policy: "sft", Mode: eval.ModeBT, K: 2, Pairing: eval.PairDisjoint}
}

// Options are eval.Preferences' options for these settings with Bradley–Terry
// labels at labelTemperature (the caller adds sampling settings).
func (p PrefSettings) Options(labelTemperature float64) eval.PrefOptions {
	return eval.PrefOptions{K: p.K, Pairing: p.Pairing, Mode: p.Mode, Temperature: labelTemperature}
}

// Preferences draws n prompts of split from StreamPrefs and makes preference
// pairs of pol's samples with eval.Preferences, seeded with the data seed
// (opt.Seed is overwritten).
func Preferences(t *task.Task, pol eval.Policy, split task.Split, seed uint64, n int, opt eval.PrefOptions) ([]eval.Pair, eval.PrefStats, error) {
	if n <= 0 {
		return nil, eval.PrefStats{}, fmt.Errorf("preferences: n = %d prompts, want > 0", n)
	}
	opt.Seed = seed
	return eval.Preferences(t, pol, Prompts(t, split, StreamPrefs, seed, n), opt)
}

// CompletionText renders a completion in TRL's convention: prompt +
// completion is the full text, so a non-empty completion starts with a space.
func CompletionText(t *task.Task, ids []int32) string {
	if len(ids) == 0 {
		return ""
	}
	return " " + t.Decode(ids)
}

// DemoRows are demonstrations as TRL prompt/completion rows.
func DemoRows(t *task.Task, demos []Demo) []data.PromptCompletion {
	rows := make([]data.PromptCompletion, len(demos))
	for i, d := range demos {
		rows[i] = data.PromptCompletion{Prompt: t.Decode(d.Prompt), Completion: CompletionText(t, d.Completion)}
	}
	return rows
}

// PreferenceRows are pairs as TRL preference rows with an explicit prompt,
// carrying the gold rewards as score_chosen / score_rejected.
func PreferenceRows(t *task.Task, pairs []eval.Pair) []data.Preference {
	rows := make([]data.Preference, len(pairs))
	for i, p := range pairs {
		rows[i] = data.Preference{Prompt: t.Decode(p.Prompt), Chosen: CompletionText(t, p.Chosen), Rejected: CompletionText(t, p.Rejected),
			HasScores: true, ScoreChosen: p.ScoreChosen, ScoreRejected: p.ScoreRejected}
	}
	return rows
}

// PromptRows are prompts as TRL prompt-only rows.
func PromptRows(t *task.Task, prompts [][]int32) []data.PromptOnly {
	rows := make([]data.PromptOnly, len(prompts))
	for i, p := range prompts {
		rows[i] = data.PromptOnly{Prompt: t.Decode(p)}
	}
	return rows
}

// pairRow is one line of a pairs.jsonl file: TRL's preference row with an
// explicit prompt and the gold rewards as scores (any TRL reader, and
// `roads dpo --data`, take it as it is), plus the exact token ids, which
// are what the experiments train on.
type pairRow struct {
	Prompt        string  `json:"prompt"`
	Chosen        string  `json:"chosen"`
	Rejected      string  `json:"rejected"`
	ScoreChosen   float64 `json:"score_chosen"`
	ScoreRejected float64 `json:"score_rejected"`
	PChosen       float64 `json:"p_chosen"`
	PromptIDs     []int32 `json:"prompt_ids"`
	ChosenIDs     []int32 `json:"chosen_ids"`
	RejectedIDs   []int32 `json:"rejected_ids"`
}

// WritePairs writes pairs as pairs.jsonl (atomically): the one on-disk format
// of preference pairs, shared by `roads data gen` users and the experiments'
// artefacts.
func WritePairs(path string, t *task.Task, pairs []eval.Pair) error {
	return data.WriteAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, p := range pairs {
			row := pairRow{Prompt: t.Decode(p.Prompt), Chosen: CompletionText(t, p.Chosen), Rejected: CompletionText(t, p.Rejected),
				ScoreChosen: p.ScoreChosen, ScoreRejected: p.ScoreRejected, PChosen: p.PChosen,
				PromptIDs: p.Prompt, ChosenIDs: p.Chosen, RejectedIDs: p.Rejected}
			if row.PromptIDs == nil {
				row.PromptIDs = []int32{}
			}
			if row.ChosenIDs == nil {
				row.ChosenIDs = []int32{}
			}
			if row.RejectedIDs == nil {
				row.RejectedIDs = []int32{}
			}
			if err := enc.Encode(row); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReadPairs reads a pairs.jsonl file written by WritePairs (the token ids are
// taken as written; a row without them is an error naming its line).
func ReadPairs(path string) ([]eval.Pair, error) {
	recs, err := data.ReadRecords(path)
	if err != nil {
		return nil, err
	}
	out := make([]eval.Pair, len(recs))
	for i, r := range recs {
		raw, err := json.Marshal(r.Fields)
		if err != nil {
			return nil, err
		}
		var row pairRow
		if err := json.Unmarshal(raw, &row); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, r.Line, err)
		}
		if row.PromptIDs == nil || row.ChosenIDs == nil || row.RejectedIDs == nil {
			return nil, fmt.Errorf("%s:%d: want prompt_ids, chosen_ids and rejected_ids", path, r.Line)
		}
		out[i] = eval.Pair{Prompt: row.PromptIDs, Chosen: row.ChosenIDs, Rejected: row.RejectedIDs,
			ScoreChosen: row.ScoreChosen, ScoreRejected: row.ScoreRejected, PChosen: row.PChosen}
	}
	return out, nil
}
