package task

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// pathsPrompt writes a paths prompt by hand: edges as "u v" strings, then the
// start and the goal.
func pathsPrompt(t *testing.T, tk *Task, edges []string, start, goal string) []int32 {
	t.Helper()
	text := ""
	for _, e := range edges {
		text += e + " | "
	}
	return encode(t, tk, text+"from "+start+" to "+goal+" =")
}

func TestPathsGoldHandComputed(t *testing.T) {
	tk := mustLoad(t, "paths,arms=2,arm_len=3,edge_reward=0.1,goal_reward=1,invalid_penalty=0.5")
	// Start n0; arm A: n1 n2 n3 (goal n3); arm B: n4 n5 n6. Edges shuffled.
	p := pathsPrompt(t, tk, []string{"n2 n3", "n0 n4", "n5 n6", "n0 n1", "n4 n5", "n1 n2"}, "n0", "n3")
	ref, err := tk.Reference(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.Decode(ref); got != "n1 n2 n3" {
		t.Fatalf("reference %q, want the goal's arm n1 n2 n3", got)
	}
	for _, c := range []struct {
		completion string
		want       float64
	}{
		{"n1 n2 n3", 3*0.1 + 1},       // the goal's arm
		{"n4 n5 n6", 3 * 0.1},         // a wrong arm walked to its end
		{"n1 n2", 2 * 0.1},            // stopped one short: no goal reward
		{"", 0},                       // empty answer
		{"n1 n2 n3 n4", 3*0.1 - 0.5},  // past the goal: an invalid step, no goal reward
		{"n2 n3", -0.5 + 0.1},         // skipped the first node: invalid, then one edge
		{"n3", -0.5},                  // the goal alone is not a path from the start
		{"n1 n5 n6", 0.1 - 0.5 + 0.1}, // jumped arms
		{"n1 | n3", 0.1 - 0.5 - 0.5},  // a non-node token is invalid
	} {
		if got := gold(t, tk, p, c.completion); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("gold(%q) = %v, want %v", c.completion, got, c.want)
		}
	}
	// The demonstration script at rate 0.3 walks the goal's arm with 0.7 and the other with 0.3, exactly.
	s, err := tk.DemoScript(p, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.LogProb(encode(t, tk, "n1 n2 n3"), true); math.Abs(got-math.Log(0.7)) > 1e-12 {
		t.Errorf("log P(goal arm) = %v, want log 0.7", got)
	}
	if got := s.LogProb(encode(t, tk, "n4 n5 n6"), true); math.Abs(got-math.Log(0.3)) > 1e-12 {
		t.Errorf("log P(wrong arm) = %v, want log 0.3", got)
	}
	if got := s.LogProb(encode(t, tk, "n1 n5 n6"), true); !math.IsInf(got, -1) {
		t.Errorf("log P(jumped arms) = %v, want -Inf", got)
	}
	if s0, _ := tk.DemoScript(p, 0); !slices.Equal(s0.First(), ref) || len(s0.Segments[0].Options) != 1 {
		t.Errorf("rate-0 demonstrations are not the reference alone: %+v", s0)
	}
}

// checkReferenceErrors asks for the reference of each malformed prompt (text →
// the error it must name).
func checkReferenceErrors(t *testing.T, tk *Task, bad map[string]string) {
	t.Helper()
	for text, want := range bad {
		_, err := tk.Reference(encode(t, tk, text))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Reference(%q) error = %v, want it to contain %q", text, err, want)
		}
	}
}

// must unwraps a reference the test knows is well-formed.
func must(ref []int32, err error) []int32 {
	if err != nil {
		panic(err)
	}
	return ref
}

