package report

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"roads/internal/atomicfile"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"roads/exp"
)

// A series is one line (or point) of a figure: points with symmetric error
// bars (zero where there is no interval).
type series struct {
	name string
	xs   []float64
	ys   []Stat
	xerr []Stat // scatter only: the x statistic
}

type errPoints struct {
	plotter.XYs
	plotter.YErrors
	plotter.XErrors
}

// drawPlot renders e's plot spec into dir and reports what it did.
func drawPlot(e *ExperimentReport, ps exp.PlotSpec, dir string) PlotResult {
	res := PlotResult{Spec: ps}
	name := e.Spec.Name + "_" + ps.File
	if e.Preset != "" && !e.Primary {
		name += "_" + e.Preset
	}
	name += ".png"
	recs := e.Records
	if len(ps.Where) > 0 {
		where, err := resolveSelector(ps.Where, recs)
		if err != nil {
			res.Note = "not drawn: " + err.Error()
			return res
		}
		var kept []*exp.Record
		for _, r := range recs {
			if matches(r, where) {
				kept = append(kept, r)
			}
		}
		recs = kept
	}
	axes, err := e.Spec.ResolvedAxes(e.Preset)
	if err != nil {
		axes = e.Spec.Axes
	}
	groups := groupBy(recs, ps.Series, axes)
	var ss []series
	var nominal []string // x tick labels for a non-numeric axis
	switch ps.Kind {
	case "axis":
		ss, nominal = axisSeries(groups, ps, axes)
	case "curve":
		ss = curveSeries(groups, ps.Curve)
	case "scatter":
		ss = scatterSeries(groups, ps)
	}
	if len(ss) == 0 {
		res.Note = "not drawn: no record has the data (" + plotNeeds(ps) + ")"
		return res
	}
	p := plot.New()
	p.Title.Text = ps.Title
	if p.Title.Text == "" {
		p.Title.Text = e.Title() + ": " + ps.File
	}
	p.X.Label.Text, p.Y.Label.Text = ps.XLabel, ps.YLabel
	if p.X.Label.Text == "" {
		p.X.Label.Text = firstNonEmpty(ps.X, ps.Curve)
	}
	if p.Y.Label.Text == "" {
		p.Y.Label.Text = firstNonEmpty(ps.Y, ps.Curve)
	}
	logX := ps.LogX && nominal == nil
	for _, s := range ss {
		for _, x := range s.xs {
			if x <= 0 {
				logX = false
			}
		}
	}
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	for i, s := range ss {
		pts := errPoints{XYs: make(plotter.XYs, len(s.xs)), YErrors: make(plotter.YErrors, len(s.xs)), XErrors: make(plotter.XErrors, len(s.xs))}
		for j := range s.xs {
			x := s.xs[j]
			if nominal != nil && len(ss) > 1 { // spread the series around each category
				x += 0.08 * (float64(i) - float64(len(ss)-1)/2)
			}
			pts.XYs[j] = plotter.XY{X: x, Y: s.ys[j].Mean}
			if s.ys[j].HasCI() {
				h := s.ys[j].HalfWidth()
				pts.YErrors[j].Low, pts.YErrors[j].High = h, h
			}
			if s.xerr != nil && s.xerr[j].HasCI() {
				h := s.xerr[j].HalfWidth()
				pts.XErrors[j].Low, pts.XErrors[j].High = h, h
			}
		}
		c := plotColor(i)
		sc, err := plotter.NewScatter(pts.XYs)
		if err != nil {
			res.Note = "not drawn: " + err.Error()
			return res
		}
		sc.Color = c
		p.Add(sc)
		if ps.Kind != "scatter" && len(s.xs) > 1 {
			line, err := plotter.NewLine(pts.XYs)
			if err != nil {
				res.Note = "not drawn: " + err.Error()
				return res
			}
			line.Color = c
			p.Add(line)
			p.Legend.Add(s.name, line, sc)
		} else {
			p.Legend.Add(s.name, sc)
		}
		yb, err := plotter.NewYErrorBars(pts)
		if err == nil {
			yb.Color = c
			p.Add(yb)
		}
		if s.xerr != nil {
			xb, err := plotter.NewXErrorBars(pts)
			if err == nil {
				xb.Color = c
				p.Add(xb)
			}
		}
	}
	if nominal != nil {
		p.NominalX(nominal...)
	} else if ticks := distinctXs(ss); ps.Kind != "scatter" && len(ticks) <= 12 {
		// Few x values (N of Best-of-N, data sizes, widths): label each.
		marks := make([]plot.Tick, len(ticks))
		for i, x := range ticks {
			marks[i] = plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'g', 4, 64)}
		}
		p.X.Tick.Marker = plot.ConstantTicks(marks)
	}
	if logX { // keep error bars and points off the frame
		p.X.Min, p.X.Max = p.X.Min/1.15, p.X.Max*1.15
	} else {
		pad := 0.04 * (p.X.Max - p.X.Min)
		p.X.Min, p.X.Max = p.X.Min-pad, p.X.Max+pad
	}
	pad := 0.04 * (p.Y.Max - p.Y.Min)
	p.Y.Min, p.Y.Max = p.Y.Min-pad, p.Y.Max+pad
	p.Legend.Top = true
	p.Legend.Left = true
	path := filepath.Join(dir, name)
	if err := savePNG(p, path); err != nil {
		res.Note = "not drawn: " + err.Error()
		return res
	}
	res.Path = filepath.ToSlash(filepath.Join(filepath.Base(dir), name))
	return res
}

