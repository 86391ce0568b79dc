//go:build linux

package main

import (
	"fmt"
	"strings"

	"github.com/petrelmq/petrel/internal/loadgen"
)

// The targets that are not ratios to Mosquitto.
const (
	qos2Share       = 0.5  // Petrel's QoS 2 throughput against its own QoS 1
	latencyRatio    = 0.5  // Petrel's p99 against Mosquitto's, at the same rate
	fanoutCPU       = 2.0  // µs of broker CPU per delivered message, fan-out QoS 0
	p2pCPU          = 8.0  // likewise, p2p QoS 1
	memoryPerClient = 2048 // bytes of RSS per idle connection with one subscription
	// paperConnections is the scale of the paper estimate of memory.
	paperConnections = 1_000_000
)

// verdict is one line of the comparison: a figure for each broker, their
// ratio, the target and whether it is met.
type verdict struct {
	Measure, Petrel, Mosquitto, Ratio, Target string
	// Met is "yes", "no", or "—" when it could not be judged.
	Met string
}

// table is a Markdown table.
type table struct {
	Header []string
	Rows   [][]string
}

// evaluation is what the results say.
type evaluation struct {
	res      *results
	compared bool // Mosquitto was measured too
	Verdicts []verdict
	// Throughput, Latency, Scale and Memory are the figures behind the
	// verdicts.
	Throughput, Latency, Scale, Memory table
	// ScaleTail compares the scale measurement's p99s, which the verdict,
	// on medians, does not.
	ScaleTail string
	// Paper is the estimate of memory at paperConnections.
	Paper []string
	// Floor says, for each fixed rate, how the latency floor's p99
	// compares with the brokers'.
	Floor []string
	// Problems are runs that failed, lost or duplicated messages where
	// their QoS forbids it, or stalled.
	Problems []string
}

// evaluate judges the results against the targets. Without Mosquitto
// (compared false), only the targets that are not ratios are judged.
func evaluate(res *results, compared bool) *evaluation {
	e := &evaluation{res: res, compared: compared}
	e.throughput()
	e.qos2()
	e.latency()
	e.scale()
	e.cpu()
	e.memory()
	e.problems()
	return e
}

const (
	petrel    = "Petrel"
	mosquitto = "Mosquitto"
	// floor is the relay that does no work, measured only for latency.
	floor = "Floor"
)

// bestThroughput is the run that delivered most a second.
func bestThroughput(runs []*outcome) *outcome {
	var best *outcome
	for _, o := range runs {
		if o.Report != nil && o.Err == "" && (best == nil || o.Report.ReceivedPerSecond > best.Report.ReceivedPerSecond) {
			best = o
		}
	}
	return best
}

// bestLatency is the run with the lowest p99.
func bestLatency(runs []*outcome) *outcome {
	var best *outcome
	for _, o := range runs {
		if o.Report != nil && o.Err == "" && o.Report.Latency != nil && (best == nil || o.Report.Latency.P99 < best.Report.Latency.P99) {
			best = o
		}
	}
	return best
}

// judge says whether a figure meets its target, or "—" when either is
// missing.
func judge(ok, known bool) string {
	switch {
	case !known:
		return "—"
	case ok:
		return "yes"
	}
	return "no"
}

func (e *evaluation) throughput() {
	e.Throughput.Header = []string{"scenario", "MQTT", "QoS", "Petrel msg/s", "broker", "bench", "undelivered",
		"Mosquitto msg/s", "broker", "bench", "undelivered", "ratio"}
	for _, c := range e.res.Cases {
		p := bestThroughput(e.res.get(c.name(), petrel))
		m := bestThroughput(e.res.get(c.name(), mosquitto))
		v := verdict{Measure: "throughput · " + c.label(), Petrel: rate(p), Mosquitto: rate(m),
			Ratio: "—", Target: fmt.Sprintf("≥ %g×", c.Shape.Target), Met: "—"}
		if p != nil && m != nil && e.compared && m.Report.ReceivedPerSecond > 0 {
			r := p.Report.ReceivedPerSecond / m.Report.ReceivedPerSecond
			v.Ratio, v.Met = times(r), judge(r >= c.Shape.Target, true)
		}
		e.Verdicts = append(e.Verdicts, v)
		row := []string{c.Shape.Label, c.Version.Label, fmt.Sprint(c.QoS)}
		for _, o := range []*outcome{p, m} {
			row = append(row, rate(o), cores(o, brokerRole), cores(o, generatorRole), undelivered(o))
		}
		e.Throughput.Rows = append(e.Throughput.Rows, append(row, v.Ratio))
	}
}

