package task

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	"roads/tok"
)

// MDPParams configures the token_mdp family (presets mdp_sparse and
// mdp_teacher): abstract token MDPs for controlled sweeps. A prompt is
// PromptLen random words then ">"; a completion should be Horizon words.
//
// reward "sparse": r = Σ_t [U(t, y_t) + B(y_{t-1}, y_t) + Σ_j C(x_j, y_t)], a
// k-sparse linear function of the completion's position-word, bigram and
// prompt-pair counts (a simple verifier: each term needs only the position,
// the previous word and the prompt); the optimum needs Viterbi planning over
// the horizon. Bigram weights are scaled by BigramScale so that chains of
// bigrams, which only pay off several steps later, dominate myopic choices.
//
// reward "teacher": r = Σ_t log p_T(y_t | x, y_<t) for a random teacher
// transformer of the policy's size (no gap: the verifier is a generator).
//
// Both subtract LengthPenalty per token of |len(y) - Horizon|; tokens past
// the horizon are not scored otherwise.
type MDPParams struct {
	Reward    string `json:"reward"`
	Vocab     int    `json:"vocab"`
	PromptLen int    `json:"prompt_len"`
	Horizon   int    `json:"horizon"`
	// LengthPenalty is charged per token of |len(completion) - horizon|.
	LengthPenalty float64 `json:"length_penalty"`

	// Sparse reward: how many non-zero position-word (of horizon×vocab),
	// bigram (of vocab², self-bigrams excluded) and prompt-pair (of vocab²)
	// weights; magnitudes uniform in [WeightMin, WeightMax] (bigrams times
	// BigramScale), positive with probability PositiveFrac.
	KUnigram     int     `json:"k_unigram"`
	KBigram      int     `json:"k_bigram"`
	KPair        int     `json:"k_pair"`
	BigramScale  float64 `json:"bigram_scale"`
	WeightMin    float64 `json:"weight_min"`
	WeightMax    float64 `json:"weight_max"`
	PositiveFrac float64 `json:"positive_frac"`

	// Teacher reward: a pre-LN transformer with random weights. Set its size
	// to the policy's. LogitStd sets how peaked its next-token distributions
	// are; Beam is the beam width used to find the reference.
	TeacherDModel   int     `json:"teacher_d_model"`
	TeacherLayers   int     `json:"teacher_layers"`
	TeacherHeads    int     `json:"teacher_heads"`
	TeacherLogitStd float64 `json:"teacher_logit_std"`
	Beam            int     `json:"beam"`

	// DemoCorruption is the probability that a demonstration replaces a
	// reference token by its fixed look-alike (a seeded derangement).
	DemoCorruption   float64 `json:"demo_corruption"`
	LabelTemperature float64 `json:"label_temperature"`
}

// DefaultMDPParams are the token_mdp family defaults (the mdp_sparse preset).
func DefaultMDPParams() MDPParams {
	return MDPParams{
		Reward: "sparse", Vocab: 32, PromptLen: 4, Horizon: 8, LengthPenalty: 1,
		KUnigram: 32, KBigram: 48, KPair: 128, BigramScale: 2, WeightMin: 0.5, WeightMax: 1.5, PositiveFrac: 0.5,
		TeacherDModel: 64, TeacherLayers: 2, TeacherHeads: 4, TeacherLogitStd: 3, Beam: 8,
		DemoCorruption: 0.5, LabelTemperature: 1,
	}
}

const mdpSepWord = ">"

type tokenMDP struct {
	p           MDPParams
	tk          *tok.Words
	first       int32 // id of word 0; words are first..first+Vocab-1
	sep         int32
	allowedMask []bool
	alt         []int // demo corruption: word index -> look-alike word index

	// sparse reward tables, indexed by position and word index
	uni      [][]float64 // [t][y]
	bi, pair [][]float64 // [prev][y], [x][y]

	teacher *teacher
	// refCache memoises teacher references (a beam search costs milliseconds).
	refMu    sync.Mutex
	refCache map[string][]int32
}

const maxRefCache = 1 << 17

