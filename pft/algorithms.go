package pft

import "roads/model"

// The preference algorithms as two tables, offline (trained on preference
// pairs against a frozen reference) and online (against a verifier, on the
// policy's own samples). The CLI makes a command of each row (flags from the
// config struct, Validate, the shared inputs, Train, the gold report) and
// the experiments a method (the cell's block of the same name decoded into
// the same config). A new algorithm is its file in this package (config,
// Default…, Validate, Train…) and a row here.

// OfflineRun is an offline preference algorithm's configuration, ready to
// train: its settings, the inputs and TrainingArguments every trainer
// shares, and the trainer.
type OfflineRun interface {
	// Validate checks every setting, naming the field.
	Validate() error
	// Shared returns the run's inputs record and TrainingArguments (pointers
	// into the config, for the caller to fill).
	Shared() (*Inputs, *TrainArgs)
	// Train fine-tunes policy on pairs with the frozen reference ref,
	// writing the run into the TrainingArguments' output_dir.
	Train(policy, ref *model.Model, pairs []PreferencePair, env Env) error
}

// OfflineAlgorithm is one row of the offline table.
type OfflineAlgorithm struct {
	Command string // CLI command name
	// Method is the experiment method's name, the key of the cell block its
	// config is decoded from, and the kind of its policy artefact.
	Method  string
	Summary string
	New     func() OfflineRun // the default configuration
	// NotFlags are settings of an embedded config that the algorithm does
	// not use; the CLI offers no flag for them.
	NotFlags []string
}

// OfflineAlgorithms lists the offline preference trainers. (SFT and the
// reward model train on other data, demonstrations and a scalar head, and
// keep their own commands and methods.)
var OfflineAlgorithms = []OfflineAlgorithm{
	{Command: "dpo", Method: "dpo", Summary: "offline DPO/IPO on preference JSONL against a frozen reference",
		New:      func() OfflineRun { c := DefaultDPOTrainConfig(); return &c },
		NotFlags: []string{"verifier"}},
}

// Offline returns the row of OfflineAlgorithms whose method is name.
func Offline(name string) (OfflineAlgorithm, bool) {
	for _, a := range OfflineAlgorithms {
		if a.Method == name {
			return a, true
		}
	}
	return OfflineAlgorithm{}, false
}

func (c *DPOTrainConfig) Shared() (*Inputs, *TrainArgs) { return &c.Inputs, &c.TrainArgs }

func (c *DPOTrainConfig) Train(policy, ref *model.Model, pairs []PreferencePair, env Env) error {
	return TrainDPO(*c, policy, ref, pairs, env)
}

// OnlineRun is an online algorithm's configuration, ready to train: its
// settings, the inputs and TrainingArguments every trainer shares, and the
// trainer itself.
type OnlineRun interface {
	// Validate checks every setting, naming the field.
	Validate() error
	// Shared returns the run's inputs record and TrainingArguments (pointers
	// into the config, for the caller to fill).
	Shared() (*Inputs, *TrainArgs)
	// Train fine-tunes policy against verifier v, with KL to ref, on
	// prompts, writing the run into the TrainingArguments' output_dir.
	Train(policy, ref *model.Model, v Verifier, prompts [][]int32, env Env) error
}

// OnlineAlgorithm is one row of the online table.
type OnlineAlgorithm struct {
	Command string // CLI command name
	// Method is the experiment method's name, and the key of the cell block
	// its config is decoded from ("": the experiments wire the algorithm by
	// hand, as the online_dpo_* family with its source policies).
	Method  string
	Summary string
	New     func() OnlineRun // the default configuration
	// NotFlags are settings of an embedded config that the algorithm does
	// not use; the CLI offers no flag for them.
	NotFlags []string
	// Aliases maps extra flag names to the flag each one sets.
	Aliases map[string]string
}

// OnlineAlgorithms lists the online trainers, in the CLI's order.
var OnlineAlgorithms = []OnlineAlgorithm{
	{Command: "online-dpo", Summary: "online DPO: pairs of the policy's samples ranked by a verifier (one_round as the paper, or iterative)",
		New:      func() OnlineRun { c := DefaultOnlineDPOConfig(); return &c },
		NotFlags: []string{"max_length", "max_prompt_length"}}, // online samples fit the context by construction
	{Command: "rloo", Method: "rloo", Summary: "RLOO: k samples per prompt, leave-one-out baseline, k1 KL penalty in the reward",
		New: func() OnlineRun { c := DefaultRLOOTrainConfig(); return &c }},
	{Command: "ppo", Method: "ppo", Summary: "PPO: clipped ratio, value model and GAE, k1 KL penalty in the reward",
		New:     func() OnlineRun { c := DefaultPPOTrainConfig(); return &c },
		Aliases: map[string]string{"beta": "kl_coef"}}, // the other trainers' name
	{Command: "grpo", Method: "grpo", Summary: "GRPO: group-normalised advantages, clipped ratio, k3 KL term in the loss",
		New: func() OnlineRun { c := DefaultGRPOTrainConfig(); return &c }},
}

func (c *OnlineDPOConfig) Shared() (*Inputs, *TrainArgs) { return &c.Inputs, &c.TrainArgs }
func (c *RLOOTrainConfig) Shared() (*Inputs, *TrainArgs) { return &c.Inputs, &c.TrainArgs }
func (c *PPOTrainConfig) Shared() (*Inputs, *TrainArgs)  { return &c.Inputs, &c.TrainArgs }
func (c *GRPOTrainConfig) Shared() (*Inputs, *TrainArgs) { return &c.Inputs, &c.TrainArgs }

func (c *OnlineDPOConfig) Train(policy, ref *model.Model, v Verifier, prompts [][]int32, env Env) error {
	return TrainOnlineDPO(*c, policy, ref, v, prompts, env)
}

func (c *RLOOTrainConfig) Train(policy, ref *model.Model, v Verifier, prompts [][]int32, env Env) error {
	return TrainRLOO(*c, policy, ref, v, prompts, env)
}

func (c *GRPOTrainConfig) Train(policy, ref *model.Model, v Verifier, prompts [][]int32, env Env) error {
	return TrainGRPO(*c, policy, ref, v, prompts, env)
}

// Train builds the value model (NewValueModel: from the verifier when it is
// a reward model, else from the policy; recorded as value_model_init) and
// trains both.
func (c *PPOTrainConfig) Train(policy, ref *model.Model, v Verifier, prompts [][]int32, env Env) error {
	value, init, err := NewValueModel(policy, v, c.Seed)
	if err != nil {
		return err
	}
	c.ValueModelInit = init
	return TrainPPO(*c, policy, ref, value, v, prompts, env)
}
