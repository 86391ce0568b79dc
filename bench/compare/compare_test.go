//go:build linux

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/petrelmq/petrel/internal/config"
	"github.com/petrelmq/petrel/internal/loadgen"
)

// These tests check the harness's own logic on made-up reports: which
// run counts, what is judged met, what is reported as wrong. They start
// no broker: the comparison itself is run by hand (-quick to check it
// works), never in CI.

// flood is a throughput run's report.
func flood(rate, cpu float64, timeline ...loadgen.Sample) *loadgen.Report {
	if timeline == nil {
		timeline = []loadgen.Sample{{T: 1, SentRate: rate, ReceivedRate: rate}, {T: 2, SentRate: rate, ReceivedRate: rate}}
	}
	return &loadgen.Report{ReceivedPerSecond: rate, Expected: 100, Received: 100, Timeline: timeline,
		Broker: &loadgen.Process{Cores: 1, CPUPerMessage: cpu}}
}

func fixed(rate, p99 float64) *loadgen.Report {
	return &loadgen.Report{Rate: rate, Latency: &loadgen.Latency{Count: 1000, P50: p99 / 4, P99: p99, P999: 2 * p99, Max: 3 * p99},
		Broker: &loadgen.Process{Cores: 0.1, CPUPerMessage: 50}}
}

func idle(n int, before, per float64) *loadgen.Report {
	return &loadgen.Report{Connections: &loadgen.Connections{Established: int64(n)},
		Broker: &loadgen.Process{RSSBefore: int64(before), RSSAfter: int64(before + per*float64(n)), RSSPerConnection: per}}
}

func sampleResults() *results {
	fanin := func(q int) tcase { return tcase{shapes[0], versions[0], q} }
	fanout0 := tcase{shapes[1], versions[0], 0}
	res := &results{Mode: quickMode, Servers: []string{petrel, mosquitto}, runs: map[string]map[string][]*outcome{},
		Cases: []tcase{fanin(0), fanin(1), fanin(2), fanout0}, Knee: 20000, KneeOf: mosquitto, Rates: []float64{2000, 10000}}
	add := func(name, server string, rep *loadgen.Report, err string) {
		res.add(name, &outcome{Server: server, Command: "petrel bench " + name, Report: rep, Err: err})
	}
	// Petrel's fan-in: QoS 0 three times Mosquitto's in its best run;
	// QoS 1 short of it; QoS 2 over half its QoS 1 but stalled once.
	add(fanin(0).name(), petrel, flood(200_000, 1), "")
	add(fanin(0).name(), petrel, flood(310_000, 1), "")
	add(fanin(0).name(), mosquitto, flood(100_000, 9), "")
	add(fanin(0).name(), mosquitto, nil, "the broker exited during the run")
	add(fanin(1).name(), petrel, flood(250_000, 2), "")
	add(fanin(1).name(), mosquitto, flood(90_000, 12), "")
	add(fanin(2).name(), petrel, flood(150_000, 3, loadgen.Sample{T: 1, SentRate: 10, ReceivedRate: 10},
		loadgen.Sample{T: 2, InFlight: 64}, loadgen.Sample{T: 2.5, InFlight: 64}), "")
	add(fanin(2).name(), mosquitto, flood(40_000, 20), "")
	add(fanout0.name(), petrel, flood(1_000_000, 2.5), "")
	add(fanout0.name(), mosquitto, flood(50_000, 20), "")
	// Latency: Petrel's second run is its best; at the second rate it
	// misses the target.
	add(rateName(2000), petrel, fixed(2000, 900), "")
	add(rateName(2000), petrel, fixed(2000, 400), "")
	add(rateName(2000), mosquitto, fixed(2000, 1000), "")
	add(rateName(10000), petrel, fixed(10000, 800), "")
	add(rateName(10000), mosquitto, fixed(10000, 1000), "")
	// The floor: its best run at the first rate; it failed at the second.
	add(rateName(2000), floor, fixed(2000, 500), "")
	add(rateName(2000), floor, fixed(2000, 300), "")
	add(rateName(10000), floor, nil, "floor exited during the run")
	// Scale: the state leaves the median nearly alone, not the tail.
	loaded := fixed(2000, 1600)
	loaded.Latency.P50 = 105
	add(scaleName+"/empty", petrel, fixed(2000, 400), "")
	add(scaleName+"/loaded", petrel, loaded, "")
	add(memoryName, petrel, idle(1000, 25<<20, 2200), "")
	add(memoryName, mosquitto, idle(1000, 8<<20, 1014), "")
	return res
}

