package pft

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// Online DPO, the paper's one-round ("semi-online") variant (§4.1): for every
// training prompt sample K completions from a policy (K = 25 in the paper), score
// them with the global reward model, and keep (best, worst) as a new
// (chosen, rejected) pair; then train with the ordinary DPO loss (dpo.go) on
// those pairs. This file is the pair-selection rule.
//
// Rule "best_worst" (the paper's): chosen = argmax_j s_j, rejected = argmin_j s_j,
// ties broken towards the lowest index. A prompt is skipped when
//
//   - its top and bottom scores tie (s_max = s_min: the verifier expresses no
//     preference, and DPO would push on an arbitrary label),
//   - the two completions are token-for-token identical (h ≡ 0 for every policy,
//     so the pair carries no signal whatever the scores say), or
//   - s_max − s_min < MinScoreMargin (an optional confidence filter).
//
// Rule "best_random": chosen = argmax, rejected uniform among the other K−1
// samples (drawn from the caller's seeded generator, so runs repeat exactly);
// the same skip tests apply to that pair.
//
// TRL's OnlineDPOTrainer samples K = 2 and orders the pair by score; both rules
// reduce to that at K = 2.

// Pair-selection rules.
const (
	PairBestWorst  = "best_worst"
	PairBestRandom = "best_random"
)

// PairSelectConfig holds the pair-selection options.
type PairSelectConfig struct {
	NumGenerations int     // K ≥ 2 samples per prompt
	Rule           string  // PairBestWorst (default when empty) or PairBestRandom
	MinScoreMargin float64 // skip pairs with s⁺ − s⁻ below this; 0 skips only exact ties
}

// Pair is one selected preference pair; Chosen and Rejected index the flat,
// prompt-major sample list, Prompt is the prompt's index (sample index / K).
type Pair struct {
	Prompt, Chosen, Rejected int
}

// SelectPairs picks at most one (chosen, rejected) pair per prompt from K scored
// samples per prompt. completions are the samples' token ids (compared for
// identity); rng is used only by best_random and may be nil otherwise.
// Metrics: objective/scores (mean over all samples, as TRL), objective/scores_margin
// (mean s⁺ − s⁻ over selected pairs; absent when none is selected), and the
// roads-specific counts pairs/selected, pairs/skipped_tie, pairs/skipped_identical,
// pairs/skipped_margin.
func SelectPairs(cfg PairSelectConfig, scores []float64, completions [][]int32, rng *rand.Rand) ([]Pair, Metrics, error) {
	const what = "online DPO pair selection"
	K := cfg.NumGenerations
	if K < 2 {
		return nil, nil, fmt.Errorf("%s: num_generations = %d, want ≥ 2", what, K)
	}
	rule := cfg.Rule
	if rule == "" {
		rule = PairBestWorst
	}
	if rule != PairBestWorst && rule != PairBestRandom {
		return nil, nil, fmt.Errorf("%s: rule %q, want %q or %q", what, rule, PairBestWorst, PairBestRandom)
	}
	if rule == PairBestRandom && rng == nil {
		return nil, nil, fmt.Errorf("%s: rule %q needs a random generator", what, rule)
	}
	if !(cfg.MinScoreMargin >= 0) {
		return nil, nil, fmt.Errorf("%s: MinScoreMargin = %v, want ≥ 0", what, cfg.MinScoreMargin)
	}
	n := len(scores)
	if n == 0 || n%K != 0 {
		return nil, nil, fmt.Errorf("%s: %d scores is not a positive multiple of num_generations = %d", what, n, K)
	}
	if err := checkFinite(what, "scores", scores); err != nil {
		return nil, nil, err
	}
	if len(completions) != n {
		return nil, nil, fmt.Errorf("%s: len(completions) = %d, want %d (one per score)", what, len(completions), n)
	}

	var pairs []Pair
	var tie, identical, belowMargin int
	var marginSum float64
	for p := 0; p*K < n; p++ {
		group := scores[p*K : (p+1)*K]
		chosen, rejected := 0, 0
		for j, s := range group {
			if s > group[chosen] {
				chosen = j
			}
			if s < group[rejected] {
				rejected = j
			}
		}
		if rule == PairBestRandom {
			rejected = rng.IntN(K - 1) // uniform over the K−1 others
			if rejected >= chosen {
				rejected++
			}
		}
		gap := group[chosen] - group[rejected]
		chosen, rejected = p*K+chosen, p*K+rejected
		switch {
		case gap == 0:
			tie++
		case slices.Equal(completions[chosen], completions[rejected]):
			identical++
		case gap < cfg.MinScoreMargin:
			belowMargin++
		default:
			pairs = append(pairs, Pair{Prompt: p, Chosen: chosen, Rejected: rejected})
			marginSum += gap
		}
	}
	m := Metrics{
		"objective/scores":        mean(scores),
		"pairs/selected":          float64(len(pairs)),
		"pairs/skipped_tie":       float64(tie),
		"pairs/skipped_identical": float64(identical),
		"pairs/skipped_margin":    float64(belowMargin),
	}
	if len(pairs) > 0 {
		m["objective/scores_margin"] = marginSum / float64(len(pairs))
	}
	return pairs, m, nil
}
