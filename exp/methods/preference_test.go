package methods

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"roads/exp"
	"roads/pft"
)

// tinyParams shrink every stage so that the preference methods run end to
// end in seconds (nothing is learned).
const tinyParams = `
    "policy_model": {"d_model": 16, "n_layer": 1, "n_head": 2}, "rm_model": {"init": "sft", "d_model": 16, "n_layer": 1, "n_head": 2},
    "demos": {"n": 64}, "sft": {"max_steps": 10, "per_device_train_batch_size": 16}, "n_pairs": 24,
    "dpo": {"num_train_epochs": 1, "warmup_steps": 0, "per_device_train_batch_size": 8}, "rm": {"num_train_epochs": 1, "per_device_train_batch_size": 8},
    "online": {"samples_per_prompt": 3}, "rloo": {"max_steps": 2, "per_device_train_batch_size": 8}, "ppo": {"max_steps": 2, "per_device_train_batch_size": 8}, "grpo": {"max_steps": 2, "per_device_train_batch_size": 8},
    "bon": {"n": [1, 2, 4], "prompts": 8}, "rm_eval": {"val_pairs": 16}, "eval": {"prompts": 12, "samples_per_prompt": 1},
    "verifier_eval": {"verifiers": ["global", "local", "dpo"], "offline_prompts": 24, "on_policy_prompts": 12}`

const tinyPolicySpec = `{
  "name": "tiny_policies", "title": "every policy arm", "inherit": "common",
  "params": {` + tinyParams + `},
  "method_params": {"dpo_2x": {"dpo": {"num_train_epochs": 2}}, "online_dpo_sft_aug": {"online": {"extra_prompts": 8}}},
  "axes": {"seed": [1], "method": ["sft", "dpo", "dpo_2x", "online_dpo_sft", "online_dpo_dpo", "online_dpo_gold", "online_dpo_sft_aug", "rloo", "ppo", "grpo"]}
}`

const tinyVerifierSpec = `{
  "name": "tiny_verifiers", "title": "rm_eval and bon", "inherit": "common",
  "params": {` + tinyParams + `},
  "axes": {"seed": [1], "verifier": ["dpo", "local", "global"], "method": ["rm_eval", "bon"]}
}`

