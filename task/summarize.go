package task

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"roads/tok"
)

// SummarizeParams configures the summarize family (presets summarize,
// summarize_short, summarize_long, two_word, hidden_ref).
//
// A document is a few short sentences over a fixed grammar. Its salient items
// are the named entities it mentions (a visible word class), in order of first
// mention; some are mentioned again later. With gold "coverage" the reward is
// a per-token sum: +HitReward for each new item, -OrderPenalty when a new item
// comes before the previous one in the document, -RepeatPenalty for a repeated
// item, -ExtraPenalty for any other document word, -AbsentPenalty for a word
// not in the document, and -OverBudgetPenalty for every token past Budget.
// With gold "hidden_ref" the reward is ROUGE-L F1 against a hidden reference.
type SummarizeParams struct {
	// Gold is "coverage" (items in order of first mention), "sorted" (items in
	// alphabetical order: producing it needs a sort over the document, checking
	// it compares each hit with the previous one) or "hidden_ref" (verifier
	// needs the hidden reference: the gap is closed).
	Gold string `json:"gold"`
	// HiddenRule builds the hidden_ref reference: "priority" (the document's
	// content words ranked by a seeded hidden priority table, in that order)
	// or "random" (a seeded random choice and order per document).
	HiddenRule string `json:"hidden_rule"`
	// Entities is how many names (of 48) the vocabulary uses (seeded draw).
	Entities int `json:"entities"`
	// ItemsMin and ItemsMax bound the number of distinct entities per
	// document: the number of items a full summary must plan. This and
	// Budget/Horizon are the gap knob.
	ItemsMin int `json:"items_min"`
	ItemsMax int `json:"items_max"`
	// RecurProb is the probability that an entity is mentioned a second time.
	RecurProb float64 `json:"recur_prob"`
	// DocMin and DocMax bound the document length in tokens.
	DocMin int `json:"doc_min"`
	DocMax int `json:"doc_max"`
	// Budget is the summary length beyond which every token costs
	// OverBudgetPenalty.
	Budget int `json:"budget"`
	// Horizon is the hard cap on completion tokens (EOS forced after it).
	Horizon int `json:"horizon"`

	HitReward         float64 `json:"hit_reward"`
	OrderPenalty      float64 `json:"order_penalty"`
	RepeatPenalty     float64 `json:"repeat_penalty"`
	AbsentPenalty     float64 `json:"absent_penalty"`
	ExtraPenalty      float64 `json:"extra_penalty"`
	OverBudgetPenalty float64 `json:"over_budget_penalty"`

	// DemoCorruption is the probability that a demonstration replaces a
	// reference item by that item's corruption.
	DemoCorruption float64 `json:"demo_corruption"`
	// Corruptions are the corruption kinds; each word is assigned one kind by
	// a seeded hash: "drop" (omit it), "duplicate" (write it twice),
	// "neighbour" (write the next non-entity word after its first mention),
	// "hallucinate" (write a fixed look-alike absent from the document).
	Corruptions []string `json:"corruptions"`
	// LabelTemperature is the default Bradley–Terry temperature for labels.
	LabelTemperature float64 `json:"label_temperature"`
}

// DefaultSummarizeParams are the summarize preset's parameters.
func DefaultSummarizeParams() SummarizeParams {
	return SummarizeParams{
		Gold: "coverage", HiddenRule: "priority",
		Entities: 32, ItemsMin: 3, ItemsMax: 6, RecurProb: 0.5,
		DocMin: 24, DocMax: 60, Budget: 6, Horizon: 12,
		HitReward: 1, OrderPenalty: 0.5, RepeatPenalty: 1, AbsentPenalty: 1, ExtraPenalty: 0.5, OverBudgetPenalty: 0.5,
		DemoCorruption: 0.5, Corruptions: []string{"drop", "duplicate", "neighbour", "hallucinate"},
		LabelTemperature: 1,
	}
}

