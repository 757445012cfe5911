package pft

import (
	"fmt"
	"io"

	"roads/model"
	"roads/tok"
)

// The algorithms as one table. Each row is a family (what the algorithm
// trains on, so which Run interface its config implements), the CLI command
// made of it (flags from the config struct, Validate, the family's shared
// inputs, Train, the gold report) and the experiments' name for it (the
// cell block its config is decoded from, and the method of that name). A
// new algorithm is its file in this package (config, Default…, Validate,
// Train…) and a row here.

// Family is what an algorithm trains on.
type Family string

const (
	// Imitation trains a policy on demonstrations by maximum likelihood
	// (SFTRun).
	Imitation Family = "imitation"
	// RewardFit fits a verifier to preference pairs by Bradley–Terry
	// (RewardRun).
	RewardFit Family = "reward"
	// Offline trains a policy on preference pairs against a frozen
	// reference (OfflineRun).
	Offline Family = "offline"
	// Online trains a policy on its own samples scored by a verifier
	// (OnlineRun).
	Online Family = "online"
)

// Run is an algorithm's configuration, ready to train.
type Run interface {
	// Validate checks every setting, naming the field.
	Validate() error
	// Shared returns the run's inputs record and TrainingArguments
	// (pointers into the config, for the caller to fill). The inputs are
	// nil for the imitation family, whose inputs (demonstrations, and the
	// architecture of a new model) are the recipe's.
	Shared() (*Inputs, *TrainArgs)
}

// SFTRun is an imitation algorithm's configuration.
type SFTRun interface {
	Run
	// Train fine-tunes policy on the demonstrations, writing the run into
	// the TrainingArguments' output_dir; progress receives the progress bar.
	Train(policy *model.Model, tk tok.Tokenizer, train []SFTExample, progress io.Writer) error
}

// RewardRun is a reward-fitting algorithm's configuration.
type RewardRun interface {
	Run
	// Train fits rm (RewardModelFrom's model) to the train pairs, scoring
	// the held-out eval pairs, writing the run into the output_dir.
	Train(rm *model.Model, train, eval []PreferencePair, env Env) (RewardResult, error)
}

// OfflineRun is an offline preference algorithm's configuration.
type OfflineRun interface {
	Run
	// Train fine-tunes policy on pairs with the frozen reference ref,
	// writing the run into the TrainingArguments' output_dir.
	Train(policy, ref *model.Model, pairs []PreferencePair, env Env) error
}

// OnlineRun is an online algorithm's configuration.
type OnlineRun interface {
	Run
	// Train fine-tunes policy against verifier v, with KL to ref, on
	// prompts, writing the run into the TrainingArguments' output_dir.
	Train(policy, ref *model.Model, v Verifier, prompts [][]int32, env Env) error
}

// Algorithm is one row of the table.
type Algorithm struct {
	Family  Family
	Command string // CLI command name
	// Method is the experiments' name for the algorithm: the cell block its
	// config is decoded from and the kind of its artefact; for every family
	// but RewardFit also the experiment method of that name ("": the
	// experiments wire the algorithm by hand, as the online_dpo_* family
	// with its source policies). A reward model is not a method of its own
	// but the verifier artefact of the methods that use one (rm_eval,
	// online_dpo_*, rloo, ppo, grpo, bon).
	Method  string
	Summary string
	New     func() Run // the default configuration, of the family's Run interface
	// NotFlags are settings of an embedded config that the algorithm does
	// not use; the CLI offers no flag for them.
	NotFlags []string
	// Aliases maps extra flag names to the flag each one sets.
	Aliases map[string]string
}

