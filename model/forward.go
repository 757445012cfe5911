package model

import (
	"errors"
	"fmt"

	"roads/engine"
)

// Batch is a set of sequences of any lengths (right-padded internally).
// Sequence i is a prompt, its first PromptLen[i] tokens, followed by a
// response, the rest. PromptLen may be nil (no prompts: every token is
// response).
type Batch struct {
	Tokens    [][]int32
	PromptLen []int
}

// ForwardOptions selects what an LM forward pass scores.
type ForwardOptions struct {
	// ScoreAll scores every token after the first (plain language-model loss)
	// instead of only the response tokens.
	ScoreAll bool
}

// Output holds the results of a forward pass. Per-token arrays are [B·T], T
// the longest sequence, with entry i·T+t for token t of sequence i (zero at
// padding and at unscored tokens); per-sequence arrays are [B]. The slices are
// owned by the model and overwritten by its next Forward: copy what you keep.
type Output struct {
	B, T      int
	Lens      []int // tokens in each sequence
	PromptLen []int

	// LM head. Token t ≥ 1 of sequence i is scored when it is a response token
	// (t ≥ PromptLen[i]) or, with ScoreAll, always.
	Mask       []float32 // 1 at scored tokens, else 0
	LogProbs   []float32 // log π(tok_t | tok_<t) at scored tokens
	Entropy    []float32 // entropy of π(· | tok_<t) at scored tokens, in nats
	SeqLogProb []float64 // Σ_t Mask·LogProbs per sequence (float64 sums, in token order)
	NumScored  []int     // scored tokens per sequence

	// Scalar head. Scores are per token (the head applied to the final hidden
	// state after reading token t, all t < Lens[i]); Readout is one value per
	// sequence (Config.ScalarReadout) and Mask marks the response tokens.
	Scores  []float32
	Readout []float64
}

// layerActs are the activations of one block that its backward pass needs.
type layerActs struct {
	ln1, ln1Mean, ln1Rstd []float32
	qkv                   []float32 // [n, 3D]: q | k | v
	probs                 []float32 // [B, H, T, T]
	att                   []float32 // attention output before o_proj
	resMid                []float32 // residual stream after attention
	ln2, ln2Mean, ln2Rstd []float32
	gelu                  []float32 // [n, F] GELU output
	geluGrad              []float32 // [n, F] GELU derivative at fc_in's output
}

// workspace holds one forward pass over B right-padded rows of T positions
// (n = B·T). Buffers are carved from arenas that only grow, so steady-state
// steps allocate nothing.
type workspace struct {
	lm       bool
	B, T, n  int
	tOut     int
	tokens   []int32 // [n] input ids (padding → pad id or 0)
	pos      []int32 // [n] positions
	lens     []int   // [B] valid input rows per sequence
	res      [][]float32
	layers   []layerActs
	lnf      []float32
	lnfMean  []float32
	lnfRstd  []float32
	headRows []int32 // LM: rows of lnf fed to the head
	targets  []int32 // LM: the token each head row predicts
	outIdx   []int   // LM: index i·T+t in Output of each head row
	headIn   []float32
	logits   []float32
	lse      []float32
	logp     []float32
	ent      []float32
	scores   []float32 // scalar head, [n]

	// backward buffers
	dres, dln, datt, dqkv, dff []float32
	dln2                       []float32 // parallel residual: LN2's output gradient
	dheadIn, dlogits           []float32
	dlogp, dent, dscore        []float32

	out   Output
	fwd   arena
	bwd   arena
	valid bool // a forward pass is stored
}

// arena hands out consecutive slices of one grow-only buffer.
type arena struct {
	buf  []float32
	used int
}

func (a *arena) reset(need int) {
	if cap(a.buf) < need {
		a.buf = make([]float32, need+need/4)
	}
	a.used = 0
}

func (a *arena) take(n int) []float32 {
	s := a.buf[a.used : a.used+n : a.used+n]
	a.used += n
	return s
}

func growInt32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n, n+n/4)
	}
	return s[:n]
}

func growInt(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n, n+n/4)
	}
	return s[:n]
}

