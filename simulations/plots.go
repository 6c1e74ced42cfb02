package simulations

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The report's pictures are SVG drawn by gonum/plot and put inline into
// the HTML: no script, no external reference, fonts named, not embedded.

// palette is colour-blind safe (Okabe and Ito).
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255}, color.RGBA{230, 159, 0, 255}, color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255}, color.RGBA{86, 180, 233, 255}, color.RGBA{213, 94, 0, 255},
	color.RGBA{240, 228, 66, 255}, color.RGBA{0, 0, 0, 255},
}

func colour(i int) color.Color { return palette[i%len(palette)] }

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// svg renders a plot as an inline <svg> element.
func svg(p *plot.Plot, w, h vg.Length) (template.HTML, error) {
	c := vgsvg.NewWith(vgsvg.UseWH(w, h))
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", err
	}
	s := b.String()
	if i := strings.Index(s, "<svg"); i > 0 {
		s = s[i:] // drop the XML prolog and doctype: the element goes inline
	}
	return template.HTML(s), nil // #nosec G203 -- drawn here from numbers and our own labels
}

// lines draws one line per series over weeks.
func lines(title, ylabel string, names []string, series [][]float64) (template.HTML, error) {
	p := newPlot(title, "week", ylabel)
	for i, name := range names {
		pts := make(plotter.XYs, len(series[i]))
		for w, v := range series[i] {
			pts[w].X, pts[w].Y = float64(w), v
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return "", err
		}
		l.Color = colour(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotutil.Dashes(i / len(palette))
		p.Add(l)
		p.Legend.Add(name, l)
	}
	return svg(p, 9*vg.Inch, 4*vg.Inch)
}

// bars draws groups of bars: one group per label, one bar per series.
func bars(title, ylabel string, labels, names []string, series [][]float64, horizontal bool) (template.HTML, error) {
	p := newPlot(title, "", ylabel)
	width := vg.Points(max(4, 60/float64(max(1, len(names)))))
	if horizontal {
		width = vg.Points(12)
	}
	var below *plotter.BarChart
	for i, name := range names {
		b, err := plotter.NewBarChart(plotter.Values(series[i]), width)
		if err != nil {
			return "", err
		}
		b.Color = colour(i)
		b.LineStyle.Width = 0
		b.Horizontal = horizontal
		if horizontal { // stacked: one row per label
			if below != nil {
				b.StackOn(below)
			}
			below = b
		} else {
			b.Offset = width * vg.Length(float64(i)-float64(len(names)-1)/2)
		}
		p.Add(b)
		p.Legend.Add(name, b)
	}
	if horizontal {
		p.NominalY(labels...)
		p.X.Label.Text, p.Y.Label.Text = ylabel, ""
		return svg(p, 9*vg.Inch, vg.Length(1.2+0.35*float64(len(labels)))*vg.Inch)
	}
	p.NominalX(labels...)
	return svg(p, 9*vg.Inch, 4*vg.Inch)
}

// weekly arranges rows into one series per key over the weeks.
func weekly[T any](rows []T, weeks int, key func(T) string, week func(T) int, value func(T) float64) ([]string, [][]float64) {
	idx := map[string]int{}
	var names []string
	var series [][]float64
	for _, r := range rows {
		k := key(r)
		i, ok := idx[k]
		if !ok {
			i = len(names)
			idx[k] = i
			names = append(names, k)
			series = append(series, make([]float64, weeks))
		}
		if w := week(r); w >= 0 && w < weeks {
			series[i][w] += value(r)
		}
	}
	return names, series
}

func plotError(what string, err error) error {
	return fmt.Errorf("simulation report: %s plot: %w", what, err)
}
