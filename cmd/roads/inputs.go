package main

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"roads/model"
	"roads/pft"
	"roads/task"
	"roads/tok"
)

// Loading a command's inputs, shared by every command: model directories
// (policy and reference), the task, the tokenizer; TRL JSONL rows become
// token examples through the recipe (recipe.ReadSFTExamples, ReadPreferencePairs).

// loadModel reads a model directory for training.
func loadModel(dir string) (*model.Model, tok.Tokenizer, error) {
	m, tk, err := model.LoadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("model %s: %w", dir, err)
	}
	return m, tk, nil
}

// loadPolicyAndRef loads the policy to train and its frozen reference
// (refDir, or a frozen copy of the policy when refDir is empty).
func loadPolicyAndRef(dir, refDir string) (policy, ref *model.Model, tk tok.Tokenizer, err error) {
	if policy, tk, err = loadModel(dir); err != nil {
		return nil, nil, nil, err
	}
	if policy.Config().Head != "lm" {
		return nil, nil, nil, fmt.Errorf("model %s has a %q head; a policy needs an LM head", dir, policy.Config().Head)
	}
	if refDir == "" || refDir == dir {
		ref = policy.Clone()
	} else if ref, _, err = loadModel(refDir); err != nil {
		return nil, nil, nil, err
	}
	ref.Freeze()
	return policy, ref, tk, nil
}

// resolveTask loads in.Task (nil when empty) and records its resolved config.
func resolveTask(in *pft.Inputs) (*task.Task, error) {
	if in.Task == "" {
		return nil, nil
	}
	t, err := task.Load(in.Task)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(t.Config())
	if err != nil {
		return nil, err
	}
	in.TaskConfig = raw
	return t, nil
}

// truncateExamples applies --max_length (keep the start; an example whose
// completion would be cut away entirely is an error naming its line) and,
// without it, refuses an example too long for any model (model.MaxPositions),
// naming its line: the context is never grown silently to fit one long row.
func truncateExamples(path string, examples []pft.SFTExample, maxLength int) ([]pft.SFTExample, error) {
	if maxLength < 0 {
		return nil, fmt.Errorf("--max_length %d: want 0 (no truncation) or a positive length", maxLength)
	}
	cut := 0
	for i, ex := range examples {
		n := len(ex.Prompt) + len(ex.Completion)
		switch {
		case maxLength == 0 && n > model.MaxPositions:
			return nil, fmt.Errorf("%s:%d: %d tokens, more than any model's context (%d); pass --max_length to truncate", path, i+1, n, model.MaxPositions)
		case maxLength > 0 && n > maxLength:
			if len(ex.Prompt) >= maxLength {
				return nil, fmt.Errorf("%s:%d: the prompt alone has %d tokens, so --max_length %d leaves no completion", path, i+1, len(ex.Prompt), maxLength)
			}
			examples[i].Completion = ex.Completion[:maxLength-len(ex.Prompt)]
			cut++
		}
	}
	if cut > 0 {
		slog.Warn("sft: examples truncated to --max_length (their EOS is cut too)", "examples", cut, "of", len(examples), "max_length", maxLength)
	}
	return examples, nil
}

// tokenizerFor returns the tokenizer of a task spec (preset name or config
// file), or the byte-level tokenizer when spec is empty.
func tokenizerFor(spec string) (tok.Tokenizer, error) {
	if spec == "" {
		return tok.Bytes{}, nil
	}
	t, err := task.Load(spec)
	if err != nil {
		return nil, err
	}
	return t.Tokenizer(), nil
}
