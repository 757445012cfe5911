package model

import (
	"errors"
	"fmt"
	"math"
	"time"

	"roads/engine"
)

// GenerateOptions control sampling.
type GenerateOptions struct {
	MaxNewTokens int
	// Temperature divides the logits before sampling; 0 means greedy (argmax,
	// lowest id on ties, no randomness used).
	Temperature float64
	// TopK keeps only the K most likely tokens (ties broken towards lower ids);
	// 0 keeps all.
	TopK int
	// LogitMask, if set, is added to the logits before sampling ([vocab_size];
	// use -Inf to forbid a token). The PAD token (pad_token_id ≥ 0, unless it
	// equals eos_token_id) is always forbidden.
	LogitMask []float32
	// IgnoreEOS keeps sampling after eos_token_id. By default a row stops once
	// it has emitted EOS.
	IgnoreEOS bool
	// RNG supplies the randomness: row i samples from its own stream, the i-th
	// RNG.Split() (so a row's tokens do not depend on the other rows).
	// RowRNGs, if set, gives the streams directly (one per prompt).
	RNG     *engine.RNG
	RowRNGs []*engine.RNG
}

// Generation holds sampled completions, right-padded to MaxNew: entry
// i·MaxNew+t is the t-th new token of row i. After a row's end (EOS emitted or
// budget spent) tokens are PAD (0 when the config has none) and log-probs 0.
type Generation struct {
	B, MaxNew int
	Tokens    []int32
	// LogProbs are log π(a_t | s_t) under the model's own distribution at
	// temperature 1, without LogitMask or top-k: the quantity a Forward pass on
	// prompt+completion reproduces, and what KL penalties and DPO-style losses
	// compare against a reference model.
	LogProbs []float32
	// SampleLogProbs are the log-probabilities under the distribution actually
	// sampled from (temperature, top-k and mask applied); 0 for greedy.
	SampleLogProbs []float32
	Lengths        []int  // new tokens per row, including the EOS if emitted
	EOS            []bool // the row ended by emitting EOS
}

// Row returns row i's completion (without padding).
func (g *Generation) Row(i int) []int32 { return g.Tokens[i*g.MaxNew : i*g.MaxNew+g.Lengths[i]] }

// Batch joins prompts and completions into a Batch (PromptLen = prompt
// lengths), ready for a Forward pass that rescoring or training needs.
func (g *Generation) Batch(prompts [][]int32) Batch {
	b := Batch{Tokens: make([][]int32, g.B), PromptLen: make([]int, g.B)}
	for i, p := range prompts {
		b.Tokens[i] = append(append(make([]int32, 0, len(p)+g.Lengths[i]), p...), g.Row(i)...)
		b.PromptLen[i] = len(p)
	}
	return b
}

// kvCache holds the keys and values of every layer for S sequences of up to
// P positions ([S, P, D] per layer, slot t = position t), plus the buffers of
// one inference step. Rows carry their own positions, so prompts of different
// lengths need no padding and never mask anything.
type kvCache struct {
	S, P   int
	k, v   [][]float32
	kvBuf  []float32
	ar     arena
	x, ln  []float32
	mean   []float32
	rstd   []float32
	qkv    []float32
	att    []float32
	ff     []float32
	hin    []float32
	logits []float32
	seq    []int32
	pos    []int32
	tok    []int32

	lastPrefill time.Duration // wall time of the last Generate's prefill (benchmarks)
}