func growF64(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n, n+n/4)
	}
	return s[:n]
}

// Forward runs the model on a batch and returns per-token and per-sequence
// results (see Output). The activations are kept for Backward.
func (m *Model) Forward(b Batch, opt ForwardOptions) (*Output, error) {
	if m.ws == nil {
		m.ws = &workspace{}
	}
	ws := m.ws
	ws.valid = false
	if err := m.prepare(ws, b, opt); err != nil {
		return nil, err
	}
	m.trunkForward(ws)
	if ws.lm {
		m.lmHeadForward(ws)
	} else if err := m.scalarHeadForward(ws); err != nil {
		return nil, err
	}
	ws.valid = true
	return &ws.out, nil
}

// prepare validates the batch, sizes the buffers and lays the tokens out as
// B rows of T input positions.
func (m *Model) prepare(ws *workspace, b Batch, opt ForwardOptions) error {
	c := m.cfg
	B := len(b.Tokens)
	if B == 0 {
		return errors.New("forward: empty batch")
	}
	if b.PromptLen != nil && len(b.PromptLen) != B {
		return fmt.Errorf("forward: %d prompt lengths for %d sequences", len(b.PromptLen), B)
	}
	ws.lm = c.Head == "lm"
	// The LM head never needs the hidden state after the last token (it would
	// predict beyond the sequence), so LM rows hold len−1 inputs.
	drop, limit := 0, c.NPositions
	if ws.lm {
		drop, limit = 1, c.NPositions+1
	}
	T, tOut := 1, 0
	for i, row := range b.Tokens {
		if len(row) == 0 {
			return fmt.Errorf("forward: sequence %d is empty", i)
		}
		if len(row) > limit {
			return fmt.Errorf("forward: sequence %d has %d tokens, more than the model's limit %d (n_positions %d)", i, len(row), limit, c.NPositions)
		}
		for t, id := range row {
			if id < 0 || int(id) >= c.VocabSize {
				return fmt.Errorf("forward: sequence %d, position %d: token %d outside [0, vocab_size %d)", i, t, id, c.VocabSize)
			}
		}
		if b.PromptLen != nil && (b.PromptLen[i] < 0 || b.PromptLen[i] > len(row)) {
			return fmt.Errorf("forward: sequence %d: prompt length %d outside [0, %d]", i, b.PromptLen[i], len(row))
		}
		T = max(T, len(row)-drop)
		tOut = max(tOut, len(row))
	}
	n := B * T
	ws.B, ws.T, ws.n, ws.tOut = B, T, n, tOut
	D, F, H, L := c.DModel, c.DFF, c.NHead, c.NLayer

	ws.tokens, ws.pos = growInt32(ws.tokens, n), growInt32(ws.pos, n)
	ws.lens = growInt(ws.lens, B)
	padID := int32(max(c.PadTokenID, 0))
	for i, row := range b.Tokens {
		in := len(row) - drop
		ws.lens[i] = in
		for t := 0; t < T; t++ {
			ws.pos[i*T+t] = int32(t)
			if t < in {
				ws.tokens[i*T+t] = row[t]
			} else {
				ws.tokens[i*T+t] = padID
			}
		}
	}

	// Output bookkeeping.
	o := &ws.out
	o.B, o.T = B, tOut
	o.Lens, o.PromptLen = growInt(o.Lens, B), growInt(o.PromptLen, B)
	for i, row := range b.Tokens {
		o.Lens[i] = len(row)
		o.PromptLen[i] = 0
		if b.PromptLen != nil {
			o.PromptLen[i] = b.PromptLen[i]
		}
	}
	S := 0
	if ws.lm {
		ws.headRows, ws.targets, ws.outIdx = ws.headRows[:0], ws.targets[:0], ws.outIdx[:0]
		for i, row := range b.Tokens {
			start := max(1, o.PromptLen[i])
			if opt.ScoreAll {
				start = 1
			}
			for t := start; t < len(row); t++ {
				ws.headRows = append(ws.headRows, int32(i*T+t-1))
				ws.targets = append(ws.targets, row[t])
				ws.outIdx = append(ws.outIdx, i*tOut+t)
			}
		}
		S = len(ws.headRows)
	} else if c.ScalarReadout == "mean" {
		for i, row := range b.Tokens {
			if o.PromptLen[i] == len(row) {
				return fmt.Errorf("forward: sequence %d has no response tokens for scalar_readout \"mean\"", i)
			}
		}
	}

	need := L*(5*n*D+3*n*D+4*n+2*n*F+B*H*T*T) + (L+1)*n*D + n*D + 2*n + 4*B*tOut
	if ws.lm {
		need += S*D + S*c.VocabSize + 3*S
	} else {
		need += n
	}
	ws.fwd.reset(need)
	a := &ws.fwd
	ws.res = ws.res[:0]
	for l := 0; l <= L; l++ {
		ws.res = append(ws.res, a.take(n*D))
	}
	ws.layers = ws.layers[:0]
	for l := 0; l < L; l++ {
		ws.layers = append(ws.layers, layerActs{
			ln1: a.take(n * D), ln1Mean: a.take(n), ln1Rstd: a.take(n),
			qkv: a.take(3 * n * D), probs: a.take(B * H * T * T), att: a.take(n * D),
			resMid: a.take(n * D), ln2: a.take(n * D), ln2Mean: a.take(n), ln2Rstd: a.take(n),
			gelu: a.take(n * F), geluGrad: a.take(n * F),
		})
	}
	ws.lnf, ws.lnfMean, ws.lnfRstd = a.take(n*D), a.take(n), a.take(n)
	if ws.lm {
		ws.headIn, ws.logits = a.take(S*D), a.take(S*c.VocabSize)
		ws.lse, ws.logp, ws.ent = a.take(S), a.take(S), a.take(S)
		ws.scores = nil
	} else {
		ws.scores = a.take(n)
	}
	o.Mask, o.LogProbs, o.Entropy, o.Scores = a.take(B*tOut), a.take(B*tOut), a.take(B*tOut), a.take(B*tOut)
	clear(o.Mask)
	clear(o.LogProbs)
	clear(o.Entropy)
	clear(o.Scores)
	o.SeqLogProb, o.Readout = growF64(o.SeqLogProb, B), growF64(o.Readout, B)
	o.NumScored = growInt(o.NumScored, B)
	clear(o.SeqLogProb)
	clear(o.Readout)
	clear(o.NumScored)
	return nil
}

