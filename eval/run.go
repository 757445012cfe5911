package eval

import (
	"errors"

	"roads/task"
)

// RunConfig is `roads eval`'s configuration: which policy, against which
// reference, on which held-out prompts.
type RunConfig struct {
	Task             string  `json:"task" help:"task: a preset (list: roads data task --list), a preset with overrides (summarize,horizon=8,seed=2), or a config .json file"`
	Model            string  `json:"model" help:"evaluated policy: reference, random, demo (the task's SFT demonstrator), corrupt:<rate>, or a model directory"`
	Ref              string  `json:"ref" help:"reference policy for KL(π‖π_ref), normally the SFT model (same values as --model); empty = no KL"`
	N                int     `json:"n" help:"number of held-out prompts"`
	SamplesPerPrompt int     `json:"samples_per_prompt" help:"completions sampled per prompt"`
	Temperature      float64 `json:"temperature" help:"sampling temperature (0 = greedy; KL is only estimated at 1)"`
	MaxNewTokens     int     `json:"max_new_tokens" help:"completion cap (0 = the task's horizon)"`
	Seed             uint64  `json:"seed" help:"sampling seed"`
	Split            string  `json:"split" help:"held-out split: test (default) or validation (for tuning)"`
	Stream           uint64  `json:"stream" help:"prompt stream of the split (0 = the standard evaluation set)"`
	TableRows        int     `json:"table_rows" help:"rows of the sample table"`
}

// DefaultRunConfig: 500 test prompts of the default task, two samples each
// at temperature 1.
func DefaultRunConfig() RunConfig {
	return RunConfig{Task: task.DefaultTask, N: 500, SamplesPerPrompt: 2, Temperature: 1, Split: "test", TableRows: 5}
}

// Run loads c's task and policies and evaluates c.Model on the held-out
// prompts with Evaluate.
func Run(c RunConfig) (*Report, error) {
	if c.Model == "" {
		return nil, errors.New("eval: --model is required (" + PolicyHelp + ")")
	}
	t, err := task.Load(c.Task)
	if err != nil {
		return nil, err
	}
	split, err := task.ParseSplit(c.Split)
	if err != nil {
		return nil, err
	}
	if split == task.Train {
		return nil, errors.New("eval: --split train is not held out; use test or validation")
	}
	model, err := LoadPolicy(c.Model, t)
	if err != nil {
		return nil, err
	}
	var ref Policy
	if c.Ref != "" {
		if ref, err = LoadPolicy(c.Ref, t); err != nil {
			return nil, err
		}
	}
	rep, err := Evaluate(t, model, ref, Options{
		Prompts: t.Prompts(split, c.Stream, c.N), SamplesPerPrompt: c.SamplesPerPrompt, Temperature: c.Temperature,
		Greedy: c.Temperature == 0, MaxNewTokens: c.MaxNewTokens, Seed: c.Seed, TableRows: c.TableRows,
	})
	if err != nil {
		return nil, err
	}
	rep.Model, rep.Ref = c.Model, c.Ref
	return rep, nil
}
