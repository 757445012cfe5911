package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"roads/internal/cliflag"
	"roads/tok"
)

func init() {
	register("tokenize", "encode text with a tokenizer.json (HF byte-level BPE, or a roads model's) and print the ids", runTokenize)
}

func runTokenize(args []string, stdout io.Writer) error {
	fs := cliflag.New("tokenize")
	path := fs.String("tokenizer", "", "tokenizer.json (or .json.gz), or a directory holding tokenizer.json")
	text := fs.String("text", "", "text to encode")
	file := fs.String("file", "", "file whose content to encode (instead of --text)")
	decode := fs.Bool("decode", false, "also print the ids decoded back to text")
	asJSON := fs.Bool("json", false, "print {\"ids\": [...], \"tokens\": [...], \"decoded\": ...} as JSON")
	if err := cliflag.Parse(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return errors.New("--tokenizer is required")
	}
	textGiven := cliflag.Given(fs, "text")
	switch {
	case textGiven && *file != "":
		return errors.New("give --text or --file, not both")
	case !textGiven && *file == "":
		return errors.New("give --text TEXT or --file FILE")
	}
	tk, err := tok.LoadFile(*path)
	if err != nil {
		return fmt.Errorf("--tokenizer: %w", err)
	}
	input := *text
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		input = string(b)
	}
	ids, err := tk.Encode(input)
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []int32{}
	}
	if *asJSON {
		out := map[string]any{"ids": ids}
		toks := make([]string, len(ids))
		for i, id := range ids {
			toks[i] = tk.Token(id)
		}
		out["tokens"] = toks
		if *decode {
			out["decoded"] = tk.Decode(ids)
		}
		return writeIndentedJSON(stdout, out)
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	fmt.Fprintln(stdout, strings.Join(parts, " "))
	if *decode {
		fmt.Fprintln(stdout, tk.Decode(ids))
	}
	return nil
}
