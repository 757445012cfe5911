package main

import (
	"flag"
	"os"

	"roads/data"
	"roads/pft"
	"roads/recipe"
)

// onlineCLI holds the flags every online trainer shares besides its config.
type onlineCLI struct {
	numPrompts int
	keys       data.Keys
	eval       *evalFlags
}

// addOnlineInputFlags binds --num_prompts, the JSONL keys and the gold
// evaluation (the inputs --task, --model, --ref_model, --verifier and --data
// are pft.Inputs', bound with the config).
func addOnlineInputFlags(fs *flag.FlagSet, o *onlineCLI) {
	fs.IntVar(&o.numPrompts, "num_prompts", 1000, "training prompts drawn from the task's train split (stream = --seed) when there is no --data")
	o.keys.AddFlags(fs)
	o.eval = addEvalFlags(fs)
}

// setupOnline loads the online run's inputs (recipe.LoadOnline) and its
// environment: tokenizer, progress bar, gold-scored checkpoint samples.
func setupOnline(in *pft.Inputs, o *onlineCLI, seed uint64) (*recipe.Loaded, pft.Env, error) {
	st, err := recipe.LoadOnline(in, o.numPrompts, o.keys, seed)
	if err != nil {
		return nil, pft.Env{}, err
	}
	env := pft.Env{Tokenizer: st.Tok, Progress: os.Stderr}
	recipe.SetTaskEnv(&env, st.Task, o.eval.samplePrompts)
	return st, env, nil
}