// trunkForward runs embeddings, the blocks and the final LayerNorm:
//
//	x = wte[tok] + wpe[pos]                               (rotary models: x = wte[tok])
//	x = x + o_proj(attn(q,k,v projections of LN1(x)))     per block; rotary models rotate q, k
//	x = x + fc_out(gelu(fc_in(LN2(x))))
//	h = LN_f(x)
//
// With use_parallel_residual (GPT-NeoX) a block is x + attn(LN1(x)) +
// mlp(LN2(x)): LN2 reads the block's input, not the stream after attention.
func (m *Model) trunkForward(ws *workspace) {
	c := m.cfg
	n, D, F := ws.n, c.DModel, c.DFF
	eps := float32(c.LayerNormEps)
	rot := m.rotary()
	engine.EmbeddingForward(ws.res[0], ws.tokens[:n], ws.pos[:n], m.w.wte, m.w.wpe, D)
	for l := range ws.layers {
		a, w := &ws.layers[l], &m.w.layers[l]
		engine.LayerNormForward(a.ln1, a.ln1Mean, a.ln1Rstd, ws.res[l], w.ln1W, w.ln1B, n, D, eps)
		engine.LinearForward(a.qkv, a.ln1, w.qkvW, w.qkvB, n, D, 3*D)
		rot.Forward(a.qkv, ws.pos[:n], n, D, c.NHead)
		engine.AttentionForward(a.att, a.probs, a.qkv, ws.lens, ws.B, ws.T, D, c.NHead)
		engine.LinearResidualForward(a.resMid, ws.res[l], a.att, w.oW, w.oB, n, D, D)
		mlpIn := a.resMid
		if c.UseParallelResidual {
			mlpIn = ws.res[l]
		}
		engine.LayerNormForward(a.ln2, a.ln2Mean, a.ln2Rstd, mlpIn, w.ln2W, w.ln2B, n, D, eps)
		engine.LinearForward(a.geluGrad, a.ln2, w.fcInW, nil, n, D, F) // fc_in's bias is added by the GELU
		m.biasGelu(a.gelu, a.geluGrad, a.geluGrad, w.fcInB, n, F)
		engine.LinearResidualForward(ws.res[l+1], a.resMid, a.gelu, w.fcOutW, w.fcOutB, n, F, D)
	}
	engine.LayerNormForward(ws.lnf, ws.lnfMean, ws.lnfRstd, ws.res[len(ws.layers)], m.w.lnfW, m.w.lnfB, n, D, eps)
}