func runSpec(t *testing.T, results, src string) map[string]*exp.Record {
	t.Helper()
	spec, err := exp.ParseSpec("tiny.json", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exp.Run(context.Background(), spec, exp.Options{Results: results}); err != nil {
		t.Fatal(err)
	}
	st, err := exp.OpenStore(results, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.Records()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*exp.Record{}
	for _, r := range recs {
		key := r.Method
		if v, ok := r.Axis("verifier"); ok {
			key += "/" + v.(string)
		}
		out[key] = r
	}
	return out
}

func requireMetrics(t *testing.T, r *exp.Record, names ...string) {
	t.Helper()
	for _, k := range names {
		if _, ok := r.Metrics[k]; !ok {
			t.Errorf("%s lacks metric %s (has %v)", r.Label(), k, r.Metrics)
		}
	}
}

// TestPreferenceMethodsRecords runs every preference method on a tiny grid
// and checks that each record carries the project's first-class metrics, and
// that the shared artefacts (pairs, reward models, the DPO policy) are built
// once and reused across arms and experiments.
func TestPreferenceMethodsRecords(t *testing.T) {
	results := t.TempDir()
	pol := runSpec(t, results, tinyPolicySpec)
	if len(pol) != 10 {
		t.Fatalf("%d policy records", len(pol))
	}
	policyMetrics := []string{"gold", "gold_ci_low", "gold_ci_high", "win_rate", "win_rate_ci_low", "win_rate_ci_high",
		"kl", "kl_ci_low", "kl_ci_high", "mean_length"}
	for m, r := range pol {
		requireMetrics(t, r, policyMetrics...)
		if !(r.Metrics["gold_ci_low"] <= r.Metrics["gold"] && r.Metrics["gold"] <= r.Metrics["gold_ci_high"]) ||
			!(r.Metrics["kl_ci_low"] <= r.Metrics["kl"] && r.Metrics["kl"] <= r.Metrics["kl_ci_high"]) {
			t.Errorf("%s: a mean outside its CI: %v", m, r.Metrics)
		}
		if m != "sft" {
			requireMetrics(t, r, "pair_gold_margin")
		}
		_, hasFit := r.Metrics["rm_val_accuracy"]
		learned := m != "sft" && m != "dpo" && m != "dpo_2x" && m != "online_dpo_gold"
		if hasFit != learned {
			t.Errorf("%s: rm_val_accuracy present = %v, want %v", m, hasFit, learned)
		}
		if learned {
			requireMetrics(t, r, "rm_val_likelihood", "rm_val_accuracy")
			if a := r.Metrics["rm_val_accuracy"]; a < 0 || a > 1 {
				t.Errorf("%s: rm_val_accuracy %v", m, a)
			}
		}
	}
	// Every online arm trains on the pairs' prompts; augmentation adds the extra ones.
	if a, b := pol["online_dpo_sft"].Metrics["online_prompts"], pol["online_dpo_sft_aug"].Metrics["online_prompts"]; a != 24 || b != 32 {
		t.Errorf("online prompts %v and %v, want 24 and 32", a, b)
	}
	// The same global reward model (one artefact) and the same validation pairs: the same fit everywhere.
	for _, m := range []string{"online_dpo_dpo", "online_dpo_sft_aug", "rloo", "ppo", "grpo"} {
		if pol[m].Metrics["rm_val_likelihood"] != pol["online_dpo_sft"].Metrics["rm_val_likelihood"] {
			t.Errorf("%s: verifier fit %v differs from online_dpo_sft's %v", m, pol[m].Metrics["rm_val_likelihood"], pol["online_dpo_sft"].Metrics["rm_val_likelihood"])
		}
	}
	if pol["dpo"].Metrics["gold"] == pol["dpo_2x"].Metrics["gold"] && pol["dpo"].Metrics["kl"] == pol["dpo_2x"].Metrics["kl"] {
		t.Errorf("dpo and dpo_2x gave identical results: the epoch override did not reach the trainer")
	}

	ver := runSpec(t, results, tinyVerifierSpec)
	for _, v := range []string{"dpo", "local", "global"} {
		r := ver["rm_eval/"+v]
		if r == nil {
			t.Fatalf("no rm_eval record for verifier %s", v)
		}
		requireMetrics(t, r, "rm_val_likelihood", "rm_val_accuracy", "rm_train_likelihood", "rm_train_accuracy")
		b := ver["bon/"+v]
		requireMetrics(t, b, "bon_gold_max", "rm_val_accuracy")
		if c := b.Curves["bon"]; len(c) != 3 || c[0].X != 1 || c[2].X != 4 || c[2].Y != b.Metrics["bon_gold_max"] {
			t.Errorf("bon/%s: curve %v, bon_gold_max %v", v, c, b.Metrics["bon_gold_max"])
		}
		if r.Metrics["rm_val_likelihood"] != b.Metrics["rm_val_likelihood"] {
			t.Errorf("verifier %s: rm_eval and bon disagree on the validation fit", v)
		}
	}
	// The global RM of the policy experiment is the one rm_eval measured (shared across experiments).
	if ver["rm_eval/global"].Metrics["rm_val_likelihood"] != pol["online_dpo_sft"].Metrics["rm_val_likelihood"] {
		t.Errorf("rm_eval/global %v, online_dpo_sft's verifier %v", ver["rm_eval/global"].Metrics["rm_val_likelihood"], pol["online_dpo_sft"].Metrics["rm_val_likelihood"])
	}

	count := func(kind string) int {
		dirs, _ := filepath.Glob(filepath.Join(results, "_artifacts", kind, "*"))
		return len(dirs)
	}
	// The verifier panel rides on every online DPO arm: the three verifiers
	// on the offline test pairs (length-matched, so the length rule scores
	// exactly ½) and on the arm's own on-policy pairs.
	for _, m := range []string{"online_dpo_sft", "online_dpo_dpo", "online_dpo_gold"} {
		r := pol[m]
		for _, v := range []string{"global_rm", "local_rm", "dpo_rm"} {
			requireMetrics(t, r, v+"_accuracy", v+"_log_likelihood", v+"_onpolicy_accuracy", v+"_onpolicy_log_likelihood")
			for _, k := range []string{v + "_accuracy", v + "_onpolicy_accuracy"} {
				if a := r.Metrics[k]; !(a >= 0 && a <= 1) {
					t.Errorf("%s: %s = %v", m, k, a)
				}
			}
			if ll := r.Metrics[v+"_log_likelihood"]; !(ll < 0) {
				t.Errorf("%s: %s_log_likelihood = %v, want < 0", m, v, ll)
			}
		}
		if r.Metrics["length_rule_accuracy"] != 0.5 || !(r.Metrics["offline_pairs"] > 0) || !(r.Metrics["onpolicy_pairs"] > 0 && r.Metrics["onpolicy_pairs"] <= 12) {
			t.Errorf("%s: length rule %v on %v offline pairs, %v on-policy pairs", m, r.Metrics["length_rule_accuracy"], r.Metrics["offline_pairs"], r.Metrics["onpolicy_pairs"])
		}
		// The offline panel does not depend on the arm: the same verifiers on the same pairs.
		if r.Metrics["global_rm_accuracy"] != pol["online_dpo_sft"].Metrics["global_rm_accuracy"] {
			t.Errorf("%s: offline global_rm_accuracy %v differs from online_dpo_sft's", m, r.Metrics["global_rm_accuracy"])
		}
	}
	if _, ok := pol["dpo"].Metrics["global_rm_accuracy"]; ok {
		t.Errorf("dpo carries the verifier panel; only online arms do")
	}

	// prefs: the training, validation and (verifier panel) test-split pairs.
	for kind, want := range map[string]int{"sft": 1, "prefs": 3, "rm_" + pft.RMGlobal: 1, "rm_" + pft.RMLocal: 1, "dpo": 2} {
		if got := count(kind); got != want {
			t.Errorf("%d %s artefacts, want %d", got, kind, want)
		}
	}

	// The same cells in another experiment (h1 and h4 repeat main's arms)
	// reuse every training run: no new online or RL run, the same records.
	runs := map[string]int{}
	for _, kind := range []string{"online_dpo", "rloo", "ppo", "grpo"} {
		runs[kind] = count(kind)
	}
	again := runSpec(t, results, strings.Replace(tinyPolicySpec, `"name": "tiny_policies"`, `"name": "tiny_policies_again"`, 1))
	for kind, n := range runs {
		if got := count(kind); got != n || n == 0 {
			t.Errorf("%s runs: %d before the second experiment, %d after", kind, n, got)
		}
	}
	for m, r := range pol {
		if !reflect.DeepEqual(r.Metrics, again[m].Metrics) {
			t.Errorf("%s: the second experiment's record differs", m)
		}
	}
}

// TestPreferenceMethodsDeterministic: the same cells in two fresh stores
// give bit-identical metrics (every artefact rebuilt from scratch).
func TestPreferenceMethodsDeterministic(t *testing.T) {
	a, b := runSpec(t, t.TempDir(), tinyPolicySpec), runSpec(t, t.TempDir(), tinyPolicySpec)
	for m, r := range a {
		if !reflect.DeepEqual(r.Metrics, b[m].Metrics) {
			t.Errorf("%s: two runs differ:\n%v\n%v", m, r.Metrics, b[m].Metrics)
		}
	}
}
