package methods

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"roads/ckpt"
	"roads/eval"
	"roads/exp"
	"roads/model"
	"roads/pft"
	"roads/recipe"
	"roads/task"
)

// The shared artefacts every preference-based method builds on: the
// preference pairs of a (task, seed, prefs, n) and split, the reward models
// fitted on them, and the DPO policy trained on them. Each is keyed by the
// resolved settings it depends on (the SFT key included, since the pairs are
// the SFT model's samples), so arms paired on a seed share them.

// PrefSettings are the "prefs" parameters, the settings `roads data gen`
// takes as flags.
type PrefSettings = recipe.PrefSettings

// PairsFile is a preference artefact's pairs: TRL preference JSONL with the
// token ids (recipe.WritePairs), so `roads dpo --data DIR/pairs.jsonl` trains
// on exactly what the experiment did. stats.json beside it holds
// eval.PrefStats. Artefacts written before this format hold pairs.json
// (PrefData as JSON), which is still read.
const PairsFile = "pairs.jsonl"

// readPrefData loads a preference artefact, in either format.
func readPrefData(dir string) (*PrefData, error) {
	legacy := filepath.Join(dir, "pairs.json")
	if _, err := os.Stat(filepath.Join(dir, PairsFile)); err != nil {
		var d PrefData
		if err := ckpt.ReadJSON(legacy, &d); err != nil {
			return nil, err
		}
		return &d, nil
	}
	pairs, err := recipe.ReadPairs(filepath.Join(dir, PairsFile))
	if err != nil {
		return nil, err
	}
	d := &PrefData{}
	if err := ckpt.ReadJSON(filepath.Join(dir, "stats.json"), &d.Stats); err != nil {
		return nil, err
	}
	for _, p := range pairs {
		d.Pairs = append(d.Pairs, pft.PreferencePair{Prompt: p.Prompt, Chosen: p.Chosen, Rejected: p.Rejected})
		d.GoldMargins = append(d.GoldMargins, p.ScoreChosen-p.ScoreRejected)
	}
	return d, nil
}

// PrefData is a preference artefact: the pairs, their gold margins and
// statistics.
type PrefData struct {
	Pairs []pft.PreferencePair `json:"pairs"`
	// GoldMargins[i] is the gold reward of pair i's chosen side minus its
	// rejected side's.
	GoldMargins []float64      `json:"gold_margins"`
	Stats       eval.PrefStats `json:"stats"`
}

type prefKey struct {
	SFT   sftKey       `json:"sft"`
	Prefs PrefSettings `json:"prefs"`
	Split string       `json:"split"`
	N     int          `json:"n"`
	Label float64      `json:"label_temperature"`
	Seed  uint64       `json:"seed"`
}

// The rows of pft.Algorithms that train the shared artefacts: the SFT
// models (every policy's start and π_ref) and the reward models.
var (
	sftAlgorithm, _ = pft.Lookup("sft")
	rmAlgorithm, _  = pft.Lookup("rm")
)

// policyArch is the cell's "policy_model".
func policyArch(c exp.Cell) (ModelArch, error) {
	var arch ModelArch
	err := c.Decode("policy_model", &arch)
	return arch, err
}

// sftKeyOf resolves the SFT key of the cell for arch (the same key SFTModel
// builds under).
func sftKeyOf(c exp.Cell, t *task.Task, arch ModelArch) (sftKey, error) {
	var demos Demos
	if err := c.Decode("demos", &demos); err != nil {
		return sftKey{}, err
	}
	cfg := *sftAlgorithm.NewSFT().(*pft.SFTConfig)
	if err := c.Decode(sftAlgorithm.Method, &cfg); err != nil {
		return sftKey{}, err
	}
	cfg.Seed = c.Seed()
	cfg.OutputDir = ""
	cfg.DisableTQDM = true
	arch.Init = ""
	return sftKey{Task: t.Config(), Demos: demos, Arch: arch.resolved(), SFT: cfg, Seed: c.Seed()}, nil
}

