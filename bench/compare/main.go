//go:build linux

// Command compare measures Petrel against Mosquitto on this machine, side
// by side under the same load, and prints how they compare: the ratios
// Petrel's performance targets are stated in (throughput, latency, CPU
// per message, memory per idle connection) and whether each is met.
//
//	go run ./bench/compare                        # the full comparison, about 20 minutes
//	go run ./bench/compare -quick                 # a few seconds a run: does it work?
//	go run ./bench/compare -write BENCHMARKS.md   # and write the results there
//	go run ./bench/compare -run 'memory|fanout'   # only the measurements named so
//
// It builds cmd/petrel (or takes -petrel) and starts a fresh broker
// process for every run: petrel with its default store in a temporary
// data directory, and Debian's mosquitto where it is installed, each with
// one listener on 127.0.0.1 and with the same queue and in-flight limits,
// raised so that neither drops messages by policy (see petrelConfig and
// mosquittoConfig). The load is petrel bench, the same binary run as a
// separate process, which accounts for every message and reads the
// broker's CPU time and memory from /proc.
//
// # Keeping it fair
//
// A fast broker on a shared machine is easily measured slow, and the
// noise must not favour either side. So, by default:
//
//   - the broker runs on CPU 0 and the generator on CPU 1 (taskset), so
//     each has a core and neither can take the other's: Mosquitto uses one
//     thread, and Petrel, seeing one CPU, runs with GOMAXPROCS 1;
//   - both run at a raised priority (nice -10, and the same for their
//     scheduler autogroup, since each is started in a session of its own),
//     so other work on the machine disturbs them less;
//   - every measurement is repeated (-repeat), the two brokers taking
//     turns to go first, and the best run of each is kept: disturbance
//     only ever makes a run slower, so the best is the closest to what
//     the machine can do, for both alike.
//
// The report says which of these applied, with the load average before
// and after, and each run's broker CPU use, so a starved run shows.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		quick      = flag.Bool("quick", false, "a few seconds a run, 1,000 connections, no repeats: check the harness works")
		write      = flag.String("write", "", "also write the results, as Markdown, to `FILE` (BENCHMARKS.md)")
		petrelBin  = flag.String("petrel", "", "use this petrel `BINARY` instead of building ./cmd/petrel")
		mosquitto  = flag.String("mosquitto", defaultMosquitto(), "Mosquitto's `BINARY`; empty measures Petrel alone")
		only       = flag.String("run", "", "run only the measurements whose names match `REGEXP` (throughput/fanin/3.1.1/qos0, latency, scale, memory)")
		repeat     = flag.Int("repeat", 0, "run each measurement `N` times and keep the best (default 2, -quick 1)")
		pin        = flag.String("pin", defaultPin(), "the `CPUS` of the broker and of the load generator (taskset); empty does not pin")
		niceness   = flag.Int("nice", -10, "run brokers and generator at this `NICE` value; 0 leaves the priority alone")
		connection = flag.Int("connections", 0, "idle connections for the memory measurement (default 15,000, -quick 1,000)")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; see -help", flag.Arg(0))
	}
	m := fullMode
	if *quick {
		m = quickMode
	}
	if *repeat > 0 {
		m.Repeat = *repeat
	}
	if *connection > 0 {
		m.Connections = *connection
	}
	var filter *regexp.Regexp
	if *only != "" {
		var err error
		if filter, err = regexp.Compile(*only); err != nil {
			return fmt.Errorf("-run: %w", err)
		}
	}
	cpus, err := parsePin(*pin)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tmp, err := os.MkdirTemp("", "petrel-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	h := &harness{mode: m, tmp: tmp, only: filter, launch: launcher{cpus: cpus, nice: *niceness}, progress: os.Stderr}
	if h.petrel = *petrelBin; h.petrel == "" {
		if h.petrel, err = build(ctx, tmp, "petrel", "./cmd/petrel"); err != nil {
			return err
		}
	}
	if bin, err := build(ctx, tmp, "floor", "./bench/floor"); err != nil {
		fmt.Fprintf(os.Stderr, "latency without its floor: %v\n", err)
	} else {
		h.floor = floorServer(bin)
	}
	h.servers = []*server{petrelServer(h.petrel)}
	if *mosquitto != "" {
		path, err := exec.LookPath(*mosquitto)
		if err != nil {
			return fmt.Errorf("-mosquitto %s: %w (install Debian's mosquitto, or give -mosquitto '' to measure Petrel alone)", *mosquitto, err)
		}
		h.servers = append(h.servers, mosquittoServer(path))
	}
	if err := h.raiseFileLimit(); err != nil {
		return err
	}

	h.machine = describeMachine(h.petrel, h.servers)
	h.machine.LoadBefore = loadAverage()
	res, err := h.runAll(ctx)
	if err != nil {
		return err
	}
	h.machine.LoadAfter = loadAverage()
	doc := document(h.settings(), h.machine, evaluate(res, len(h.servers) > 1))
	if _, err := io.WriteString(os.Stdout, doc); err != nil {
		return err
	}
	if *write != "" {
		if err := os.WriteFile(*write, []byte(doc), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", *write)
	}
	return nil
}

// mode is how long and how hard the comparison runs.
type mode struct {
	Name string
	// Repeat is how many times each measurement runs against each broker.
	Repeat int
	// Throughput is how long each throughput run publishes, Latency each
	// fixed-rate run, Drain how long either waits for deliveries after.
	Throughput, Latency, Drain time.Duration
	// Connections is how many idle connections the memory measurement
	// opens, held for Hold.
	Connections int
	Hold        time.Duration
}

var (
	fullMode = mode{Name: "full", Repeat: 2, Throughput: 5 * time.Second, Latency: 15 * time.Second,
		Drain: 10 * time.Second, Connections: 15000, Hold: 5 * time.Second}
	quickMode = mode{Name: "quick", Repeat: 1, Throughput: time.Second, Latency: 2 * time.Second,
		Drain: 2 * time.Second, Connections: 1000, Hold: time.Second}
)

// harness runs the measurements.
type harness struct {
	mode    mode
	tmp     string
	only    *regexp.Regexp
	petrel  string
	servers []*server
	// floor is the relay that does no work (bench/floor), measured
	// alongside the brokers at the latency's fixed rates; nil if it could
	// not be built.
	floor    *server
	launch   launcher
	machine  machine
	progress io.Writer
	// done and total count the runs, for the progress lines.
	done, total int
}

func defaultMosquitto() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto"
	}
	return ""
}

