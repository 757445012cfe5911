package pft

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"roads/ckpt"
	"roads/engine"
	"roads/model"
)

// separablePairs are toy pairs whose label a verifier can read off one
// token: the chosen completion contains the letter a, the rejected one does
// not (the other tokens are random letters b…e).
func separablePairs(prompts [][]int32, n int, seed uint64) []PreferencePair {
	rng := engine.NewRNG(seed)
	other := func() int32 { return toyFirst + 1 + int32(rng.IntN(toyLetters-1)) }
	var pairs []PreferencePair
	for i := range n {
		chosen := []int32{other(), other()}
		chosen[rng.IntN(2)] = toyFirst
		pairs = append(pairs, PreferencePair{Prompt: prompts[i%len(prompts)], Chosen: chosen, Rejected: []int32{other(), other()}})
	}
	return pairs
}

func TestRewardModelGradientsMatchFiniteDifferences(t *testing.T) {
	train, _ := toyPrompts()
	pairs := separablePairs(train, 6, 1)
	seqs, plens := pairSequences(pairs, 1)
	n := len(pairs)
	for _, kind := range []string{"global/last", "global/sum", "global/mean", "local"} {
		t.Run(kind, func(t *testing.T) {
			m := newToyPolicy(t, 4)
			if kind != "local" {
				var err error
				m, err = NewGlobalRM(m, kind[len("global/"):], 5)
				mustNoErr(t, err)
			}
			score := func() []float64 {
				out, err := m.Forward(model.Batch{Tokens: seqs, PromptLen: plens}, model.ForwardOptions{})
				mustNoErr(t, err)
				if kind == "local" {
					return append([]float64(nil), out.SeqLogProb...)
				}
				return append([]float64(nil), out.Readout...)
			}
			cfg := RMConfig{CenterRewardsCoefficient: 0.1}
			m.ZeroGrad()
			out, err := m.Forward(model.Batch{Tokens: seqs, PromptLen: plens}, model.ForwardOptions{})
			mustNoErr(t, err)
			s := out.Readout
			if kind == "local" {
				s = out.SeqLogProb
			}
			loss, err := BradleyTerryLoss(cfg, s[:n], s[n:], nil)
			mustNoErr(t, err)
			grad := append(append([]float64(nil), loss.GradChosen...), loss.GradRejected...)
			if kind == "local" {
				mustNoErr(t, m.Backward(seqGradFlat(out, grad), nil))
			} else {
				mustNoErr(t, m.BackwardScalar(grad, nil))
			}
			data, g := flatParams(m)
			checkParamGradient(t, m, g, data, func() float64 {
				s := score()
				l, err := BradleyTerryLoss(cfg, s[:n], s[n:], nil)
				mustNoErr(t, err)
				return l.Loss
			})
		})
	}
}

func TestRewardModelsSeparateASeparableToy(t *testing.T) {
	train, heldOut := toyPrompts()
	trainPairs := separablePairs(train, 200, 2)
	evalPairs := separablePairs(heldOut, 50, 3)
	for _, kind := range []string{"global/last", "global/sum", "local"} {
		t.Run(kind, func(t *testing.T) {
			m := newToyPolicy(t, 6)
			cfg := DefaultRewardTrainConfig()
			cfg.TrainArgs = quietArgs(t)
			cfg.Kind = RMLocal
			if kind != "local" {
				cfg.Kind, cfg.Readout = RMGlobal, kind[len("global/"):]
				var err error
				m, err = NewGlobalRM(m, cfg.Readout, 7)
				mustNoErr(t, err)
			}
			cfg.LearningRate = 1e-2
			cfg.NumTrainEpochs = 8
			cfg.PerDeviceTrainBatchSize = 16
			cfg.EvalSteps = 20
			res, err := TrainRewardModel(cfg, m, trainPairs, evalPairs, Env{})
			mustNoErr(t, err)
			t.Logf("train acc %.3f lik %.3f; eval acc %.3f lik %.3f; best step %d", res.Train.Accuracy, res.Train.Likelihood, res.Eval.Accuracy, res.Eval.Likelihood, res.BestStep)
			if res.Train.Accuracy != 1 || res.Eval.Accuracy != 1 {
				t.Errorf("accuracy train %v, held-out %v; want 1 on a separable task", res.Train.Accuracy, res.Eval.Accuracy)
			}
			ms := readMetrics(t, cfg.OutputDir)
			seen := map[string]bool{}
			for _, m := range ms {
				for k := range m {
					seen[k] = true
				}
			}
			for _, k := range []string{"loss", "accuracy", "min_reward", "mean_reward", "max_reward", "margin",
				"eval_loss", "eval_bt_likelihood", "eval_bt_log_likelihood", "eval_accuracy"} {
				if !seen[k] {
					t.Errorf("metrics.jsonl lacks %q", k)
				}
			}
			// The run directory is a verifier of the right kind.
			v, err := LoadVerifier(cfg.OutputDir, nil)
			mustNoErr(t, err)
			wantLocal := kind == "local"
			if _, isLocal := v.(LocalRM); isLocal != wantLocal {
				t.Errorf("LoadVerifier(%s) = %T", kind, v)
			}
			again, err := EvaluateVerifier(v, evalPairs)
			mustNoErr(t, err)
			if again != res.Eval {
				t.Errorf("reloaded verifier scores %+v, the run reported %+v", again, res.Eval)
			}
		})
	}
}

