//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/loadgen"
)

// shape is a throughput scenario of petrel bench, with the ratio to
// Mosquitto Petrel's target asks for: three times where writes can be
// coalesced, twice from one publisher to one subscriber.
type shape struct {
	Scenario, Label string
	Target          float64
}

var shapes = []shape{
	{"fanin", "fan-in 4→1", 3},
	{"fanout", "fan-out 1→16", 3},
	{"p2p", "p2p 8 pairs", 2},
	{"shared", "shared 8→4", 3},
}

// version is an MQTT version as petrel bench's -V takes it and as the
// report names it.
type version struct{ Flag, Label string }

var versions = []version{{"311", "3.1.1"}, {"5", "5"}}

// tcase is one throughput measurement: a shape at one version and QoS,
// publishing as fast as the broker takes it.
type tcase struct {
	Shape   shape
	Version version
	QoS     int
}

func (c tcase) name() string {
	return fmt.Sprintf("throughput/%s/%s/qos%d", c.Shape.Scenario, c.Version.Label, c.QoS)
}

func (c tcase) label() string {
	return fmt.Sprintf("%s · %s · QoS %d", c.Shape.Label, c.Version.Label, c.QoS)
}

func (c tcase) args(m mode) []string {
	return []string{c.Shape.Scenario, "-V", c.Version.Flag, "-q", strconv.Itoa(c.QoS),
		"--duration", m.Throughput.String(), "--drain", m.Drain.String()}
}

func throughputCases() []tcase {
	var cases []tcase
	for _, s := range shapes {
		for _, v := range versions {
			for q := range 3 {
				cases = append(cases, tcase{s, v, q})
			}
		}
	}
	return cases
}

// The latency measurement: QoS 1 from one publisher to one subscriber,
// MQTT 3.1.1, first as fast as it goes (the knee: the rate at which
// throughput stops rising as the offered rate does), then at fixed rates.
const (
	latencyName = "latency"
	fixedRate   = 2000
)

func latencyArgs(m mode, rate float64) []string {
	args := []string{"p2p", "--clients", "1", "-V", "311", "-q", "1", "--drain", m.Drain.String()}
	if rate == 0 {
		return append(args, "--duration", m.Throughput.String())
	}
	return append(args, "--rate", strconv.FormatFloat(rate, 'f', -1, 64), "--duration", m.Latency.String())
}

// halfKnee is the second fixed rate: half the knee, in round hundreds.
func halfKnee(knee float64) float64 {
	return max(100, math.Round(knee/2/100)*100)
}

// The memory measurement: idle connections, each with one subscription
// of its own, spread over loopback source addresses as a real
// generator of many connections must spread them.
const memoryName = "memory"

var sourceAddrs = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}

func memoryArgs(m mode) []string {
	return []string{"conn", "--clients", strconv.Itoa(m.Connections), "--sub-topic", "idle/%i", "--sub-qos", "1",
		"--source-addrs", strings.Join(sourceAddrs, ","), "--duration", m.Hold.String()}
}

// outcome is one run of the load generator against one broker.
type outcome struct {
	Server  string
	Command string
	Report  *loadgen.Report // nil when the run failed
	Err     string
	// RSSLeft is, for the memory measurement, the broker's resident memory
	// a second after the connections closed.
	RSSLeft int64
	// RSS is, for the scale measurement, the broker's resident memory
	// holding the state.
	RSS int64
}

// results are the outcomes by measurement and server.
type results struct {
	Mode    mode
	Servers []string
	Cases   []tcase
	// Knee is the unthrottled rate of the latency scenario, KneeOf whose
	// it is (Mosquitto's, or Petrel's when measured alone).
	Knee   float64
	KneeOf string
	Rates  []float64
	runs   map[string]map[string][]*outcome
}

func (r *results) add(name string, o *outcome) {
	if r.runs[name] == nil {
		r.runs[name] = map[string][]*outcome{}
	}
	r.runs[name][o.Server] = append(r.runs[name][o.Server], o)
}

func (r *results) get(name, server string) []*outcome { return r.runs[name][server] }

func rateName(rate float64) string { return fmt.Sprintf("%s/%.0f", latencyName, rate) }

// runAll runs every selected measurement against every server.
func (h *harness) runAll(ctx context.Context) (*results, error) {
	res := &results{Mode: h.mode, runs: map[string]map[string][]*outcome{}}
	for _, s := range h.servers {
		res.Servers = append(res.Servers, s.Name)
	}
	for _, c := range throughputCases() {
		if h.selected(c.name()) {
			res.Cases = append(res.Cases, c)
		}
	}
	latency, memory, scale := h.selected(latencyName), h.selected(memoryName), h.selected(scaleName)
	perServer := len(res.Cases) * h.mode.Repeat
	if latency {
		perServer += 3 * h.mode.Repeat
	}
	if memory {
		perServer++
	}
	h.total = perServer * len(h.servers)
	if latency && h.floor != nil {
		h.total += 2 * h.mode.Repeat
	}
	if scale {
		h.total += 2 * h.mode.Repeat
	}
	fmt.Fprintf(h.progress, "%d runs, about %s\n", h.total, h.estimate(res.Cases, latency, memory, scale).Round(time.Minute))

	for _, c := range res.Cases {
		if err := h.measure(ctx, res, c.name(), c.label(), c.args(h.mode), h.servers); err != nil {
			return nil, err
		}
	}
	if latency {
		if err := h.measure(ctx, res, latencyName+"/knee", "latency scenario unthrottled", latencyArgs(h.mode, 0), h.servers); err != nil {
			return nil, err
		}
		res.KneeOf = h.servers[len(h.servers)-1].Name
		if o := bestThroughput(res.get(latencyName+"/knee", res.KneeOf)); o != nil {
			res.Knee = o.Report.ReceivedPerSecond
		}
		res.Rates = []float64{fixedRate}
		if res.Knee > 0 {
			res.Rates = append(res.Rates, halfKnee(res.Knee))
		}
		servers := h.servers
		if h.floor != nil {
			servers = append(slices.Clip(servers), h.floor)
		}
		for _, rate := range res.Rates {
			label := fmt.Sprintf("latency at %.0f/s", rate)
			if err := h.measure(ctx, res, rateName(rate), label, latencyArgs(h.mode, rate), servers); err != nil {
				return nil, err
			}
		}
	}
	if scale {
		if err := h.scale(ctx, res); err != nil {
			return nil, err
		}
	}
	if memory {
		for _, s := range h.servers {
			o, err := h.once(ctx, s, memoryArgs(h.mode), true)
			if err != nil {
				return nil, err
			}
			res.add(memoryName, o)
			h.report("memory", o)
		}
	}
	return res, nil
}