// The chains layout writes the same graph as arms: the same reference and
// the same gold as the edges layout of the hand-computed test above.
func TestPathsChainsLayoutIsTheSameGraph(t *testing.T) {
	edges := mustLoad(t, "paths,arms=2,arm_len=3")
	chains := mustLoad(t, "paths,layout=chains,arms=2,arm_len=3")
	pe := pathsPrompt(t, edges, []string{"n2 n3", "n0 n4", "n5 n6", "n0 n1", "n4 n5", "n1 n2"}, "n0", "n3")
	pc := encode(t, chains, "n0 n4 n5 n6 | n0 n1 n2 n3 | from n0 to n3 =")
	if got := chains.Decode(must(chains.Reference(pc))); got != "n1 n2 n3" {
		t.Fatalf("chains reference %q, want the goal's arm n1 n2 n3", got)
	}
	for _, c := range []string{"n1 n2 n3", "n4 n5 n6", "n1 n2", "", "n1 n2 n3 n4", "n2 n3", "n3", "n1 n5 n6", "n1 | n3", "n0 n1"} {
		if ge, gc := gold(t, edges, pe, c), gold(t, chains, pc, c); ge != gc {
			t.Errorf("gold(%q): edges layout %v, chains layout %v", c, ge, gc)
		}
	}
	// Generated prompts: "S a1 … aL |" per arm, every chain from the same start.
	for _, p := range chains.Prompts(Train, 0, 200) {
		if len(p) != 2*(3+2)+5 {
			t.Fatalf("chains prompt %q has %d tokens, want %d", chains.Decode(p), len(p), 2*(3+2)+5)
		}
		if p[0] != p[5] || p[0] != p[len(p)-4] {
			t.Fatalf("chains prompt %q: the chains and the question do not share the start", chains.Decode(p))
		}
	}
	bad := map[string]string{
		"n0 n4 n5 n6 | n0 n1 n2 n3 | from n0 to n9 =": "goal n9 is not the end of an arm",
		"n0 n4 n5 n6 | n7 n1 n2 n3 | from n0 to n3 =": "chain 1 starts at n7, chain 0 at n0",
		"n0 n4 n5 n6 | n0 n1 n2 n5 | from n0 to n5 =": "node n5 has two incoming edges (chain 1)",
		"n0 n4 n5 n6 n0 | n1 n2 n3 | from n0 to n3 =": "chain 0 (tokens 0..4) is not 4 nodes then \"|\"",
		"n0 n4 n5 n6 | n0 n1 n2 | n3 from n0 to n3 =": "chain 1 (tokens 5..9) is not 4 nodes then \"|\"",
		"n0 n4 n5 n6 | from n0 to n6 =":               "prompt has 10 tokens, want 15 (arms 2 chains",
	}
	checkReferenceErrors(t, chains, bad)
	if _, err := Load("paths,layout=grid"); err == nil || !strings.Contains(err.Error(), `params.layout = "grid": want "edges" or "chains"`) {
		t.Errorf("Load(layout=grid) error = %v", err)
	}
}

// Every prompt is a path-star graph on distinct nodes whose goal ends one
// arm; the goal's arm is uniform over arms; a policy that guesses the first
// step and then follows the arm (what imitation learns without planning)
// earns the expected (1/arms)·goal_reward less than the reference.
func TestPathsPromptsAreStarGraphs(t *testing.T) {
	for _, spec := range []string{"paths", "paths,layout=chains"} {
		t.Run(spec, func(t *testing.T) { testPathsPromptsAreStarGraphs(t, spec) })
	}
}

