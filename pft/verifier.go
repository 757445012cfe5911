package pft

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"roads/ckpt"
	"roads/model"
)

// Verifiers: anything that scores completions of prompts. The paper compares
// three learned ones trained on the same preferences (§4.3, H5) — a global RM
// (a scalar head on a transformer trunk), a local RM (a policy-class network
// whose score is Σ_t log π(a_t|s_t)) and DPO's implicit reward β log π/π_ref —
// and the gold reward is the fourth, the oracle.
//
// Every verifier scores a completion as a finished text: prompt + completion
// + EOS (completions are passed without EOS, the task convention), so what a
// verifier saw in training and what it scores online agree.

// Verifier scores completions (without EOS) of prompts; higher is better.
type Verifier interface {
	Score(prompts, completions [][]int32) ([]float64, error)
}

// GlobalRM is a scalar-head reward model: r(x, y) is the model's readout
// (last token, sum or mean over the response; model.Config.ScalarReadout).
type GlobalRM struct{ Model *model.Model }

// LocalRM is a policy-class network used as a reward: r(x, y) = Σ_t log π(a_t|s_t),
// EOS included, with no reference (paper §1.2).
type LocalRM struct{ Model *model.Model }

// DPOImplicit is DPO's implicit reward r(x, y) = β (log π(y|x) − log π_ref(y|x)),
// sequence sums with EOS included (also for runs trained with loss_type ipo).
type DPOImplicit struct {
	Policy, Ref *model.Model
	Beta        float64
}

// Gold is the task's exact reward.
type Gold struct{ Task Task }

func checkScoreArgs(prompts, completions [][]int32) error {
	if len(prompts) != len(completions) {
		return fmt.Errorf("verifier: %d prompts and %d completions", len(prompts), len(completions))
	}
	return nil
}

func completionSeqs(m *model.Model, prompts, completions [][]int32) ([][]int32, []int) {
	eos := m.Config().EOSTokenID
	seqs := make([][]int32, len(prompts))
	plens := make([]int, len(prompts))
	for i := range prompts {
		seqs[i], plens[i] = withEOS(prompts[i], completions[i], eos), len(prompts[i])
	}
	return seqs, plens
}

// Score is the readout of the scalar head on prompt + completion + EOS.
func (v GlobalRM) Score(prompts, completions [][]int32) ([]float64, error) {
	if err := checkScoreArgs(prompts, completions); err != nil {
		return nil, err
	}
	if v.Model.Config().Head != "scalar" {
		return nil, errors.New("global RM: the model has no scalar head")
	}
	seqs, plens := completionSeqs(v.Model, prompts, completions)
	s, err := scoreSequences(v.Model, seqs, plens)
	if err != nil {
		return nil, fmt.Errorf("global RM: %w", err)
	}
	return s.Value, nil
}

func (v GlobalRM) String() string {
	return "global RM (readout " + v.Model.Config().ScalarReadout + ")"
}

// Score is Σ_t log π over completion + EOS.
func (v LocalRM) Score(prompts, completions [][]int32) ([]float64, error) {
	if err := checkScoreArgs(prompts, completions); err != nil {
		return nil, err
	}
	if v.Model.Config().Head != "lm" {
		return nil, errors.New("local RM: the model has no LM head")
	}
	seqs, plens := completionSeqs(v.Model, prompts, completions)
	s, err := scoreSequences(v.Model, seqs, plens)
	if err != nil {
		return nil, fmt.Errorf("local RM: %w", err)
	}
	return s.Value, nil
}

func (LocalRM) String() string { return "local RM (Σ log π)" }

// Score is β (log π − log π_ref) over completion + EOS.
func (v DPOImplicit) Score(prompts, completions [][]int32) ([]float64, error) {
	if err := checkScoreArgs(prompts, completions); err != nil {
		return nil, err
	}
	seqs, plens := completionSeqs(v.Policy, prompts, completions)
	logp, err := scoreSequences(v.Policy, seqs, plens)
	if err != nil {
		return nil, fmt.Errorf("DPO implicit reward: policy: %w", err)
	}
	refLogp, err := scoreSequences(v.Ref, seqs, plens)
	if err != nil {
		return nil, fmt.Errorf("DPO implicit reward: reference: %w", err)
	}
	return DPOImplicitReward(v.Beta, logp.Value, refLogp.Value)
}

func (v DPOImplicit) String() string { return fmt.Sprintf("DPO implicit reward (β = %g)", v.Beta) }

// Score is the gold reward of each completion.
func (v Gold) Score(prompts, completions [][]int32) ([]float64, error) {
	if err := checkScoreArgs(prompts, completions); err != nil {
		return nil, err
	}
	return goldScores(v.Task, prompts, completions)
}

