package main

import (
	"roads/task"
	"roads/tok"
)

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