func (m *Model) kvReserve(S, P, rows int) *kvCache {
	c := m.cfg
	D, F, V, L := c.DModel, c.DFF, c.VocabSize, c.NLayer
	kc := m.kv
	if kc == nil {
		kc = &kvCache{}
		m.kv = kc
	}
	kc.S, kc.P = S, P
	need := 2 * L * S * P * D
	if cap(kc.kvBuf) < need {
		kc.kvBuf = make([]float32, need)
	}
	kc.k, kc.v = kc.k[:0], kc.v[:0]
	for l := 0; l < L; l++ {
		kc.k = append(kc.k, kc.kvBuf[(2*l)*S*P*D:(2*l+1)*S*P*D])
		kc.v = append(kc.v, kc.kvBuf[(2*l+1)*S*P*D:(2*l+2)*S*P*D])
	}
	kc.ar.reset(rows*(6*D+2+F) + S*(D+V))
	a := &kc.ar
	kc.x, kc.ln, kc.mean, kc.rstd = a.take(rows*D), a.take(rows*D), a.take(rows), a.take(rows)
	kc.qkv, kc.att, kc.ff = a.take(3*rows*D), a.take(rows*D), a.take(rows*F)
	kc.hin, kc.logits = a.take(S*D), a.take(S*V)
	kc.seq, kc.pos, kc.tok = growInt32(kc.seq, rows), growInt32(kc.pos, rows), growInt32(kc.tok, rows)
	return kc
}

// kvForward runs n rows (sequence kc.seq[r], position kc.pos[r], token
// kc.tok[r]) through the model, appending their keys and values to the cache,
// and writes the logits of the rows listed in headRows (all rows when nil) to
// kc.logits. Within a call, rows of the same sequence may be several
// consecutive positions (a prompt): every layer stores all keys before
// attending.
func (m *Model) kvForward(kc *kvCache, n int, headRows []int32) {
	c := m.cfg
	D, F, V, P := c.DModel, c.DFF, c.VocabSize, kc.P
	eps := float32(c.LayerNormEps)
	seq, pos := kc.seq[:n], kc.pos[:n]
	x, ln, mean, rstd := kc.x[:n*D], kc.ln[:n*D], kc.mean[:n], kc.rstd[:n]
	qkv, att, ff := kc.qkv[:3*n*D], kc.att[:n*D], kc.ff[:n*F]
	rot := m.rotary()
	engine.EmbeddingForward(x, kc.tok[:n], pos, m.w.wte, m.w.wpe, D)
	for l := range m.w.layers {
		w := &m.w.layers[l]
		K, Vc := kc.k[l], kc.v[l]
		engine.LayerNormForward(ln, mean, rstd, x, w.ln1W, w.ln1B, n, D, eps)
		engine.LinearForward(qkv, ln, w.qkvW, w.qkvB, n, D, 3*D)
		rot.Forward(qkv, pos, n, D, c.NHead) // the cache holds rotated keys
		for r := 0; r < n; r++ {
			slot := (int(seq[r])*P + int(pos[r])) * D
			copy(K[slot:slot+D], qkv[r*3*D+D:r*3*D+2*D])
			copy(Vc[slot:slot+D], qkv[r*3*D+2*D:r*3*D+3*D])
		}
		engine.AttentionCached(att, qkv, K, Vc, seq, pos, P, D, c.NHead)
		if c.UseParallelResidual { // LN2 of the block input, before attention is added
			engine.LayerNormForward(ln, mean, rstd, x, w.ln2W, w.ln2B, n, D, eps)
			engine.LinearResidualForward(x, x, att, w.oW, w.oB, n, D, D)
		} else {
			engine.LinearResidualForward(x, x, att, w.oW, w.oB, n, D, D)
			engine.LayerNormForward(ln, mean, rstd, x, w.ln2W, w.ln2B, n, D, eps)
		}
		engine.LinearForward(ff, ln, w.fcInW, w.fcInB, n, D, F)
		if c.Activation == "gelu" {
			engine.ErfGeluForward(ff, ff)
		} else {
			engine.GeluForward(ff, ff)
		}
		engine.LinearResidualForward(x, x, ff, w.fcOutW, w.fcOutB, n, F, D)
	}
	engine.LayerNormForward(ln, mean, rstd, x, m.w.lnfW, m.w.lnfB, n, D, eps)
	hin, S := ln, n
	if headRows != nil {
		S = len(headRows)
		hin = kc.hin[:S*D]
		for s, r := range headRows {
			copy(hin[s*D:s*D+D], ln[int(r)*D:int(r)*D+D])
		}
	}
	engine.LinearForward(kc.logits[:S*V], hin, m.w.headW, m.w.headB, S, D, V)
}