func verdictOf(t *testing.T, e *evaluation, prefix string) verdict {
	t.Helper()
	for _, v := range e.Verdicts {
		if strings.HasPrefix(v.Measure, prefix) {
			return v
		}
	}
	t.Fatalf("no verdict on %q among %+v", prefix, e.Verdicts)
	return verdict{}
}

func TestEvaluate(t *testing.T) {
	e := evaluate(sampleResults(), true)
	for _, c := range []struct {
		measure, ratio, met string
	}{
		{"throughput · fan-in 4→1 · 3.1.1 · QoS 0", "3.10×", "yes"},
		{"throughput · fan-in 4→1 · 3.1.1 · QoS 1", "2.78×", "no"},
		{"throughput · fan-in 4→1 · 3.1.1 · QoS 2", "3.75×", "yes"},
		{"QoS 2 vs Petrel's QoS 1 · fan-in 4→1 · 3.1.1", "0.60× of QoS 1, stalled 1 s", "no"},
		{"p99 latency · p2p 1 pair · 3.1.1 · QoS 1 · 2,000/s", "0.40×", "yes"},
		{"p99 latency · p2p 1 pair · 3.1.1 · QoS 1 · 10,000/s (half Mosquitto's knee)", "0.80×", "no"},
		{"broker CPU per message · fan-out 1→16 · 3.1.1 · QoS 0", "0.12×", "no"},
		{"memory per idle connection", "2.17×", "no"},
		{"median latency · p2p 1 pair · 3.1.1 · QoS 1 · 2,000/s · holding", "1.05×", "yes"},
	} {
		v := verdictOf(t, e, c.measure)
		if v.Ratio != c.ratio || v.Met != c.met {
			t.Errorf("%s: ratio %q, met %q; want %q, %q", c.measure, v.Ratio, v.Met, c.ratio, c.met)
		}
	}
	if v := verdictOf(t, e, "p99 latency · p2p 1 pair · 3.1.1 · QoS 1 · 2,000/s"); v.Petrel != "400 µs (p99.9 800 µs)" {
		t.Errorf("Petrel's latency %q, want its best run's", v.Petrel)
	}
	if v := verdictOf(t, e, "memory"); v.Petrel != "2.15 KB" || v.Mosquitto != "0.99 KB" {
		t.Errorf("memory per connection %q and %q, want 2.15 KB and 0.99 KB", v.Petrel, v.Mosquitto)
	}
	if met, missed, unjudged := e.Tally(); met != 5 || missed != 5 || unjudged != 0 {
		t.Errorf("tally %d met, %d missed, %d unjudged; want 5, 5, 0", met, missed, unjudged)
	}
	if len(e.Problems) != 3 {
		t.Fatalf("problems %q, want Mosquitto's failed run, Petrel's stall and the floor's failed run", e.Problems)
	}
	if p := e.Problems[2]; !strings.Contains(p, "Floor, latency at 10,000/s, run 1: floor exited") {
		t.Errorf("problem %q, want the floor's failed run", p)
	}
	if want := []string{"At 2,000/s the floor's p99 is 300 µs, 0.30× Mosquitto's; Petrel's is 1.33× the floor's."}; !slices.Equal(e.Floor, want) {
		t.Errorf("floor %q, want %q", e.Floor, want)
	}
	if rows := e.Latency.Rows; len(rows) != 5 || rows[2][1] != floor || rows[2][4] != "300 µs" {
		t.Errorf("latency rows %q, want Petrel's, Mosquitto's and the floor's best at 2,000/s, then the two brokers'", rows)
	}
	if p := e.Problems[0]; !strings.Contains(p, "Mosquitto, throughput · fan-in 4→1 · 3.1.1 · QoS 0, run 2: the broker exited") {
		t.Errorf("problem %q, want Mosquitto's failed run", p)
	}
	if p := e.Problems[1]; !strings.Contains(p, "Petrel, throughput · fan-in 4→1 · 3.1.1 · QoS 2, run 1: stalled 1 s: whole seconds") ||
		!strings.Contains(p, "`petrel bench throughput/fanin/3.1.1/qos2`") {
		t.Errorf("problem %q, want the stall with its command", p)
	}
	if len(e.Paper) != 2 || !strings.HasPrefix(e.Paper[0], "Petrel: 25.0 MB at start + 1,000,000 × 2.15 KB per connection ≈ 2.07 GB") {
		t.Errorf("paper estimate %q", e.Paper)
	}
}