// qos2 judges QoS 2 against Petrel's own QoS 1 in each shape: at least
// half as fast, and never stalled.
func (e *evaluation) qos2() {
	for _, c := range e.res.Cases {
		if c.QoS != 2 {
			continue
		}
		one := tcase{c.Shape, c.Version, 1}
		q1 := bestThroughput(e.res.get(one.name(), petrel))
		q2 := bestThroughput(e.res.get(c.name(), petrel))
		var stalled, failed int
		for _, o := range e.res.get(c.name(), petrel) {
			if o.Report != nil {
				stalled += stalls(o.Report)
			}
			if o.Err != "" || o.Report != nil && len(o.Report.Failures) > 0 {
				failed++
			}
		}
		v := verdict{Measure: fmt.Sprintf("QoS 2 vs Petrel's QoS 1 · %s · %s", c.Shape.Label, c.Version.Label),
			Petrel: rate(q2), Mosquitto: "—", Ratio: "—", Target: fmt.Sprintf("≥ %g×, no stall", qos2Share), Met: "—"}
		if q1 != nil && q2 != nil && q1.Report.ReceivedPerSecond > 0 {
			r := q2.Report.ReceivedPerSecond / q1.Report.ReceivedPerSecond
			v.Ratio = times(r) + " of QoS 1"
			v.Met = judge(r >= qos2Share && stalled == 0 && failed == 0, true)
		}
		if stalled > 0 {
			v.Ratio += fmt.Sprintf(", stalled %d s", stalled)
		}
		if failed > 0 {
			v.Ratio += fmt.Sprintf(", %d failed runs", failed)
		}
		e.Verdicts = append(e.Verdicts, v)
	}
}

// stalls counts the whole seconds of a run in which messages were being
// sent or awaited acknowledgement but none was delivered.
func stalls(rep *loadgen.Report) int {
	n, prev := 0, 0.0
	for _, s := range rep.Timeline {
		span := s.T - prev
		prev = s.T
		if span >= 0.9 && s.ReceivedRate == 0 && (s.SentRate > 0 || s.InFlight > 0) {
			n++
		}
	}
	return n
}

func (e *evaluation) latency() {
	if len(e.res.Rates) == 0 {
		return
	}
	e.Latency.Header = []string{"rate", "broker", "p50", "p90", "p99", "p99.9", "max", "samples", "broker CPU / msg"}
	for i, r := range e.res.Rates {
		name := rateName(r)
		p := bestLatency(e.res.get(name, petrel))
		m := bestLatency(e.res.get(name, mosquitto))
		label := fmt.Sprintf("%s/s", count(r))
		if i > 0 {
			label += fmt.Sprintf(" (half %s's knee)", e.res.KneeOf)
		}
		v := verdict{Measure: "p99 latency · p2p 1 pair · 3.1.1 · QoS 1 · " + label,
			Petrel: p99(p), Mosquitto: p99(m), Ratio: "—", Target: fmt.Sprintf("≤ %g×", latencyRatio), Met: "—"}
		if p != nil && m != nil && e.compared && m.Report.Latency.P99 > 0 {
			ratio := p.Report.Latency.P99 / m.Report.Latency.P99
			v.Ratio, v.Met = times(ratio), judge(ratio <= latencyRatio, true)
		}
		e.Verdicts = append(e.Verdicts, v)
		f := bestLatency(e.res.get(name, floor))
		if f != nil && f.Report.Latency.P99 > 0 {
			line := fmt.Sprintf("At %s the floor's p99 is %s", label, us(f.Report.Latency.P99))
			if m != nil {
				line += fmt.Sprintf(", %s Mosquitto's", times(f.Report.Latency.P99/m.Report.Latency.P99))
			}
			if p != nil {
				line += fmt.Sprintf("; Petrel's is %s the floor's", times(p.Report.Latency.P99/f.Report.Latency.P99))
			}
			e.Floor = append(e.Floor, line+".")
		}
		for _, o := range []*outcome{p, m, f} {
			if o == nil {
				continue
			}
			l := o.Report.Latency
			e.Latency.Rows = append(e.Latency.Rows, []string{label, o.Server, us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max),
				count(float64(l.Count)), cpuPerMessage(o)})
		}
	}
}

// cpu judges the broker's CPU per delivered message in the two shapes the
// targets name, from the throughput runs.
func (e *evaluation) cpu() {
	for _, c := range e.res.Cases {
		limit := 0.0
		switch {
		case c.Shape.Scenario == "fanout" && c.QoS == 0:
			limit = fanoutCPU
		case c.Shape.Scenario == "p2p" && c.QoS == 1:
			limit = p2pCPU
		default:
			continue
		}
		p := bestThroughput(e.res.get(c.name(), petrel))
		m := bestThroughput(e.res.get(c.name(), mosquitto))
		v := verdict{Measure: "broker CPU per message · " + c.label(), Petrel: cpuPerMessage(p), Mosquitto: cpuPerMessage(m),
			Ratio: "—", Target: fmt.Sprintf("Petrel ≤ %g µs", limit), Met: "—"}
		if pc := cpuOf(p); pc > 0 {
			v.Met = judge(pc <= limit, true)
			if mc := cpuOf(m); mc > 0 {
				v.Ratio = times(pc / mc)
			}
		}
		e.Verdicts = append(e.Verdicts, v)
	}
}

func cpuOf(o *outcome) float64 {
	if o == nil || o.Report.Broker == nil {
		return 0
	}
	return o.Report.Broker.CPUPerMessage
}

