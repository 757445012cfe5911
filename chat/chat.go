// Package chat turns TRL's conversational rows into text with a chat
// template: the Jinja2 `chat_template` of a tokenizer_config.json, rendered
// by github.com/ardanlabs/jinja (a maintained pure-Go engine built for
// Hugging Face chat templates), or ChatML when a tokenizer has none.
//
// Conversational rows become the standard format as TRL's
// maybe_apply_chat_template does: the prompt is the template applied to the
// prompt messages with add_generation_prompt, and a completion is the
// template applied to prompt + completion messages, less that prompt (so
// prompt + completion is exactly the rendered conversation).
package chat

import (
	"fmt"
	"strings"

	"github.com/ardanlabs/jinja"

	"roads/data"
)

// ChatML is the built-in template: <|im_start|>role\ncontent<|im_end|>\n per
// message, and <|im_start|>assistant\n as the generation prompt.
const ChatML = `{%- for message in messages -%}
<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endfor -%}
{%- if add_generation_prompt -%}
<|im_start|>assistant
{% endif -%}`

// Template is a compiled chat template.
type Template struct {
	src string
	t   *jinja.Template
}

// New compiles a chat template (ChatML when src is empty).
func New(src string) (*Template, error) {
	if src == "" {
		src = ChatML
	}
	t, err := jinja.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	return &Template{src: src, t: t}, nil
}

// Render applies the template to messages.
func (t *Template) Render(msgs []data.Message, addGenerationPrompt bool) (string, error) {
	list := make([]any, len(msgs))
	for i, m := range msgs {
		list[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	out, err := t.t.Render(map[string]any{"messages": list, "add_generation_prompt": addGenerationPrompt,
		"bos_token": "", "eos_token": ""})
	if err != nil {
		return "", fmt.Errorf("chat template: %w", err)
	}
	return out, nil
}

// split renders prompt (with the generation prompt) and prompt + completion,
// and returns the prompt text and the completion's suffix.
func (t *Template) split(where string, prompt, completion []data.Message) (string, string, error) {
	p, err := t.Render(prompt, true)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", where, err)
	}
	full, err := t.Render(append(append([]data.Message(nil), prompt...), completion...), false)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", where, err)
	}
	if !strings.HasPrefix(full, p) {
		return "", "", fmt.Errorf("%s: the chat template renders the prompt differently with and without the completion, so the completion cannot be split off", where)
	}
	return p, full[len(p):], nil
}

// Preference renders a conversational preference row.
func (t *Template) Preference(r data.ConversationalPreference) (data.Preference, error) {
	where := fmt.Sprintf("%s:%d", r.File, r.Line)
	p, c, err := t.split(where, r.Prompt, r.Chosen)
	if err != nil {
		return data.Preference{}, err
	}
	_, rej, err := t.split(where, r.Prompt, r.Rejected)
	if err != nil {
		return data.Preference{}, err
	}
	return data.Preference{Prompt: p, Chosen: c, Rejected: rej}, nil
}

// Conversation renders an SFT {"messages"} row: the last message (an
// assistant turn) is the completion, the ones before it the prompt.
func (t *Template) Conversation(r data.Conversation) (data.PromptCompletion, error) {
	where := fmt.Sprintf("%s:%d", r.File, r.Line)
	n := len(r.Messages)
	if n < 2 || r.Messages[n-1].Role != "assistant" {
		return data.PromptCompletion{}, fmt.Errorf("%s: field \"messages\": want at least one message and a final assistant turn", where)
	}
	p, c, err := t.split(where, r.Messages[:n-1], r.Messages[n-1:])
	if err != nil {
		return data.PromptCompletion{}, err
	}
	return data.PromptCompletion{Prompt: p, Completion: c}, nil
}
