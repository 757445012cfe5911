package task

import (
	"fmt"
	"slices"

	"roads/tok"
)

// The paths family: find the path to a goal in a path-star graph (Bachmann &
// Nagarajan 2024, "The pitfalls of next-token prediction"). The prompt lists
// the edges of a graph in shuffled order: a start node with Arms arms, each a
// chain of ArmLen nodes; it then names the start and a goal, the far end of
// one arm. The completion is the path after the start: ArmLen nodes.
//
// Why verifying is simpler than generating: a completion is checked by one
// edge lookup per step and one comparison of its last node with the goal
// named in the prompt. Writing it needs the first step right, and the first
// step is the arm whose far end is the goal: ArmLen−1 hops of chaining
// backwards from the goal before the first token is written. After the first
// step every next node is the only successor of the last one, so imitation
// learns the easy later steps and can guess the first (the "Clever Hans"
// solution of the paper above). ArmLen 1 closes the gap: the goal is then a
// child of the start.
//
// Gold (partial credit, locally checkable): each step that follows an edge of
// the graph from the previous node (the start, for the first) earns
// EdgeReward, each other token costs InvalidPenalty, and a completion whose
// every step is an edge and whose last node is the goal earns GoalReward. The
// reference (the goal's arm) is the unique maximum, ArmLen·EdgeReward +
// GoalReward; walking a wrong arm to its end earns ArmLen·EdgeReward, so a
// wrong first step costs the goal reward and stopping early costs edges.
//
// Layout "chains" writes the same graph as its arms, one chain per arm,
// "S a1 … aL |" in shuffled arm order. Following an arm is then a copy of the
// next token of the chain (an induction lookup, which small transformers
// learn); the first step is still the chain whose last node is the goal, one
// backward jump of ArmLen−1 positions. It is the layout in which a small
// policy can be competent (it follows arms) but imperfect (it may not find
// the goal's chain), where "edges" asks it for lookups it does not learn
// (docs/results/paths-lookup-2026-12-08).

// PathsParams are the paths family's parameters.
type PathsParams struct {
	// Nodes is how many node names the vocabulary holds (each graph uses
	// 1 + Arms·ArmLen of them, drawn per prompt).
	Nodes int `json:"nodes"`
	// Arms is the start node's out-degree: how many paths the first step
	// chooses between.
	Arms int `json:"arms"`
	// ArmLen is the number of nodes on each arm after the start: the
	// reference's length, and the gap knob (ArmLen−1 backward hops decide
	// the first step).
	ArmLen int `json:"arm_len"`
	// Horizon is the hard cap on completion tokens (0: ArmLen+2).
	Horizon int `json:"horizon"`
	// Layout is how the prompt writes the graph: "edges" (each edge "u v |",
	// shuffled) or "chains" (each arm "S a1 … aL |", arms shuffled).
	Layout string `json:"layout"`

	EdgeReward     float64 `json:"edge_reward"`
	GoalReward     float64 `json:"goal_reward"`
	InvalidPenalty float64 `json:"invalid_penalty"`

	// DemoCorruption is the probability that a demonstration walks a wrong
	// arm (each wrong arm equally likely) instead of the goal's.
	DemoCorruption float64 `json:"demo_corruption"`
	// LabelTemperature is the default Bradley–Terry temperature for labels.
	LabelTemperature float64 `json:"label_temperature"`
}

// DefaultPathsParams are the paths preset's parameters.
func DefaultPathsParams() PathsParams {
	return PathsParams{
		Nodes: 48, Arms: 3, ArmLen: 4, Layout: PathsEdges,
		EdgeReward: 0.1, GoalReward: 1, InvalidPenalty: 0.5,
		LabelTemperature: 0.5,
	}
}

// The paths prompt layouts.
const (
	PathsEdges  = "edges"
	PathsChains = "chains"
)

const (
	pathsEdgeSep = "|"
	pathsFrom    = "from"
	pathsTo      = "to"
	pathsSep     = "="
)

type paths struct {
	p     PathsParams
	tk    *tok.Words
	nodes []int32 // node ids in name order

	isNode, allowedMask    []bool // by id; allowed = the nodes and EOS
	edgeSep, from, to, sep int32
}

