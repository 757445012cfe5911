package methods

import (
	"context"
	"fmt"
	"roads/recipe"

	"roads/eval"
	"roads/exp"
	"roads/model"
	"roads/pft"
	"roads/task"
)

// The verifier panel (issue 10, point 4): the global RM, the local RM and the
// DPO implicit RM measured side by side on (a) held-out pairs of the offline
// distribution (the same recipe as the training pairs, on
// verifier_eval.offline_prompts test-split prompts: the validation pairs
// cannot serve, the reward models pick their checkpoint on them) and (b)
// pairs sampled from the
// policy an online arm ends with, both ordered by the gold reward. (b) is the
// distribution the online arm's verifier actually ranks; a verifier that is
// good on (a) and poor on (b) is being exploited by the search.
//
// Recorded metrics, for each verifier V in verifier_eval.verifiers
// (global_rm, local_rm, dpo_rm):
//
//	V_accuracy, V_log_likelihood                    on (a)
//	V_onpolicy_accuracy, V_onpolicy_log_likelihood  on (b)
//
// and length_rule_accuracy / length_rule_onpolicy_accuracy, the best
// length-only rule on the same pairs (V_gain_over_length_rule and
// V_onpolicy_gain_over_length_rule: V's accuracy minus it), with offline_pairs / onpolicy_pairs
// their counts. Accuracy is agreement with the gold ranking (ties ½); the
// log-likelihood is mean log σ(V(chosen) − V(rejected)) with chosen the
// gold-preferred side, i.e. Bradley–Terry on noiseless labels.

// VerifierEval is the "verifier_eval" parameter.
type VerifierEval struct {
	// Verifiers to measure: any of "global", "local", "dpo" (empty: none,
	// and no panel is recorded).
	Verifiers []string `json:"verifiers"`
	// OfflinePrompts is the number of test-split prompts of the offline
	// pairs (a).
	OfflinePrompts int `json:"offline_prompts"`
	// OnPolicyPrompts is the number of validation prompts the final policy
	// samples two completions for; 0 skips (b).
	OnPolicyPrompts int `json:"on_policy_prompts"`
}

// verifierMetricPrefix is the record prefix of a verifier's panel metrics.
func verifierMetricPrefix(name string) string {
	return name + "_rm"
}

// goldOrdered returns the pairs with chosen the gold-preferred side (pairs
// with a zero gold margin are dropped).
func goldOrdered(pairs []pft.PreferencePair, margins []float64) ([]pft.PreferencePair, error) {
	if len(pairs) != len(margins) {
		return nil, fmt.Errorf("%d pairs but %d gold margins", len(pairs), len(margins))
	}
	out := make([]pft.PreferencePair, 0, len(pairs))
	for i, p := range pairs {
		switch {
		case margins[i] > 0:
			out = append(out, p)
		case margins[i] < 0:
			out = append(out, pft.PreferencePair{Prompt: p.Prompt, Chosen: p.Rejected, Rejected: p.Chosen})
		}
	}
	return out, nil
}

// OnPolicyPairs samples two completions per prompt from policy and orders
// each pair by the gold reward (identical completions and gold ties are
// dropped).
func OnPolicyPairs(t *task.Task, policy *model.Model, prompts [][]int32, seed uint64) ([]pft.PreferencePair, error) {
	pol, err := eval.NewModelPolicy(policy, t)
	if err != nil {
		return nil, err
	}
	pairs, _, err := eval.Preferences(t, pol, prompts, eval.PrefOptions{K: 2, Pairing: eval.PairDisjoint, Mode: eval.ModeBT, Temperature: 0, Seed: seed})
	if err != nil {
		return nil, err
	}
	out := make([]pft.PreferencePair, len(pairs))
	for i, p := range pairs {
		out[i] = pft.PreferencePair{Prompt: p.Prompt, Chosen: p.Chosen, Rejected: p.Rejected}
	}
	return out, nil
}

// addVerifierPanel records the panel for the cell's verifier_eval settings;
// final is the policy the arm ended with (nil: no on-policy pairs).
func addVerifierPanel(ctx context.Context, c exp.Cell, art *exp.Artifacts, final *model.Model, res *exp.Result) error {
	if !c.Has("verifier_eval") {
		return nil
	}
	var ve VerifierEval
	if err := c.Decode("verifier_eval", &ve); err != nil {
		return err
	}
	if len(ve.Verifiers) == 0 {
		return nil
	}
	if ve.OnPolicyPrompts < 0 || ve.OfflinePrompts <= 0 {
		return fmt.Errorf("cell %s: verifier_eval: offline_prompts = %d, on_policy_prompts = %d, want > 0 and ≥ 0", c.ID, ve.OfflinePrompts, ve.OnPolicyPrompts)
	}
	off, _, err := Preferences(ctx, c, art, task.Test, ve.OfflinePrompts)
	if err != nil {
		return err
	}
	sets := map[string][]pft.PreferencePair{}
	if sets[""], err = goldOrdered(off.Pairs, off.GoldMargins); err != nil {
		return fmt.Errorf("cell %s: offline test pairs: %w", c.ID, err)
	}
	if final != nil && ve.OnPolicyPrompts > 0 {
		t, err := Task(c)
		if err != nil {
			return err
		}
		prompts := recipe.Prompts(t, task.Validation, recipe.StreamOnPolicy, c.Seed(), ve.OnPolicyPrompts)
		if sets["onpolicy_"], err = OnPolicyPairs(t, final, prompts, recipe.OnPolicySampleSeed(c.Seed())); err != nil {
			return err
		}
	}
	res.Metrics["offline_pairs"] = float64(len(sets[""]))
	if p, ok := sets["onpolicy_"]; ok {
		res.Metrics["onpolicy_pairs"] = float64(len(p))
	}
	setNames := []string{"", "onpolicy_"} // fixed order: notes are deterministic
	for _, set := range setNames {
		pairs, ok := sets[set]
		if !ok {
			continue
		}
		if len(pairs) == 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("verifier panel: no %spairs with a gold difference", set))
			continue
		}
		acc, _, err := pft.LengthRuleAccuracy(pairs)
		if err != nil {
			return err
		}
		res.Metrics["length_rule_"+set+"accuracy"] = acc
	}
	for _, name := range ve.Verifiers {
		if name != pft.RMGlobal && name != pft.RMLocal && name != "dpo" {
			return fmt.Errorf("cell %s: verifier_eval.verifiers: %q, want global, local or dpo", c.ID, name)
		}
		v, err := verifierFor(ctx, c, art, name)
		if err != nil {
			return err
		}
		for _, set := range setNames {
			pairs := sets[set]
			if len(pairs) == 0 {
				continue
			}
			fit, err := pft.EvaluateVerifier(v, pairs)
			if err != nil {
				return fmt.Errorf("cell %s: verifier %s on %spairs: %w", c.ID, name, set, err)
			}
			p := verifierMetricPrefix(name) + "_" + set
			res.Metrics[p+"accuracy"] = fit.Accuracy
			res.Metrics[p+"log_likelihood"] = fit.LogLikelihood
			res.Metrics[p+"gain_over_length_rule"] = fit.Accuracy - res.Metrics["length_rule_"+set+"accuracy"]
		}
	}
	return nil
}