func newTokenMDP(cfg Config) (*tokenMDP, error) {
	p := DefaultMDPParams()
	if err := decodeParams(cfg.Params, &p); err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	format := "w%02d"
	if p.Vocab > 100 {
		format = "w%03d"
	}
	words := make([]string, p.Vocab)
	for i := range words {
		words[i] = fmt.Sprintf(format, i)
	}
	tk, err := tok.NewWords(append(words, mdpSepWord))
	if err != nil {
		return nil, err
	}
	m := &tokenMDP{p: p, tk: tk, first: 3, sep: int32(3 + p.Vocab)}
	m.allowedMask = make([]bool, tk.VocabSize())
	for i := 0; i < p.Vocab; i++ {
		m.allowedMask[m.first+int32(i)] = true
	}
	m.allowedMask[tk.EOS()] = true

	cyc := NewRNG(cfg.Seed, tagCycle).Perm(p.Vocab)
	m.alt = make([]int, p.Vocab)
	for j, w := range cyc {
		m.alt[w] = cyc[(j+1)%len(cyc)]
	}

	switch p.Reward {
	case "sparse":
		r := NewRNG(cfg.Seed, tagWeights)
		weight := func() float64 {
			w := p.WeightMin + (p.WeightMax-p.WeightMin)*r.Float64()
			if !r.Bernoulli(p.PositiveFrac) {
				w = -w
			}
			return w
		}
		v, h := p.Vocab, p.Horizon
		m.uni = make([][]float64, h)
		for t := range m.uni {
			m.uni[t] = make([]float64, v)
		}
		for _, f := range r.Perm(h * v)[:p.KUnigram] {
			m.uni[f/v][f%v] = weight()
		}
		m.bi = make([][]float64, v)
		m.pair = make([][]float64, v)
		for i := range m.bi {
			m.bi[i] = make([]float64, v)
			m.pair[i] = make([]float64, v)
		}
		// Bigrams only go "up" a seeded order of the words, so the bigram
		// graph has no cycles: a completion cannot farm one rewarding cycle,
		// and the best one depends on the prompt and on planning a chain.
		rank := r.Perm(v)
		placed := 0
		for _, f := range r.Perm(v * v) {
			if placed == p.KBigram {
				break
			}
			if rank[f/v] < rank[f%v] {
				m.bi[f/v][f%v] = p.BigramScale * weight()
				placed++
			}
		}
		for _, f := range r.Perm(v * v)[:p.KPair] {
			m.pair[f/v][f%v] = weight()
		}
	case "teacher":
		outs := make([]int32, p.Vocab)
		for i := range outs {
			outs[i] = m.first + int32(i)
		}
		m.teacher = newTeacher(NewRNG(cfg.Seed, tagTeacher), tk.VocabSize(), outs, p.PromptLen+1+p.Horizon+1,
			p.TeacherDModel, p.TeacherLayers, p.TeacherHeads, p.TeacherLogitStd)
	}
	return m, nil
}

func (p MDPParams) validate() error {
	switch {
	case p.Reward != "sparse" && p.Reward != "teacher":
		return fmt.Errorf("params.reward = %q: want sparse or teacher", p.Reward)
	case p.Vocab < 2 || p.Vocab > 999:
		return fmt.Errorf("params.vocab = %d: want 2..999", p.Vocab)
	case p.PromptLen < 1 || p.PromptLen > 63:
		return fmt.Errorf("params.prompt_len = %d: want 1..63", p.PromptLen)
	case math.Pow(float64(p.Vocab), float64(p.PromptLen)) < 1000:
		return fmt.Errorf("params.vocab = %d, prompt_len = %d: only %.0f distinct prompts; want at least 1000 so every split has prompts",
			p.Vocab, p.PromptLen, math.Pow(float64(p.Vocab), float64(p.PromptLen)))
	case p.Horizon < 1 || p.Horizon > 64:
		return fmt.Errorf("params.horizon = %d: want 1..64", p.Horizon)
	case p.LengthPenalty < 0:
		return fmt.Errorf("params.length_penalty = %v: want >= 0", p.LengthPenalty)
	case p.TeacherDModel < 1 || p.TeacherHeads < 1 || p.TeacherDModel%p.TeacherHeads != 0:
		return fmt.Errorf("params.teacher_d_model = %d, teacher_heads = %d: want heads dividing d_model", p.TeacherDModel, p.TeacherHeads)
	case p.TeacherLayers < 1:
		return fmt.Errorf("params.teacher_layers = %d: want >= 1", p.TeacherLayers)
	case p.TeacherLogitStd <= 0:
		return fmt.Errorf("params.teacher_logit_std = %v: want > 0", p.TeacherLogitStd)
	case p.Beam < 1:
		return fmt.Errorf("params.beam = %d: want >= 1", p.Beam)
	case p.DemoCorruption < 0 || p.DemoCorruption > 1:
		return fmt.Errorf("params.demo_corruption = %v: want a probability", p.DemoCorruption)
	case p.LabelTemperature < 0:
		return fmt.Errorf("params.label_temperature = %v: want >= 0", p.LabelTemperature)
	}
	if p.Reward != "sparse" {
		return nil
	}
	switch {
	case p.KUnigram < 0 || p.KUnigram > p.Horizon*p.Vocab:
		return fmt.Errorf("params.k_unigram = %d: want 0..horizon*vocab", p.KUnigram)
	case p.KBigram < 0 || p.KBigram > p.Vocab*(p.Vocab-1)/2:
		return fmt.Errorf("params.k_bigram = %d: want 0..vocab*(vocab-1)/2", p.KBigram)
	case p.KPair < 0 || p.KPair > p.Vocab*p.Vocab:
		return fmt.Errorf("params.k_pair = %d: want 0..vocab²", p.KPair)
	case p.BigramScale < 0:
		return fmt.Errorf("params.bigram_scale = %v: want >= 0", p.BigramScale)
	case p.WeightMin < 0 || p.WeightMax < p.WeightMin:
		return fmt.Errorf("params.weight_min = %v, weight_max = %v: want 0 <= min <= max", p.WeightMin, p.WeightMax)
	case p.PositiveFrac < 0 || p.PositiveFrac > 1:
		return fmt.Errorf("params.positive_frac = %v: want a probability", p.PositiveFrac)
	}
	return nil
}

