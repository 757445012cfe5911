package recipe

import (
	"fmt"
	"log/slog"
	"slices"

	"roads/chat"
	"roads/data"
	"roads/model"
	"roads/pft"
	"roads/tok"
)

// TRL JSONL rows as token examples, for the trainers: SFT rows (prompt /
// completion, text, or conversational messages) and preference rows
// (standard or conversational), conversations rendered by the tokenizer's
// chat template (ChatML when it has none). Every error names the file and
// row.

// ReadPreferencePairs reads preference JSONL and tokenises it (completions without EOS).
func ReadPreferencePairs(path string, keys data.Keys, tk tok.Tokenizer) ([]pft.PreferencePair, error) {
	rows, err := ReadPreferenceRows(path, keys, tk)
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

// ReadPreferenceRows reads preference JSONL in TRL's standard format, or in
// its conversational format (message lists), which the tokenizer's chat
// template (ChatML when it has none) turns into text.
func ReadPreferenceRows(path string, keys data.Keys, tk tok.Tokenizer) ([]data.Preference, error) {
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

// ReadSFTExamples reads prompt/completion rows (or text rows, as completions
// with an empty prompt) and tokenises them, appending EOS to each completion.
func ReadSFTExamples(path string, keys data.Keys, tk tok.Tokenizer) ([]pft.SFTExample, error) {
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
	} else if _, err := recs[0].String(keys.WithDefaults().Completion); err == nil {
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

// ScoreRow is one row of a file to score (`roads score`), tokenised: one
// completion, or a chosen/rejected pair. Completions carry no EOS.
type ScoreRow struct {
	Line        int // 1-based
	PromptText  string
	Prompt      []int32
	Names       []string // "completion", or "chosen" and "rejected"
	Completions [][]int32
}

// ReadScoreRows reads preference rows if the file has them, else
// prompt/completion rows (both TRL formats, standard and conversational).
func ReadScoreRows(path string, keys data.Keys, tk tok.Tokenizer) ([]ScoreRow, error) {
	recs, err := data.ReadRecords(path)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	encode := func(line int, field, text string) ([]int32, error) {
		ids, err := tk.Encode(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: field %q: %w", path, line, field, err)
		}
		return ids, nil
	}
	var out []ScoreRow
	if _, ok := recs[0].Fields[keys.WithDefaults().Rejected]; ok {
		prefs, err := ReadPreferenceRows(path, keys, tk)
		if err != nil {
			return nil, err
		}
		for i, p := range prefs {
			r := ScoreRow{Line: i + 1, PromptText: p.Prompt, Names: []string{"chosen", "rejected"}}
			if r.Prompt, err = encode(i+1, "prompt", p.Prompt); err != nil {
				return nil, err
			}
			for _, f := range []struct{ name, text string }{{"chosen", p.Chosen}, {"rejected", p.Rejected}} {
				ids, err := encode(i+1, f.name, f.text)
				if err != nil {
					return nil, err
				}
				r.Completions = append(r.Completions, ids)
			}
			out = append(out, r)
		}
		return out, nil
	}
	pcs, err := data.ReadPromptCompletions(path, keys)
	if err != nil {
		return nil, fmt.Errorf("%s: rows are neither preference nor prompt/completion rows: %w", path, err)
	}
	for i, pc := range pcs {
		r := ScoreRow{Line: i + 1, PromptText: pc.Prompt, Names: []string{"completion"}}
		if r.Prompt, err = encode(i+1, "prompt", pc.Prompt); err != nil {
			return nil, err
		}
		ids, err := encode(i+1, "completion", pc.Completion)
		if err != nil {
			return nil, err
		}
		r.Completions = [][]int32{ids}
		out = append(out, r)
	}
	return out, nil
}

// ScoredRow is one scored row of `roads score`'s output.
type ScoredRow struct {
	Line       int                            `json:"line"`
	Prompt     string                         `json:"prompt"`
	Completion map[string]pft.CompletionScore `json:"completions"` // "completion", or "chosen" and "rejected"
	// Preference rows: chosen − rejected of each score present.
	ImplicitMargin *float64 `json:"implicit_reward_margin,omitempty"`
	RewardMargin   *float64 `json:"reward_margin,omitempty"`
	GoldMargin     *float64 `json:"gold_margin,omitempty"`
}

// ScoreRows scores every completion of rows with pft.ScoreCompletion (EOS
// appended when eos ≥ 0) and, for a preference row, each score's margin,
// chosen − rejected. An error names path and line.
func ScoreRows(path string, rows []ScoreRow, policy, ref *model.Model, v, gold pft.Verifier, beta float64, eos int) ([]ScoredRow, error) {
	out := make([]ScoredRow, 0, len(rows))
	for _, r := range rows {
		sr := ScoredRow{Line: r.Line, Prompt: r.PromptText, Completion: map[string]pft.CompletionScore{}}
		for k, name := range r.Names {
			c, err := pft.ScoreCompletion(policy, ref, v, gold, beta, eos, r.Prompt, r.Completions[k])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", path, r.Line, name, err)
			}
			sr.Completion[name] = c
		}
		if len(r.Names) == 2 {
			ch, rj := sr.Completion["chosen"], sr.Completion["rejected"]
			sr.ImplicitMargin = margin(ch.ImplicitReward, rj.ImplicitReward)
			sr.RewardMargin = margin(ch.Reward, rj.Reward)
			sr.GoldMargin = margin(ch.Gold, rj.Gold)
		}
		out = append(out, sr)
	}
	return out, nil
}

func margin(a, b *float64) *float64 {
	if a == nil || b == nil {
		return nil
	}
	d := *a - *b
	return &d
}