func distinctXs(ss []series) []float64 {
	seen := map[float64]bool{}
	var out []float64
	for _, s := range ss {
		for _, x := range s.xs {
			if !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
	}
	sort.Float64s(out)
	return out
}

func plotNeeds(ps exp.PlotSpec) string {
	switch ps.Kind {
	case "curve":
		return "curve " + ps.Curve
	case "scatter":
		return "metrics " + ps.X + " and " + ps.Y
	}
	return "metric " + ps.Y + " against axis " + ps.X
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

type group struct {
	name string
	recs []*exp.Record
}

// groupBy splits records by their value on the series axis (one group if
// none), in axis order.
func groupBy(recs []*exp.Record, axis string, axes exp.Axes) []group {
	if axis == "" {
		return []group{{name: "all", recs: recs}}
	}
	idx := map[string]int{}
	var out []group
	var vals []any
	for _, r := range recs {
		v, _ := r.Axis(axis)
		k := exp.ValueString(v)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, group{name: k})
			vals = append(vals, v)
		}
		out[i].recs = append(out[i].recs, r)
	}
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return valueOrder(axes, axis, vals[order[a]], vals[order[b]]) })
	sorted := make([]group, len(out))
	for i, j := range order {
		sorted[i] = out[j]
	}
	return sorted
}

// axisSeries: metric against an axis; a non-numeric axis becomes nominal.
func axisSeries(groups []group, ps exp.PlotSpec, axes exp.Axes) ([]series, []string) {
	numeric := true
	var cats []any
	seen := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.recs {
			v, _ := r.Axis(ps.X)
			if _, ok := v.(float64); !ok {
				numeric = false
			}
			if k := exp.ValueString(v); !seen[k] {
				seen[k] = true
				cats = append(cats, v)
			}
		}
	}
	sort.SliceStable(cats, func(i, j int) bool { return valueOrder(axes, ps.X, cats[i], cats[j]) })
	var nominal []string
	pos := map[string]float64{}
	if !numeric {
		for i, c := range cats {
			nominal = append(nominal, exp.ValueString(c))
			pos[exp.ValueString(c)] = float64(i)
		}
	}
	var out []series
	for _, g := range groups {
		byX := map[string][]float64{}
		xv := map[string]float64{}
		for _, r := range g.recs {
			y, ok := r.Metrics[ps.Y]
			if !ok {
				continue
			}
			v, _ := r.Axis(ps.X)
			k := exp.ValueString(v)
			byX[k] = append(byX[k], y)
			if numeric {
				xv[k] = v.(float64)
			} else {
				xv[k] = pos[k]
			}
		}
		if len(byX) == 0 {
			continue
		}
		s := series{name: g.name}
		keys := make([]string, 0, len(byX))
		for k := range byX {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return xv[keys[i]] < xv[keys[j]] })
		for _, k := range keys {
			s.xs = append(s.xs, xv[k])
			s.ys = append(s.ys, Interval(byX[k]))
		}
		out = append(out, s)
	}
	return out, nominal
}

// curveSeries averages a recorded curve over the group's records at equal x.
func curveSeries(groups []group, curve string) []series {
	var out []series
	for _, g := range groups {
		byX := map[float64][]float64{}
		for _, r := range g.recs {
			for _, p := range r.Curves[curve] {
				byX[p.X] = append(byX[p.X], p.Y)
			}
		}
		if len(byX) == 0 {
			continue
		}
		s := series{name: g.name}
		xs := make([]float64, 0, len(byX))
		for x := range byX {
			xs = append(xs, x)
		}
		sort.Float64s(xs)
		for _, x := range xs {
			s.xs = append(s.xs, x)
			s.ys = append(s.ys, Interval(byX[x]))
		}
		out = append(out, s)
	}
	return out
}

// scatterSeries: one point per group, mean ± CI of each metric.
func scatterSeries(groups []group, ps exp.PlotSpec) []series {
	var out []series
	for _, g := range groups {
		var xs, ys []float64
		for _, r := range g.recs {
			x, okx := r.Metrics[ps.X]
			y, oky := r.Metrics[ps.Y]
			if okx && oky {
				xs, ys = append(xs, x), append(ys, y)
			}
		}
		if len(xs) == 0 {
			continue
		}
		sx, sy := Interval(xs), Interval(ys)
		out = append(out, series{name: g.name, xs: []float64{sx.Mean}, ys: []Stat{sy}, xerr: []Stat{sx}})
	}
	return out
}

func savePNG(p *plot.Plot, path string) error {
	wt, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("render %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error { _, err := wt.WriteTo(w); return err })
}

// plotColor is the tab10 palette.
func plotColor(i int) color.RGBA {
	palette := []color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
		{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
		{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
	}
	return palette[i%len(palette)]
}