// defaultPin gives the broker and the generator a CPU each where there
// are two and taskset is there to do it.
func defaultPin() string {
	if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
		return ""
	}
	return "0,1"
}

func parsePin(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != 2 {
		return nil, fmt.Errorf("-pin %s: give two CPUs, the broker's and the generator's, as 0,1", s)
	}
	var cpus []int
	for _, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("-pin %s: %q is not a CPU number", s, p)
		}
		cpus = append(cpus, n)
	}
	return cpus, nil
}

// build builds the command pkg of the module this command is run in,
// into dir/name.
func build(ctx context.Context, dir, name, pkg string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("building %s: run this from Petrel's module (go run ./bench/compare)", name)
	}
	bin := filepath.Join(dir, name)
	fmt.Fprintln(os.Stderr, "building", name)
	// -buildvcs=auto overrides a GOFLAGS that turns stamping off, so the
	// report can say which commit it measured.
	cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=auto", "-o", bin, pkg)
	cmd.Dir = filepath.Dir(gomod)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s: %w", name, err)
	}
	return bin, nil
}

// raiseFileLimit lets the brokers, which inherit it, hold the memory
// measurement's connections: Go raises its own soft limit, but Mosquitto
// takes what it is given.
func (h *harness) raiseFileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if need := uint64(h.mode.Connections + 100); lim.Max < need && h.selected("memory") {
		return fmt.Errorf("the memory measurement needs %d open files per process and the limit is %d: raise it (ulimit -n), or give -connections", need, lim.Max)
	}
	return nil
}

// selected reports whether -run lets a measurement run.
func (h *harness) selected(name string) bool {
	return h.only == nil || h.only.MatchString(name)
}