var (
	entityPool = []string{
		"Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Oscar",
		"Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Olga", "Pablo", "Quinn", "Yusuf", "Zara", "Nadia",
		"Paris", "Oslo", "Lima", "Cairo", "Delhi", "Quito", "Rome", "Tokyo", "Nairobi", "Berlin", "Dublin", "Madrid",
		"Nile", "Volga", "Amazon", "Danube", "Andes", "Alps", "Sahara", "Everest", "Kilimanjaro", "Atlas", "Gobi", "Ural",
	}
	detWords  = []string{"the", "a", "this", "that", "every", "some"}
	adjWords  = []string{"old", "new", "big", "small", "red", "quiet", "busy", "cold", "bright", "strange", "early", "late"}
	nounWords = []string{"farmer", "river", "letter", "market", "train", "garden", "doctor", "storm", "bridge", "song",
		"city", "report", "friend", "ship", "village", "road", "teacher", "wagon", "plan", "house"}
	verbWords = []string{"saw", "met", "found", "left", "built", "sold", "visited", "wrote", "lost", "praised",
		"followed", "painted", "crossed", "watched", "called", "signed"}
	prepWords = []string{"near", "with", "after", "before", "behind", "for", "under", "without"}
)

const (
	periodWord     = "."
	summarySepWord = "TL;DR:"
)

var corruptionKinds = []string{"drop", "duplicate", "neighbour", "hallucinate"}

type summarize struct {
	p    SummarizeParams
	seed uint64
	tk   *tok.Words

	entities                   []int32 // the task's entity ids
	isEntity, isContent        []bool  // by id; content = entity, adjective, noun or verb
	det, adj, noun, verb, prep []int32
	period, sep                int32
	allowedMask                []bool
	entityCycle                []int32 // seeded cyclic order of entities (hallucinations)
	contentCycle               []int32 // seeded cyclic order of content words
	cyclePos                   map[int32]int
	contentCyclePos            map[int32]int
	kind                       []string // corruption kind per id
	priority                   []int    // hidden_ref priority rank per id (lower = earlier)
	alpha                      []int    // alphabetical rank of each entity id among the task's entities (-1 otherwise)
}

func newSummarize(cfg Config) (*summarize, error) {
	p := DefaultSummarizeParams()
	if err := decodeParams(cfg.Params, &p); err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	s := &summarize{p: p, seed: cfg.Seed}

	// Vocabulary: fillers, then a seeded subset of entities in pool order,
	// then punctuation and the separator.
	pick := NewRNG(cfg.Seed, tagVocab).Perm(len(entityPool))[:p.Entities]
	sort.Ints(pick)
	var words []string
	words = append(words, detWords...)
	words = append(words, adjWords...)
	words = append(words, nounWords...)
	words = append(words, verbWords...)
	words = append(words, prepWords...)
	for _, i := range pick {
		words = append(words, entityPool[i])
	}
	words = append(words, periodWord, summarySepWord)
	tk, err := tok.NewWords(words)
	if err != nil {
		return nil, err
	}
	s.tk = tk
	id := func(w string) int32 { i, _ := tk.ID(w); return i }
	ids := func(ws []string) []int32 {
		out := make([]int32, len(ws))
		for i, w := range ws {
			out[i] = id(w)
		}
		return out
	}
	s.det, s.adj, s.noun, s.verb, s.prep = ids(detWords), ids(adjWords), ids(nounWords), ids(verbWords), ids(prepWords)
	for _, i := range pick {
		s.entities = append(s.entities, id(entityPool[i]))
	}
	s.period, s.sep = id(periodWord), id(summarySepWord)

	v := tk.VocabSize()
	s.isEntity = make([]bool, v)
	s.isContent = make([]bool, v)
	s.allowedMask = make([]bool, v)
	for _, e := range s.entities {
		s.isEntity[e] = true
		s.isContent[e] = true
	}
	for _, group := range [][]int32{s.adj, s.noun, s.verb} {
		for _, w := range group {
			s.isContent[w] = true
		}
	}
	for i := 3; i < v; i++ {
		s.allowedMask[i] = int32(i) != s.sep
	}
	s.allowedMask[tk.EOS()] = true

	// Seeded tables: corruption kind per word, hallucination cycles, hidden priority.
	s.kind = make([]string, v)
	for i := 3; i < v; i++ {
		s.kind[i] = p.Corruptions[Hash(cfg.Seed, tagKind, uint64(i))%uint64(len(p.Corruptions))]
	}
	cyc := NewRNG(cfg.Seed, tagCycle)
	for _, j := range cyc.Perm(len(s.entities)) {
		s.entityCycle = append(s.entityCycle, s.entities[j])
	}
	var content []int32
	for i := 3; i < v; i++ {
		if s.isContent[i] {
			content = append(content, int32(i))
		}
	}
	for _, j := range cyc.Perm(len(content)) {
		s.contentCycle = append(s.contentCycle, content[j])
	}
	s.cyclePos = map[int32]int{}
	for i, e := range s.entityCycle {
		s.cyclePos[e] = i
	}
	s.contentCyclePos = map[int32]int{}
	for i, w := range s.contentCycle {
		s.contentCyclePos[w] = i
	}
	s.alpha = make([]int, v)
	for i := range s.alpha {
		s.alpha[i] = -1
	}
	byName := slices.Clone(s.entities)
	slices.SortFunc(byName, func(a, b int32) int { return strings.Compare(tk.Token(a), tk.Token(b)) })
	for rank, e := range byName {
		s.alpha[e] = rank
	}
	s.priority = make([]int, v)
	for rank, j := range NewRNG(cfg.Seed, tagHidden).Perm(len(content)) {
		s.priority[content[j]] = rank
	}
	return s, nil
}