func (e *evaluation) memory() {
	runs := map[string]*outcome{}
	for _, s := range e.res.Servers {
		for _, o := range e.res.get(memoryName, s) {
			if o.Err == "" && o.Report.Broker != nil && o.Report.Connections != nil {
				runs[s] = o
			}
		}
	}
	if len(runs) == 0 {
		return
	}
	n := e.res.Mode.Connections
	per := func(o *outcome) float64 {
		if o == nil {
			return 0
		}
		return o.Report.Broker.RSSPerConnection
	}
	p, m := runs[petrel], runs[mosquitto]
	v := verdict{Measure: fmt.Sprintf("memory per idle connection · %s connections, one subscription each", count(float64(n))),
		Petrel: "—", Mosquitto: "—", Ratio: "—", Target: "Petrel ≤ " + kb(memoryPerClient), Met: "—"}
	if p != nil {
		v.Petrel, v.Met = kb(per(p)), judge(per(p) <= memoryPerClient, true)
	}
	if m != nil {
		v.Mosquitto = kb(per(m))
		if p != nil && per(m) > 0 {
			v.Ratio = times(per(p) / per(m))
		}
	}
	e.Verdicts = append(e.Verdicts, v)

	e.Memory.Header = []string{"broker", "connected", "RSS before", "RSS with them", "per connection", "RSS after they left"}
	for _, s := range e.res.Servers {
		o := runs[s]
		if o == nil {
			continue
		}
		b := o.Report.Broker
		e.Memory.Rows = append(e.Memory.Rows, []string{s, count(float64(o.Report.Connections.Established)),
			mb(float64(b.RSSBefore)), mb(float64(b.RSSAfter)), kb(b.RSSPerConnection), mb(float64(o.RSSLeft))})
		total := float64(b.RSSBefore) + b.RSSPerConnection*paperConnections
		e.Paper = append(e.Paper, fmt.Sprintf("%s: %s at start + %s × %s per connection ≈ %s of RSS",
			s, mb(float64(b.RSSBefore)), count(paperConnections), kb(b.RSSPerConnection), gb(total)))
	}
}

// problems lists every run that failed, lost QoS 1 or 2 messages,
// delivered a QoS 2 message twice, or stalled, with the command that
// reproduces it.
func (e *evaluation) problems() {
	names := []string{}
	labels := map[string]string{}
	for _, c := range e.res.Cases {
		names = append(names, c.name())
		labels[c.name()] = "throughput · " + c.label()
	}
	if e.res.Knee > 0 || len(e.res.Rates) > 0 {
		names = append(names, latencyName+"/knee")
		labels[latencyName+"/knee"] = "latency scenario, unthrottled"
		for _, r := range e.res.Rates {
			names = append(names, rateName(r))
			labels[rateName(r)] = fmt.Sprintf("latency at %s/s", count(r))
		}
	}
	names = append(names, memoryName)
	labels[memoryName] = "memory"
	for _, name := range names {
		for _, s := range append(e.res.Servers, floor) {
			for i, o := range e.res.get(name, s) {
				var what []string
				if o.Err != "" {
					what = append(what, o.Err)
				}
				if o.Report != nil {
					what = append(what, o.Report.Failures...)
					if n := stalls(o.Report); n > 0 {
						what = append(what, fmt.Sprintf("stalled %d s: whole seconds with messages outstanding and none delivered", n))
					}
				}
				if len(what) > 0 {
					e.Problems = append(e.Problems, fmt.Sprintf("%s, %s, run %d: %s. Command: `%s`",
						s, labels[name], i+1, strings.Join(what, "; "), o.Command))
				}
			}
		}
	}
}

// Tally counts the verdicts met and missed.
func (e *evaluation) Tally() (met, missed, unjudged int) {
	for _, v := range e.Verdicts {
		switch v.Met {
		case "yes":
			met++
		case "no":
			missed++
		default:
			unjudged++
		}
	}
	return met, missed, unjudged
}

func rate(o *outcome) string {
	if o == nil {
		return "—"
	}
	return count(o.Report.ReceivedPerSecond)
}

// cores is the CPU the broker or the generator used over a run.
func cores(o *outcome, role int) string {
	if o == nil {
		return "—"
	}
	p := o.Report.Broker
	if role == generatorRole {
		p = o.Report.Bench
	}
	if p == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f", p.Cores)
}

// undelivered is what the run's subscribers never received: messages a
// broker dropped, or still held when the drain time ran out.
func undelivered(o *outcome) string {
	if o == nil {
		return "—"
	}
	r := o.Report
	if r.Lost == 0 {
		return "0"
	}
	return fmt.Sprintf("%s (%.1f%%)", count(float64(r.Lost)), 100*float64(r.Lost)/float64(max(r.Expected, 1)))
}

func p99(o *outcome) string {
	if o == nil {
		return "—"
	}
	return fmt.Sprintf("%s (p99.9 %s)", us(o.Report.Latency.P99), us(o.Report.Latency.P999))
}

func cpuPerMessage(o *outcome) string {
	if c := cpuOf(o); c > 0 {
		return fmt.Sprintf("%.2f µs", c)
	}
	return "—"
}
