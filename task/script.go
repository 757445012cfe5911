package task

import (
	"fmt"
	"math"
)

// A Script is a completion-writing process: a sequence of segments, each of
// which independently emits one of its options (a short token list, possibly
// empty), followed by EOS. Reference completions are scripts with one option
// per segment; demonstrations are scripts whose segments also carry a
// corrupted option (see Task.DemoScript).
//
// Because a script is a small probabilistic automaton, its exact next-token
// distribution and sequence log-probability are computable (Parser), which is
// what the scripted baseline policies and the "is π_ref's likelihood already a
// verifier?" checks use.
type Script struct {
	Segments []Segment
	EOS      int32
}

// Segment emits Options[j] with probability Probs[j].
type Segment struct {
	Options [][]int32
	Probs   []float64
}

// Validate checks that probabilities are a distribution and no option emits EOS.
func (s Script) Validate() error {
	for i, seg := range s.Segments {
		if len(seg.Options) == 0 || len(seg.Options) != len(seg.Probs) {
			return fmt.Errorf("task: script segment %d: %d options but %d probabilities", i, len(seg.Options), len(seg.Probs))
		}
		sum := 0.0
		for j, p := range seg.Probs {
			if p < 0 || math.IsNaN(p) {
				return fmt.Errorf("task: script segment %d option %d: probability %v", i, j, p)
			}
			sum += p
			for _, t := range seg.Options[j] {
				if t == s.EOS {
					return fmt.Errorf("task: script segment %d option %d emits EOS", i, j)
				}
			}
		}
		if math.Abs(sum-1) > 1e-9 {
			return fmt.Errorf("task: script segment %d: probabilities sum to %v, want 1", i, sum)
		}
	}
	return nil
}

// MaxLen is the longest completion the script can write (EOS excluded).
func (s Script) MaxLen() int {
	n := 0
	for _, seg := range s.Segments {
		longest := 0
		for j, o := range seg.Options {
			if seg.Probs[j] > 0 && len(o) > longest {
				longest = len(o)
			}
		}
		n += longest
	}
	return n
}

// Sample draws one completion (EOS not included; a script always ends with EOS).
func (s Script) Sample(r *RNG) []int32 {
	var out []int32
	for _, seg := range s.Segments {
		j := r.Categorical(seg.Probs)
		out = append(out, seg.Options[j]...)
	}
	return out
}

// First returns the completion made of every segment's most likely option
// (the first one on ties): for a reference script, the reference.
func (s Script) First() []int32 {
	var out []int32
	for _, seg := range s.Segments {
		best := 0
		for j, p := range seg.Probs {
			if p > seg.Probs[best] {
				best = j
			}
		}
		out = append(out, seg.Options[best]...)
	}
	return out
}

// LogProb is the exact log-probability that the script writes completion and
// then, if withEOS, stops; -Inf when it cannot.
func (s Script) LogProb(completion []int32, withEOS bool) float64 {
	p := s.NewParser()
	lp := 0.0
	for _, t := range completion {
		lp += math.Log(p.Prob(t))
		if !p.Advance(t) {
			return math.Inf(-1)
		}
	}
	if withEOS {
		lp += math.Log(p.Prob(s.EOS))
	}
	return lp
}

// parseState is one way of having produced the prefix so far: segments before
// seg are finished, option opt of segment seg is chosen and off of its tokens
// are written. opt == -1 means "about to choose at seg".
type parseState struct {
	seg, opt, off int
	w             float64 // P(prefix, this state), renormalised per step
}

// Parser tracks the script's state along a growing prefix.
type Parser struct {
	s      Script
	states []parseState
}

// NewParser starts a parser at the empty prefix.
func (s Script) NewParser() *Parser {
	return &Parser{s: s, states: []parseState{{seg: 0, opt: -1, w: 1}}}
}

// OnSupport reports whether the script can produce the prefix consumed so far.
func (p *Parser) OnSupport() bool { return len(p.states) > 0 }

// forEachFirst calls visit for every token that can come first from the
// boundary before segment seg, with its probability mass (following empty
// options); reaching the end of the script yields EOS with seg = len.
func (p *Parser) forEachFirst(seg int, w float64, visit func(tok int32, seg, opt int, w float64)) {
	if w == 0 {
		return
	}
	if seg == len(p.s.Segments) {
		visit(p.s.EOS, seg, -1, w)
		return
	}
	sg := p.s.Segments[seg]
	for j, o := range sg.Options {
		pj := w * sg.Probs[j]
		if pj == 0 {
			continue
		}
		if len(o) == 0 {
			p.forEachFirst(seg+1, pj, visit)
		} else {
			visit(o[0], seg, j, pj)
		}
	}
}

// each calls visit for every possible next token of every state.
func (p *Parser) each(visit func(tok int32, seg, opt int, w float64)) {
	for _, st := range p.states {
		if st.opt >= 0 {
			o := p.s.Segments[st.seg].Options[st.opt]
			if st.off < len(o) {
				visit(o[st.off], st.seg, st.opt, st.w)
				continue
			}
			p.forEachFirst(st.seg+1, st.w, visit)
			continue
		}
		p.forEachFirst(st.seg, st.w, visit)
	}
}

// Dist is the next-token distribution (EOS included) as parallel slices in
// first-seen order; empty when the prefix is off the script's support.
func (p *Parser) Dist() (toks []int32, probs []float64) {
	index := map[int32]int{}
	p.each(func(tok int32, _, _ int, w float64) {
		i, ok := index[tok]
		if !ok {
			i = len(toks)
			index[tok] = i
			toks = append(toks, tok)
			probs = append(probs, 0)
		}
		probs[i] += w
	})
	return toks, probs
}

// Prob is the probability that the next token is tok.
func (p *Parser) Prob(tok int32) float64 {
	total := 0.0
	p.each(func(t int32, _, _ int, w float64) {
		if t == tok {
			total += w
		}
	})
	return total
}

// Advance consumes tok and reports whether the prefix is still on the support.
func (p *Parser) Advance(tok int32) bool {
	var next []parseState
	for _, st := range p.states {
		if st.opt >= 0 {
			o := p.s.Segments[st.seg].Options[st.opt]
			if st.off < len(o) {
				if o[st.off] == tok {
					next = append(next, parseState{st.seg, st.opt, st.off + 1, st.w})
				}
				continue
			}
		}
		start := st.seg
		if st.opt >= 0 {
			start = st.seg + 1
		}
		p.forEachFirst(start, st.w, func(t int32, seg, opt int, w float64) {
			if t == tok && opt >= 0 {
				next = append(next, parseState{seg, opt, 1, w})
			}
		})
	}
	total := 0.0
	for _, st := range next {
		total += st.w
	}
	for i := range next {
		next[i].w /= total
	}
	p.states = next
	return len(next) > 0
}