// Generate samples up to MaxNewTokens tokens after each prompt, batched with a
// KV cache. Prompts may have different lengths (each row keeps its own
// positions). Each prompt plus its completion must fit the position table:
// len(prompt) + MaxNewTokens ≤ n_positions + 1 (the last token is never fed
// back). Results are a function of the weights, prompts, options and RNG state.
func (m *Model) Generate(prompts [][]int32, opt GenerateOptions) (*Generation, error) {
	c := m.cfg
	V := c.VocabSize
	B := len(prompts)
	switch {
	case c.Head != "lm":
		return nil, errors.New("generate: the model has a scalar head, not an LM head")
	case B == 0:
		return nil, errors.New("generate: no prompts")
	case opt.MaxNewTokens <= 0:
		return nil, fmt.Errorf("generate: max_new_tokens must be positive, got %d", opt.MaxNewTokens)
	case !(opt.Temperature >= 0) || math.IsInf(opt.Temperature, 0):
		return nil, fmt.Errorf("generate: temperature must be finite and ≥ 0, got %g", opt.Temperature)
	case opt.TopK < 0:
		return nil, fmt.Errorf("generate: top_k must be ≥ 0, got %d", opt.TopK)
	case opt.LogitMask != nil && len(opt.LogitMask) != V:
		return nil, fmt.Errorf("generate: logit mask has %d entries, want vocab_size %d", len(opt.LogitMask), V)
	case opt.RowRNGs != nil && len(opt.RowRNGs) != B:
		return nil, fmt.Errorf("generate: %d row RNGs for %d prompts", len(opt.RowRNGs), B)
	case opt.Temperature > 0 && opt.RowRNGs == nil && opt.RNG == nil:
		return nil, errors.New("generate: sampling (temperature > 0) needs an RNG")
	}
	maxLen, total := 0, 0
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("generate: prompt %d is empty", i)
		}
		if len(p)+opt.MaxNewTokens > c.NPositions+1 {
			return nil, fmt.Errorf("generate: prompt %d has %d tokens; with max_new_tokens %d that exceeds n_positions %d + 1", i, len(p), opt.MaxNewTokens, c.NPositions)
		}
		for t, id := range p {
			if id < 0 || int(id) >= V {
				return nil, fmt.Errorf("generate: prompt %d, position %d: token %d outside [0, vocab_size %d)", i, t, id, V)
			}
		}
		maxLen = max(maxLen, len(p))
		total += len(p)
	}
	mask := make([]float32, V)
	if opt.LogitMask != nil {
		copy(mask, opt.LogitMask)
	}
	if c.PadTokenID >= 0 && c.PadTokenID != c.EOSTokenID {
		mask[c.PadTokenID] = float32(math.Inf(-1))
	}
	allowed := 0
	for _, v := range mask {
		if !math.IsInf(float64(v), -1) {
			allowed++
		}
	}
	if allowed == 0 {
		return nil, errors.New("generate: the logit mask forbids every token")
	}
	rngs := opt.RowRNGs
	if rngs == nil && opt.Temperature > 0 {
		rngs = make([]*engine.RNG, B)
		for i := range rngs {
			rngs[i] = opt.RNG.Split()
		}
	}

	N := opt.MaxNewTokens
	padID := int32(max(c.PadTokenID, 0))
	g := &Generation{
		B: B, MaxNew: N,
		Tokens: make([]int32, B*N), LogProbs: make([]float32, B*N), SampleLogProbs: make([]float32, B*N),
		Lengths: make([]int, B), EOS: make([]bool, B),
	}
	for i := range g.Tokens {
		g.Tokens[i] = padID
	}

	// Prefill: every prompt token is a row; logits only at each prompt's end.
	prefillStart := time.Now()
	kc := m.kvReserve(B, maxLen+N-1, max(total, B))
	headRows := make([]int32, B)
	n := 0
	for i, p := range prompts {
		for t, id := range p {
			kc.seq[n], kc.pos[n], kc.tok[n] = int32(i), int32(t), id
			n++
		}
		headRows[i] = int32(n - 1)
	}
	m.kvForward(kc, n, headRows)
	kc.lastPrefill = time.Since(prefillStart)

	active := make([]int32, B) // rows still generating, in row order
	for i := range active {
		active[i] = int32(i)
	}
	chosen := make([]int32, B)
	logp, lse := make([]float32, B), make([]float32, B)
	scratch := make([]float32, B*V)
	temp := float32(opt.Temperature)
	for step := 0; ; step++ {
		A := len(active)
		logits := kc.logits[:A*V]
		engine.ParallelFor(A, 4, func(lo, hi int) {
			for k := lo; k < hi; k++ {
				i := active[k]
				var u float64
				if temp > 0 {
					u = rngs[i].Float64()
				}
				tok, slp := sampleToken(logits[k*V:k*V+V], mask, temp, opt.TopK, u, scratch[k*V:k*V+V])
				chosen[k] = tok
				g.SampleLogProbs[int(i)*N+step] = slp
			}
		})
		engine.LogSoftmaxGather(logp[:A], nil, lse[:A], logits, chosen[:A], A, V)
		next := active[:0]
		n = 0
		for k, i := range active {
			g.Tokens[int(i)*N+step] = chosen[k]
			g.LogProbs[int(i)*N+step] = logp[k]
			g.Lengths[i] = step + 1
			if chosen[k] == int32(c.EOSTokenID) && !opt.IgnoreEOS {
				g.EOS[i] = true
				continue
			}
			if step+1 < N {
				next = append(next, i)
				kc.seq[n], kc.pos[n], kc.tok[n] = i, int32(len(prompts[i])+step), chosen[k]
				n++
			}
		}
		active = next
		if len(active) == 0 {
			break
		}
		m.kvForward(kc, n, nil)
	}
	return g, nil
}