func (p SummarizeParams) validate() error {
	switch {
	case p.Gold != "coverage" && p.Gold != "sorted" && p.Gold != "hidden_ref":
		return fmt.Errorf("params.gold = %q: want coverage, sorted or hidden_ref", p.Gold)
	case p.HiddenRule != "priority" && p.HiddenRule != "random":
		return fmt.Errorf("params.hidden_rule = %q: want priority or random", p.HiddenRule)
	case p.ItemsMin < 1 || p.ItemsMax < p.ItemsMin:
		return fmt.Errorf("params.items_min = %d, items_max = %d: want 1 <= items_min <= items_max", p.ItemsMin, p.ItemsMax)
	case p.Entities <= p.ItemsMax || p.Entities > len(entityPool):
		return fmt.Errorf("params.entities = %d: want items_max < entities <= %d", p.Entities, len(entityPool))
	case p.RecurProb < 0 || p.RecurProb > 1:
		return fmt.Errorf("params.recur_prob = %v: want a probability", p.RecurProb)
	case p.DocMin < 4 || p.DocMax < p.DocMin+8:
		return fmt.Errorf("params.doc_min = %d, doc_max = %d: want doc_min >= 4 and doc_max >= doc_min+8", p.DocMin, p.DocMax)
	case p.DocMax < 4*p.ItemsMax+4:
		return fmt.Errorf("params.doc_max = %d: documents must hold all mentions; want doc_max >= 4*items_max+4 = %d", p.DocMax, 4*p.ItemsMax+4)
	case p.DocMax > 254:
		return fmt.Errorf("params.doc_max = %d: want at most 254", p.DocMax)
	case p.Budget < 1:
		return fmt.Errorf("params.budget = %d: want >= 1", p.Budget)
	case p.Horizon < 1 || p.Horizon > 64:
		return fmt.Errorf("params.horizon = %d: want 1..64", p.Horizon)
	case p.HitReward <= 0:
		return fmt.Errorf("params.hit_reward = %v: want > 0", p.HitReward)
	case p.OrderPenalty < 0 || p.RepeatPenalty < 0 || p.AbsentPenalty < 0 || p.ExtraPenalty < 0 || p.OverBudgetPenalty < 0:
		return fmt.Errorf("params: penalties must be >= 0")
	case p.OverBudgetPenalty >= p.HitReward:
		return fmt.Errorf("params.over_budget_penalty = %v: want < hit_reward (%v) so that covering every item stays optimal", p.OverBudgetPenalty, p.HitReward)
	case p.DemoCorruption < 0 || p.DemoCorruption > 1:
		return fmt.Errorf("params.demo_corruption = %v: want a probability", p.DemoCorruption)
	case p.LabelTemperature < 0:
		return fmt.Errorf("params.label_temperature = %v: want >= 0", p.LabelTemperature)
	case len(p.Corruptions) == 0:
		return fmt.Errorf("params.corruptions is empty: want some of %v", corruptionKinds)
	}
	seen := map[string]bool{}
	for _, c := range p.Corruptions {
		if !slices.Contains(corruptionKinds, c) {
			return fmt.Errorf("params.corruptions: unknown kind %q (want some of %v)", c, corruptionKinds)
		}
		if seen[c] {
			return fmt.Errorf("params.corruptions: %q listed twice", c)
		}
		seen[c] = true
	}
	longest := min(p.ItemsMax, p.Horizon)
	if seen["duplicate"] && 2*longest > p.Horizon {
		return fmt.Errorf("params.horizon = %d: demonstrations with \"duplicate\" reach %d tokens; raise horizon or drop that corruption", p.Horizon, 2*longest)
	}
	return nil
}