func (m *tokenMDP) tokenizer() *tok.Words     { return m.tk }
func (m *tokenMDP) allowed() []bool           { return m.allowedMask }
func (m *tokenMDP) horizon() int              { return m.p.Horizon }
func (m *tokenMDP) maxPromptLen() int         { return m.p.PromptLen + 1 }
func (m *tokenMDP) demoRate() float64         { return m.p.DemoCorruption }
func (m *tokenMDP) labelTemperature() float64 { return m.p.LabelTemperature }
func (m *tokenMDP) params() any               { return m.p }

func (m *tokenMDP) genPrompt(r *RNG) []int32 {
	out := make([]int32, m.p.PromptLen+1)
	for i := 0; i < m.p.PromptLen; i++ {
		out[i] = m.first + int32(r.IntN(m.p.Vocab))
	}
	out[m.p.PromptLen] = m.sep
	return out
}

// word maps an id to its word index, or -1 for ids that are not words.
func (m *tokenMDP) word(id int32) int {
	if i := int(id - m.first); i >= 0 && i < m.p.Vocab {
		return i
	}
	return -1
}

// context checks the prompt and returns its word indices.
func (m *tokenMDP) context(prompt []int32) ([]int, error) {
	if len(prompt) != m.p.PromptLen+1 || prompt[len(prompt)-1] != m.sep {
		return nil, fmt.Errorf("token_mdp prompt must be %d words followed by %q", m.p.PromptLen, mdpSepWord)
	}
	x := make([]int, m.p.PromptLen)
	for i, id := range prompt[:m.p.PromptLen] {
		if x[i] = m.word(id); x[i] < 0 {
			return nil, fmt.Errorf("token_mdp prompt position %d is not a word", i)
		}
	}
	return x, nil
}

// lengthCost is the penalty for a completion of n tokens.
func (m *tokenMDP) lengthCost(n int) float64 {
	return m.p.LengthPenalty * math.Abs(float64(n-m.p.Horizon))
}

// score is the sparse per-token score of word y at position t after word
// prev (prev = -1 at the first position or after a non-word), given the
// prompt's pair bonus for each word.
func (m *tokenMDP) score(t, prev, y int, pairBonus []float64) float64 {
	s := m.uni[t][y] + pairBonus[y]
	if prev >= 0 {
		s += m.bi[prev][y]
	}
	return s
}

// pairBonus is Σ_j C(x_j, y) for every word y.
func (m *tokenMDP) pairBonus(x []int) []float64 {
	b := make([]float64, m.p.Vocab)
	for y := range b {
		for _, xi := range x {
			b[y] += m.pair[xi][y]
		}
	}
	return b
}

