package model

import (
	"errors"
	"fmt"
	"math"

	"roads/engine"
)

// The one sampler of roads: rollouts of every online trainer, gold
// evaluation, preference-data generation and `roads sample` all call
// Model.Sample, so one seed rule decides what any of them draws.

// RowSeed is the seed rule: row i of a Sample call with seed s draws from
// engine.NewRNG(RowSeed(s, i)), whatever the chunking, the batch or the other
// rows. (It is SplitMix64's mix over (s, i), the same value as the task
// package's Hash(s, i); TestRowSeedIsTaskHash in eval pins that.)
func RowSeed(seed uint64, row int) uint64 {
	h := mix64(seed + 0x9e3779b97f4a7c15)
	return mix64(h ^ mix64(uint64(row)+0x632be59bd9b4e019))
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// AllowedMask is the additive logit mask (0 allowed, −Inf forbidden) that
// restricts sampling to the ids allowed[id] marks, EOS always allowed; ids
// past len(allowed) are forbidden.
func AllowedMask(allowed []bool, vocab, eos int) []float32 {
	mask := make([]float32, vocab)
	for id := range mask {
		if id != eos && (id >= len(allowed) || !allowed[id]) {
			mask[id] = float32(math.Inf(-1))
		}
	}
	return mask
}

// SampleOptions configure Sample.
type SampleOptions struct {
	MaxNewTokens int
	Temperature  float64 // 0: greedy
	TopK         int
	LogitMask    []float32 // nil: every id allowed
	Seed         uint64    // row i draws from engine.NewRNG(RowSeed(Seed, i))
	// Chunk bounds the rows generated together (the KV cache's size); it
	// never changes what is drawn. 0: 256.
	Chunk int
}

// Sample draws one completion per prompt (repeat a prompt for several), in
// chunks, row i from its own stream RowSeed(Seed, i). The result is one
// Generation over all rows.
func (m *Model) Sample(prompts [][]int32, opt SampleOptions) (*Generation, error) {
	if len(prompts) == 0 {
		return nil, errors.New("sample: no prompts")
	}
	chunk := opt.Chunk
	if chunk <= 0 {
		chunk = 256
	}
	N := opt.MaxNewTokens
	out := &Generation{B: len(prompts), MaxNew: N, Tokens: make([]int32, len(prompts)*N), LogProbs: make([]float32, len(prompts)*N),
		SampleLogProbs: make([]float32, len(prompts)*N), Lengths: make([]int, len(prompts)), EOS: make([]bool, len(prompts))}
	for lo := 0; lo < len(prompts); lo += chunk {
		hi := min(lo+chunk, len(prompts))
		var rngs []*engine.RNG
		if opt.Temperature > 0 {
			rngs = make([]*engine.RNG, hi-lo)
			for i := range rngs {
				rngs[i] = engine.NewRNG(RowSeed(opt.Seed, lo+i))
			}
		}
		g, err := m.Generate(prompts[lo:hi], GenerateOptions{MaxNewTokens: N, Temperature: opt.Temperature, TopK: opt.TopK,
			LogitMask: opt.LogitMask, RowRNGs: rngs})
		if err != nil {
			return nil, fmt.Errorf("sample rows %d–%d: %w", lo, hi-1, err)
		}
		copy(out.Tokens[lo*N:], g.Tokens)
		copy(out.LogProbs[lo*N:], g.LogProbs)
		copy(out.SampleLogProbs[lo*N:], g.SampleLogProbs)
		copy(out.Lengths[lo:], g.Lengths)
		copy(out.EOS[lo:], g.EOS)
	}
	return out, nil
}