// Preferences returns the cell's preference pairs on split: n prompts of the
// split (recipe.Preferences: the pairs `roads data gen --seed SEED` writes), the SFT
// model's completions, gold Bradley–Terry labels at the task's label
// temperature. n_pairs train pairs feed DPO and the reward models;
// rm_eval.val_pairs validation pairs measure verifiers in distribution.
func Preferences(ctx context.Context, c exp.Cell, art *exp.Artifacts, split task.Split, n int) (*PrefData, string, error) {
	if n <= 0 {
		return nil, "", fmt.Errorf("cell %s: %d preference prompts, want > 0", c.ID, n)
	}
	t, err := Task(c)
	if err != nil {
		return nil, "", err
	}
	arch, err := policyArch(c)
	if err != nil {
		return nil, "", err
	}
	ps := recipe.DefaultPrefSettings()
	if err := c.Decode("prefs", &ps); err != nil {
		return nil, "", err
	}
	if ps.Policy != "sft" {
		return nil, "", fmt.Errorf("cell %s: prefs.policy %q: only \"sft\" is wired", c.ID, ps.Policy)
	}
	sk, err := sftKeyOf(c, t, arch)
	if err != nil {
		return nil, "", err
	}
	key := prefKey{SFT: sk, Prefs: ps, Split: split.String(), N: n, Label: t.LabelTemperature(), Seed: c.Seed()}
	dir, err := art.Dir(ctx, "prefs", key, func(ctx context.Context, dir string) error {
		sft, _, err := SFTModel(ctx, c, art, arch)
		if err != nil {
			return err
		}
		pol, err := eval.NewModelPolicy(sft, t)
		if err != nil {
			return err
		}
		opt := ps.Options(t.LabelTemperature())
		pairs, st, err := recipe.Preferences(t, pol, split, c.Seed(), n, opt)
		if err != nil {
			return err
		}
		if len(pairs) == 0 {
			return fmt.Errorf("no preference pairs survived (%d identical, %d gold ties dropped)", st.Identical, st.GoldTies)
		}
		if err := recipe.WritePairs(filepath.Join(dir, PairsFile), t, pairs); err != nil {
			return err
		}
		return ckpt.WriteJSON(filepath.Join(dir, "stats.json"), st)
	})
	if err != nil {
		return nil, "", err
	}
	d, err := exp.Memo(art, "prefs-data", dir, func() (*PrefData, error) { return readPrefData(dir) })
	return d, dir, err
}

// TrainPairs are the cell's n_pairs training pairs.
func TrainPairs(ctx context.Context, c exp.Cell, art *exp.Artifacts) (*PrefData, string, error) {
	n, err := c.Int("n_pairs")
	if err != nil {
		return nil, "", err
	}
	return Preferences(ctx, c, art, task.Train, n)
}

// ValPairs are the cell's rm_eval.val_pairs validation pairs (held out from
// every trainer; the reward models select their checkpoint on them).
func ValPairs(ctx context.Context, c exp.Cell, art *exp.Artifacts) (*PrefData, string, error) {
	n, err := c.Int("rm_eval.val_pairs")
	if err != nil {
		return nil, "", err
	}
	return Preferences(ctx, c, art, task.Validation, n)
}

// trainable returns a trainable copy of a (possibly frozen) model.
func trainable(m *model.Model, seed uint64) (*model.Model, error) {
	c, err := model.New(m.Config(), seed)
	if err != nil {
		return nil, err
	}
	if err := c.CopyWeightsFrom(m); err != nil {
		return nil, err
	}
	return c, nil
}

// loadFrozen loads a run directory's final model, memoised.
func loadFrozen(art *exp.Artifacts, dir string) (*model.Model, error) {
	return exp.Memo(art, "model", dir, func() (*model.Model, error) {
		m, _, err := model.LoadDir(dir)
		if err != nil {
			return nil, err
		}
		m.Freeze()
		return m, nil
	})
}

type rmKey struct {
	Train string                `json:"train_pairs"` // artefact directory of the pairs (its name is their key's hash)
	Val   string                `json:"val_pairs"`
	Arch  ModelArch             `json:"arch"`
	SFT   sftKey                `json:"init_sft"`
	RM    pft.RewardTrainConfig `json:"rm"`
}