func testPathsPromptsAreStarGraphs(t *testing.T, spec string) {
	tk := mustLoad(t, spec)
	fam := tk.fam.(*paths)
	counts := make([]int, fam.p.Arms)
	var refSum, guessSum float64
	const n = 3000
	for _, p := range tk.Prompts(Train, 0, n) {
		g, err := fam.parse(p)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int32]bool{g.start: true}
		for _, arm := range g.arms {
			for _, v := range arm {
				if seen[v] {
					t.Fatalf("node %s appears twice in %q", tk.Decode([]int32{v}), tk.Decode(p))
				}
				seen[v] = true
			}
		}
		// The goal's position among the start's successors as listed: uniform.
		counts[g.goalArm]++
		ref, _ := tk.Reference(p)
		r, _ := tk.Gold(p, ref)
		refSum += r
		for _, arm := range g.arms {
			gr, _ := tk.Gold(p, arm)
			guessSum += gr / float64(len(g.arms))
		}
	}
	for a, c := range counts {
		if want := float64(n) / float64(len(counts)); math.Abs(float64(c)-want) > 4*math.Sqrt(want) {
			t.Errorf("goal on listed arm %d in %d of %d prompts, want about %.0f", a, c, n, want)
		}
	}
	p := fam.p
	wantRef := float64(p.ArmLen)*p.EdgeReward + p.GoalReward
	if math.Abs(refSum/n-wantRef) > 1e-9 {
		t.Errorf("reference gold %v, want %v", refSum/n, wantRef)
	}
	if want := float64(p.ArmLen)*p.EdgeReward + p.GoalReward/float64(p.Arms); math.Abs(guessSum/n-want) > 1e-9 {
		t.Errorf("guess-then-follow gold %v, want %v", guessSum/n, want)
	}
}

func TestPathsErrorsNameTheProblem(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"paths,nodes=8,arms=3,arm_len=4", "params.nodes = 8: a graph needs 1 + arms·arm_len = 13 distinct nodes"},
		{"paths,horizon=3", "params.horizon = 3: the reference has arm_len = 4 tokens"},
		{"paths,arms=0", "params.arms = 0: want >= 1"},
		{"paths,edge_reward=0", "params.edge_reward = 0: want > 0"},
		{"paths,arms=1,demo_corruption=0.2", "a wrong arm needs arms >= 2"},
		{"paths,arms=20,arm_len=10,nodes=500", "the prompt would have 605 tokens"},
		{"paths,arm_length=3", `unknown field "arm_length"`},
	} {
		if _, err := Load(c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%q) error = %v, want it to contain %q", c.spec, err, c.want)
		}
	}
	tk := mustLoad(t, "paths,arms=2,arm_len=2")
	bad := map[string]string{
		"n1 n2 | n0 n1 | n0 n3 | n3 n4 | from n0 to n9 =": "goal n9 is not the end of an arm",
		"n1 n2 | n0 n1 | n0 n3 | n3 n4 | from n1 to n2 =": "start n1 has 1 successors, want arms = 2",
		"n1 n2 | n0 n1 | n0 n3 | n3 n2 | from n0 to n2 =": "node n2 has two incoming edges",
		"n1 n2 n0 n1 | n0 n3 | n3 n4 | from n0 to n4 = =": "edge 0 (tokens 0..2) is not \"node node |\"",
		"n0 n1 | n0 n3 | n3 n4 | from n0 to n4 =":         "prompt has 14 tokens, want 17",
	}
	checkReferenceErrors(t, tk, bad)
}

// The paths presets demonstrate the reference (rate 0): the policy's errors
// should come from planning the first step, not from copied noise. At rate
// (arms−1)/arms the demonstrator picks arms uniformly, and then its
// likelihood says nothing about which arm reaches the goal.
func TestPathsDemoLikelihood(t *testing.T) {
	for _, name := range []string{"paths", "paths_adjacent"} {
		tk := mustLoad(t, name)
		if tk.DemoRate() != 0 {
			t.Fatalf("%s: documented demo rate %v, want 0", name, tk.DemoRate())
		}
		arms := tk.fam.(*paths).p.Arms
		for _, p := range tk.Prompts(Train, 0, 50) {
			s, err := tk.DemoScript(p, float64(arms-1)/float64(arms))
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range s.Segments[0].Options {
				if lp := s.LogProb(o, true); math.Abs(lp+math.Log(float64(arms))) > 1e-9 {
					t.Fatalf("%s: arm %q has log-likelihood %v, want -log %d", name, tk.Decode(o), lp, arms)
				}
			}
			if len(s.Segments[0].Options) != arms {
				t.Fatalf("%s: %d arms in the script, want %d", name, len(s.Segments[0].Options), arms)
			}
		}
	}
}
