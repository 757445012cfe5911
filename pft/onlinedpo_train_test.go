package pft

import (
	"os"
	"path/filepath"
	"testing"

	"roads/model"
)

// One round of online DPO with K = 2 and the gold verifier IS offline DPO on
// gold-labelled pairs of the starting policy's samples: same pairs, same loop,
// same weights, bit for bit.
func TestOneRoundOnlineDPOWithTwoSamplesAndGoldIsDPO(t *testing.T) {
	task := newToyTask()
	train, _ := toyPrompts()
	prompts := repeat(train, 4)
	start := newToyPolicy(t, 21)

	cfg := DefaultOnlineDPOConfig()
	cfg.TrainArgs = quietArgs(t)
	cfg.LearningRate = 3e-3
	cfg.PerDeviceTrainBatchSize = 8
	cfg.NumTrainEpochs = 2
	cfg.NumGenerations = 2
	online := start.Clone()
	mustNoErr(t, TrainOnlineDPO(cfg, online, start.Clone(), Gold{Task: task}, prompts, Env{Tokenizer: task.tk, Task: task}))

	pairs := goldLabelledPairs(t, start, task, prompts, stepSeed(cfg.Seed, "one_round", 0))
	offCfg := cfg.DPOTrainConfig
	offCfg.OutputDir = t.TempDir()
	offline := start.Clone()
	mustNoErr(t, TrainDPO(offCfg, offline, start.Clone(), pairs, Env{Tokenizer: task.tk}))
	if !sameWeights(online, offline) {
		t.Fatal("one-round online DPO (K = 2, gold) and offline DPO on the same gold-labelled pairs ended with different weights")
	}
	a, b := readMetrics(t, cfg.OutputDir), readMetrics(t, offCfg.OutputDir)
	if len(a) != len(b)+1 { // online DPO's extra step-0 line of round statistics
		t.Fatalf("%d online metrics lines, %d offline", len(a), len(b))
	}
	if a[0]["step"] != 0 || a[0]["pairs/selected"] != float64(len(pairs)) {
		t.Errorf("online round line %v, want step 0 and %d selected pairs", a[0], len(pairs))
	}
	for i := range b {
		if a[i+1]["loss"] != b[i]["loss"] {
			t.Errorf("step %v: online loss %v, offline %v", b[i]["step"], a[i+1]["loss"], b[i]["loss"])
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.OutputDir, "pairs.jsonl")); err != nil {
		t.Error(err)
	}
}

func TestOnlineDPORaisesGoldWithBoundedKL(t *testing.T) {
	task := newToyTask()
	train, heldOut := toyPrompts()
	start := newToyPolicy(t, 31)
	before, err := EvaluateGold(start, start, task, heldOut, 64, 5)
	mustNoErr(t, err)
	for _, mode := range []string{OnlineOneRound, OnlineIterative} {
		t.Run(mode, func(t *testing.T) {
			cfg := DefaultOnlineDPOConfig()
			cfg.TrainArgs = quietArgs(t)
			cfg.Mode = mode
			cfg.Beta = 0.1
			cfg.LearningRate = 3e-3
			cfg.PerDeviceTrainBatchSize = 16
			prompts := repeat(train, 20)
			if mode == OnlineOneRound {
				cfg.NumGenerations = 4
				cfg.NumTrainEpochs = 3
			} else {
				cfg.MaxSteps = 300
			}
			policy := start.Clone()
			mustNoErr(t, TrainOnlineDPO(cfg, policy, start.Clone(), Gold{Task: task}, prompts, Env{Tokenizer: task.tk, Task: task, SamplePrompts: heldOut}))
			after, err := EvaluateGold(policy, start, task, heldOut, 64, 5)
			mustNoErr(t, err)
			t.Logf("gold %.3f → %.3f (se %.3f), KL %.3f", before.Gold, after.Gold, after.GoldSE, after.KL)
			requireGoldRise(t, before, after)
			if after.KL > dpoToyKLBound {
				t.Errorf("KL(π‖π_ref) = %.3f nats, above the bound %v", after.KL, dpoToyKLBound)
			}
			seen := map[string]bool{}
			for _, m := range readMetrics(t, cfg.OutputDir) {
				for k := range m {
					seen[k] = true
				}
			}
			for _, k := range []string{"loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected",
				"objective/scores", "objective/scores_margin", "objective/kl", "objective/entropy", "objective/non_score_reward", "objective/rlhf_reward",
				"pairs/gold_margin", "val/contain_eos_token"} {
				if !seen[k] {
					t.Errorf("metrics.jsonl lacks %q", k)
				}
			}
		})
	}
}

func TestLoadVerifierKinds(t *testing.T) {
	task := newToyTask()
	train, heldOut := toyPrompts()
	sft := newToyPolicy(t, 41)
	pairs := goldLabelledPairs(t, sft, task, repeat(train, 2), 3)
	cfg := DefaultDPOTrainConfig()
	cfg.TrainArgs = quietArgs(t)
	cfg.MaxSteps = 3
	cfg.Beta = 0.3
	policy := sft.Clone()
	mustNoErr(t, TrainDPO(cfg, policy, sft.Clone(), pairs, Env{Tokenizer: task.tk}))

	v, err := LoadVerifier(cfg.OutputDir, nil)
	mustNoErr(t, err)
	imp, ok := v.(DPOImplicit)
	if !ok || imp.Beta != 0.3 {
		t.Fatalf("LoadVerifier(DPO run) = %T %v, want DPOImplicit with β 0.3", v, v)
	}
	comps := [][]int32{{toyFirst}, {}, {toyFirst + 1, toyFirst + 2, toyFirst}}
	prompts := heldOut[:3]
	got, err := v.Score(prompts, comps)
	mustNoErr(t, err)
	for i := range comps {
		seq := [][]int32{withEOS(prompts[i], comps[i], 1)}
		lp, err := scoreSequences(policy, seq, []int{4})
		mustNoErr(t, err)
		ref, err := scoreSequences(sft, seq, []int{4})
		mustNoErr(t, err)
		near(t, "implicit reward", got[i], 0.3*(lp.Value[0]-ref.Value[0]), 1e-12)
	}

	// A plain model directory is a local RM; "gold" needs a task.
	dir := t.TempDir()
	mustNoErr(t, model.SaveDir(dir, sft, task.tk))
	if v, err := LoadVerifier(dir, nil); err != nil {
		t.Fatal(err)
	} else if _, ok := v.(LocalRM); !ok {
		t.Errorf("LoadVerifier(model dir) = %T, want LocalRM", v)
	}
	_, err = LoadVerifier("gold", nil)
	wantErr(t, err, "needs a task")
	g, err := LoadVerifier("gold", task)
	mustNoErr(t, err)
	s, err := g.Score([][]int32{heldOut[0]}, [][]int32{{heldOut[0][0], heldOut[0][0]}})
	mustNoErr(t, err)
	near(t, "gold", s[0], 2, 0)
}
