package report

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"sort"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/seed-710818af/overseer/bench/internal/load"
	"github.com/seed-710818af/overseer/bench/internal/round"
)

// bucket is the time resolution of the plotted latency lines.
const bucket = 20 * time.Millisecond

// Plot writes a PNG to path with one panel per result: request latency over
// time (median and maximum per 20 ms, log scale), failed requests as red
// crosses, retried requests as orange triangles, and restart signals as
// dashed vertical lines.
func Plot(path string, results []*round.Result) error {
	if len(results) == 0 {
		return fmt.Errorf("plot: no results")
	}
	plots := make([][]*plot.Plot, len(results))
	xMax := 0.0
	for i, r := range results {
		p, err := panel(r)
		if err != nil {
			return err
		}
		plots[i] = []*plot.Plot{p}
		xMax = math.Max(xMax, r.TermAt.Seconds())
	}
	for _, p := range plots {
		p[0].X.Max = xMax // the same time axis in every panel
	}
	const w, h = 28 * vg.Centimeter, 6 * vg.Centimeter
	img := vgimg.New(w, h*vg.Length(len(results)))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(results), Cols: 1, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2, PadY: vg.Millimeter * 3}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot: write %s: %w", path, err)
	}
	return f.Close()
}

// panel builds the plot of one round.
func panel(r *round.Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s — %s — %d failed, %d retried", r.Variant.Label, r.Setting,
		r.Counts.Failed(), r.Counts[load.Retried])
	p.X.Label.Text = "seconds since load start"
	p.Y.Label.Text = "latency ms"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	const yMin = 0.05
	yMax := 1.0

	medians, maxes, failed, retried := series(r.Samples, r.TermAt)
	for _, xy := range [][]plotter.XYs{{medians, maxes}, {failed, retried}} {
		for _, s := range xy {
			for i := range s {
				s[i].Y = math.Max(s[i].Y, yMin)
				yMax = math.Max(yMax, s[i].Y)
			}
		}
	}
	yMax *= 30 // headroom for the legend on a log scale
	for _, rs := range r.Restarts {
		x := rs.Signal.Seconds()
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: yMin}, {X: x, Y: yMax}})
		if err != nil {
			return nil, err
		}
		l.Color = color.Gray{Y: 150}
		l.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		p.Add(l)
	}
	if len(r.Restarts) > 0 {
		p.Legend.Add("restart signal", lineThumb(color.Gray{Y: 150}))
	}
	for _, s := range []struct {
		name string
		xy   plotter.XYs
		c    color.Color
	}{{"median", medians, color.RGBA{G: 120, B: 200, A: 255}}, {"max", maxes, color.RGBA{R: 20, G: 20, B: 90, A: 255}}} {
		if len(s.xy) < 2 {
			continue
		}
		l, err := plotter.NewLine(s.xy)
		if err != nil {
			return nil, err
		}
		l.Color = s.c
		p.Add(l)
		p.Legend.Add(s.name+" per 20 ms", l)
	}
	for _, s := range []struct {
		name  string
		xy    plotter.XYs
		c     color.Color
		shape draw.GlyphDrawer
	}{{"failed", failed, color.RGBA{R: 220, A: 255}, draw.CrossGlyph{}},
		{"retried", retried, color.RGBA{R: 240, G: 140, A: 255}, draw.TriangleGlyph{}}} {
		if len(s.xy) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(s.xy)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color = s.c
		sc.GlyphStyle.Shape = s.shape
		sc.GlyphStyle.Radius = vg.Points(2.5)
		p.Add(sc)
		p.Legend.Add(fmt.Sprintf("%s (%d)", s.name, len(s.xy)), sc)
	}
	p.Y.Min, p.Y.Max = yMin, yMax
	p.X.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Add(plotter.NewGrid())
	return p, nil
}

// series turns the samples completed before SIGTERM into per-bucket median and maximum latency of the
// successful requests, and points for failed and retried requests, all with
// X in seconds (request end) and Y in milliseconds.
func series(samples []load.Sample, termAt time.Duration) (medians, maxes, failed, retried plotter.XYs) {
	byBucket := map[int64][]float64{}
	for _, s := range samples {
		if s.End() > termAt {
			continue // requests cut by SIGTERM are in the table, not here
		}
		x, y := s.End().Seconds(), float64(s.Latency)/float64(time.Millisecond)
		switch {
		case s.Class.Failed():
			failed = append(failed, plotter.XY{X: x, Y: y})
		case s.Class == load.Retried:
			retried = append(retried, plotter.XY{X: x, Y: y})
		}
		if !s.Class.Failed() {
			b := int64(s.End() / bucket)
			byBucket[b] = append(byBucket[b], y)
		}
	}
	keys := make([]int64, 0, len(byBucket))
	for k := range byBucket {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		ys := byBucket[k]
		sort.Float64s(ys)
		x := (time.Duration(k)*bucket + bucket/2).Seconds()
		medians = append(medians, plotter.XY{X: x, Y: ys[len(ys)/2]})
		maxes = append(maxes, plotter.XY{X: x, Y: ys[len(ys)-1]})
	}
	return medians, maxes, failed, retried
}

// lineThumb is a legend thumbnail for a dashed line of colour c.
func lineThumb(c color.Color) plot.Thumbnailer {
	l, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 1}, {X: 1, Y: 1}})
	l.Color = c
	l.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
	return l
}