// estimate is roughly how long the runs take: each publishes for its
// duration, and starting, connecting, draining and stopping add a few
// seconds.
func (h *harness) estimate(cases []tcase, latency, memory, scale bool) time.Duration {
	const overhead = 3 * time.Second
	runs := time.Duration(len(h.servers) * h.mode.Repeat)
	d := time.Duration(len(cases)) * runs * (h.mode.Throughput + overhead)
	if latency {
		d += runs * (h.mode.Throughput + 2*h.mode.Latency + 3*overhead)
		if h.floor != nil {
			d += time.Duration(h.mode.Repeat) * 2 * (h.mode.Latency + overhead)
		}
	}
	if memory {
		d += time.Duration(len(h.servers)) * (h.mode.Hold + 10*time.Second)
	}
	if scale {
		d += time.Duration(h.mode.Repeat) * (2*h.mode.Latency + scaleSettle + time.Minute)
	}
	return d
}

// measure runs one measurement Repeat times against each of servers,
// the servers taking turns to go first.
func (h *harness) measure(ctx context.Context, res *results, name, label string, args []string, servers []*server) error {
	for i := range h.mode.Repeat {
		for j := range servers {
			s := servers[(i+j)%len(servers)]
			o, err := h.once(ctx, s, args, false)
			if err != nil {
				return err
			}
			res.add(name, o)
			h.report(label, o)
		}
	}
	return nil
}

// once runs the load generator with args against a fresh broker. The
// error is for what ends the whole comparison (an interrupt, a broker
// that cannot start); a failed run is in the outcome.
func (h *harness) once(ctx context.Context, s *server, args []string, memory bool) (*outcome, error) {
	b, err := h.startBroker(ctx, s)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	o, err := h.against(ctx, b, args)
	if err != nil {
		return nil, err
	}
	if memory && o.Err == "" {
		time.Sleep(time.Second)
		o.RSSLeft, _ = b.rss()
	}
	return o, nil
}

// against runs the load generator with args against the running broker b.
func (h *harness) against(ctx context.Context, b *broker, args []string) (*outcome, error) {
	full := slices.Concat(args, b.benchArgs(), []string{"--broker-pid", strconv.Itoa(b.pid), "--json", "--quiet"})
	o := &outcome{Server: b.srv.Name, Command: "petrel bench " + strings.Join(full, " ")}
	var err error
	o.Report, err = h.bench(ctx, full)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		o.Err = err.Error()
	}
	if err := b.alive(); err != nil {
		o.Err = err.Error()
	}
	return o, nil
}

// bench runs petrel bench and decodes its report. It exits 1 when
// messages were lost or anything failed, and says why in the report.
func (h *harness) bench(ctx context.Context, args []string) (*loadgen.Report, error) {
	limit := h.mode.Throughput + h.mode.Latency + h.mode.Drain + h.mode.Hold + 2*time.Minute
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := h.launch.command(ctx, generatorRole, append([]string{h.petrel, "bench"}, args...))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h.launch.started(cmd.Process.Pid)
	err := cmd.Wait()
	if ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("petrel bench did not finish within %s", limit)
	}
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1 && stdout.Len() > 0) {
		return nil, fmt.Errorf("petrel bench: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var rep loadgen.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return nil, fmt.Errorf("petrel bench's report: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return &rep, nil
}

// report prints a line about a finished run.
func (h *harness) report(label string, o *outcome) {
	h.done++
	var what string
	switch rep := o.Report; {
	case o.Err != "":
		what = "FAILED: " + o.Err
	case rep.Connections != nil && rep.Broker != nil:
		what = fmt.Sprintf("%s per connection", kb(rep.Broker.RSSPerConnection))
	case rep.Rate > 0 && rep.Latency != nil:
		what = fmt.Sprintf("p99 %s, p99.9 %s", us(rep.Latency.P99), us(rep.Latency.P999))
	default:
		what = fmt.Sprintf("%s delivered a second", count(rep.ReceivedPerSecond))
	}
	if rep := o.Report; rep != nil && rep.Broker != nil {
		what += fmt.Sprintf(" (broker %.2f cores)", rep.Broker.Cores)
	}
	if rep := o.Report; rep != nil && len(rep.Failures) > 0 {
		what += "; " + strings.Join(rep.Failures, "; ")
	}
	fmt.Fprintf(h.progress, "[%d/%d] %s · %s: %s\n", h.done, h.total, label, o.Server, what)
}