func newPaths(cfg Config) (*paths, error) {
	p := DefaultPathsParams()
	if err := decodeParams(cfg.Params, &p); err != nil {
		return nil, err
	}
	if p.Horizon == 0 {
		p.Horizon = p.ArmLen + 2
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	words := make([]string, 0, p.Nodes+4)
	for i := range p.Nodes {
		words = append(words, fmt.Sprintf("n%d", i))
	}
	words = append(words, pathsEdgeSep, pathsFrom, pathsTo, pathsSep)
	tk, err := tok.NewWords(words)
	if err != nil {
		return nil, err
	}
	s := &paths{p: p, tk: tk}
	id := func(w string) int32 { i, _ := tk.ID(w); return i }
	v := tk.VocabSize()
	s.isNode = make([]bool, v)
	s.allowedMask = make([]bool, v)
	for _, w := range words[:p.Nodes] {
		n := id(w)
		s.nodes = append(s.nodes, n)
		s.isNode[n] = true
		s.allowedMask[n] = true
	}
	s.allowedMask[tk.EOS()] = true
	s.edgeSep, s.from, s.to, s.sep = id(pathsEdgeSep), id(pathsFrom), id(pathsTo), id(pathsSep)
	return s, nil
}

func (p PathsParams) validate() error {
	switch {
	case p.Arms < 1:
		return fmt.Errorf("params.arms = %d: want >= 1", p.Arms)
	case p.ArmLen < 1:
		return fmt.Errorf("params.arm_len = %d: want >= 1", p.ArmLen)
	case p.Layout != PathsEdges && p.Layout != PathsChains:
		return fmt.Errorf("params.layout = %q: want %q or %q", p.Layout, PathsEdges, PathsChains)
	case p.Nodes < 1+p.Arms*p.ArmLen || p.Nodes > 1000:
		return fmt.Errorf("params.nodes = %d: a graph needs 1 + arms·arm_len = %d distinct nodes; want %d..1000", p.Nodes, 1+p.Arms*p.ArmLen, 1+p.Arms*p.ArmLen)
	case p.promptLen() > 255:
		return fmt.Errorf("params.arms = %d, arm_len = %d: the prompt would have %d tokens; want at most 255", p.Arms, p.ArmLen, p.promptLen())
	case p.Horizon < p.ArmLen || p.Horizon > 64:
		return fmt.Errorf("params.horizon = %d: the reference has arm_len = %d tokens; want arm_len..64", p.Horizon, p.ArmLen)
	case p.EdgeReward <= 0:
		return fmt.Errorf("params.edge_reward = %v: want > 0", p.EdgeReward)
	case p.GoalReward < 0 || p.InvalidPenalty < 0:
		return fmt.Errorf("params.goal_reward = %v, invalid_penalty = %v: want >= 0", p.GoalReward, p.InvalidPenalty)
	case p.DemoCorruption < 0 || p.DemoCorruption > 1:
		return fmt.Errorf("params.demo_corruption = %v: want a probability", p.DemoCorruption)
	case p.DemoCorruption > 0 && p.Arms < 2:
		return fmt.Errorf("params.demo_corruption = %v: a wrong arm needs arms >= 2", p.DemoCorruption)
	case p.LabelTemperature < 0:
		return fmt.Errorf("params.label_temperature = %v: want >= 0", p.LabelTemperature)
	}
	return nil
}

// promptLen is the graph's tokens, then "from S to G =".
func (p PathsParams) promptLen() int {
	if p.Layout == PathsChains {
		return p.Arms*(p.ArmLen+2) + 5
	}
	return 3*p.Arms*p.ArmLen + 5
}

func (s *paths) tokenizer() *tok.Words     { return s.tk }
func (s *paths) allowed() []bool           { return s.allowedMask }
func (s *paths) horizon() int              { return s.p.Horizon }
func (s *paths) maxPromptLen() int         { return s.p.promptLen() }
func (s *paths) demoRate() float64         { return s.p.DemoCorruption }
func (s *paths) labelTemperature() float64 { return s.p.LabelTemperature }
func (s *paths) params() any               { return s.p }

// genPrompt draws a path-star graph on distinct random nodes and a goal arm,
// and writes "u v |" per edge in shuffled order (layout edges) or "S a1 … aL
// |" per arm in shuffled order (layout chains), then "from START to GOAL =".
func (s *paths) genPrompt(r *RNG) []int32 {
	d, l := s.p.Arms, s.p.ArmLen
	perm := r.Perm(len(s.nodes))
	node := func(i int) int32 { return s.nodes[perm[i]] }
	start := node(0)
	type edge struct{ u, v int32 }
	edges := make([]edge, 0, d*l)
	for a := range d {
		prev := start
		for i := range l {
			n := node(1 + a*l + i)
			edges = append(edges, edge{prev, n})
			prev = n
		}
	}
	goal := node(1 + r.IntN(d)*l + l - 1)
	prompt := make([]int32, 0, s.maxPromptLen())
	if s.p.Layout == PathsChains {
		for _, a := range r.Perm(d) {
			prompt = append(prompt, start)
			for i := range l {
				prompt = append(prompt, edges[a*l+i].v)
			}
			prompt = append(prompt, s.edgeSep)
		}
	} else {
		for _, j := range r.Perm(len(edges)) {
			prompt = append(prompt, edges[j].u, edges[j].v, s.edgeSep)
		}
	}
	return append(prompt, s.from, start, s.to, goal, s.sep)
}

// graph is a parsed prompt.
type graph struct {
	start, goal int32
	next        map[int32][]int32 // successors per node, in prompt order
	arms        [][]int32         // the nodes after the start along each arm, in prompt order of the first edge
	goalArm     int               // index into arms
}

func (g *graph) hasEdge(u, v int32) bool { return slices.Contains(g.next[u], v) }

// parse checks the prompt's layout and recovers the graph, its arms and the goal's arm.
func (s *paths) parse(prompt []int32) (*graph, error) {
	d, l := s.p.Arms, s.p.ArmLen
	if len(prompt) != s.maxPromptLen() {
		if s.p.Layout == PathsChains {
			return nil, fmt.Errorf("paths prompt has %d tokens, want %d (arms %d chains of 1 + arm_len %d nodes and \"|\", then \"from S to G =\")", len(prompt), s.maxPromptLen(), d, l)
		}
		return nil, fmt.Errorf("paths prompt has %d tokens, want %d (arms %d × arm_len %d edges of 3 tokens, then \"from S to G =\")", len(prompt), s.maxPromptLen(), d, l)
	}
	g := &graph{next: map[int32][]int32{}}
	hasParent := map[int32]bool{}
	addEdge := func(u, v int32, where string) error {
		if hasParent[v] {
			return fmt.Errorf("paths prompt: node %s has two incoming edges (%s)", s.tk.Token(v), where)
		}
		hasParent[v] = true
		g.next[u] = append(g.next[u], v)
		return nil
	}
	if s.p.Layout == PathsChains {
		w := l + 2
		for a := range d {
			chain := prompt[a*w : (a+1)*w]
			for i, t := range chain {
				if (i < w-1 && !s.isNode[t]) || (i == w-1 && t != s.edgeSep) {
					return nil, fmt.Errorf("paths prompt: chain %d (tokens %d..%d) is not %d nodes then \"|\"", a, a*w, (a+1)*w-1, l+1)
				}
			}
			if chain[0] != prompt[0] {
				return nil, fmt.Errorf("paths prompt: chain %d starts at %s, chain 0 at %s: every chain starts at the start", a, s.tk.Token(chain[0]), s.tk.Token(prompt[0]))
			}
			for i := 1; i <= l; i++ {
				if err := addEdge(chain[i-1], chain[i], fmt.Sprintf("chain %d", a)); err != nil {
					return nil, err
				}
			}
		}
	} else {
		for e := 0; e < d*l; e++ {
			u, v, sep := prompt[3*e], prompt[3*e+1], prompt[3*e+2]
			if !s.isNode[u] || !s.isNode[v] || sep != s.edgeSep {
				return nil, fmt.Errorf("paths prompt: edge %d (tokens %d..%d) is not \"node node |\"", e, 3*e, 3*e+2)
			}
			if err := addEdge(u, v, fmt.Sprintf("edge %d", e)); err != nil {
				return nil, err
			}
		}
	}
	tail := prompt[len(prompt)-5:]
	if tail[0] != s.from || !s.isNode[tail[1]] || tail[2] != s.to || !s.isNode[tail[3]] || tail[4] != s.sep {
		return nil, fmt.Errorf("paths prompt: the last 5 tokens are not \"from START to GOAL =\"")
	}
	g.start, g.goal = tail[1], tail[3]
	if len(g.next[g.start]) != d {
		return nil, fmt.Errorf("paths prompt: start %s has %d successors, want arms = %d", s.tk.Token(g.start), len(g.next[g.start]), d)
	}
	g.goalArm = -1
	for a, first := range g.next[g.start] {
		arm := []int32{first}
		for len(arm) < l {
			succ := g.next[arm[len(arm)-1]]
			if len(succ) != 1 {
				return nil, fmt.Errorf("paths prompt: arm %d breaks after %d nodes (node %s has %d successors)", a, len(arm), s.tk.Token(arm[len(arm)-1]), len(succ))
			}
			arm = append(arm, succ[0])
		}
		if len(g.next[arm[l-1]]) != 0 {
			return nil, fmt.Errorf("paths prompt: arm %d is longer than arm_len = %d", a, l)
		}
		if arm[l-1] == g.goal {
			g.goalArm = a
		}
		g.arms = append(g.arms, arm)
	}
	if g.goalArm < 0 {
		return nil, fmt.Errorf("paths prompt: goal %s is not the end of an arm", s.tk.Token(g.goal))
	}
	return g, nil
}

func (s *paths) reference(prompt []int32) ([]int32, error) {
	g, err := s.parse(prompt)
	if err != nil {
		return nil, err
	}
	return slices.Clone(g.arms[g.goalArm]), nil
}

// gold: r* = EdgeReward·#{steps along an edge} − InvalidPenalty·#{other
// tokens} + GoalReward·[every step an edge and the last node the goal].
func (s *paths) gold(prompt, completion []int32) (float64, error) {
	g, err := s.parse(prompt)
	if err != nil {
		return 0, err
	}
	r, prev, valid := 0.0, g.start, true
	for _, t := range completion {
		if g.hasEdge(prev, t) {
			r += s.p.EdgeReward
		} else {
			r -= s.p.InvalidPenalty
			valid = false
		}
		prev = t
	}
	if valid && len(completion) > 0 && prev == g.goal {
		r += s.p.GoalReward
	}
	return r, nil
}

// script: one segment, the goal's arm with probability 1−rate and each wrong
// arm with rate/(arms−1), so a demonstration's only error is its first step.
func (s *paths) script(prompt []int32, rate float64) (Script, error) {
	g, err := s.parse(prompt)
	if err != nil {
		return Script{}, err
	}
	var seg Segment
	for a, arm := range g.arms {
		p := 1 - rate
		if a != g.goalArm { // arms >= 2 here
			p = rate / float64(len(g.arms)-1)
		}
		if p > 0 {
			seg.Options = append(seg.Options, slices.Clone(arm))
			seg.Probs = append(seg.Probs, p)
		}
	}
	return Script{Segments: []Segment{seg}, EOS: s.tk.EOS()}, nil
}

func (s *paths) gap() string {
	if s.p.ArmLen == 1 {
		return fmt.Sprintf("paths with arm_len 1 (gap closed): the goal is a child of the start, so writing the 1-token answer is one edge lookup, "+
			"the same check a verifier makes; %d arms", s.p.Arms)
	}
	if s.p.Layout == PathsChains {
		return fmt.Sprintf("paths, chains layout (gap open, knob arm_len = %d): checking a completion is one edge lookup per step and one comparison of its "+
			"last node with the goal; following an arm is copying the next node of its chain, but the first step is the chain whose last node is "+
			"the goal, a jump back of %d positions from the goal's occurrence, before the first token (a policy that cannot make it guesses among %d arms)",
			s.p.ArmLen, s.p.ArmLen-1, s.p.Arms)
	}
	return fmt.Sprintf("paths (gap open, knob arm_len = %d): checking a completion is one edge lookup per step and one comparison of its last node "+
		"with the goal; writing it needs the first of %d steps right, which is the arm whose far end is the goal: %d hops of chaining backwards "+
		"from the goal before the first token, which teacher-forced imitation is known not to learn (it guesses among %d arms and follows the "+
		"chosen one). arm_len 1 closes the gap", s.p.ArmLen, s.p.ArmLen, s.p.ArmLen-1, s.p.Arms)
}