// lmHeadForward computes log π and the entropy at the scored tokens: the head
// runs only on the rows that predict them.
func (m *Model) lmHeadForward(ws *workspace) {
	D, V := m.cfg.DModel, m.cfg.VocabSize
	S := len(ws.headRows)
	o := &ws.out
	if S == 0 {
		return
	}
	engine.ParallelFor(S, 64, func(lo, hi int) {
		for s := lo; s < hi; s++ {
			r := int(ws.headRows[s])
			copy(ws.headIn[s*D:s*D+D], ws.lnf[r*D:r*D+D])
		}
	})
	engine.LinearForward(ws.logits, ws.headIn, m.w.headW, m.w.headB, S, D, V)
	engine.LogSoftmaxGather(ws.logp, ws.ent, ws.lse, ws.logits, ws.targets, S, V)
	for s, k := range ws.outIdx {
		o.Mask[k] = 1
		o.LogProbs[k] = ws.logp[s]
		o.Entropy[k] = ws.ent[s]
		i := k / o.T
		o.SeqLogProb[i] += float64(ws.logp[s])
		o.NumScored[i]++
	}
}

// scalarHeadForward computes a score per token and the per-sequence readout.
func (m *Model) scalarHeadForward(ws *workspace) error {
	D, T := m.cfg.DModel, ws.T
	o := &ws.out
	engine.LinearForward(ws.scores, ws.lnf, m.w.headW, m.w.headB, ws.n, D, 1)
	for i := 0; i < ws.B; i++ {
		L, P := ws.lens[i], o.PromptLen[i]
		for t := 0; t < L; t++ {
			o.Scores[i*o.T+t] = ws.scores[i*T+t]
			if t >= P {
				o.Mask[i*o.T+t] = 1
			}
		}
		switch m.cfg.ScalarReadout {
		case "last":
			o.Readout[i] = float64(ws.scores[i*T+m.lastNonPad(ws, i)])
		case "sum", "mean":
			var s float64
			for t := P; t < L; t++ {
				s += float64(ws.scores[i*T+t])
			}
			if m.cfg.ScalarReadout == "mean" {
				s /= float64(L - P)
			}
			o.Readout[i] = s
		}
	}
	return nil
}

// lastNonPad is the position the "last" readout scores in row i: the last
// token that is not pad_token_id, as Hugging Face's sequence classifiers
// read it (with GPT-2's pad = EOS that is the token before a final EOS); the
// first token when every token is PAD.
func (m *Model) lastNonPad(ws *workspace, i int) int {
	t := ws.lens[i] - 1
	if pad := int32(m.cfg.PadTokenID); pad >= 0 {
		for t > 0 && ws.tokens[i*ws.T+t] == pad {
			t--
		}
	}
	return t
}

// rotary is the model's rotary embedding (Dims 0, a no-op, for learned
// positions).
func (m *Model) rotary() engine.Rotary {
	return engine.Rotary{Dims: m.cfg.RotaryDims(), Base: m.cfg.RotaryEmbBase}
}

// biasGelu is the MLP activation with fc_in's bias folded in, returning its
// derivative too (grad may alias x).
func (m *Model) biasGelu(out, grad, x, bias []float32, n, cols int) {
	if m.cfg.Activation == "gelu" {
		engine.BiasErfGeluForwardGrad(out, grad, x, bias, n, cols)
		return
	}
	engine.BiasGeluForwardGrad(out, grad, x, bias, n, cols)
}

