package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The vector row kernels against plain float64 loops, on lengths that cover
// empty bodies, exact multiples of 8 and tails.
func TestVectorRowKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	near := func(name string, n int, got float32, want, scale float64) {
		t.Helper()
		if math.Abs(float64(got)-want) > 2e-6*scale+1e-30 {
			t.Fatalf("%s (n=%d): %.8g, want %.8g", name, n, got, want)
		}
	}
	for _, n := range []int{1, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 256, 257} {
		x, y, g, b := randVec(r, n, 2), randVec(r, n, 1), randVec(r, n, 1), randVec(r, n, 1)
		x[0] = -200 // far below exp's range: must give exactly 0
		var mx, s64, sc64, dot64, sum64, ssd64 float64
		mx = math.Inf(-1)
		for i := range x {
			mx = math.Max(mx, float64(x[i]))
		}
		shift := float32(0.3)
		for i := range x {
			c := float64(x[i] - shift)
			s64 += math.Exp(c)
			sc64 += math.Exp(c) * c
			dot64 += float64(x[i]) * float64(y[i])
			sum64 += float64(x[i])
			ssd64 += (float64(x[i]) - 0.25) * (float64(x[i]) - 0.25)
		}
		if got := rowMax(x); float64(got) != mx {
			t.Fatalf("rowMax n=%d: %g, want %g", n, got, mx)
		}
		dst := make([]float32, n)
		near("expShiftSum", n, expShiftSum(dst, x, shift), s64, s64)
		if dst[0] != 0 {
			t.Fatalf("exp(−200.3) = %g, want 0", dst[0])
		}
		for i := range dst {
			want := math.Exp(float64(x[i] - shift))
			if math.Abs(float64(dst[i])-want) > 3e-7*want+1e-37 {
				t.Fatalf("expShiftSum n=%d dst[%d] = %g, want %g", n, i, dst[i], want)
			}
		}
		s, sc := expSumDot(x, shift)
		near("expSumDot s", n, s, s64, s64)
		near("expSumDot sc", n, sc, sc64, s64*10)
		expScale(dst, x, shift, -1.5)
		for i := range dst {
			want := -1.5 * math.Exp(float64(x[i]-shift))
			if math.Abs(float64(dst[i])-want) > 3e-7*math.Abs(want)+1e-37 {
				t.Fatalf("expScale n=%d dst[%d] = %g, want %g", n, i, dst[i], want)
			}
		}
		near("dot", n, dot(x, y), dot64, float64(n)*10)
		near("sum", n, sum(x), sum64, float64(n)*10)
		near("sumSqDiff", n, sumSqDiff(x, 0.25), ssd64, ssd64+1)

		acc := randVec(r, n, 1)
		want := to64(acc)
		for i := range want {
			want[i] += float64(y[i])
		}
		addTo(acc, y)
		checkForward(t, "addTo", acc, want, 1e-7)

		ax := randVec(r, n, 1)
		for i := range want {
			want[i] = float64(ax[i]) + 0.7*float64(x[i])
		}
		axpy(ax, 0.7, x)
		checkForward(t, "axpy", ax, want, 1e-6)

		prod := make([]float32, n)
		mulInto(prod, x, y)
		for i := range want {
			want[i] = float64(x[i]) * float64(y[i])
		}
		checkForward(t, "mulInto", prod, want, 1e-7)

		m, rs := float32(0.1), float32(1.7)
		out := make([]float32, n)
		normAffine(out, x, g, b, m, rs)
		for i := range want {
			want[i] = (float64(x[i])-float64(m))*float64(rs)*float64(g[i]) + float64(b[i])
		}
		checkForward(t, "normAffine", out, want, 1e-6)

		var sg, sgx float64
		for i := range x {
			gg := float64(y[i]) * float64(g[i])
			sg += gg
			sgx += gg * (float64(x[i]) - float64(m)) * float64(rs)
		}
		a1, a2 := lnBackSums(y, x, g, m, rs)
		near("lnBackSums sg", n, a1, sg, float64(n)*10)
		near("lnBackSums sgx", n, a2, sgx, float64(n)*10)
		dx := randVec(r, n, 1)
		for i := range want {
			xh := (float64(x[i]) - float64(m)) * float64(rs)
			want[i] = float64(dx[i]) + float64(rs)*(float64(y[i])*float64(g[i])-float64(a1)-xh*float64(a2))
		}
		lnBackApply(dx, y, x, g, m, rs, a1, a2)
		checkForward(t, "lnBackApply", dx, want, 1e-5)

		dg, db := randVec(r, n, 1), randVec(r, n, 1)
		wantG, wantB := to64(dg), to64(db)
		for i := range wantG {
			wantG[i] += float64(y[i]) * (float64(x[i]) - float64(m)) * float64(rs)
			wantB[i] += float64(y[i])
		}
		lnParamGrad(dg, db, y, x, m, rs)
		checkForward(t, "lnParamGrad dg", dg, wantG, 1e-6)
		checkForward(t, "lnParamGrad db", db, wantB, 1e-7)

		gout, ggrad := make([]float32, n), make([]float32, n)
		geluGradBias(gout, ggrad, x, b)
		c := math.Sqrt(2 / math.Pi)
		for i := range x {
			v := float64(x[i] + b[i])
			th := math.Tanh(c * (v + 0.044715*v*v*v))
			if math.Abs(float64(gout[i])-0.5*v*(1+th)) > 1e-6*(1+math.Abs(v)) ||
				math.Abs(float64(ggrad[i])-(0.5*(1+th)+0.5*v*(1-th*th)*c*(1+3*0.044715*v*v))) > 1e-5 {
				t.Fatalf("geluGradBias n=%d at %g: %g, %g", n, v, gout[i], ggrad[i])
			}
		}
	}
}