// With noisy labels the held-out likelihood peaks and falls: the run must
// keep the best evaluated checkpoint and stop patience evaluations after it.
func TestRewardModelKeepsBestCheckpointAndStopsEarly(t *testing.T) {
	train, heldOut := toyPrompts()
	pairs := separablePairs(train, 120, 8)
	rng := engine.NewRNG(9)
	for i := range pairs { // flip 40% of the training labels
		if rng.Float64() < 0.4 {
			pairs[i].Chosen, pairs[i].Rejected = pairs[i].Rejected, pairs[i].Chosen
		}
	}
	evalPairs := separablePairs(heldOut, 40, 10)
	rm, err := NewGlobalRM(newToyPolicy(t, 11), "last", 12)
	mustNoErr(t, err)
	cfg := DefaultRewardTrainConfig()
	cfg.TrainArgs = quietArgs(t)
	cfg.LearningRate = 3e-2
	cfg.NumTrainEpochs = 40
	cfg.PerDeviceTrainBatchSize = 8
	cfg.EvalSteps = 15
	cfg.SaveTotalLimit = 1
	cfg.EarlyStoppingPatience = 2
	res, err := TrainRewardModel(cfg, rm, pairs, evalPairs, Env{})
	mustNoErr(t, err)

	var evals []map[string]float64
	for _, m := range readMetrics(t, cfg.OutputDir) {
		if _, ok := m["eval_bt_likelihood"]; ok {
			evals = append(evals, m)
		}
	}
	best := 0
	for i, e := range evals {
		if e["eval_bt_likelihood"] > evals[best]["eval_bt_likelihood"] {
			best = i
		}
	}
	t.Logf("%d evaluations, best at step %v (%.4f), early stopped %v after %d steps", len(evals), evals[best]["step"], evals[best]["eval_bt_likelihood"], res.EarlyStopped, res.Steps)
	if res.BestStep != int(evals[best]["step"]) {
		t.Errorf("best_step %d, but the best eval_bt_likelihood in metrics.jsonl is at step %v", res.BestStep, evals[best]["step"])
	}
	if !res.EarlyStopped {
		t.Fatalf("no early stop in %d steps (noisy labels should overfit)", res.Steps)
	}
	if after := len(evals) - 1 - best; after != cfg.EarlyStoppingPatience {
		t.Errorf("%d evaluations after the best, want early_stopping_patience = %d", after, cfg.EarlyStoppingPatience)
	}
	if math.Abs(res.Eval.Likelihood-evals[best]["eval_bt_likelihood"]) > 1e-12 {
		t.Errorf("final model's eval likelihood %v, best checkpoint's %v", res.Eval.Likelihood, evals[best]["eval_bt_likelihood"])
	}
	if _, err := os.Stat(res.BestModelCheckpoint); err != nil {
		t.Errorf("best checkpoint pruned: %v", err)
	}
	final, _, err := model.LoadDir(cfg.OutputDir)
	mustNoErr(t, err)
	bestModel, _, err := model.LoadDir(res.BestModelCheckpoint)
	mustNoErr(t, err)
	if !sameWeights(final, bestModel) {
		t.Error("the final model is not the best checkpoint's")
	}
	var er RewardResult
	mustNoErr(t, ckpt.ReadJSON(filepath.Join(cfg.OutputDir, "eval_results.json"), &er))
	if er.BestStep != res.BestStep || er.Eval != res.Eval {
		t.Errorf("eval_results.json %+v differs from the returned %+v", er, res)
	}
	// Running again resumes the finished, early-stopped run and changes nothing.
	rm2, err := NewGlobalRM(newToyPolicy(t, 11), "last", 12) // the run's own initial model
	mustNoErr(t, err)
	again, err := TrainRewardModel(cfg, rm2, pairs, evalPairs, Env{})
	mustNoErr(t, err)
	if again.Steps != res.Steps || again.BestStep != res.BestStep || again.Eval != res.Eval {
		t.Errorf("rerun of an early-stopped run: %+v, first run %+v", again, res)
	}
}
