package eval

import (
	"fmt"
	"math"
	"slices"

	"roads/task"
)

// Preference-data modes.
const (
	// ModeBT: completions sampled from the policy, labelled by Bradley–Terry
	// on the gold reward at a temperature (the "human labeller").
	ModeBT = "bt"
	// ModeNarrow is the paper's H4 data: the policy's own samples labelled
	// by the judge, i.e. by the gold reward without noise; gold ties dropped.
	ModeNarrow = "narrow"
	// ModeWide mixes the policy's samples with the task's demonstration
	// script at random corruption rates (each completion: the policy with
	// probability 1/2, else the script at a rate uniform in [0, 1]), like
	// comparison data collected from many policies; BT labels.
	ModeWide = "wide"
)

// Pairings of the K completions of a prompt.
const (
	PairDisjoint = "disjoint" // (0,1), (2,3), ...
	PairAll      = "all"      // every unordered pair
	// PairLengthMatched pairs only completions of equal length (in sample
	// order within each length, each completion at most once), so no
	// length-only rule can rank a pair: what a verifier learns from them is
	// not length. Samples without a same-length partner are left out.
	PairLengthMatched = "length_matched"
)

// PrefOptions configures Preferences.
type PrefOptions struct {
	K           int     // completions per prompt, at least 2
	Pairing     string  // PairDisjoint (default) or PairAll
	Mode        string  // ModeBT (default), ModeNarrow or ModeWide
	Temperature float64 // BT temperature: P(a ≻ b) = σ((r_a - r_b)/T); 0 = noiseless
	// SampleTemperature is the policy's sampling temperature (default 1
	// when zero; use Greedy for argmax decoding).
	SampleTemperature float64
	Greedy            bool
	MaxNewTokens      int    // 0 = the task's horizon
	Seed              uint64 // sampling and labelling seed
	KeepIdentical     bool   // keep pairs whose two completions are identical
}

// Pair is one labelled comparison.
type Pair struct {
	Prompt                     []int32
	Chosen, Rejected           []int32
	ScoreChosen, ScoreRejected float64 // gold rewards
	// PChosen is the labelling probability that the chosen side wins (1 for
	// noiseless labels).
	PChosen float64
}

// PrefStats summarises a labelled dataset.
type PrefStats struct {
	Prompts   int `json:"prompts"`
	Pairs     int `json:"pairs"`
	Identical int `json:"dropped_identical"` // pairs dropped because both completions were the same
	// GoldTies counts pairs with equal gold: BT labels them by a fair coin,
	// noiseless labelling (temperature 0, narrow mode) drops them.
	GoldTies int `json:"gold_ties"`
	// AgreeWithGold is the fraction of kept pairs with unequal gold whose
	// chosen side has the higher gold reward.
	AgreeWithGold float64 `json:"agree_with_gold"`
	MeanGoldGap   float64 `json:"mean_gold_gap"` // mean score_chosen - score_rejected
	MeanChosen    float64 `json:"mean_score_chosen"`
	MeanRejected  float64 `json:"mean_score_rejected"`
}

// RNG stream tags for Preferences.
const (
	tagSample uint64 = iota + 101
	tagLabel
	tagWide
)

// BTProbability is P(a ≻ b) = σ((ra - rb)/T), with T = 0 meaning the
// noiseless limit (1, 0 or 1/2 on ties).
func BTProbability(ra, rb, temperature float64) float64 {
	if temperature == 0 {
		switch {
		case ra > rb:
			return 1
		case ra < rb:
			return 0
		}
		return 0.5
	}
	return 1 / (1 + math.Exp(-(ra-rb)/temperature))
}

// LabelBT draws a Bradley–Terry label: true when a is preferred.
func LabelBT(ra, rb, temperature float64, r *task.RNG) bool {
	return r.Float64() < BTProbability(ra, rb, temperature)
}

