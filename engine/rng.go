package engine

import (
	"fmt"
	"math/rand/v2"
)

// RNG is a deterministic, serialisable random number generator (PCG-DXSM from
// math/rand/v2). Its whole state is the PCG state, so MarshalBinary /
// UnmarshalBinary restore a stream exactly, e.g. from a checkpoint.
type RNG struct {
	src *rand.PCG
	r   *rand.Rand
}

// rngStream is the fixed PCG stream selector: a seed alone picks the sequence.
const rngStream = 0x726f6164732d726e // "roads-rn"

// NewRNG returns a generator seeded with seed.
func NewRNG(seed uint64) *RNG {
	src := rand.NewPCG(seed, rngStream)
	return &RNG{src: src, r: rand.New(src)}
}

func (g *RNG) Uint64() uint64       { return g.r.Uint64() }
func (g *RNG) Float64() float64     { return g.r.Float64() }
func (g *RNG) Float32() float32     { return g.r.Float32() }
func (g *RNG) NormFloat64() float64 { return g.r.NormFloat64() }
func (g *RNG) IntN(n int) int       { return g.r.IntN(n) }
func (g *RNG) Perm(n int) []int     { return g.r.Perm(n) }

// Shuffle permutes n items with swap (Fisher–Yates).
func (g *RNG) Shuffle(n int, swap func(i, j int)) { g.r.Shuffle(n, swap) }

// Split returns a new independent generator seeded from this one (advancing
// it by one draw), for giving each sub-task its own stream.
func (g *RNG) Split() *RNG { return NewRNG(g.Uint64()) }

// Clone returns a generator with the same state.
func (g *RNG) Clone() *RNG {
	b, _ := g.src.MarshalBinary()
	c := NewRNG(0)
	if err := c.src.UnmarshalBinary(b); err != nil {
		panic(err) // cannot happen: the bytes come from MarshalBinary
	}
	return c
}

// MarshalBinary encodes the generator's state.
func (g *RNG) MarshalBinary() ([]byte, error) { return g.src.MarshalBinary() }

// UnmarshalBinary restores a state written by MarshalBinary.
func (g *RNG) UnmarshalBinary(b []byte) error {
	if g.src == nil {
		g.src = rand.NewPCG(0, rngStream)
		g.r = rand.New(g.src)
	}
	if err := g.src.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("rng state: %w", err)
	}
	return nil
}
