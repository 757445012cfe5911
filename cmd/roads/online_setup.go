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

// addOnlineInputFlags binds --task, --model, --ref_model, --verifier, --data
// and --num_prompts.
func addOnlineInputFlags(fs *flag.FlagSet, in *pft.Inputs, o *onlineCLI) {
	fs.StringVar(&in.Task, "task", in.Task, pftTaskHelp+" (required: sampling mask, horizon, gold checks)")
	fs.StringVar(&in.Model, "model", in.Model, "starting policy directory (the SFT model, or a DPO run for the paper's Online DPO (DPO))")
	fs.StringVar(&in.RefModel, "ref_model", in.RefModel, "reference policy directory (default: --model)")
	fs.StringVar(&in.Verifier, "verifier", in.Verifier, "verifier: a reward-model directory, a DPO run (implicit reward), a model directory (Σ log π), or gold")
	fs.StringVar(&in.Dataset, "data", in.Dataset, "JSONL whose \"prompt\" fields are the training prompts (a preference file works; default: --num_prompts prompts of the task's train split)")
	fs.IntVar(&o.numPrompts, "num_prompts", 1000, "training prompts drawn from the task's train split (stream = --seed) when there is no --data")
	o.keys.AddFlags(fs)
	o.eval = addEvalFlags(fs)
}

// setupOnline loads the online run's inputs (recipe.LoadOnline) and its
// environment: tokenizer, progress bar, gold-scored checkpoint samples.
func setupOnline(in *pft.Inputs, o *onlineCLI, seed uint64) (*recipe.Online, pft.Env, error) {
	st, err := recipe.LoadOnline(in, o.numPrompts, o.keys, seed)
	if err != nil {
		return nil, pft.Env{}, err
	}
	env := pft.Env{Tokenizer: st.Tok, Progress: os.Stderr}
	recipe.SetTaskEnv(&env, st.Task, o.eval.samplePrompts)
	return st, env, nil
}