// Preferences samples K completions per prompt from pol, pairs them and labels
// each pair with the gold reward.
func Preferences(t *task.Task, pol Policy, prompts [][]int32, opt PrefOptions) ([]Pair, PrefStats, error) {
	if opt.K < 2 {
		return nil, PrefStats{}, fmt.Errorf("eval: preferences need K >= 2 completions per prompt, got %d", opt.K)
	}
	if opt.Pairing == "" {
		opt.Pairing = PairDisjoint
	}
	if opt.Mode == "" {
		opt.Mode = ModeBT
	}
	if opt.Pairing != PairDisjoint && opt.Pairing != PairAll && opt.Pairing != PairLengthMatched {
		return nil, PrefStats{}, fmt.Errorf("eval: unknown pairing %q (want %s, %s or %s)", opt.Pairing, PairDisjoint, PairAll, PairLengthMatched)
	}
	if opt.Mode != ModeBT && opt.Mode != ModeNarrow && opt.Mode != ModeWide {
		return nil, PrefStats{}, fmt.Errorf("eval: unknown preference mode %q (want %s, %s or %s)", opt.Mode, ModeBT, ModeNarrow, ModeWide)
	}
	if opt.Temperature < 0 {
		return nil, PrefStats{}, fmt.Errorf("eval: Bradley–Terry temperature %v is negative", opt.Temperature)
	}
	temp := opt.Temperature
	if opt.Mode == ModeNarrow {
		temp = 0
	}
	sampleT := opt.SampleTemperature
	if sampleT == 0 {
		sampleT = 1
	}
	if opt.Greedy {
		sampleT = 0
	}

	// Sample all K·n completions in one call: row i*K+j is prompt i, sample j.
	batch := make([][]int32, 0, len(prompts)*opt.K)
	for _, p := range prompts {
		for j := 0; j < opt.K; j++ {
			batch = append(batch, p)
		}
	}
	comps, _, _, err := pol.Generate(batch, GenOptions{MaxNewTokens: opt.MaxNewTokens, Temperature: sampleT, Seed: task.Hash(opt.Seed, tagSample)})
	if err != nil {
		return nil, PrefStats{}, fmt.Errorf("eval: sampling completions: %w", err)
	}
	if len(comps) != len(batch) {
		return nil, PrefStats{}, fmt.Errorf("eval: policy returned %d completions for %d prompts", len(comps), len(batch))
	}
	if opt.Mode == ModeWide {
		for i := range comps {
			r := task.NewRNG(opt.Seed, tagWide, uint64(i))
			if r.Bernoulli(0.5) {
				continue
			}
			sc, err := t.DemoScript(batch[i], r.Float64())
			if err != nil {
				return nil, PrefStats{}, fmt.Errorf("eval: wide mode: %w", err)
			}
			comps[i] = sc.Sample(r)
		}
	}
	scores := make([]float64, len(comps))
	for i := range comps {
		if scores[i], err = t.Gold(batch[i], comps[i]); err != nil {
			return nil, PrefStats{}, fmt.Errorf("eval: gold reward of sample %d: %w", i, err)
		}
	}

	var pairs []Pair
	st := PrefStats{Prompts: len(prompts)}
	agree, unequal := 0, 0
	for pi, p := range prompts {
		idx := pairIndices(opt.Pairing, comps[pi*opt.K:(pi+1)*opt.K])
		for k, ab := range idx {
			ia, ib := pi*opt.K+ab[0], pi*opt.K+ab[1]
			if !opt.KeepIdentical && slices.Equal(comps[ia], comps[ib]) {
				st.Identical++
				continue
			}
			ra, rb := scores[ia], scores[ib]
			if ra == rb {
				st.GoldTies++
				if temp == 0 {
					continue // noiseless labels cannot order a tie
				}
			}
			pa := BTProbability(ra, rb, temp)
			r := task.NewRNG(opt.Seed, tagLabel, uint64(pi), uint64(k))
			pair := Pair{Prompt: p, Chosen: comps[ia], Rejected: comps[ib], ScoreChosen: ra, ScoreRejected: rb, PChosen: pa}
			if r.Float64() >= pa {
				pair = Pair{Prompt: p, Chosen: comps[ib], Rejected: comps[ia], ScoreChosen: rb, ScoreRejected: ra, PChosen: 1 - pa}
			}
			if ra != rb {
				unequal++
				if pair.ScoreChosen > pair.ScoreRejected {
					agree++
				}
			}
			pairs = append(pairs, pair)
		}
	}
	st.Pairs = len(pairs)
	for _, pr := range pairs {
		st.MeanChosen += pr.ScoreChosen
		st.MeanRejected += pr.ScoreRejected
	}
	if len(pairs) > 0 {
		st.MeanChosen /= float64(len(pairs))
		st.MeanRejected /= float64(len(pairs))
		st.MeanGoldGap = st.MeanChosen - st.MeanRejected
	}
	if unequal > 0 {
		st.AgreeWithGold = float64(agree) / float64(unequal)
	}
	return pairs, st, nil
}

// pairIndices lists which of one prompt's completions are compared, as index
// pairs into group, in the order the pairs are labelled.
func pairIndices(pairing string, group [][]int32) [][2]int {
	var idx [][2]int
	switch pairing {
	case PairDisjoint:
		for a := 0; a+1 < len(group); a += 2 {
			idx = append(idx, [2]int{a, a + 1})
		}
	case PairAll:
		for a := range group {
			for b := a + 1; b < len(group); b++ {
				idx = append(idx, [2]int{a, b})
			}
		}
	case PairLengthMatched:
		waiting := map[int]int{} // length → index of an unpaired completion of that length
		for a, c := range group {
			if b, ok := waiting[len(c)]; ok {
				idx = append(idx, [2]int{b, a})
				delete(waiting, len(c))
			} else {
				waiting[len(c)] = a
			}
		}
	}
	return idx
}