// TestEvaluateAlone checks that without Mosquitto the ratios are left
// unjudged and Petrel's own targets still are.
func TestEvaluateAlone(t *testing.T) {
	res := sampleResults()
	res.Servers = []string{petrel}
	for _, byServer := range res.runs {
		delete(byServer, mosquitto)
	}
	e := evaluate(res, false)
	if v := verdictOf(t, e, "throughput · fan-in 4→1 · 3.1.1 · QoS 0"); v.Met != "—" || v.Mosquitto != "—" {
		t.Errorf("throughput judged without Mosquitto: %+v", v)
	}
	if v := verdictOf(t, e, "broker CPU per message"); v.Met != "no" {
		t.Errorf("CPU per message %+v, want judged against its absolute target", v)
	}
	if v := verdictOf(t, e, "QoS 2 vs Petrel's QoS 1"); v.Met != "no" {
		t.Errorf("QoS 2 %+v, want judged", v)
	}
}

func TestStalls(t *testing.T) {
	for _, c := range []struct {
		name     string
		timeline []loadgen.Sample
		want     int
	}{
		{"connecting, then flowing", []loadgen.Sample{{T: 1}, {T: 2, SentRate: 5, ReceivedRate: 5}}, 0},
		{"sending, none delivered", []loadgen.Sample{{T: 1, SentRate: 5, ReceivedRate: 5}, {T: 2, SentRate: 5}}, 1},
		{"in flight, none delivered", []loadgen.Sample{{T: 1, InFlight: 3}, {T: 2, InFlight: 3}}, 2},
		{"a short last sample", []loadgen.Sample{{T: 1, SentRate: 5, ReceivedRate: 5}, {T: 1.3, InFlight: 3}}, 0},
	} {
		if got := stalls(&loadgen.Report{Timeline: c.timeline}); got != c.want {
			t.Errorf("%s: %d stalled seconds, want %d", c.name, got, c.want)
		}
	}
}

func TestPlan(t *testing.T) {
	cases := throughputCases()
	if len(cases) != 24 {
		t.Errorf("%d throughput cases, want 4 shapes × 2 versions × 3 QoS", len(cases))
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name()] {
			t.Errorf("two cases named %s", c.name())
		}
		names[c.name()] = true
	}
	args := strings.Join(tcase{shapes[3], versions[1], 2}.args(fullMode), " ")
	if args != "shared -V 5 -q 2 --duration 5s --drain 10s" {
		t.Errorf("args %q", args)
	}
	if args := strings.Join(latencyArgs(fullMode, 2000), " "); !strings.Contains(args, "p2p --clients 1 -V 311 -q 1") || !strings.Contains(args, "--rate 2000 --duration 15s") {
		t.Errorf("latency args %q", args)
	}
	if args := latencyArgs(fullMode, 0); slices.Contains(args, "--rate") {
		t.Errorf("the knee's run is throttled: %q", args)
	}
	if args := strings.Join(memoryArgs(fullMode), " "); !strings.Contains(args, "conn --clients 15000 --sub-topic idle/%i --sub-qos 1 --source-addrs 127.0.0.1,127.0.0.2") {
		t.Errorf("memory args %q", args)
	}
	for knee, want := range map[float64]float64{13443: 6700, 13460: 6700, 150: 100, 0: 100} {
		if got := halfKnee(knee); got != want {
			t.Errorf("half of a knee at %g: %g, want %g", knee, got, want)
		}
	}
}

