package task

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"roads/tok"
)

func mustLoad(t *testing.T, spec string) *Task {
	t.Helper()
	tk, err := Load(spec)
	if err != nil {
		t.Fatalf("Load(%q): %v", spec, err)
	}
	return tk
}

func encode(t *testing.T, tk *Task, text string) []int32 {
	t.Helper()
	ids, err := tk.Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func gold(t *testing.T, tk *Task, prompt []int32, completion string) float64 {
	t.Helper()
	g, err := tk.Gold(prompt, encode(t, tk, completion))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// outputWords are the allowed completion ids other than EOS.
func outputWords(tk *Task) []int32 {
	var out []int32
	for id, ok := range tk.AllowedOutput() {
		if ok && int32(id) != tk.Tokenizer().EOS() {
			out = append(out, int32(id))
		}
	}
	return out
}

func TestPresetsBuildAndRoundTripThroughConfigFile(t *testing.T) {
	dir := t.TempDir()
	for _, name := range PresetNames() {
		tk := mustLoad(t, name)
		if tk.Name() != name || PresetSummary(name) == "" || tk.Gap() == "" {
			t.Fatalf("%s: name %q, summary %q, gap %q", name, tk.Name(), PresetSummary(name), tk.Gap())
		}
		data, err := json.MarshalIndent(tk.Config(), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		back := mustLoad(t, path)
		again, _ := json.MarshalIndent(back.Config(), "", "  ")
		if string(again) != string(data) {
			t.Fatalf("%s: config changed through a file:\n%s\nvs\n%s", name, data, again)
		}
		a, b := tk.Prompts(Train, 3, 5), back.Prompts(Train, 3, 5)
		for i := range a {
			if !slices.Equal(a[i], b[i]) {
				t.Fatalf("%s: prompt %d differs after the round trip", name, i)
			}
		}
	}
}

func TestGeneratorsAreDeterministicPerSeed(t *testing.T) {
	for _, name := range PresetNames() {
		a, b := mustLoad(t, name), mustLoad(t, name)
		other := mustLoad(t, name+",seed=2")
		pa, pb, po := a.Prompts(Validation, 0, 20), b.Prompts(Validation, 0, 20), other.Prompts(Validation, 0, 20)
		differs := false
		for i := range pa {
			if !slices.Equal(pa[i], pb[i]) {
				t.Fatalf("%s: prompt %d differs between two loads with the same seed", name, i)
			}
			if !slices.Equal(pa[i], po[i]) {
				differs = true
			}
		}
		if !differs {
			t.Fatalf("%s: seed 2 gives the same prompts as seed 1", name)
		}
		// Demonstrations too are a function of (task, prompt, rng seed).
		da, _ := a.Demo(pa[0], NewRNG(9))
		db, _ := b.Demo(pb[0], NewRNG(9))
		if !slices.Equal(da, db) {
			t.Fatalf("%s: demos differ for the same seed", name)
		}
		// Another stream of the same split gives other prompts.
		if slices.Equal(a.Prompts(Validation, 1, 1)[0], pa[0]) {
			t.Fatalf("%s: stream 1 starts with stream 0's prompt", name)
		}
	}
}

func TestSplitsNeverOverlap(t *testing.T) {
	for _, name := range []string{"summarize", "mdp_sparse"} {
		tk := mustLoad(t, name)
		seen := map[string]Split{}
		for _, sp := range []Split{Train, Validation, Test} {
			for stream := uint64(0); stream < 2; stream++ {
				for _, p := range tk.Prompts(sp, stream, 1500) {
					if tk.SplitOf(p) != sp {
						t.Fatalf("%s: prompt from %v classified as %v", name, sp, tk.SplitOf(p))
					}
					key := string(int32Bytes(p))
					if prev, ok := seen[key]; ok && prev != sp {
						t.Fatalf("%s: a prompt is in both %v and %v", name, prev, sp)
					}
					seen[key] = sp
				}
			}
		}
	}
	for _, s := range []string{"train", "validation", "val", "test"} {
		if _, err := ParseSplit(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ParseSplit("dev"); err == nil || !strings.Contains(err.Error(), `"dev"`) {
		t.Fatalf("ParseSplit(dev) error = %v", err)
	}
}

func TestSummarizeDocumentsFollowTheirParameters(t *testing.T) {
	tk := mustLoad(t, "summarize")
	fam := tk.fam.(*summarize)
	p := fam.p
	counts := map[int]int{}
	for _, prompt := range tk.Prompts(Train, 0, 500) {
		doc, err := fam.doc(prompt)
		if err != nil {
			t.Fatal(err)
		}
		if len(doc) < p.DocMin || len(doc) > p.DocMax || len(prompt) > tk.MaxPromptLen() {
			t.Fatalf("document length %d outside [%d, %d]", len(doc), p.DocMin, p.DocMax)
		}
		k := len(fam.items(doc))
		if k < p.ItemsMin || k > p.ItemsMax {
			t.Fatalf("%d items, want %d..%d", k, p.ItemsMin, p.ItemsMax)
		}
		counts[k]++
	}
	for k := p.ItemsMin; k <= p.ItemsMax; k++ {
		if counts[k] < 40 {
			t.Fatalf("item counts %v: %d items is rare", counts, k)
		}
	}
	if tk.MaxTotalLen() != tk.MaxPromptLen()+tk.Horizon()+1 || tk.MaxTotalLen() > 80 {
		t.Fatalf("MaxTotalLen %d", tk.MaxTotalLen())
	}
}

// handTask is summarize with every entity in the vocabulary, so hand-written
// documents can use any name.
func handTask(t *testing.T, extra string) *Task {
	return mustLoad(t, "summarize,entities=48"+extra)
}

func TestSummarizeGoldHandComputed(t *testing.T) {
	tk := handTask(t, "")
	prompt := encode(t, tk, "Alice met the old farmer . Paris saw Alice near Bob . TL;DR:")
	cases := []struct {
		completion string
		want       float64
	}{
		{"Alice Paris Bob", 3},   // every item once, in order
		{"", 0},                  // empty summary
		{"Paris Alice Bob", 2.5}, // Alice comes before Paris: one order penalty
		{"Bob Paris Alice", 2},   // two descents
		{"Alice Alice", 0},       // repeat
		{"farmer", -0.5},         // document word that is not an item
		{"Tokyo", -1},            // absent from the document
		{"TL;DR:", -1},           // the separator is not a document word
		{"Alice Paris Bob farmer farmer farmer", 1.5},     // three extras, still within the budget of 6
		{"Alice Paris Bob farmer farmer farmer Tokyo", 0}, // 7th token: absent and over budget
	}
	for _, c := range cases {
		if got := gold(t, tk, prompt, c.completion); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("gold(%q) = %v, want %v", c.completion, got, c.want)
		}
	}
	ref, err := tk.Reference(prompt)
	if err != nil || tk.Decode(ref) != "Alice Paris Bob" {
		t.Fatalf("reference = %q, %v", tk.Decode(ref), err)
	}
	// The weights are parameters.
	tk2 := handTask(t, ",order_penalty=1,absent_penalty=2,budget=2")
	p2 := encode(t, tk2, "Alice met the old farmer . Paris saw Alice near Bob . TL;DR:")
	if got := gold(t, tk2, p2, "Paris Alice Tokyo"); got != 1+1-1-2-0.5 {
		t.Errorf("gold with custom weights = %v, want %v", got, 1+1-1-2-0.5)
	}
}

func TestGoldRejectsMalformedInput(t *testing.T) {
	tk := handTask(t, "")
	prompt := encode(t, tk, "Alice met Bob . TL;DR:")
	eos := tk.Tokenizer().EOS()
	if _, err := tk.Gold(prompt, []int32{prompt[0], eos}); err == nil || !strings.Contains(err.Error(), "EOS at position 1") {
		t.Fatalf("EOS in completion: %v", err)
	}
	if _, err := tk.Gold(prompt, []int32{0}); err == nil || !strings.Contains(err.Error(), "PAD at position 0") {
		t.Fatalf("PAD in completion: %v", err)
	}
	if _, err := tk.Gold(prompt, []int32{9999}); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Fatalf("id out of range: %v", err)
	}
	if _, err := tk.Gold(prompt[:len(prompt)-1], nil); err == nil || !strings.Contains(err.Error(), `must end with "TL;DR:"`) {
		t.Fatalf("prompt without separator: %v", err)
	}
	if _, err := tk.Reference([]int32{1, 5}); err == nil || !strings.Contains(err.Error(), "position 0") {
		t.Fatalf("special id in prompt: %v", err)
	}
	mdp := mustLoad(t, "mdp_sparse")
	if _, err := mdp.Gold(encode(t, mdp, "w01 w02 >"), nil); err == nil || !strings.Contains(err.Error(), "4 words followed by") {
		t.Fatalf("short mdp prompt: %v", err)
	}
}

func TestRougeLHandComputed(t *testing.T) {
	cases := []struct {
		cand, ref []int32
		p, r, f   float64
	}{
		{[]int32{1, 2, 3, 4}, []int32{1, 3, 4, 5}, 0.75, 0.75, 0.75},
		{[]int32{1, 2}, []int32{1, 2, 3, 4}, 1, 0.5, 2.0 / 3},
		{[]int32{4, 3, 2, 1}, []int32{1, 2, 3, 4}, 0.25, 0.25, 0.25},
		{nil, []int32{1}, 0, 0, 0},
		{nil, nil, 1, 1, 1},
	}
	for _, c := range cases {
		got := RougeL(c.cand, c.ref)
		if math.Abs(got.Precision-c.p) > 1e-12 || math.Abs(got.Recall-c.r) > 1e-12 || math.Abs(got.F1-c.f) > 1e-12 {
			t.Errorf("RougeL(%v, %v) = %+v, want P %v R %v F %v", c.cand, c.ref, got, c.p, c.r, c.f)
		}
	}
}

func TestHiddenRefReferenceIsHiddenAndScoresOne(t *testing.T) {
	tk := mustLoad(t, "hidden_ref")
	cov := mustLoad(t, "summarize")
	fam := tk.fam.(*summarize)
	differsFromItems := 0
	for _, p := range tk.Prompts(Test, 0, 200) {
		ref, err := tk.Reference(p)
		if err != nil {
			t.Fatal(err)
		}
		items, _ := cov.Reference(p)
		if len(ref) != len(items) {
			t.Fatalf("hidden reference has %d words, want the item count %d", len(ref), len(items))
		}
		if g, _ := tk.Gold(p, ref); g != 1 {
			t.Fatalf("gold(reference) = %v, want 1", g)
		}
		for i := 1; i < len(ref); i++ {
			if fam.priority[ref[i-1]] > fam.priority[ref[i]] {
				t.Fatalf("hidden reference not in priority order: %v", ref)
			}
		}
		if !slices.Equal(ref, items) {
			differsFromItems++
		}
		// Hand check against the ROUGE-L definition: dropping the last word
		// leaves P = 1, R = (n-1)/n.
		n := float64(len(ref))
		if want := 2 * (n - 1) / n / (1 + (n-1)/n); math.Abs(gold(t, tk, p, tk.Decode(ref[:len(ref)-1]))-want) > 1e-12 {
			t.Fatalf("gold of a truncated reference != %v", want)
		}
	}
	if differsFromItems < 190 {
		t.Fatalf("the hidden reference equals the visible entity list on %d of 200 prompts", 200-differsFromItems)
	}
	rnd := mustLoad(t, "hidden_ref,hidden_rule=random")
	p := rnd.Prompts(Test, 0, 1)[0]
	r1, _ := rnd.Reference(p)
	r2, _ := rnd.Reference(p)
	if !slices.Equal(r1, r2) {
		t.Fatal("random hidden reference is not a function of the document")
	}
}

func TestMDPSparseGoldHandComputed(t *testing.T) {
	tk := mustLoad(t, "mdp_sparse,vocab=3,prompt_len=7,horizon=3,k_unigram=0,k_bigram=0,k_pair=0,length_penalty=0.25")
	m := tk.fam.(*tokenMDP)
	// Hand-set weights: words w0, w1, w2.
	m.uni[0][1] = 1    // w1 at position 0
	m.uni[1][1] = -0.1 // w1 at position 1 (makes the optimum unique)
	m.uni[2][2] = 0.5  // w2 at position 2
	m.bi[1][2] = 2     // w1 -> w2
	m.bi[2][0] = -1    // w2 -> w0
	m.pair[0][0] = 0.3 // prompt w0 favours w0 everywhere
	prompt := encode(t, tk, "w00 w00 w01 w01 w01 w01 w01 >")
	cases := []struct {
		c    string
		want float64
	}{
		{"w01 w02 w02", 1 + 2 + 0.5},    // uni(0,w1) + bi(w1,w2) + uni(2,w2)
		{"w00 w00 w00", 3 * 0.6},        // two prompt w0s, 0.3 each, at each position
		{"w02 w00", -1 + 0.6 - 0.25},    // bi(w2,w0) plus the pair bonus, one short
		{"", -0.75},                     // three short
		{"w01 w02 w02 w02", 3.5 - 0.25}, // the 4th token is past the horizon: not scored, one long
	}
	for _, c := range cases {
		if got := gold(t, tk, prompt, c.c); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("gold(%q) = %v, want %v", c.c, got, c.want)
		}
	}
	ref, _ := tk.Reference(prompt)
	if tk.Decode(ref) != "w01 w02 w02" {
		t.Errorf("reference = %q, want w01 w02 w02", tk.Decode(ref))
	}
}

// allCompletions enumerates every completion of up to n tokens over words.
func allCompletions(words []int32, n int) [][]int32 {
	out := [][]int32{{}}
	frontier := [][]int32{{}}
	for l := 1; l <= n; l++ {
		var next [][]int32
		for _, c := range frontier {
			for _, w := range words {
				next = append(next, append(append([]int32(nil), c...), w))
			}
		}
		out = append(out, next...)
		frontier = next
	}
	return out
}

// On paths the reference is also the unique maximum: every other completion
// scores strictly less.
func TestReferenceIsTheExactMaximumOnSmallTasks(t *testing.T) {
	for _, c := range []struct {
		spec   string
		unique bool
	}{
		{"mdp_sparse,vocab=4,prompt_len=5,horizon=3,k_unigram=4,k_bigram=4,k_pair=6", false},
		{"mdp_sparse,vocab=4,prompt_len=5,horizon=3,k_unigram=2,k_bigram=5,k_pair=2,positive_frac=0.2,seed=5", false},
		{"mdp_teacher,vocab=3,prompt_len=7,horizon=3,beam=27,k_unigram=0,k_pair=0,k_bigram=0,teacher_d_model=16,teacher_heads=2", false},
		{"two_word", false},
		{"sorted_two_word", false},
		{"sorted,entities=5,items_min=2,items_max=4,horizon=3,budget=3,corruptions=[\"drop\"]", false},
		{"paths,nodes=6,arms=2,arm_len=2,horizon=4", true},
		{"paths,nodes=5,arms=2,arm_len=2,horizon=3,seed=4", true},
		{"paths,nodes=7,arms=3,arm_len=2,horizon=3,edge_reward=0.3,invalid_penalty=0", true},
		{"paths,nodes=5,arms=4,arm_len=1,horizon=3", true},
		{"paths,layout=chains,nodes=6,arms=2,arm_len=2,horizon=4", true},
		{"paths,layout=chains,nodes=7,arms=3,arm_len=2,horizon=3,seed=2", true},
	} {
		tk := mustLoad(t, c.spec)
		words := outputWords(tk)
		for _, p := range tk.Prompts(Test, 0, 4) {
			ref, _ := tk.Reference(p)
			best, _ := tk.Gold(p, ref)
			for _, comp := range allCompletions(words, tk.Horizon()) {
				g, _ := tk.Gold(p, comp)
				if g > best+1e-9 || c.unique && g > best-1e-12 && !slices.Equal(comp, ref) {
					t.Fatalf("%s: completion %q scores %v against the reference %q (%v)", c.spec, tk.Decode(comp), g, tk.Decode(ref), best)
				}
			}
		}
	}
}

func TestReferenceScoresAtMaximumAndRandomScoresLow(t *testing.T) {
	for _, name := range PresetNames() {
		tk := mustLoad(t, name)
		words := outputWords(tk)
		r := NewRNG(11)
		var refSum, randSum float64
		reached := 0
		const n = 200
		for _, p := range tk.Prompts(Test, 0, n) {
			ref, err := tk.Reference(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(ref) > tk.Horizon() {
				t.Fatalf("%s: reference longer than the horizon", name)
			}
			g, _ := tk.Gold(p, ref)
			if fam, ok := tk.fam.(*summarize); ok && fam.p.Gold != "hidden_ref" {
				doc, _ := fam.doc(p)
				if want := float64(min(len(fam.items(doc)), tk.Horizon())); g != want {
					t.Fatalf("%s: gold(reference) = %v, want the item count %v", name, g, want)
				}
			}
			rc := make([]int32, 1+r.IntN(tk.Horizon()))
			for i := range rc {
				rc[i] = words[r.IntN(len(words))]
			}
			gr, _ := tk.Gold(p, rc)
			if gr >= g {
				reached++
			}
			refSum += g
			randSum += gr
		}
		refMean, randMean := refSum/n, randSum/n
		if randMean > refMean-0.5*math.Abs(refMean) || reached > n/100 {
			t.Fatalf("%s: random completions score %.3f (reference %.3f), %d reach the reference", name, randMean, refMean, reached)
		}
	}
}

func TestTeacherCacheMatchesRecomputation(t *testing.T) {
	tk := mustLoad(t, "mdp_teacher")
	m := tk.fam.(*tokenMDP)
	p := tk.Prompts(Train, 0, 1)[0]
	seq := append(append([]int32(nil), p...), encode(t, tk, "w03 w07 w01 w03")...)
	c := &teacherCache{}
	for i, id := range seq {
		cached := m.teacher.step(c, id)
		fresh := &teacherCache{}
		var lp []float64
		for _, x := range seq[:i+1] {
			lp = m.teacher.step(fresh, x)
		}
		sum := 0.0
		for j := range lp {
			if lp[j] != cached[j] {
				t.Fatalf("position %d word %d: cached %v, recomputed %v", i, j, cached[j], lp[j])
			}
			sum += math.Exp(lp[j])
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Fatalf("teacher distribution sums to %v", sum)
		}
	}
	// Gold is the summed log-likelihood of the same network.
	_, lp0 := m.teacher.prime(p)
	w3, _ := tk.Tokenizer().ID("w03")
	if g, _ := tk.Gold(p, []int32{w3}); math.Abs(g-(lp0[m.word(w3)]-7*m.p.LengthPenalty)) > 1e-12 {
		t.Fatalf("gold of one word = %v, want log p - 7 * length_penalty", g)
	}
}

func TestScriptParserMatchesEnumeration(t *testing.T) {
	// Ambiguous segments: "a" then "a a" or nothing, then "b" or "a b".
	s := Script{EOS: 1, Segments: []Segment{
		{Options: [][]int32{{5}, {}}, Probs: []float64{0.7, 0.3}},
		{Options: [][]int32{{5, 5}, {}, {6}}, Probs: []float64{0.2, 0.5, 0.3}},
		{Options: [][]int32{{6}, {5, 6}}, Probs: []float64{0.6, 0.4}},
	}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	// Exact probability of each output by enumerating decision vectors.
	exact := map[string]float64{}
	for i, o0 := range s.Segments[0].Options {
		for j, o1 := range s.Segments[1].Options {
			for k, o2 := range s.Segments[2].Options {
				var seq []int32
				seq = append(append(append(seq, o0...), o1...), o2...)
				exact[string(int32Bytes(seq))] += s.Segments[0].Probs[i] * s.Segments[1].Probs[j] * s.Segments[2].Probs[k]
			}
		}
	}
	total := 0.0
	for key, want := range exact {
		seq := make([]int32, len(key)/4)
		for i := range seq {
			seq[i] = int32(key[4*i])
		}
		got := math.Exp(s.LogProb(seq, true))
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("P(%v) = %v, want %v", seq, got, want)
		}
		total += got
	}
	if math.Abs(total-1) > 1e-12 {
		t.Fatalf("probabilities sum to %v", total)
	}
	// Every next-token distribution along a path sums to 1.
	p := s.NewParser()
	for _, tok := range []int32{5, 5, 6} {
		_, probs := p.Dist()
		sum := 0.0
		for _, q := range probs {
			sum += q
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Fatalf("next-token distribution sums to %v", sum)
		}
		p.Advance(tok)
	}
	if s.LogProb([]int32{6, 6, 6}, false) != math.Inf(-1) {
		t.Fatal("an impossible completion has finite log-probability")
	}
	// Sampling frequencies follow the exact probabilities.
	r := NewRNG(3)
	counts := map[string]int{}
	const n = 20000
	for i := 0; i < n; i++ {
		counts[string(int32Bytes(s.Sample(r)))]++
	}
	for key, want := range exact {
		got := float64(counts[key]) / n
		if sd := math.Sqrt(want * (1 - want) / n); math.Abs(got-want) > 5*sd {
			t.Errorf("sampled frequency %v, want %v ± %v", got, want, sd)
		}
	}
}

// TestDemoLikelihoodDoesNotVerify guards against pilot-b's trap: at the
// documented corruption rate of 0.5, every demonstration the process can
// write is equally likely, so an SFT policy that fits the demonstrator has a
// likelihood that says nothing about the gold reward; at rate 0.3 it would.
func TestDemoLikelihoodDoesNotVerify(t *testing.T) {
	for _, name := range PresetNames() {
		tk := mustLoad(t, name)
		if _, ok := tk.fam.(*paths); ok {
			continue // demonstrates the reference (rate 0): its one-segment script is checked in TestPathsDemoLikelihood
		}
		// sorted demonstrates at 0.3 on purpose (docs/tasks.md): at 0.5 no
		// demonstration is right often enough for a competent SFT policy. Its
		// script at 0.5 still has the equal-likelihood property checked here.
		// sorted_two_word keeps sorted's rate so the two differ only in horizon.
		want := 0.5
		if name == "sorted" || name == "sorted_two_word" {
			want = 0.3
		}
		if tk.DemoRate() != want {
			t.Fatalf("%s: documented demo rate %v, want %v", name, tk.DemoRate(), want)
		}
		r := NewRNG(4)
		goldValues := map[float64]bool{}
		agree, pairs := 0, 0
		var demoSum, refSum float64
		for _, p := range tk.Prompts(Train, 0, 150) {
			s, err := tk.DemoScript(p, 0.5)
			if err != nil {
				t.Fatal(err)
			}
			want := -float64(len(s.Segments)) * math.Ln2
			for i := 0; i < 4; i++ {
				d := s.Sample(r)
				if len(d) > tk.Horizon() {
					t.Fatalf("%s: demo longer than the horizon", name)
				}
				if lp := s.LogProb(d, true); math.Abs(lp-want) > 1e-9 {
					t.Fatalf("%s: demo %q has log-likelihood %v, want %v", name, tk.Decode(d), lp, want)
				}
				g, _ := tk.Gold(p, d)
				goldValues[g] = true
				demoSum += g
			}
			ref, _ := tk.Reference(p)
			g, _ := tk.Gold(p, ref)
			refSum += 4 * g
			// The same check can fail: at rate 0.3 likelihood ranks pairs.
			s3, _ := tk.DemoScript(p, 0.3)
			a, b := s3.Sample(r), s3.Sample(r)
			ga, _ := tk.Gold(p, a)
			gb, _ := tk.Gold(p, b)
			la, lb := s3.LogProb(a, true), s3.LogProb(b, true)
			if ga != gb && math.Abs(la-lb) > 1e-9 {
				pairs++
				if (ga > gb) == (la > lb) {
					agree++
				}
			}
		}
		if len(goldValues) < 3 || demoSum >= refSum {
			t.Fatalf("%s: demos have %d distinct gold values, mean %v vs reference %v", name, len(goldValues), demoSum/600, refSum/600)
		}
		if float64(agree) < 0.6*float64(pairs) {
			t.Fatalf("%s: at rate 0.3 likelihood agrees with gold on %d of %d pairs; the check has no power", name, agree, pairs)
		}
	}
}

func TestSortedGoldHandComputed(t *testing.T) {
	tk := mustLoad(t, "sorted,entities=48")
	prompt := encode(t, tk, "Paris met the old farmer . Bob saw Paris near Alice . TL;DR:")
	ref, err := tk.Reference(prompt)
	if err != nil || tk.Decode(ref) != "Alice Bob Paris" {
		t.Fatalf("reference = %q, %v; want the entities alphabetically", tk.Decode(ref), err)
	}
	cases := []struct {
		completion string
		want       float64
	}{
		{"Alice Bob Paris", 3},       // every item once, alphabetically
		{"Paris Bob Alice", 2},       // first-mention order: two descents
		{"Alice Paris Bob", 2.5},     // one descent (Bob after Paris)
		{"Alice Bob", 2},             // a missed item costs its hit
		{"Alice Alice Bob Paris", 2}, // a repeat costs what a hit earns
		{"Alice farmer Bob", 1.5},    // a non-item word between hits
		{"Alice Tokyo Bob Paris", 2}, // absent word
		{"", 0},
	}
	for _, c := range cases {
		if got := gold(t, tk, prompt, c.completion); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("gold(%q) = %v, want %v", c.completion, got, c.want)
		}
	}
	// Drop and duplicate are length-neutral on average: at any rate a kept
	// unit is 1 token and +1, a dropped one 0 tokens and 0, a duplicated one
	// 2 tokens and 0. With both kinds equally frequent, the demonstrator's
	// length and gold are uncorrelated; check the sample correlation is small.
	tk = mustLoad(t, "sorted")
	r := NewRNG(9)
	var n, sl, sg, sll, sgg, slg float64
	for _, p := range tk.Prompts(Train, 0, 2000) {
		sc, _ := tk.DemoScript(p, tk.DemoRate())
		d := sc.Sample(r)
		g, _ := tk.Gold(p, d)
		ref, _ := tk.Reference(p)
		l := float64(len(d) - len(ref)) // length relative to the reference
		n, sl, sg, sll, sgg, slg = n+1, sl+l, sg+g, sll+l*l, sgg+g*g, slg+l*g
	}
	corr := (slg/n - sl/n*sg/n) / math.Sqrt((sll/n-sl/n*sl/n)*(sgg/n-sg/n*sg/n))
	if math.Abs(corr) > 0.15 {
		t.Fatalf("sorted demonstrations: corr(length - reference length, gold) = %.3f, want |corr| <= 0.15", corr)
	}
}

func TestTokenizerAndMasks(t *testing.T) {
	for _, name := range PresetNames() {
		tk := mustLoad(t, name)
		w := tk.Tokenizer()
		if v := w.VocabSize(); v < 30 || v > 150 {
			t.Fatalf("%s: vocabulary of %d words", name, v)
		}
		mask := tk.AllowedOutput()
		if len(mask) != w.VocabSize() || !mask[w.EOS()] || mask[w.PAD()] || mask[2] {
			t.Fatalf("%s: mask EOS %v PAD %v UNK %v", name, mask[w.EOS()], mask[w.PAD()], mask[2])
		}
		p := tk.Prompts(Train, 0, 1)[0]
		if mask[p[len(p)-1]] {
			t.Fatalf("%s: the prompt separator is an allowed output", name)
		}
		mask[w.EOS()] = false // AllowedOutput returns a copy
		if !tk.AllowedOutput()[w.EOS()] {
			t.Fatalf("%s: AllowedOutput exposes internal state", name)
		}
		dir := t.TempDir()
		if err := tok.Save(dir, w); err != nil {
			t.Fatal(err)
		}
		back, err := tok.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		text := tk.Decode(p)
		again, err := back.Encode(text)
		if err != nil || !slices.Equal(again, p) {
			t.Fatalf("%s: prompt does not survive a tokenizer save/load: %v", name, err)
		}
	}
}

func TestConfigErrorsNameTheProblem(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cases := []struct{ spec, want string }{
		{"sumarize", `unknown preset "sumarize" (presets: hidden_ref, mdp_sparse`},
		{"summarize,horizn=8", `unknown field "horizn"`},
		{"summarize,horizon", `override "horizon" is not key=value`},
		{"summarize,seed=-1", `seed "-1" is not a non-negative integer`},
		{"summarize,horizon=abc", `horizon of type int`},
		{"summarize,gold=rouge", `params.gold = "rouge": want coverage, sorted or hidden_ref`},
		{"summarize,horizon=8", `demonstrations with "duplicate" reach 12 tokens`},
		{"summarize,corruptions=[\"drop\",\"swap\"]", `unknown kind "swap"`},
		{"mdp_sparse,teacher_heads=3", `want heads dividing d_model`},
		{"mdp_sparse,vocab=4,prompt_len=2", `only 16 distinct prompts`},
		{write("bad.json", `{"name":"x","family":"summarize","parms":{}}`), `unknown field "parms"`},
		{write("nofam.json", `{"name":"x"}`), `field "family" is missing`},
		{write("clash.json", `{"base":"summarize","family":"token_mdp"}`), `conflicts with base preset "summarize"`},
		{write("fam.json", `{"name":"x","family":"maze"}`), `unknown family "maze"`},
		{filepath.Join(dir, "missing.json"), `no such file`},
	}
	for _, c := range cases {
		_, err := Load(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%q) error = %v, want it to contain %q", c.spec, err, c.want)
		}
	}
	// A file with a base preset and a partial override works.
	tk := mustLoad(t, write("ok.json", `{"base":"summarize","seed":7,"params":{"items_max":4,"budget":4}}`))
	var p SummarizeParams
	if err := json.Unmarshal(tk.Config().Params, &p); err != nil || p.ItemsMax != 4 || p.Horizon != 12 || tk.Name() != "summarize" || tk.Config().Seed != 7 {
		t.Fatalf("resolved %+v seed %d, %v", p, tk.Config().Seed, err)
	}
}

// A task config file that starts with a UTF-8 byte-order mark loads like one
// without it.
func TestReadConfigAcceptsBOM(t *testing.T) {
	path := filepath.Join(t.TempDir(), "task.json")
	body := `{"name":"mine","base":"sorted","seed":2,"params":{"items_max":5}}`
	if err := os.WriteFile(path, append([]byte("\xEF\xBB\xBF"), body...), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ReadConfig(path)
	if err != nil {
		t.Fatalf("BOM config: %v", err)
	}
	if cfg.Name != "mine" || cfg.Seed != 2 {
		t.Fatalf("BOM config decoded as %+v", cfg)
	}
}
