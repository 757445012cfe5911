package task

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// teacher is a pre-LN causal transformer with random weights, used only as
// mdp_teacher's gold reward: r = Σ_t log p(y_t | x, y_<t). It runs in float64
// with a per-sequence key/value cache; weights are drawn once from the task
// seed. Its size should match the policy's, so the verifier is exactly as
// complex as a generator.
type teacher struct {
	d, heads, dff int
	outIDs        []int32
	outIndex      map[int32]int
	tokEmb        matrix // [vocab][d]
	posEmb        matrix // [positions][d]
	blocks        []teacherBlock
	wout          matrix // [d][outputs]
}

type teacherBlock struct {
	wq, wk, wv, wo matrix // [d][d]
	w1             matrix // [d][dff]
	w2             matrix // [dff][d]
}

// matrix is a dense row-major matrix.
type matrix struct {
	rows, cols int
	v          []float64
}

func (m matrix) row(i int) []float64 { return m.v[i*m.cols : (i+1)*m.cols] }

func gaussMatrix(r *RNG, rows, cols int, std float64) matrix {
	m := matrix{rows, cols, make([]float64, rows*cols)}
	for i := range m.v {
		m.v[i] = std * r.Normal()
	}
	return m
}

// newTeacher draws the weights. Projections use std 1/sqrt(fan_in) so every
// layer keeps unit scale; the output projection has std logitStd/sqrt(d) so
// logits after the final LayerNorm have standard deviation about logitStd.
func newTeacher(r *RNG, vocab int, outIDs []int32, positions, d, layers, heads int, logitStd float64) *teacher {
	t := &teacher{d: d, heads: heads, dff: 4 * d, outIDs: outIDs, outIndex: map[int32]int{}}
	for i, id := range outIDs {
		t.outIndex[id] = i
	}
	t.tokEmb = gaussMatrix(r, vocab, d, 1)
	t.posEmb = gaussMatrix(r, positions, d, 0.5)
	s := 1 / math.Sqrt(float64(d))
	for l := 0; l < layers; l++ {
		t.blocks = append(t.blocks, teacherBlock{
			wq: gaussMatrix(r, d, d, s), wk: gaussMatrix(r, d, d, s), wv: gaussMatrix(r, d, d, s), wo: gaussMatrix(r, d, d, s),
			w1: gaussMatrix(r, d, t.dff, s), w2: gaussMatrix(r, t.dff, d, 1/math.Sqrt(float64(t.dff))),
		})
	}
	t.wout = gaussMatrix(r, d, len(outIDs), logitStd*s)
	return t
}

// teacherCache holds each layer's keys and values of the positions seen so far.
type teacherCache struct {
	k, v [][][]float64 // [layer][position][d]
}

func (c *teacherCache) clone() *teacherCache {
	out := &teacherCache{k: make([][][]float64, len(c.k)), v: make([][][]float64, len(c.v))}
	for l := range c.k {
		out.k[l] = append([][]float64(nil), c.k[l]...) // rows are never mutated, sharing them is safe
		out.v[l] = append([][]float64(nil), c.v[l]...)
	}
	return out
}

func layerNorm(x []float64) []float64 {
	mean := 0.0
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	variance := 0.0
	for _, v := range x {
		variance += (v - mean) * (v - mean)
	}
	variance /= float64(len(x))
	inv := 1 / math.Sqrt(variance+1e-5)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = (v - mean) * inv
	}
	return out
}

// vecMat returns x·W (gonum's BLAS: its assembly kernels make the teacher's
// beam search several times faster than a plain loop).
func vecMat(x []float64, w matrix) []float64 {
	out := make([]float64, w.cols)
	blas64.Gemv(blas.Trans, 1, blas64.General{Rows: w.rows, Cols: w.cols, Stride: w.cols, Data: w.v},
		blas64.Vector{N: len(x), Inc: 1, Data: x}, 0, blas64.Vector{N: w.cols, Inc: 1, Data: out})
	return out
}