// TestPetrelConfig loads the configuration the harness gives Petrel the
// way petrel does, so a renamed key fails here rather than at the start
// of a comparison.
func TestPetrelConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "petrel.yaml")
	if err := os.WriteFile(path, []byte(petrelConfig(18830, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(config.Sources{File: path})
	if err != nil {
		t.Fatal(err)
	}
	o := c.Options
	if !c.Persist || c.DataDir != filepath.Join(dir, "data") || o.MaxQueuedMessages != maxQueued || o.MaxInflight != maxInflight || int(o.ReceiveMaximum) != maxInflight {
		t.Errorf("persist %t in %q, queue %d, in flight %d, receive maximum %d", c.Persist, c.DataDir, o.MaxQueuedMessages, o.MaxInflight, o.ReceiveMaximum)
	}
	if len(c.Listeners) != 1 || c.Listeners[0].Address != "127.0.0.1:18830" {
		t.Errorf("listeners %+v", c.Listeners)
	}
}

func TestMosquittoConfig(t *testing.T) {
	conf := mosquittoConfig(18831)
	for _, line := range []string{"listener 18831 127.0.0.1", "allow_anonymous true", "persistence false",
		"max_queued_messages 1000000", "max_inflight_messages 1024", "memory_limit 0", "set_tcp_nodelay true"} {
		if !slices.Contains(strings.Split(conf, "\n"), line) {
			t.Errorf("Mosquitto's configuration lacks %q:\n%s", line, conf)
		}
	}
}

func TestDocument(t *testing.T) {
	e := evaluate(sampleResults(), true)
	doc := document([]string{"Mode quick."}, machine{CPU: "Test CPU", Cores: 2, Mosquitto: "mosquitto version 2.0.11"}, e)
	for _, want := range []string{
		"| CPU | Test CPU |",
		"5 met, 5 not met.",
		"| measure ",
		"## What went wrong",
		"## Throughput",
		"## Latency",
		"Mosquitto's knee, the rate at which its throughput stops rising, is its rate with the publisher unthrottled (64 in flight): 20,000/s.",
		"Floor is `bench/floor`, a relay that does no work",
		"- At 2,000/s the floor's p99 is 300 µs",
		"## Scale of state",
		"The verdict compares medians, as the target is stated. The tail is another matter: p99 1.6 ms holding the state against 400 µs empty, 4.00×.",
		"## Memory",
		"- Mode quick.",
		"max_queued_messages: 1000000",
		"set_tcp_nodelay true",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the document lacks %q:\n%s", want, doc)
		}
	}
}

func TestTableMarkdown(t *testing.T) {
	got := table{Header: []string{"a", "ratio"}, Rows: [][]string{{"fan-in 4→1", "3.10×"}}}.markdown()
	want := "| a          | ratio |\n| ---------- | ----- |\n| fan-in 4→1 | 3.10× |\n"
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestCPUModel(t *testing.T) {
	model, n := cpuModel("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n")
	if model != "AMD EPYC 7B13" || n != 2 {
		t.Errorf("%q, %d CPUs; want AMD EPYC 7B13, 2", model, n)
	}
}

func TestParsePin(t *testing.T) {
	if cpus, err := parsePin("0,1"); err != nil || !slices.Equal(cpus, []int{0, 1}) {
		t.Errorf("0,1: %v, %v", cpus, err)
	}
	if cpus, err := parsePin(""); err != nil || cpus != nil {
		t.Errorf("empty: %v, %v", cpus, err)
	}
	for _, bad := range []string{"0", "0,x", "0,1,2", "-1,0"} {
		if _, err := parsePin(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{count(1234567.4), "1,234,567"}, {count(999), "999"}, {count(0), "0"},
		{us(412.4), "412 µs"}, {us(2770), "2.77 ms"}, {us(1.5e6), "1.5 s"},
		{kb(2253), "2.20 KB"}, {times(3.0951), "3.10×"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