// RewardModel returns the verifier of kind (pft.RMGlobal or pft.RMLocal)
// fitted on the cell's training pairs, started from an SFT model of
// rm_model's shape, with its held-out (validation pairs) result.
func RewardModel(ctx context.Context, c exp.Cell, art *exp.Artifacts, kind string) (pft.Verifier, pft.RewardResult, error) {
	t, err := Task(c)
	if err != nil {
		return nil, pft.RewardResult{}, err
	}
	train, trainDir, err := TrainPairs(ctx, c, art)
	if err != nil {
		return nil, pft.RewardResult{}, err
	}
	val, valDir, err := ValPairs(ctx, c, art)
	if err != nil {
		return nil, pft.RewardResult{}, err
	}
	var arch ModelArch
	if err := c.Decode("rm_model", &arch); err != nil {
		return nil, pft.RewardResult{}, err
	}
	if arch.Init != "" && arch.Init != "sft" {
		return nil, pft.RewardResult{}, fmt.Errorf("cell %s: rm_model.init %q: only \"sft\" is wired", c.ID, arch.Init)
	}
	if kind == pft.RMLocal { // a local verifier is policy-shaped
		if arch, err = policyArch(c); err != nil {
			return nil, pft.RewardResult{}, err
		}
	}
	cfg := *rmAlgorithm.NewReward().(*pft.RewardTrainConfig)
	if err := c.Decode(rmAlgorithm.Method, &cfg); err != nil {
		return nil, pft.RewardResult{}, err
	}
	cfg.Kind = kind
	cfg.Seed, cfg.OutputDir, cfg.DisableTQDM, cfg.EvalFraction = c.Seed(), "", true, 0
	if kind == pft.RMLocal {
		cfg.Readout = ""
	}
	sk, err := sftKeyOf(c, t, arch)
	if err != nil {
		return nil, pft.RewardResult{}, err
	}
	key := rmKey{Train: filepath.Base(trainDir), Val: filepath.Base(valDir), Arch: arch.resolved(), SFT: sk, RM: cfg}
	dir, err := art.Dir(ctx, "rm_"+kind, key, func(ctx context.Context, dir string) error {
		sft, _, err := SFTModel(ctx, c, art, arch)
		if err != nil {
			return err
		}
		rm, err := trainable(sft, c.Seed())
		if err != nil {
			return err
		}
		if rm, err = pft.RewardModelFrom(rm, cfg); err != nil {
			return err
		}
		run := cfg
		run.OutputDir, run.Context = dir, ctx // a cancelled run stops at the end of its step
		_, err = run.Train(rm, train.Pairs, val.Pairs, pft.Env{Tokenizer: t.Tokenizer()})
		return err
	})
	if err != nil {
		return nil, pft.RewardResult{}, err
	}
	var res pft.RewardResult
	if err := ckpt.ReadJSON(filepath.Join(dir, "eval_results.json"), &res); err != nil {
		return nil, pft.RewardResult{}, err
	}
	m, err := loadFrozen(art, dir)
	if err != nil {
		return nil, pft.RewardResult{}, err
	}
	if kind == pft.RMGlobal {
		return pft.GlobalRM{Model: m}, res, nil
	}
	return pft.LocalRM{Model: m}, res, nil
}

// DPOSettings resolves the cell's "dpo" block (code defaults first): the
// DPO policy's settings, and the base of the online DPO arms'.
func DPOSettings(c exp.Cell) (pft.DPOTrainConfig, error) {
	cfg := pft.DefaultDPOTrainConfig()
	if err := c.Decode("dpo", &cfg); err != nil {
		return cfg, err
	}
	cfg.Seed, cfg.OutputDir, cfg.DisableTQDM = c.Seed(), "", true
	return cfg, nil
}

// offlineSettings resolves the cell's block named after a's method into the
// algorithm's config (code defaults first), as JSON for the artefact key.
func offlineSettings(c exp.Cell, a pft.Algorithm) (pft.OfflineRun, json.RawMessage, error) {
	run := a.NewOffline()
	if err := c.Decode(a.Method, run); err != nil {
		return nil, nil, err
	}
	_, args := run.Shared()
	args.Seed, args.OutputDir, args.DisableTQDM = c.Seed(), "", true
	raw, err := json.Marshal(run)
	return run, raw, err
}

// DPOPolicy returns the DPO policy trained on the cell's training pairs from
// its SFT model (π_ref = the SFT model), and the run directory.
func DPOPolicy(ctx context.Context, c exp.Cell, art *exp.Artifacts) (*model.Model, string, error) {
	a, _ := pft.Lookup("dpo")
	return OfflinePolicy(ctx, c, art, a)
}

// OfflinePolicy returns the policy that the offline algorithm a trains on
// the cell's training pairs from its SFT model (π_ref = the SFT model), and
// the run directory: an artefact of kind a.Method keyed by the pairs, the
// SFT model and the algorithm's settings.
func OfflinePolicy(ctx context.Context, c exp.Cell, art *exp.Artifacts, a pft.Algorithm) (*model.Model, string, error) {
	t, err := Task(c)
	if err != nil {
		return nil, "", err
	}
	arch, err := policyArch(c)
	if err != nil {
		return nil, "", err
	}
	train, trainDir, err := TrainPairs(ctx, c, art)
	if err != nil {
		return nil, "", err
	}
	run, settings, err := offlineSettings(c, a)
	if err != nil {
		return nil, "", err
	}
	sk, err := sftKeyOf(c, t, arch)
	if err != nil {
		return nil, "", err
	}
	key := map[string]any{"train_pairs": filepath.Base(trainDir), "sft": sk, a.Method: settings}
	dir, err := art.Dir(ctx, a.Method, key, func(ctx context.Context, dir string) error {
		sft, _, err := SFTModel(ctx, c, art, arch)
		if err != nil {
			return err
		}
		policy, err := trainable(sft, c.Seed())
		if err != nil {
			return err
		}
		_, args := run.Shared()
		args.OutputDir, args.Context = dir, ctx // a cancelled run stops at the end of its step
		return run.Train(policy, sft, train.Pairs, pft.Env{Tokenizer: t.Tokenizer(), Task: t})
	})
	if err != nil {
		return nil, "", err
	}
	m, err := loadFrozen(art, dir)
	return m, dir, err
}

func meanOf(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