func gelu(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

// step feeds one token at the next position and returns the log-probabilities
// of the output words for the following position.
func (t *teacher) step(c *teacherCache, id int32) []float64 {
	if c.k == nil {
		c.k = make([][][]float64, len(t.blocks))
		c.v = make([][][]float64, len(t.blocks))
	}
	pos := len(c.k[0])
	x := make([]float64, t.d)
	te, pe := t.tokEmb.row(int(id)), t.posEmb.row(pos)
	for i := range x {
		x[i] = te[i] + pe[i]
	}
	dh := t.d / t.heads
	scale := 1 / math.Sqrt(float64(dh))
	for l, b := range t.blocks {
		h := layerNorm(x)
		q, k, v := vecMat(h, b.wq), vecMat(h, b.wk), vecMat(h, b.wv)
		c.k[l] = append(c.k[l], k)
		c.v[l] = append(c.v[l], v)
		att := make([]float64, t.d)
		scores := make([]float64, pos+1)
		for hd := 0; hd < t.heads; hd++ {
			lo, hi := hd*dh, (hd+1)*dh
			maxScore := math.Inf(-1)
			for p := 0; p <= pos; p++ {
				s := 0.0
				kp := c.k[l][p][lo:hi]
				for i, qi := range q[lo:hi] {
					s += qi * kp[i]
				}
				scores[p] = s * scale
				maxScore = math.Max(maxScore, scores[p])
			}
			sum := 0.0
			for p := range scores {
				scores[p] = math.Exp(scores[p] - maxScore)
				sum += scores[p]
			}
			for p := range scores {
				a := scores[p] / sum
				vp := c.v[l][p][lo:hi]
				for i := range vp {
					att[lo+i] += a * vp[i]
				}
			}
		}
		o := vecMat(att, b.wo)
		for i := range x {
			x[i] += o[i]
		}
		f := vecMat(layerNorm(x), b.w1)
		for i := range f {
			f[i] = gelu(f[i])
		}
		o = vecMat(f, b.w2)
		for i := range x {
			x[i] += o[i]
		}
	}
	logits := vecMat(layerNorm(x), t.wout)
	maxL := math.Inf(-1)
	for _, z := range logits {
		maxL = math.Max(maxL, z)
	}
	sum := 0.0
	for _, z := range logits {
		sum += math.Exp(z - maxL)
	}
	lse := maxL + math.Log(sum)
	for i := range logits {
		logits[i] -= lse
	}
	return logits
}

// prime feeds the prompt and returns the cache and the first distribution.
func (t *teacher) prime(prompt []int32) (*teacherCache, []float64) {
	c := &teacherCache{}
	var lp []float64
	for _, id := range prompt {
		lp = t.step(c, id)
	}
	return c, lp
}

// score is Σ_t log p(y_t | x, y_<t). A token that is not an output word
// scores the position's lowest log-probability (as bad as the worst word).
func (t *teacher) score(prompt, completion []int32) float64 {
	c, lp := t.prime(prompt)
	total := 0.0
	for i, id := range completion {
		if j, ok := t.outIndex[id]; ok {
			total += lp[j]
		} else {
			worst := math.Inf(1)
			for _, v := range lp {
				worst = math.Min(worst, v)
			}
			total += worst
		}
		if i+1 < len(completion) {
			lp = t.step(c, id)
		}
	}
	return total
}

// beamSearch approximately maximises score(y) - lengthCost(len(y)) over
// completions of at most horizon words with a beam of the given width.
func (t *teacher) beamSearch(prompt []int32, horizon, width int, lengthCost func(int) float64) []int32 {
	type beam struct {
		seq   []int32
		score float64
		cache *teacherCache
		lp    []float64
	}
	c, lp := t.prime(prompt)
	beams := []beam{{score: 0, cache: c, lp: lp}}
	best, bestTotal := []int32{}, -lengthCost(0)
	for n := 1; n <= horizon; n++ {
		type cand struct {
			parent, word int
			score        float64
		}
		var cands []cand
		for bi, b := range beams {
			for w, l := range b.lp {
				cands = append(cands, cand{bi, w, b.score + l})
			}
		}
		sort.SliceStable(cands, func(a, b int) bool { return cands[a].score > cands[b].score })
		if len(cands) > width {
			cands = cands[:width]
		}
		next := make([]beam, len(cands))
		for i, cd := range cands {
			parent := beams[cd.parent]
			seq := append(append([]int32(nil), parent.seq...), t.outIDs[cd.word])
			next[i] = beam{seq: seq, score: cd.score}
			if n < horizon {
				next[i].cache = parent.cache.clone()
				next[i].lp = t.step(next[i].cache, t.outIDs[cd.word])
			}
		}
		beams = next
		if total := beams[0].score - lengthCost(n); total > bestTotal || (total == bestTotal && n == horizon) {
			best, bestTotal = beams[0].seq, total
		}
	}
	return best
}