func (s *summarize) tokenizer() *tok.Words     { return s.tk }
func (s *summarize) allowed() []bool           { return s.allowedMask }
func (s *summarize) horizon() int              { return s.p.Horizon }
func (s *summarize) maxPromptLen() int         { return s.p.DocMax + 1 }
func (s *summarize) demoRate() float64         { return s.p.DemoCorruption }
func (s *summarize) labelTemperature() float64 { return s.p.LabelTemperature }
func (s *summarize) params() any               { return s.p }

// genPrompt writes a document: sentences "NP verb NP [prep NP] ." whose noun
// phrases are either an entity mention or "det [adj] noun". The mention list
// (first mentions in item order, recurrences later) is spread over randomly
// chosen NP slots, so items appear in order of first mention.
func (s *summarize) genPrompt(r *RNG) []int32 {
	k := r.IntRange(s.p.ItemsMin, s.p.ItemsMax)
	var mentions []int32
	for _, j := range r.Perm(len(s.entities))[:k] {
		mentions = append(mentions, s.entities[j])
	}
	// Insert recurrences after each entity's first mention.
	firsts := append([]int32(nil), mentions...)
	for _, e := range firsts {
		if r.Bernoulli(s.p.RecurProb) {
			at := slices.Index(mentions, e)
			pos := r.IntRange(at+1, len(mentions))
			mentions = slices.Insert(mentions, pos, e)
		}
	}
	m := len(mentions)
	for attempt := 0; attempt < 100000; attempt++ {
		target := r.IntRange(s.p.DocMin, s.p.DocMax)
		// Skeleton: slots per sentence, grown until the expected length
		// (mention = 1 token, common NP = 2.5, verb/prep/period = 1 each)
		// reaches the target and there are enough NP slots.
		var slots []int
		total := 0
		for {
			est := 0.0
			for _, n := range slots {
				est += float64(n) // verb, optional prep, period
			}
			est += float64(m) + 2.5*float64(total-m)
			if total >= m && est >= float64(target) {
				break
			}
			n := 2
			if r.Bernoulli(0.5) {
				n = 3
			}
			slots = append(slots, n)
			total += n
		}
		isMention := make([]bool, total)
		for _, j := range r.Perm(total)[:m] {
			isMention[j] = true
		}
		doc := make([]int32, 0, s.p.DocMax+1)
		slot, next := 0, 0
		np := func() {
			if isMention[slot] {
				doc = append(doc, mentions[next])
				next++
			} else {
				doc = append(doc, s.det[r.IntN(len(s.det))])
				if r.Bernoulli(0.5) {
					doc = append(doc, s.adj[r.IntN(len(s.adj))])
				}
				doc = append(doc, s.noun[r.IntN(len(s.noun))])
			}
			slot++
		}
		for _, n := range slots {
			np()
			doc = append(doc, s.verb[r.IntN(len(s.verb))])
			np()
			if n == 3 {
				doc = append(doc, s.prep[r.IntN(len(s.prep))])
				np()
			}
			doc = append(doc, s.period)
		}
		if len(doc) >= s.p.DocMin && len(doc) <= s.p.DocMax {
			return append(doc, s.sep)
		}
	}
	panic("task: summarize could not generate a document within doc_min..doc_max (validate should prevent this)")
}

