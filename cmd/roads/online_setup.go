package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"roads/data"
	"roads/model"
	"roads/pft"
	"roads/task"
	"roads/tok"
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

// onlineSetup is what an online trainer needs after flag parsing.
type onlineSetup struct {
	task     *task.Task
	policy   *model.Model
	ref      *model.Model
	tk       tok.Tokenizer
	verifier pft.Verifier
	prompts  [][]int32
	env      pft.Env
}

// setupOnline loads the task, the starting and reference policies, the
// verifier and the training prompts, and records what it resolved in in.
func setupOnline(in *pft.Inputs, o *onlineCLI, seed uint64) (*onlineSetup, error) {
	if in.Task == "" || in.Model == "" || in.Verifier == "" {
		return nil, errors.New("--task, --model and --verifier are required")
	}
	t, err := resolveTask(in)
	if err != nil {
		return nil, err
	}
	policy, ref, tk, err := loadPolicyAndRef(in.Model, in.RefModel)
	if err != nil {
		return nil, err
	}
	if in.RefModel == "" {
		in.RefModel = in.Model
	}
	if tk == nil {
		tk = t.Tokenizer()
	}
	v, err := pft.LoadVerifier(in.Verifier, t)
	if err != nil {
		return nil, err
	}
	var prompts [][]int32
	if in.Dataset != "" {
		rows, err := data.ReadPrompts(in.Dataset, o.keys)
		if err != nil {
			return nil, err
		}
		for i, r := range rows {
			p, err := tk.Encode(r.Prompt)
			if err != nil {
				return nil, fmt.Errorf("%s: row %d: prompt: %w", in.Dataset, i+1, err)
			}
			prompts = append(prompts, p)
		}
	} else {
		if o.numPrompts <= 0 {
			return nil, fmt.Errorf("--num_prompts = %d, want > 0", o.numPrompts)
		}
		prompts = t.Prompts(task.Train, seed, o.numPrompts)
	}
	env := pft.Env{Tokenizer: tk, Progress: os.Stderr}
	setTaskEnv(&env, t, o.eval.samplePrompts)
	return &onlineSetup{task: t, policy: policy, ref: ref, tk: tk, verifier: v, prompts: prompts, env: env}, nil
}
