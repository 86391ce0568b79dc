//go:build linux

package main

import (
	"debug/buildinfo"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/petrelmq/petrel/internal/loadgen"
)

// machine is what the results were measured on.
type machine struct {
	CPU       string
	Cores     int
	Kernel    string
	Go        string
	Petrel    string
	Mosquitto string
	Date      string
	// LoadBefore and LoadAfter are the load averages (1, 5, 15 minutes)
	// when the runs began and ended: other work on the machine.
	LoadBefore, LoadAfter string
}

func describeMachine(petrelBin string, servers []*server) machine {
	m := machine{Cores: runtime.NumCPU(), Date: time.Now().UTC().Format("2006-01-02 15:04 UTC")}
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU, m.Cores = cpuModel(string(info))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	m.Go, m.Petrel = petrelBuild(petrelBin)
	for _, s := range servers {
		if s.Name == mosquitto {
			// mosquitto -h prints its version first, and exits non-zero.
			out, _ := exec.Command(s.Bin, "-h").CombinedOutput()
			first, _, _ := strings.Cut(string(out), "\n")
			m.Mosquitto = strings.TrimSpace(first) + " (" + s.Bin + ")"
		}
	}
	return m
}

// cpuModel finds the CPU's model name and the number of logical CPUs in
// /proc/cpuinfo.
func cpuModel(info string) (string, int) {
	model, n := "", 0
	for line := range strings.SplitSeq(info, "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "processor":
			n++
		case "model name":
			if model == "" {
				model = strings.TrimSpace(value)
			}
		}
	}
	return model, n
}

