package engine

// Row kernels with an AVX2 body (simd_amd64.s) and a scalar tail. With the
// vector kernels, a result depends on the row length (where the tail starts),
// never on how work is split across threads: callers hand them whole rows, or
// ranges cut at multiples of vecAlign (ParallelForAligned).

const vecAlign = 8

func vecLen(n int) int {
	if !hasAVX2FMA {
		return 0
	}
	return n &^ (vecAlign - 1)
}

// rowMax returns the largest element of x (len ≥ 1).
func rowMax(x []float32) float32 {
	n := vecLen(len(x))
	m := x[0]
	if n > 0 {
		m = vMax(&x[0], n)
	}
	for _, v := range x[n:] {
		m = max(m, v)
	}
	return m
}

// expShiftSum sets dst = e^(x − shift) and returns Σ dst.
func expShiftSum(dst, x []float32, shift float32) float32 {
	n := vecLen(len(x))
	var s float32
	if n > 0 {
		s = vExpShiftSum(&dst[0], &x[0], n, shift, &expConsts)
	}
	dst = dst[:len(x)]
	for i := n; i < len(x); i++ {
		e := Expf(x[i] - shift)
		dst[i] = e
		s += e
	}
	return s
}

// expSumDot returns Σ e^(x − shift) and Σ e^(x − shift)·(x − shift).
func expSumDot(x []float32, shift float32) (s, sc float32) {
	n := vecLen(len(x))
	if n > 0 {
		s, sc = vExpSumDot(&x[0], n, shift, &expConsts)
	}
	for _, v := range x[n:] {
		c := v - shift
		e := Expf(c)
		s += e
		sc += e * c
	}
	return s, sc
}

// expScale sets dst = scale·e^(x − shift).
func expScale(dst, x []float32, shift, scale float32) {
	n := vecLen(len(x))
	if n > 0 {
		vExpScale(&dst[0], &x[0], n, shift, scale, &expConsts)
	}
	dst = dst[:len(x)]
	for i := n; i < len(x); i++ {
		dst[i] = scale * Expf(x[i]-shift)
	}
}

func sum(x []float32) float32 {
	n := vecLen(len(x))
	var s float32
	if n > 0 {
		s = vSum(&x[0], n)
	}
	for _, v := range x[n:] {
		s += v
	}
	return s
}

// dot returns Σ a·b.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	n := vecLen(len(a))
	var s float32
	if n > 0 {
		s = vDot(&a[0], &b[0], n)
	}
	for i := n; i < len(a); i++ {
		s += a[i] * b[i]
	}
	return s
}

// addTo sets dst += src.
func addTo(dst, src []float32) {
	src = src[:len(dst)]
	n := vecLen(len(dst))
	if n > 0 {
		vAddTo(&dst[0], &src[0], n)
	}
	for i := n; i < len(dst); i++ {
		dst[i] += src[i]
	}
}

// mulInto sets dst = a·b elementwise (dst may alias a or b).
func mulInto(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	n := vecLen(len(dst))
	if n > 0 {
		vMul(&dst[0], &a[0], &b[0], n)
	}
	for i := n; i < len(dst); i++ {
		dst[i] = a[i] * b[i]
	}
}

// axpy sets y += alpha·x.
func axpy(y []float32, alpha float32, x []float32) {
	x = x[:len(y)]
	n := vecLen(len(y))
	if n > 0 {
		vAxpy(&y[0], &x[0], n, alpha)
	}
	for i := n; i < len(y); i++ {
		y[i] += alpha * x[i]
	}
}

func sumSqDiff(x []float32, m float32) float32 {
	n := vecLen(len(x))
	var s float32
	if n > 0 {
		s = vSumSqDiff(&x[0], n, m)
	}
	for _, v := range x[n:] {
		c := v - m
		s += c * c
	}
	return s
}

// normAffine sets out = (x − m)·rs·g + b.
func normAffine(out, x, g, b []float32, m, rs float32) {
	x, g, b = x[:len(out)], g[:len(out)], b[:len(out)]
	n := vecLen(len(out))
	if n > 0 {
		vNormAffine(&out[0], &x[0], &g[0], &b[0], n, m, rs)
	}
	for j := n; j < len(out); j++ {
		out[j] = (x[j]-m)*rs*g[j] + b[j]
	}
}

// lnBackSums returns Σ dout·g and Σ dout·g·(x − m)·rs.
func lnBackSums(dout, x, g []float32, m, rs float32) (sg, sgx float32) {
	x, g = x[:len(dout)], g[:len(dout)]
	n := vecLen(len(dout))
	if n > 0 {
		sg, sgx = vLNBackSums(&dout[0], &x[0], &g[0], n, m, rs)
	}
	for j := n; j < len(dout); j++ {
		gg := dout[j] * g[j]
		sg += gg
		sgx += gg * (x[j] - m) * rs
	}
	return sg, sgx
}

// lnBackApply sets dx += rs·(dout·g − sg − (x − m)·rs·sgx).
func lnBackApply(dx, dout, x, g []float32, m, rs, sg, sgx float32) {
	dout, x, g = dout[:len(dx)], x[:len(dx)], g[:len(dx)]
	n := vecLen(len(dx))
	if n > 0 {
		vLNBackApply(&dx[0], &dout[0], &x[0], &g[0], n, m, rs, sg, sgx)
	}
	for j := n; j < len(dx); j++ {
		dx[j] += rs * (dout[j]*g[j] - sg - (x[j]-m)*rs*sgx)
	}
}

// lnParamGrad sets dg += dout·(x − m)·rs and db += dout.
func lnParamGrad(dg, db, dout, x []float32, m, rs float32) {
	db, dout, x = db[:len(dg)], dout[:len(dg)], x[:len(dg)]
	n := vecLen(len(dg))
	if n > 0 {
		vLNParamGrad(&dg[0], &db[0], &dout[0], &x[0], n, m, rs)
	}
	for j := n; j < len(dg); j++ {
		dg[j] += dout[j] * (x[j] - m) * rs
		db[j] += dout[j]
	}
}

// geluGradBias sets out = gelu(x + bias) and grad = gelu'(x + bias).
func geluGradBias(out, grad, x, bias []float32) {
	grad, x, bias = grad[:len(out)], x[:len(out)], bias[:len(out)]
	n := vecLen(len(out))
	if n > 0 {
		geluGradBiasAVX2(&out[0], &grad[0], &x[0], &bias[0], n, &geluConsts)
	}
	for i := n; i < len(out); i++ {
		v := x[i] + bias[i]
		v2 := v * v
		t := Tanhf(geluC * (v + geluA*v2*v))
		out[i] = 0.5 * v * (1 + t)
		grad[i] = 0.5*(1+t) + 0.5*v*(1-t*t)*geluC*(1+3*geluA*v2)
	}
}
