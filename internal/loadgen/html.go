package loadgen

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// WriteHTML writes the report as one self-contained HTML page: the
// figures, a chart of throughput over time and one of the latency
// distribution, drawn in inline SVG so the page needs nothing else to
// open anywhere. The report's JSON form is embedded too, in a script
// element of type application/json with id "report".
func (rep *Report) WriteHTML(w io.Writer) error {
	var text strings.Builder
	rep.WriteText(&text)
	return pageTemplate.Execute(w, map[string]any{
		"Title":      fmt.Sprintf("petrel bench %s: %s", rep.Scenario, rep.shape()),
		"Text":       text.String(),
		"Throughput": rep.throughputChart(),
		"Latency":    rep.latencyChart(),
		"Report":     rep,
	})
}

var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 800px; color: #222; }
pre { background: #f6f6f6; padding: 1em; white-space: pre-wrap; }
svg { display: block; margin: 1em 0; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
svg .title { font-size: 13px; font-weight: bold; fill: #222; }
svg .grid { stroke: #e4e4e4; }
svg .axis { stroke: #888; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<pre>{{.Text}}</pre>
{{.Throughput}}
{{.Latency}}
<script type="application/json" id="report">{{.Report}}</script>
</body>
</html>
`))

// series is one line of a chart.
type series struct {
	name, color string
	x, y        []float64
}

// axis maps values to one dimension of a chart and labels its ticks.
type axis struct {
	label    string
	min, max float64
	ticks    []float64
	format   func(float64) string
}

// linearAxis runs from 0 to a round number above hi.
func linearAxis(label string, hi float64, format func(float64) string) axis {
	if hi <= 0 {
		hi = 1
	}
	step := math.Pow(10, math.Floor(math.Log10(hi)))
	for _, m := range []float64{1, 2, 5, 10} {
		if hi/(step*m) <= 6 {
			step *= m
			break
		}
	}
	a := axis{label: label, max: math.Ceil(hi/step) * step, format: format}
	for v := 0.0; v <= a.max+step/2; v += step {
		a.ticks = append(a.ticks, v)
	}
	return a
}

const (
	chartW, chartH           = 760, 300
	padL, padR, padT, padB   = 80, 40, 30, 45
	plotW, plotH             = chartW - padL - padR, chartH - padT - padB
	sentColor, receivedColor = "#1f77b4", "#ff7f0e"
	latencyColor, ackColor   = "#2ca02c", "#9467bd"
	connectColor, connsColor = "#d62728", "#1f77b4"
)

// chart draws lines on two axes, with a legend.
func chart(title string, xa, ya axis, lines []series) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<text class="title" x="%d" y="18">%s</text>`, padL, template.HTMLEscapeString(title))
	px := func(v float64) float64 { return padL + (v-xa.min)/(xa.max-xa.min)*plotW }
	py := func(v float64) float64 { return padT + plotH - (v-ya.min)/(ya.max-ya.min)*plotH }
	for _, t := range ya.ticks {
		y := py(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, padL, y, padL+plotW, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-6, y+4, ya.format(t))
	}
	for _, t := range xa.ticks {
		x := px(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`, x, padT, x, padT+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x, padT+plotH+16, xa.format(t))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, padL, padT+plotH, padL+plotW, padT+plotH)
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, padL, padT, padL, padT+plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, padL+plotW/2, chartH-6, template.HTMLEscapeString(xa.label))
	fmt.Fprintf(&b, `<text x="14" y="%d" text-anchor="middle" transform="rotate(-90 14 %d)">%s</text>`, padT+plotH/2, padT+plotH/2, template.HTMLEscapeString(ya.label))
	for i, s := range lines {
		pts := make([]string, len(s.x))
		for j := range s.x {
			pts[j] = fmt.Sprintf("%.1f,%.1f", px(s.x[j]), py(s.y[j]))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`, s.color, strings.Join(pts, " "), template.HTMLEscapeString(s.name))
		// Top left, where throughput ramps up and latency is lowest.
		lx := padL + 12
		ly := padT + 14 + 16*i
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/><text x="%d" y="%d">%s</text>`, lx, ly-4, lx+20, ly-4, s.color, lx+26, ly, template.HTMLEscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// throughputChart draws messages (or, for Conn, connections) a second.
func (rep *Report) throughputChart() template.HTML {
	if len(rep.Timeline) == 0 {
		return ""
	}
	var hiT, hiY float64
	var lines []series
	if rep.Scenario == Conn {
		s := series{name: "connections", color: connsColor}
		for _, p := range rep.Timeline {
			s.x, s.y = append(s.x, p.T), append(s.y, float64(p.Connections))
			hiT, hiY = max(hiT, p.T), max(hiY, float64(p.Connections))
		}
		return chart("Connections open", linearAxis("seconds", hiT, plain), linearAxis("connections", hiY, compact), []series{s})
	}
	sent := series{name: "sent / s", color: sentColor}
	received := series{name: "received / s", color: receivedColor}
	for _, p := range rep.Timeline {
		sent.x, sent.y = append(sent.x, p.T), append(sent.y, p.SentRate)
		received.x, received.y = append(received.x, p.T), append(received.y, p.ReceivedRate)
		hiT, hiY = max(hiT, p.T), max(hiY, p.SentRate, p.ReceivedRate)
	}
	if rep.Publishers > 0 {
		lines = append(lines, sent)
	}
	if rep.Subscribers > 0 {
		lines = append(lines, received)
	}
	return chart("Throughput", linearAxis("seconds", hiT, plain), linearAxis("messages a second", hiY, compact), lines)
}

// latencyChart draws the latency distributions over percentiles spaced by
// their nines, as HdrHistogram's plots do, so the tail gets the room.
func (rep *Report) latencyChart() template.HTML {
	const maxNines = 5 // 99.999%
	nines := func(p float64) float64 {
		if p >= 100 {
			return maxNines
		}
		return min(-math.Log10(1-p/100), maxNines)
	}
	var hiY float64
	var lines []series
	for _, l := range []struct {
		name, color string
		lat         *Latency
	}{{"publish to delivery", latencyColor, rep.Latency}, {"publish to acknowledgement", ackColor, rep.AckLatency}, {"connect to CONNACK", connectColor, rep.ConnectLatency}} {
		if l.lat == nil {
			continue
		}
		s := series{name: l.name, color: l.color}
		for _, p := range l.lat.Percentiles {
			s.x, s.y = append(s.x, nines(p.P)), append(s.y, p.Micros)
			hiY = max(hiY, p.Micros)
		}
		lines = append(lines, s)
	}
	if lines == nil {
		return ""
	}
	xa := axis{label: "percentile", max: maxNines, ticks: []float64{0, 1, 2, 3, 4, 5}, format: func(v float64) string {
		return []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"}[int(v)]
	}}
	return chart("Latency by percentile", xa, linearAxis("latency", hiY, us), lines)
}

func plain(v float64) string { return fmt.Sprintf("%g", v) }

// compact writes large numbers with k and M.
func compact(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}