func (m *Model) backwardReady(lm bool) (*workspace, error) {
	if m.Frozen() {
		return nil, errors.New("backward: model is frozen (no gradient buffers)")
	}
	ws := m.ws
	if ws == nil || !ws.valid {
		return nil, errors.New("backward: no forward pass to differentiate")
	}
	if ws.lm != lm {
		if lm {
			return nil, errors.New("backward: Backward needs an LM head; use BackwardScalar for head \"scalar\"")
		}
		return nil, errors.New("backward: BackwardScalar needs head \"scalar\"; use Backward for an LM head")
	}
	c := m.cfg
	n, D, F, S := ws.n, c.DModel, c.DFF, len(ws.headRows)
	ws.bwd.reset(7*n*D + n*F + S*D + S*c.VocabSize + 2*S + n)
	a := &ws.bwd
	ws.dres, ws.dln, ws.datt, ws.dqkv, ws.dff = a.take(n*D), a.take(n*D), a.take(n*D), a.take(3*n*D), a.take(n*F)
	ws.dln2 = nil
	if c.UseParallelResidual {
		ws.dln2 = a.take(n * D)
	}
	ws.dheadIn, ws.dlogits = a.take(S*D), a.take(S*c.VocabSize)
	ws.dlogp, ws.dent, ws.dscore = a.take(S), a.take(S), a.take(n)
	return ws, nil
}

// Backward accumulates into the gradients the derivative of a loss whose
// gradient with respect to the last forward's Output.LogProbs is dLogProbs
// and, optionally, with respect to Output.Entropy is dEntropy (nil: the loss
// does not depend on the entropy). Both are [B·T] like the outputs; entries at
// unscored tokens are ignored. For a per-sequence loss on SeqLogProb, pass its
// gradient at every scored token of the sequence.
func (m *Model) Backward(dLogProbs, dEntropy []float32) error {
	ws, err := m.backwardReady(true)
	if err != nil {
		return err
	}
	o := &ws.out
	if len(dLogProbs) != o.B*o.T || (dEntropy != nil && len(dEntropy) != o.B*o.T) {
		return fmt.Errorf("backward: gradients have %d and %d entries, want B·T = %d", len(dLogProbs), len(dEntropy), o.B*o.T)
	}
	c := m.cfg
	D, V, S := c.DModel, c.VocabSize, len(ws.headRows)
	var dent []float32
	for s, k := range ws.outIdx {
		ws.dlogp[s] = dLogProbs[k]
	}
	if dEntropy != nil {
		dent = ws.dent
		for s, k := range ws.outIdx {
			dent[s] = dEntropy[k]
		}
	}
	dlnf := ws.dln
	clear(dlnf)
	if S > 0 {
		engine.LogSoftmaxGatherBackward(ws.dlogits, ws.logits, ws.lse, ws.ent, ws.targets, ws.dlogp, dent, S, V)
		engine.LinearBackward(ws.dheadIn, m.g.headW, m.g.headB, ws.dlogits, ws.headIn, m.w.headW, S, D, V, false)
		engine.ParallelFor(S, 64, func(lo, hi int) {
			for s := lo; s < hi; s++ {
				r := int(ws.headRows[s])
				copy(dlnf[r*D:r*D+D], ws.dheadIn[s*D:s*D+D])
			}
		})
	}
	m.trunkBackward(ws, dlnf)
	return nil
}