func (Gold) String() string { return "gold reward" }

// LoadVerifier opens a verifier by name:
//
//   - "gold": the task's reward (t must be non-nil);
//   - a directory whose model has a scalar head: a GlobalRM;
//   - a run directory whose training_config.json records "beta" and which
//     holds its reference (ref_model/, or the "ref_model" path it records):
//     the implicit reward DPOImplicit (a DPO or online-DPO run; RLOO, GRPO and
//     PPO runs qualify too);
//   - any other directory with an LM head (an SFT model, a `roads rm --kind
//     local` run): a LocalRM.
//
// The models are frozen.
func LoadVerifier(dirOrGold string, t Task) (Verifier, error) {
	if dirOrGold == "gold" {
		if t == nil {
			return nil, errors.New("verifier gold needs a task (--task)")
		}
		return Gold{Task: t}, nil
	}
	if dirOrGold == "" {
		return nil, errors.New("no verifier given (a model directory or \"gold\")")
	}
	m, _, err := model.LoadDir(dirOrGold)
	if err != nil {
		return nil, fmt.Errorf("verifier %s: %w", dirOrGold, err)
	}
	m.Freeze()
	if m.Config().Head == "scalar" {
		return GlobalRM{Model: m}, nil
	}
	var rec struct {
		Beta     *float64 `json:"beta"`
		KLCoef   *float64 `json:"kl_coef"`
		RefModel string   `json:"ref_model"`
	}
	raw, err := os.ReadFile(filepath.Join(dirOrGold, "training_config.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return LocalRM{Model: m}, nil
	case err != nil:
		return nil, fmt.Errorf("verifier %s: %w", dirOrGold, err)
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("verifier %s: training_config.json: %w", dirOrGold, err)
	}
	beta := rec.Beta
	if beta == nil {
		beta = rec.KLCoef
	}
	if beta == nil {
		return LocalRM{Model: m}, nil
	}
	refDir := filepath.Join(dirOrGold, RefModelDir)
	if _, err := os.Stat(filepath.Join(refDir, ckpt.ConfigFile)); err != nil {
		if rec.RefModel == "" {
			return nil, fmt.Errorf("verifier %s: training_config.json records beta but the run has no %s/ and records no ref_model", dirOrGold, RefModelDir)
		}
		refDir = rec.RefModel
	}
	ref, _, err := model.LoadDir(refDir)
	if err != nil {
		return nil, fmt.Errorf("verifier %s: reference %s: %w", dirOrGold, refDir, err)
	}
	ref.Freeze()
	if ref.Config() != m.Config() {
		return nil, fmt.Errorf("verifier %s: reference %s has a different model config", dirOrGold, refDir)
	}
	if !(*beta > 0) {
		return nil, fmt.Errorf("verifier %s: training_config.json beta = %v, want > 0", dirOrGold, *beta)
	}
	return DPOImplicit{Policy: m, Ref: ref, Beta: *beta}, nil
}

// EvaluateVerifier scores held-out preference pairs with any verifier and
// returns the paper's validation BT likelihood (mean σ(r⁺ − r⁻)), the mean log
// likelihood and the accuracy (ties count ½).
func EvaluateVerifier(v Verifier, pairs []PreferencePair) (BTEvalResult, error) {
	if len(pairs) == 0 {
		return BTEvalResult{}, errors.New("evaluate verifier: no pairs")
	}
	n := len(pairs)
	prompts := make([][]int32, 2*n)
	comps := make([][]int32, 2*n)
	for i, p := range pairs {
		prompts[i], comps[i] = p.Prompt, p.Chosen
		prompts[n+i], comps[n+i] = p.Prompt, p.Rejected
	}
	s, err := v.Score(prompts, comps)
	if err != nil {
		return BTEvalResult{}, err
	}
	return BTEval(s[:n], s[n:])
}

// LengthRuleAccuracy is the accuracy, on the same pairs, of the best rule that
// looks only at completion lengths: "the shorter completion wins" or "the
// longer one wins", ties counting ½ (so the two rules' accuracies sum to 1).
// A learned verifier that does not beat it has learned length, not the task.
func LengthRuleAccuracy(pairs []PreferencePair) (accuracy float64, rule string, err error) {
	if len(pairs) == 0 {
		return 0, "", errors.New("length rule: no pairs")
	}
	shorter := 0.0
	for _, p := range pairs {
		switch {
		case len(p.Chosen) < len(p.Rejected):
			shorter++
		case len(p.Chosen) == len(p.Rejected):
			shorter += 0.5
		}
	}
	shorter /= float64(len(pairs))
	if shorter >= 0.5 {
		return shorter, "shorter wins", nil
	}
	return 1 - shorter, "longer wins", nil
}