// petrelBuild reads the Go version and the commit a petrel binary was
// built with.
func petrelBuild(bin string) (goVersion, commit string) {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return runtime.Version(), "unknown build"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	switch {
	case rev == "":
		commit = "built outside a Git checkout"
	case modified == "true":
		commit = "commit " + rev[:min(12, len(rev))] + " with uncommitted changes"
	default:
		commit = "commit " + rev[:min(12, len(rev))]
	}
	return info.GoVersion, commit
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// settings says how the runs were made, for the report.
func (h *harness) settings() []string {
	m := h.mode
	runs := fmt.Sprintf("Every measurement ran %s against each broker, started afresh for each run", often(m.Repeat))
	if m.Repeat > 1 {
		runs += ", the brokers taking turns to go first; the best run of each broker is reported " +
			"(the most delivered a second; for latency, the lowest p99)"
	}
	s := []string{
		fmt.Sprintf("Mode %s: each throughput run publishes for %s, each fixed-rate latency run for %s; "+
			"each then waits up to %s for deliveries still under way. %s.", m.Name, m.Throughput, m.Latency, m.Drain, runs),
		"The load generator is `petrel bench` from the same build, a separate process, with 64-byte payloads, clean sessions, " +
			"and 64 messages in flight per QoS 1 or 2 publisher. Throughput is messages delivered to subscribers a second, " +
			"from the start of publishing to the last delivery; publishers send as fast as the broker takes their messages.",
	}
	if c := h.launch.cpus; c != nil {
		s = append(s, fmt.Sprintf("Pinned with taskset: the broker on CPU %d, the load generator on CPU %d, so each has a core "+
			"and neither takes the other's. Mosquitto runs one thread; Petrel, seeing one CPU, runs with GOMAXPROCS 1.", c[0], c[1]))
	} else {
		s = append(s, "Not pinned: broker and load generator share the CPUs as the scheduler decides.")
	}
	switch {
	case h.launch.nice == 0:
		s = append(s, "Priority: as started.")
	case h.launch.niceErr != nil:
		s = append(s, fmt.Sprintf("Priority: nice %d was asked for, but the scheduler autogroups could not be raised (%v), "+
			"so other work on the machine competed for the CPUs as an equal.", h.launch.nice, h.launch.niceErr))
	default:
		s = append(s, fmt.Sprintf("Priority: brokers and generator ran at nice %d, each in a session (scheduler autogroup) of its own "+
			"raised likewise, so that other work on the machine disturbed them less.", h.launch.nice))
	}
	s = append(s, fmt.Sprintf("Memory: (RSS with %s idle connections − RSS before them) / %s, read from /proc, "+
		"each connection subscribed to a filter of its own at QoS 1 (`idle/%%i`), keep-alive 60 s, opened from %d loopback "+
		"source addresses (%s) by the generator, a process of its own.",
		count(float64(m.Connections)), count(float64(m.Connections)), len(sourceAddrs), strings.Join(sourceAddrs, ", ")))
	return s
}

// document renders the results as Markdown.
func document(settings []string, m machine, e *evaluation) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Petrel against Mosquitto\n\n")
	w("Written by `go run ./bench/compare -write BENCHMARKS.md` (see bench/compare); do not edit by hand.\n\n")
	w("| | |\n| --- | --- |\n")
	for _, kv := range [][2]string{
		{"date", m.Date}, {"CPU", m.CPU}, {"cores", strconv.Itoa(m.Cores)}, {"kernel", m.Kernel}, {"Go", m.Go},
		{"Petrel", m.Petrel}, {"Mosquitto", orDash(m.Mosquitto)}, {"load average before, after", m.LoadBefore + "; " + m.LoadAfter},
	} {
		w("| %s | %s |\n", kv[0], kv[1])
	}
	met, missed, unjudged := e.Tally()
	w("\n## Targets\n\n")
	w("%d met, %d not met", met, missed)
	if unjudged > 0 {
		w(", %d not judged (a figure is missing)", unjudged)
	}
	w(". Ratios are Petrel's figure over Mosquitto's.\n\n")
	t := table{Header: []string{"measure", "Petrel", "Mosquitto", "ratio", "target", "met"}}
	for _, v := range e.Verdicts {
		t.Rows = append(t.Rows, []string{v.Measure, v.Petrel, v.Mosquitto, v.Ratio, v.Target, v.Met})
	}
	b.WriteString(t.markdown())

	if len(e.Problems) > 0 {
		w("\n## What went wrong\n\n")
		for _, p := range e.Problems {
			w("- %s\n", p)
		}
	}
	if len(e.Throughput.Rows) > 0 {
		w("\n## Throughput\n\nMessages delivered a second (best run); the CPU the broker and the load generator (bench) used, " +
			"in cores, where 1 is a core busy all the time: a broker below 1 was held back by something else, such as round trips " +
			"or a busy generator; and the deliveries that never came: dropped, or still queued when the drain time ran out " +
			"(QoS 0 only, unless listed above).\n\n")
		b.WriteString(e.Throughput.markdown())
	}
	if len(e.Latency.Rows) > 0 {
		w("\n## Latency\n\nQoS 1 from one publisher to one subscriber, MQTT 3.1.1, at fixed rates, from publication to delivery. ")
		w("%s's knee, the rate at which its throughput stops rising, is its rate with the publisher unthrottled (64 in flight): %s/s.\n\n",
			e.res.KneeOf, count(e.res.Knee))
		b.WriteString(e.Latency.markdown())
		if len(e.Floor) > 0 {
			w("\n%s is `bench/floor`, a relay that does no work, measured in the same runs on the broker's CPU: it passes each "+
				"message on and acknowledges it with the system calls a C program would make, and nothing else (no sessions, "+
				"no topic tree, no store, no collector). Its latency is the machine's own: the kernel's loopback path and the "+
				"waking of each process's CPU, which on a virtual machine the hypervisor decides. No broker can be measured "+
				"below it here.\n\n", floor)
			for _, line := range e.Floor {
				w("- %s\n", line)
			}
		}
	}
	if len(e.Scale.Rows) > 0 {
		w("\n## Scale of state\n\nThe latency scenario at %s/s against one Petrel, empty, then while another petrel bench holds "+
			"the state: its connections, each subscribed to filters of its own (`state/<connection>/<n>`), and the retained messages "+
			"they published (`state/retained/<n>`, QoS 1, acknowledged), measured %s after the state was made. The measured messages match none of it. "+
			"The verdict compares medians, as the target is stated. %s\n\n",
			count(fixedRate), scaleSettle, e.ScaleTail)
		b.WriteString(e.Scale.markdown())
	}
	if len(e.Memory.Rows) > 0 {
		w("\n## Memory\n\n")
		b.WriteString(e.Memory.markdown())
		w("\nOn paper, for %s connections:\n\n", count(paperConnections))
		for _, p := range e.Paper {
			w("- %s\n", p)
		}
		w("- Not in RSS: the kernel's own memory for each socket. Beyond that, %s connections need a file limit above "+
			"%s for the broker, and a generator on one machine needs about %d loopback source addresses (about 28,000 "+
			"ports each towards one server address).\n", count(paperConnections), count(paperConnections), int(math.Ceil(paperConnections/28000.0)))
	}
	w("\n## How it was measured\n\n")
	for _, s := range settings {
		w("- %s\n", s)
	}
	w("\nPetrel's configuration (its default store, Pebble, in a temporary data directory):\n\n```yaml\n%s```\n", petrelConfig(1883, "/tmp/…"))
	w("\nMosquitto's configuration:\n\n```\n%s```\n", mosquittoConfig(1883))
	return b.String()
}

// markdown renders the table with its columns padded, so it reads as
// well in a terminal as rendered.
func (t table) markdown() string {
	width := make([]int, len(t.Header))
	for _, row := range append([][]string{t.Header}, t.Rows...) {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c), 3)
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)) + " |")
		}
		b.WriteString("\n")
	}
	line(t.Header)
	rule := make([]string, len(width))
	for i, n := range width {
		rule[i] = strings.Repeat("-", n)
	}
	line(rule)
	for _, row := range t.Rows {
		line(row)
	}
	return b.String()
}

func often(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return strconv.Itoa(n) + " times"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// count formats v, rounded, with thousands separators.
func count(v float64) string { return loadgen.Count(int64(math.Round(v))) }

// us formats microseconds.
func us(v float64) string {
	switch {
	case v < 1000:
		return fmt.Sprintf("%.0f µs", v)
	case v < 1e6:
		return fmt.Sprintf("%.3g ms", v/1e3)
	}
	return fmt.Sprintf("%.3g s", v/1e6)
}

// kb formats bytes in KB of 1,024 bytes, as memory per connection is
// stated.
func kb(bytes float64) string { return fmt.Sprintf("%.2f KB", bytes/1024) }

func mb(bytes float64) string { return fmt.Sprintf("%.1f MB", bytes/(1<<20)) }

func gb(bytes float64) string { return fmt.Sprintf("%.2f GB", bytes/(1<<30)) }

func times(r float64) string { return fmt.Sprintf("%.2f×", r) }