func (m *tokenMDP) gold(prompt, completion []int32) (float64, error) {
	x, err := m.context(prompt)
	if err != nil {
		return 0, err
	}
	if m.teacher != nil {
		return m.teacher.score(prompt, completion[:min(len(completion), m.p.Horizon)]) - m.lengthCost(len(completion)), nil
	}
	bonus := m.pairBonus(x)
	r, prev := 0.0, -1
	for t, id := range completion {
		if t >= m.p.Horizon {
			break
		}
		y := m.word(id)
		if y >= 0 {
			r += m.score(t, prev, y, bonus)
		}
		prev = y
	}
	return r - m.lengthCost(len(completion)), nil
}

func (m *tokenMDP) reference(prompt []int32) ([]int32, error) {
	x, err := m.context(prompt)
	if err != nil {
		return nil, err
	}
	if m.teacher != nil {
		key := string(int32Bytes(prompt))
		m.refMu.Lock()
		ref, ok := m.refCache[key]
		m.refMu.Unlock()
		if !ok {
			ref = m.teacher.beamSearch(prompt, m.p.Horizon, m.p.Beam, m.lengthCost)
			m.refMu.Lock()
			if m.refCache == nil || len(m.refCache) >= maxRefCache {
				m.refCache = map[string][]int32{}
			}
			m.refCache[key] = ref
			m.refMu.Unlock()
		}
		return append([]int32(nil), ref...), nil
	}
	// Viterbi over (position, last word): best[t][y] is the best score of a
	// t+1-word completion ending in y; every length 0..H is a candidate.
	bonus := m.pairBonus(x)
	v, h := m.p.Vocab, m.p.Horizon
	best := make([][]float64, h)
	from := make([][]int, h)
	for t := range best {
		best[t] = make([]float64, v)
		from[t] = make([]int, v)
		for y := 0; y < v; y++ {
			if t == 0 {
				best[t][y], from[t][y] = m.score(0, -1, y, bonus), -1
				continue
			}
			best[t][y] = math.Inf(-1)
			for prev := 0; prev < v; prev++ {
				if c := best[t-1][prev] + m.score(t, prev, y, bonus); c > best[t][y] {
					best[t][y], from[t][y] = c, prev
				}
			}
		}
	}
	bestLen, bestEnd, bestTotal := 0, -1, -m.lengthCost(0)
	for n := h; n >= 1; n-- { // prefer the full length on ties
		for y := 0; y < v; y++ {
			if c := best[n-1][y] - m.lengthCost(n); c > bestTotal {
				bestLen, bestEnd, bestTotal = n, y, c
			}
		}
	}
	out := make([]int32, bestLen)
	for t, y := bestLen-1, bestEnd; t >= 0; t-- {
		out[t] = m.first + int32(y)
		y = from[t][y]
	}
	return out, nil
}

func (m *tokenMDP) script(prompt []int32, rate float64) (Script, error) {
	ref, err := m.reference(prompt)
	if err != nil {
		return Script{}, err
	}
	sc := Script{EOS: m.tk.EOS()}
	for _, id := range ref {
		bad := m.first + int32(m.alt[m.word(id)])
		switch rate {
		case 0:
			sc.Segments = append(sc.Segments, Segment{Options: [][]int32{{id}}, Probs: []float64{1}})
		case 1:
			sc.Segments = append(sc.Segments, Segment{Options: [][]int32{{bad}}, Probs: []float64{1}})
		default:
			sc.Segments = append(sc.Segments, Segment{Options: [][]int32{{id}, {bad}}, Probs: []float64{1 - rate, rate}})
		}
	}
	return sc, nil
}

func (m *tokenMDP) gap() string {
	if m.teacher != nil {
		return fmt.Sprintf("mdp_teacher (no gap): the reward is the log-likelihood of a random %d-layer, d_model %d transformer; "+
			"verifying a completion takes the same network as generating the best one, so a verifier is no simpler than a policy. "+
			"Set teacher_d_model/teacher_layers/teacher_heads to the policy's size.", m.p.TeacherLayers, m.p.TeacherDModel)
	}
	return fmt.Sprintf("mdp_sparse (gap open): the reward is a sum of per-token terms from %d unigram, %d bigram and %d prompt-pair "+
		"weights (a k-sparse linear verifier: one look at the previous token and the prompt), while the best completion of %d "+
		"words needs Viterbi planning through the bigram chain. Knobs: horizon (1-2 closes the gap) and k_* (denser = harder verifier).",
		m.p.KUnigram, m.p.KBigram, m.p.KPair, m.p.Horizon)
}

func int32Bytes(ids []int32) []byte {
	b := make([]byte, 4*len(ids))
	for i, id := range ids {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(id))
	}
	return b
}
