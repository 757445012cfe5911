package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"roads/chat"
	"roads/data"
	"roads/model"
	"roads/pft"
	"roads/task"
	"roads/tok"
)

// Loading a command's inputs, shared by every command: model directories
// (policy and reference), the task, the tokenizer, and TRL JSONL rows turned
// into token examples (SFT rows, preference pairs, either format, through the
// tokenizer's chat template for conversational rows).

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

// readPairs reads preference JSONL and tokenises it (completions without EOS).
func readPairs(path string, keys data.Keys, tk tok.Tokenizer) ([]pft.PreferencePair, error) {
	rows, err := readPreferenceRows(path, keys, tk)
	if err != nil {
		return nil, err
	}
	pairs := make([]pft.PreferencePair, len(rows))
	var identical []int // 1-based rows whose two sides are the same tokens
	for i, r := range rows {
		var p pft.PreferencePair
		for _, f := range []struct {
			name string
			text string
			dst  *[]int32
		}{{"prompt", r.Prompt, &p.Prompt}, {"chosen", r.Chosen, &p.Chosen}, {"rejected", r.Rejected, &p.Rejected}} {
			if *f.dst, err = tk.Encode(f.text); err != nil {
				return nil, fmt.Errorf("%s: row %d: field %q: %w", path, i+1, f.name, err)
			}
		}
		pairs[i] = p
		if slices.Equal(p.Chosen, p.Rejected) {
			identical = append(identical, i+1)
		}
	}
	switch {
	case len(identical) == len(pairs):
		return nil, fmt.Errorf("%s: every one of the %d rows has chosen == rejected (after tokenisation): a preference loss learns nothing from them", path, len(pairs))
	case len(identical) > 0:
		slog.Warn("preference rows with chosen == rejected carry no preference", "file", path, "rows", len(identical), "of", len(pairs), "first_line", identical[0])
	}
	return pairs, nil
}

// readPreferenceRows reads preference JSONL in TRL's standard format, or in
// its conversational format (message lists), which the tokenizer's chat
// template (ChatML when it has none) turns into text.
func readPreferenceRows(path string, keys data.Keys, tk tok.Tokenizer) ([]data.Preference, error) {
	rows, conv, err := data.ReadAnyPreferences(path, keys)
	if err != nil || conv == nil {
		return rows, err
	}
	tpl, err := chatTemplateOf(tk)
	if err != nil {
		return nil, err
	}
	rows = make([]data.Preference, len(conv))
	for i, c := range conv {
		if rows[i], err = tpl.Preference(c); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// chatTemplateOf is the tokenizer's chat template, or ChatML.
func chatTemplateOf(tk tok.Tokenizer) (*chat.Template, error) {
	src := ""
	if ct, ok := tk.(tok.ChatTemplater); ok {
		src = ct.ChatTemplate()
	}
	return chat.New(src)
}

// readSFTExamples reads prompt/completion rows (or text rows, as completions
// with an empty prompt) and tokenises them, appending EOS to each completion.
func readSFTExamples(path string, keys data.Keys, tk tok.Tokenizer) ([]pft.SFTExample, error) {
	recs, err := data.ReadRecords(path)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	var rows []data.PromptCompletion
	if _, conversational := recs[0].Fields["messages"]; conversational { // TRL's conversational SFT format
		conv, err := data.ReadConversations(path)
		if err != nil {
			return nil, err
		}
		tpl, err := chatTemplateOf(tk)
		if err != nil {
			return nil, err
		}
		for _, c := range conv {
			pc, err := tpl.Conversation(c)
			if err != nil {
				return nil, err
			}
			rows = append(rows, pc)
		}
	} else if _, err := recs[0].String(orDefault(keys.Completion, "completion")); err == nil {
		if rows, err = data.ReadPromptCompletions(path, keys); err != nil {
			return nil, err
		}
	} else {
		texts, err := data.ReadText(path, keys)
		if err != nil {
			return nil, fmt.Errorf("%s: rows are neither prompt/completion nor text: %w", path, err)
		}
		for _, t := range texts {
			rows = append(rows, data.PromptCompletion{Completion: t.Text})
		}
	}
	out := make([]pft.SFTExample, len(rows))
	for i, r := range rows {
		p, err := tk.Encode(r.Prompt)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: prompt: %w", path, i+1, err)
		}
		c, err := tk.Encode(r.Completion)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: completion: %w", path, i+1, err)
		}
		if len(p) == 0 && len(c) == 0 {
			return nil, fmt.Errorf("%s:%d: an empty row (no prompt, empty completion or text): nothing to learn from", path, i+1)
		}
		out[i] = pft.SFTExample{Prompt: p, Completion: append(c, tk.EOS())}
	}
	return out, nil
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

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
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