// BackwardScalar accumulates into the gradients the derivative of a loss with
// gradient dReadout [B] on Output.Readout and/or dScores [B·T] on
// Output.Scores (either may be nil; dScores entries past a sequence's end are
// ignored).
func (m *Model) BackwardScalar(dReadout []float64, dScores []float32) error {
	ws, err := m.backwardReady(false)
	if err != nil {
		return err
	}
	o := &ws.out
	if dReadout != nil && len(dReadout) != o.B {
		return fmt.Errorf("backward: %d readout gradients for %d sequences", len(dReadout), o.B)
	}
	if dScores != nil && len(dScores) != o.B*o.T {
		return fmt.Errorf("backward: %d score gradients, want B·T = %d", len(dScores), o.B*o.T)
	}
	T, D := ws.T, m.cfg.DModel
	ds := ws.dscore
	clear(ds)
	for i := 0; i < ws.B; i++ {
		L, P := ws.lens[i], o.PromptLen[i]
		if dScores != nil {
			for t := 0; t < L; t++ {
				ds[i*T+t] = dScores[i*o.T+t]
			}
		}
		if dReadout == nil {
			continue
		}
		g := float32(dReadout[i])
		switch m.cfg.ScalarReadout {
		case "last":
			ds[i*T+m.lastNonPad(ws, i)] += g
		case "sum", "mean":
			if m.cfg.ScalarReadout == "mean" {
				g = float32(dReadout[i] / float64(L-P))
			}
			for t := P; t < L; t++ {
				ds[i*T+t] += g
			}
		}
	}
	dlnf := ws.dln
	engine.LinearBackward(dlnf, m.g.headW, m.g.headB, ds, ws.lnf, m.w.headW, ws.n, D, 1, false)
	m.trunkBackward(ws, dlnf)
	return nil
}

// trunkBackward propagates dlnf (∂L/∂LN_f output) through the blocks to the
// embeddings, accumulating every parameter gradient. The residual-stream
// gradient dres is updated in place: each LayerNorm backward adds its input
// gradient to it, which is exactly the residual branch's sum.
func (m *Model) trunkBackward(ws *workspace, dlnf []float32) {
	c := m.cfg
	n, D, F := ws.n, c.DModel, c.DFF
	dres := ws.dres
	clear(dres)
	engine.LayerNormBackward(dres, m.g.lnfW, m.g.lnfB, dlnf, ws.res[len(ws.layers)], ws.lnfMean, ws.lnfRstd, m.w.lnfW, n, D)
	rot := m.rotary()
	for l := len(ws.layers) - 1; l >= 0; l-- {
		a, w, g := &ws.layers[l], &m.w.layers[l], &m.g.layers[l]
		engine.LinearBackward(ws.dff, g.fcOutW, g.fcOutB, dres, a.gelu, w.fcOutW, n, F, D, false)
		engine.MulInto(ws.dff, ws.dff, a.geluGrad)
		if c.UseParallelResidual {
			// LN2 read the block input: its gradient joins LN1's below, after
			// the attention branch has read dres (the gradient of x_{l+1}).
			engine.LinearBackward(ws.dln2, g.fcInW, g.fcInB, ws.dff, a.ln2, w.fcInW, n, D, F, false)
		} else {
			engine.LinearBackward(ws.dln, g.fcInW, g.fcInB, ws.dff, a.ln2, w.fcInW, n, D, F, false)
			engine.LayerNormBackward(dres, g.ln2W, g.ln2B, ws.dln, a.resMid, a.ln2Mean, a.ln2Rstd, w.ln2W, n, D)
		}
		engine.LinearBackward(ws.datt, g.oW, g.oB, dres, a.att, w.oW, n, D, D, false)
		engine.AttentionBackward(ws.dqkv, ws.datt, a.qkv, a.probs, ws.lens, ws.B, ws.T, D, c.NHead)
		rot.Backward(ws.dqkv, ws.pos[:n], n, D, c.NHead)
		engine.LinearBackward(ws.dln, g.qkvW, g.qkvB, ws.dqkv, a.ln1, w.qkvW, n, D, 3*D, false)
		if c.UseParallelResidual {
			engine.LayerNormBackward(dres, g.ln2W, g.ln2B, ws.dln2, ws.res[l], a.ln2Mean, a.ln2Rstd, w.ln2W, n, D)
		}
		engine.LayerNormBackward(dres, g.ln1W, g.ln1B, ws.dln, ws.res[l], a.ln1Mean, a.ln1Rstd, w.ln1W, n, D)
	}
	engine.EmbeddingBackward(m.g.wte, m.g.wpe, dres, ws.tokens[:n], ws.pos[:n], D)
}