// doc checks the prompt layout and returns the document part.
func (s *summarize) doc(prompt []int32) ([]int32, error) {
	if prompt[len(prompt)-1] != s.sep {
		return nil, fmt.Errorf("summarize prompt must end with %q", summarySepWord)
	}
	doc := prompt[:len(prompt)-1]
	if i := slices.Index(doc, s.sep); i >= 0 {
		return nil, fmt.Errorf("summarize prompt has %q inside the document (position %d)", summarySepWord, i)
	}
	return doc, nil
}

// items are the document's distinct entities in order of first mention.
func (s *summarize) items(doc []int32) []int32 {
	var out []int32
	for _, w := range doc {
		if s.isEntity[w] && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// refLen is how many reference units a document's summary has.
func (s *summarize) refLen(doc []int32) int {
	return min(len(s.items(doc)), s.p.Horizon)
}

func (s *summarize) reference(prompt []int32) ([]int32, error) {
	doc, err := s.doc(prompt)
	if err != nil {
		return nil, err
	}
	if s.p.Gold == "hidden_ref" {
		return s.hiddenRef(doc), nil
	}
	return s.orderedItems(doc)[:s.refLen(doc)], nil
}

// orderedItems are the document's distinct entities in the order the gold
// reward wants them: first mention (coverage) or alphabetical (sorted).
func (s *summarize) orderedItems(doc []int32) []int32 {
	items := s.items(doc)
	if s.p.Gold == "sorted" {
		slices.SortFunc(items, func(a, b int32) int { return s.alpha[a] - s.alpha[b] })
	}
	return items
}

// hiddenRef is the hidden_ref reference: refLen of the document's distinct
// content words, chosen and ordered by the hidden rule.
func (s *summarize) hiddenRef(doc []int32) []int32 {
	var cand []int32
	for _, w := range doc {
		if s.isContent[w] && !slices.Contains(cand, w) {
			cand = append(cand, w)
		}
	}
	n := min(s.refLen(doc), len(cand))
	if s.p.HiddenRule == "random" {
		h := Hash(s.seed, tagHidden)
		for _, w := range doc {
			h = Hash(h, uint64(w))
		}
		r := NewRNG(h)
		out := make([]int32, n)
		for i, j := range r.Perm(len(cand))[:n] {
			out[i] = cand[j]
		}
		return out
	}
	sort.SliceStable(cand, func(a, b int) bool { return s.priority[cand[a]] < s.priority[cand[b]] })
	return cand[:n]
}

func (s *summarize) gold(prompt, completion []int32) (float64, error) {
	doc, err := s.doc(prompt)
	if err != nil {
		return 0, err
	}
	if s.p.Gold == "hidden_ref" {
		return RougeL(completion, s.hiddenRef(doc)).F1, nil
	}
	rank := map[int32]int{}
	for i, e := range s.orderedItems(doc) {
		rank[e] = i
	}
	inDoc := map[int32]bool{}
	for _, w := range doc {
		inDoc[w] = true
	}
	p := s.p
	r := 0.0
	seen := map[int32]bool{}
	lastRank := -1
	for t, y := range completion {
		if rk, isItem := rank[y]; isItem {
			if seen[y] {
				r -= p.RepeatPenalty
			} else {
				seen[y] = true
				r += p.HitReward
				if rk < lastRank {
					r -= p.OrderPenalty
				}
				lastRank = rk
			}
		} else if inDoc[y] {
			r -= p.ExtraPenalty
		} else {
			r -= p.AbsentPenalty
		}
		if t >= p.Budget {
			r -= p.OverBudgetPenalty
		}
	}
	return r, nil
}

func (s *summarize) script(prompt []int32, rate float64) (Script, error) {
	ref, err := s.reference(prompt)
	if err != nil {
		return Script{}, err
	}
	doc := prompt[:len(prompt)-1]
	inRef := map[int32]bool{}
	for _, w := range ref {
		inRef[w] = true
	}
	sc := Script{EOS: s.tk.EOS()}
	for _, w := range ref {
		if rate == 0 {
			sc.Segments = append(sc.Segments, Segment{Options: [][]int32{{w}}, Probs: []float64{1}})
			continue
		}
		var bad []int32
		switch s.kind[w] {
		case "drop":
			bad = []int32{}
		case "duplicate":
			bad = []int32{w, w}
		case "neighbour":
			bad = []int32{s.neighbour(doc, w, inRef)}
		case "hallucinate":
			bad = []int32{s.hallucination(doc, w)}
		}
		if rate == 1 {
			sc.Segments = append(sc.Segments, Segment{Options: [][]int32{bad}, Probs: []float64{1}})
			continue
		}
		sc.Segments = append(sc.Segments, Segment{Options: [][]int32{{w}, bad}, Probs: []float64{1 - rate, rate}})
	}
	return sc, nil
}

// neighbour is the first document word after w's first mention that is not
// an entity, not a reference word and not punctuation (searching backwards
// when there is none after it).
func (s *summarize) neighbour(doc []int32, w int32, inRef map[int32]bool) int32 {
	at := slices.Index(doc, w)
	ok := func(x int32) bool { return !s.isEntity[x] && !inRef[x] && x != s.period }
	for j := at + 1; j < len(doc); j++ {
		if ok(doc[j]) {
			return doc[j]
		}
	}
	for j := at - 1; j >= 0; j-- {
		if ok(doc[j]) {
			return doc[j]
		}
	}
	return s.det[0] // unreachable for generated documents (every sentence has a verb)
}

// hallucination is the next word after w, in a seeded cyclic order over
// words of w's class (entities for coverage, content words for hidden_ref),
// that the document does not contain.
func (s *summarize) hallucination(doc []int32, w int32) int32 {
	cycle, pos := s.entityCycle, s.cyclePos
	if s.p.Gold == "hidden_ref" || !s.isEntity[w] {
		cycle, pos = s.contentCycle, s.contentCyclePos
	}
	at := pos[w]
	for step := 1; step < len(cycle); step++ {
		c := cycle[(at+step)%len(cycle)]
		if !slices.Contains(doc, c) {
			return c
		}
	}
	return s.det[0] // unreachable: the document cannot hold every word of the class
}

func (s *summarize) gap() string {
	if s.p.Gold == "hidden_ref" {
		return fmt.Sprintf("hidden_ref (gap closed): gold is ROUGE-L F1 against a per-document reference of %d..%d content words "+
			"chosen and ordered by a hidden %s rule. Scoring a summary needs that reference, i.e. the same knowledge as writing "+
			"the best summary, so the verifier is no simpler than the generator.", s.p.ItemsMin, min(s.p.ItemsMax, s.p.Horizon), s.p.HiddenRule)
	}
	if s.p.Gold == "sorted" && s.p.Horizon <= 2 {
		return fmt.Sprintf("sorted_two_word (gap closed by horizon): at most %d tokens, and missed entities cost nothing, so any %d "+
			"entities of the document in alphabetical order score the maximum: writing one is the verifier's own check "+
			"(an entity, then a later-sorting entity); generating is as easy as verifying.", s.p.Horizon, s.p.Horizon)
	}
	if s.p.Gold == "sorted" {
		return fmt.Sprintf("sorted (gap open): the gold reward is a sum of per-token checks (is this word an entity of the document? "+
			"seen before? alphabetically before the previous hit? past the budget of %d?): one lookup per token plus one comparison "+
			"of two names. The best completion is the document's %d..%d entities in alphabetical order: a sort over the whole "+
			"document, re-done at every step (the smallest uncovered entity after the last one written), then stop. Knob: "+
			"items_min/items_max with budget and horizon; horizon 2 or gold hidden_ref closes it.", s.p.Budget, s.p.ItemsMin, s.p.ItemsMax)
	}
	if s.p.Horizon <= 2 {
		return fmt.Sprintf("two_word (gap closed by horizon): at most %d tokens, so the best completion is the first %d entities, "+
			"found by the same per-token lookup the verifier uses; generating is as easy as verifying.", s.p.Horizon, s.p.Horizon)
	}
	return fmt.Sprintf("summarize (gap open): the gold reward is a sum of per-token checks (is this word an entity of the document? "+
		"seen before? before the previous hit? past the budget of %d?), one lookup per token. The best completion must plan "+
		"%d..%d items: each entity once, in order of first mention, then stop. Knob: items_min/items_max with budget and horizon "+
		"(more items = longer plan = bigger gap); horizon 2 (two_word) or gold hidden_ref closes it.", s.p.Budget, s.p.ItemsMin, s.p.ItemsMax)
}
