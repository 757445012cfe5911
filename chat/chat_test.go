package chat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roads/data"
)

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "d.jsonl")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ChatML: the prompt ends with the generation prompt and prompt + chosen is
// the whole rendered conversation.
func TestChatMLPreference(t *testing.T) {
	tpl, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	path := write(t, `{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}], "rejected": [{"role": "assistant", "content": "5"}]}`+"\n")
	rows, err := data.ReadConversationalPreferences(path, data.Keys{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := tpl.Preference(rows[0])
	if err != nil {
		t.Fatal(err)
	}
	wantPrompt := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
	if p.Prompt != wantPrompt || p.Chosen != "4<|im_end|>\n" || p.Rejected != "5<|im_end|>\n" {
		t.Fatalf("ChatML: %q / %q / %q", p.Prompt, p.Chosen, p.Rejected)
	}
}

// The real Qwen3 chat template (from its tokenizer_config.json) renders a
// conversation as Qwen3 expects, and an SFT {"messages"} row splits into the
// prompt and the last assistant turn.
func TestQwen3Template(t *testing.T) {
	raw, err := os.ReadFile("../tok/testdata/qwen3/tokenizer_config.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ChatTemplate string `json:"chat_template"`
	}
	json.Unmarshal(raw, &cfg)
	tpl, err := New(cfg.ChatTemplate)
	if err != nil {
		t.Fatal(err)
	}
	path := write(t, `{"messages": [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}`+"\n")
	rows, err := data.ReadConversations(path)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := tpl.Conversation(rows[0])
	if err != nil {
		t.Fatal(err)
	}
	wantPrompt := "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
	if pc.Prompt != wantPrompt {
		t.Fatalf("Qwen3 prompt %q, want %q", pc.Prompt, wantPrompt)
	}
	if !strings.HasSuffix(pc.Completion, "Hello!<|im_end|>\n") {
		t.Fatalf("Qwen3 completion %q", pc.Completion)
	}
}

// Malformed messages are errors naming file:line and the element.
func TestMalformedMessages(t *testing.T) {
	for _, c := range []struct{ row, want string }{
		{`{"messages": [{"content": "hi"}]}`, `field "messages[0].role": missing`},
		{`{"messages": [{"role": "bot", "content": "hi"}]}`, `field "messages[0].role": unknown role "bot"`},
		{`{"messages": [{"role": "user", "content": ["hi"]}]}`, `field "messages[0].content": want a string, got array`},
		{`{"messages": [{"role": "user"}]}`, `field "messages[0].content": missing`},
		{`{"messages": "hi"}`, `field "messages": want a list`},
		{`{"text": "hi"}`, `field "messages": missing`},
	} {
		path := write(t, c.row+"\n")
		_, err := data.ReadConversations(path)
		if err == nil || !strings.Contains(err.Error(), path+":1: "+c.want) {
			t.Errorf("%s: %v, want %q", c.row, err, c.want)
		}
	}
	tpl, _ := New("")
	path := write(t, `{"messages": [{"role": "user", "content": "hi"}]}`+"\n")
	rows, _ := data.ReadConversations(path)
	if _, err := tpl.Conversation(rows[0]); err == nil || !strings.Contains(err.Error(), path+":1: field \"messages\": want at least one message and a final assistant turn") {
		t.Errorf("no assistant turn: %v", err)
	}
	if _, err := New("{% for x in %}"); err == nil || !strings.Contains(err.Error(), "chat template") {
		t.Errorf("bad template: %v", err)
	}
}
