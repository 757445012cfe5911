package theory

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"roads/internal/atomicfile"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Report is everything `roads theory` prints (as a table or as JSON).
type Report struct {
	Seed   uint64      `json:"seed"`
	Checks []Check     `json:"checks"`
	Stat   *StatResult `json:"stat,omitempty"`
	Plots  []string    `json:"plots,omitempty"`
}

// Failed returns the names of the checks that did not pass.
func (r *Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.Passed() {
			out = append(out, c.Name)
		}
	}
	return out
}

// WriteTable prints the checks and the statistical experiment as text.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "roads theory: exact checks of Swamy et al. 2025 on enumerated token MDPs (seed %d)\n\n", r.Seed)
	fmt.Fprintf(&b, "%-64s %10s  %-10s %-13s %6s %9s %10s\n", "check", "value", "criterion", "status", "solves", "max iters", "max |grad|")
	fmt.Fprintf(&b, "%s\n", strings.Repeat("-", 131))
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "%-64s %10.3e  %-10s %-13s %6d %9d %10.1e\n", c.Name, c.Value,
			fmt.Sprintf("%s %.0e", c.Direction, c.Tolerance), c.Status, c.Solves, c.MaxIters, c.MaxGradNorm)
	}
	if s := r.Stat; s != nil {
		c := s.Config
		fmt.Fprintf(&b, "\nThm 3.1, statistical consequence: V=%d H=%d (%d trajectories); R_sim dim %d vs tabular Pi dim %d;\n", c.V, c.H, s.NumTraj, s.RSimDim, s.TabularDim)
		fmt.Fprintf(&b, "true reward %d-sparse: %s; beta=%g alpha=%g; pairs from pi_ref, BT labels;\n", c.K, strings.Join(s.TrueWeights, " "), c.Beta, c.Alpha)
		fmt.Fprintf(&b, "offline = DPO over tabular Pi, online = BT-MLE in R_sim then exact soft VI; %d datasets per N, mean +- 95%% t-CI.\n", c.Datasets)
		fmt.Fprintf(&b, "J(pi) = E_pi[r*] - beta KL(P_pi||P_ref); J(pi_ref) = %.4f, J(pi*) = %.4f; KL(P_ref||P*) = %.4f\n\n", s.RefValue, s.OptValue, s.RefKL)
		fmt.Fprintf(&b, "%6s  %-18s %-18s %-18s %-18s %-18s %s\n", "N", "J offline", "J online", "J on - J off", "KL(P||P*) offline", "KL(P||P*) online", "not conv.")
		for _, row := range s.Rows {
			fmt.Fprintf(&b, "%6d  %-18s %-18s %-18s %-18s %-18s %d\n", row.N, ci(row.OfflineValue), ci(row.OnlineValue), ci(row.ValueGap),
				ci(row.OfflineKL), ci(row.OnlineKL), row.NotConverged)
		}
	}
	if len(r.Plots) > 0 {
		fmt.Fprintf(&b, "\nplots: %s\n", strings.Join(r.Plots, ", "))
	}
	if failed := r.Failed(); len(failed) > 0 {
		fmt.Fprintf(&b, "\n%d check(s) did not pass: %s\n", len(failed), strings.Join(failed, "; "))
	} else {
		fmt.Fprintf(&b, "\nall %d checks passed\n", len(r.Checks))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ci(m MeanCI) string { return fmt.Sprintf("%.4f ± %.4f", m.Mean, m.CI95) }

// errPoints are points with symmetric y error bars.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// WritePlots draws the value and KL curves into dir (PNG, each written to a
// temporary file in dir and renamed, so an earlier plot is never left
// half-written) and returns their paths.
func (s *StatResult) WritePlots(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("theory: plots: %w", err)
	}
	type series struct {
		name string
		get  func(StatRow) MeanCI
	}
	type refLine struct {
		name string
		y    float64
	}
	mk := func(title, ylabel string, logY bool, ss []series, refs []refLine) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "preference pairs N"
		p.Y.Label.Text = ylabel
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		if logY {
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		}
		for i, se := range ss {
			pts := errPoints{XYs: make(plotter.XYs, len(s.Rows)), YErrors: make(plotter.YErrors, len(s.Rows))}
			for j, row := range s.Rows {
				m := se.get(row)
				pts.XYs[j] = plotter.XY{X: float64(row.N), Y: m.Mean}
				lo, hi := m.CI95, m.CI95
				if logY && m.Mean-lo <= 0 {
					lo = m.Mean * (1 - 1e-3) // a log axis cannot show the part of the CI below 0
				}
				pts.YErrors[j].Low, pts.YErrors[j].High = lo, hi
			}
			line, scatter, err := plotter.NewLinePoints(pts.XYs)
			if err != nil {
				return nil, err
			}
			line.Color = plotColor(i)
			scatter.Color = plotColor(i)
			bars, err := plotter.NewYErrorBars(pts)
			if err != nil {
				return nil, err
			}
			bars.Color = plotColor(i)
			p.Add(line, scatter, bars)
			p.Legend.Add(se.name, line, scatter)
		}
		for i, ref := range refs {
			y := ref.y
			f := plotter.NewFunction(func(float64) float64 { return y })
			f.Color = plotColor(len(ss) + i)
			f.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(f)
			p.Legend.Add(ref.name, f)
			// Functions do not widen the axes; make room for the line.
			pad := 0.05 * (p.Y.Max - p.Y.Min)
			if logY {
				p.Y.Min, p.Y.Max = math.Min(p.Y.Min, y/1.2), math.Max(p.Y.Max, y*1.2)
			} else {
				p.Y.Min, p.Y.Max = math.Min(p.Y.Min, y-pad), math.Max(p.Y.Max, y+pad)
			}
		}
		p.Legend.Top = false
		p.Legend.Left = true
		return p, nil
	}
	offline := func(get func(StatRow) MeanCI) series { return series{"offline DPO (tabular Pi)", get} }
	online := func(get func(StatRow) MeanCI) series { return series{"online (BT-MLE in R_sim, soft VI)", get} }
	c := s.Config
	valuePlot, err := mk(fmt.Sprintf("True KL-regularised value, V=%d H=%d, beta=%g alpha=%g", c.V, c.H, c.Beta, c.Alpha), "J(pi)", false,
		[]series{offline(func(r StatRow) MeanCI { return r.OfflineValue }), online(func(r StatRow) MeanCI { return r.OnlineValue })},
		[]refLine{{"J(pi_ref)", s.RefValue}, {"J(pi*) (true soft-optimal)", s.OptValue}})
	if err != nil {
		return nil, fmt.Errorf("theory: value plot: %w", err)
	}
	klPlot, err := mk(fmt.Sprintf("KL(P_pi || P*_true), V=%d H=%d, beta=%g alpha=%g", c.V, c.H, c.Beta, c.Alpha), "KL to the true soft-optimal policy", true,
		[]series{offline(func(r StatRow) MeanCI { return r.OfflineKL }), online(func(r StatRow) MeanCI { return r.OnlineKL })},
		[]refLine{{"pi_ref", s.RefKL}})
	if err != nil {
		return nil, fmt.Errorf("theory: KL plot: %w", err)
	}
	var paths []string
	for _, out := range []struct {
		name string
		p    *plot.Plot
	}{{"theory_value.png", valuePlot}, {"theory_kl.png", klPlot}} {
		path := filepath.Join(dir, out.name)
		if err := savePlotAtomic(out.p, path); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

func savePlotAtomic(p *plot.Plot, path string) error {
	wt, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("theory: render %s: %w", path, err)
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { _, err := wt.WriteTo(w); return err }); err != nil {
		return fmt.Errorf("theory: %w", err)
	}
	return nil
}

func plotColor(i int) color.RGBA {
	palette := []color.RGBA{{0xd6, 0x27, 0x28, 0xff}, {0x1f, 0x77, 0xb4, 0xff}, {0x7f, 0x7f, 0x7f, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}}
	return palette[i%len(palette)]
}