// sampleToken draws a token from softmax((logits + mask)/temp) restricted to
// the top k, by inverting the cumulative distribution (in id order) at u ∈
// [0,1); temp 0 takes the argmax. It returns the token and its log-probability
// under that distribution (0 for greedy). z is scratch of the vocabulary size.
func sampleToken(logits, mask []float32, temp float32, topK int, u float64, z []float32) (int32, float32) {
	V := len(logits)
	for k, v := range logits {
		z[k] = v + mask[k]
	}
	if temp == 0 {
		best := 0
		for k, v := range z {
			if v > z[best] {
				best = k
			}
		}
		return int32(best), 0
	}
	for k := range z {
		z[k] /= temp
	}
	negInf := float32(math.Inf(-1))
	if topK > 0 && topK < V {
		thr, ties := kthLargest(z, topK)
		for k, v := range z {
			switch {
			case v > thr:
			case v == thr && ties > 0:
				ties--
			default:
				z[k] = negInf
			}
		}
	}
	mx := negInf
	for _, v := range z {
		mx = max(mx, v)
	}
	var sum float64
	for k, v := range z {
		e := engine.Expf(v - mx)
		z[k] = e
		sum += float64(e)
	}
	target := u * sum
	var cum float64
	tok := -1
	for k, e := range z {
		if e == 0 {
			continue
		}
		tok = k
		cum += float64(e)
		if cum > target {
			break
		}
	}
	return int32(tok), float32(math.Log(float64(z[tok]) / sum))
}

// kthLargest returns the k-th largest value of z and how many entries equal
// to it fit in the top k (the others being strictly larger).
func kthLargest(z []float32, k int) (float32, int) {
	// A min-heap of the k largest values seen so far.
	h := make([]float32, 0, k)
	for _, v := range z {
		if len(h) < k {
			h = append(h, v)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if h[p] <= h[i] {
					break
				}
				h[p], h[i] = h[i], h[p]
				i = p
			}
			continue
		}
		if v <= h[0] {
			continue
		}
		h[0] = v
		for i := 0; ; {
			l, r, s := 2*i+1, 2*i+2, i
			if l < k && h[l] < h[s] {
				s = l
			}
			if r < k && h[r] < h[s] {
				s = r
			}
			if s == i {
				break
			}
			h[i], h[s] = h[s], h[i]
			i = s
		}
	}
	thr := h[0]
	greater := 0
	for _, v := range z {
		if v > thr {
			greater++
		}
	}
	return thr, k - greater
}