// Algorithms lists every trainer, in the CLI's order.
var Algorithms = []Algorithm{
	{Family: Imitation, Command: "sft", Method: "sft", Summary: "supervised fine-tuning on prompt/completion (or text) JSONL",
		New: func() Run { c := DefaultSFTConfig(); return &c }},
	{Family: RewardFit, Command: "rm", Method: "rm", Summary: "Bradley–Terry reward model (--kind global|local) with held-out BT likelihood; 'rm eval' scores any verifier",
		New:      func() Run { c := DefaultRewardTrainConfig(); return &c },
		NotFlags: []string{"ref_model", "verifier"}},
	{Family: Offline, Command: "dpo", Method: "dpo", Summary: "offline DPO/IPO on preference JSONL against a frozen reference",
		New:      func() Run { c := DefaultDPOTrainConfig(); return &c },
		NotFlags: []string{"verifier"}},
	{Family: Online, Command: "online-dpo", Summary: "online DPO: pairs of the policy's samples ranked by a verifier (one_round as the paper, or iterative)",
		New:      func() Run { c := DefaultOnlineDPOConfig(); return &c },
		NotFlags: []string{"max_length", "max_prompt_length"}}, // online samples fit the context by construction
	{Family: Online, Command: "rloo", Method: "rloo", Summary: "RLOO: k samples per prompt, leave-one-out baseline, k1 KL penalty in the reward",
		New: func() Run { c := DefaultRLOOTrainConfig(); return &c }},
	{Family: Online, Command: "ppo", Method: "ppo", Summary: "PPO: clipped ratio, value model and GAE, k1 KL penalty in the reward",
		New:     func() Run { c := DefaultPPOTrainConfig(); return &c },
		Aliases: map[string]string{"beta": "kl_coef"}}, // the other trainers' name
	{Family: Online, Command: "grpo", Method: "grpo", Summary: "GRPO: group-normalised advantages, clipped ratio, k3 KL term in the loss",
		New: func() Run { c := DefaultGRPOTrainConfig(); return &c }},
}

// Lookup returns the row whose method is name.
func Lookup(name string) (Algorithm, bool) {
	for _, a := range Algorithms {
		if a.Method == name {
			return a, true
		}
	}
	return Algorithm{}, false
}

// Of returns the rows of family f, in the table's order.
func Of(f Family) []Algorithm {
	var out []Algorithm
	for _, a := range Algorithms {
		if a.Family == f {
			out = append(out, a)
		}
	}
	return out
}

// The family's default configuration, typed. Each panics on a row of
// another family (TestAlgorithmTable checks every row's New against its
// family).

func (a Algorithm) NewSFT() SFTRun         { return mustRun[SFTRun](a, Imitation) }
func (a Algorithm) NewReward() RewardRun   { return mustRun[RewardRun](a, RewardFit) }
func (a Algorithm) NewOffline() OfflineRun { return mustRun[OfflineRun](a, Offline) }
func (a Algorithm) NewOnline() OnlineRun   { return mustRun[OnlineRun](a, Online) }

func mustRun[R Run](a Algorithm, f Family) R {
	r, ok := a.New().(R)
	if a.Family != f || !ok {
		panic(fmt.Sprintf("pft: algorithm %s (%s family) has no %s configuration", a.Command, a.Family, f))
	}
	return r
}

func (c *SFTConfig) Shared() (*Inputs, *TrainArgs) { return nil, &c.TrainArgs }

func (c *SFTConfig) Train(policy *model.Model, tk tok.Tokenizer, train []SFTExample, progress io.Writer) error {
	return TrainSFT(*c, policy, tk, train, progress)
}

func (c *RewardTrainConfig) Shared() (*Inputs, *TrainArgs) { return &c.Inputs, &c.TrainArgs }

func (c *RewardTrainConfig) Train(rm *model.Model, train, eval []PreferencePair, env Env) (RewardResult, error) {
	return TrainRewardModel(*c, rm, train, eval, env)
}

func (c *DPOTrainConfig) Shared() (*Inputs, *TrainArgs) { return &c.Inputs, &c.TrainArgs }

func (c *DPOTrainConfig) Train(policy, ref *model.Model, pairs []PreferencePair, env Env) error {
	return TrainDPO(*c, policy, ref, pairs, env)
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
