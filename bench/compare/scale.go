//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// The scale measurement: the latency scenario at the fixed rate against
// one Petrel, first empty, then holding a million subscriptions and a
// million retained messages that the measured messages do not touch. A
// second petrel bench, a conn run of stateClients connections, makes the
// state and holds it meanwhile.
const (
	scaleName = "scale"
	// scaleRatio is the target: the median latency held within 20%.
	scaleRatio = 1.2
	// scaleSettle is how long the broker rests between making the state
	// and the measurement.
	scaleSettle = 15 * time.Second
)

// scaleState is the state's size in a mode: connections, filters each,
// retained messages.
func scaleState(m mode) (clients, filters, retained int) {
	if m.Name == quickMode.Name {
		return 100, 100, 10_000
	}
	return 1000, 1000, 1_000_000
}

// scale runs the scale measurement Repeat times, each on a fresh broker.
func (h *harness) scale(ctx context.Context, res *results) error {
	for range h.mode.Repeat {
		empty, loaded, rss, err := h.scaleOnce(ctx, h.servers[0])
		if err != nil {
			return err
		}
		loaded.RSS = rss
		res.add(scaleName+"/empty", empty)
		res.add(scaleName+"/loaded", loaded)
		h.report("latency, empty", empty)
		h.report("latency, holding the state", loaded)
	}
	return nil
}

// scaleOnce measures latency on an empty broker, makes the state, and
// measures again; rss is the broker's resident memory with the state.
func (h *harness) scaleOnce(ctx context.Context, s *server) (empty, loaded *outcome, rss int64, err error) {
	b, err := h.startBroker(ctx, s)
	if err != nil {
		return nil, nil, 0, err
	}
	defer b.stop()
	args := latencyArgs(h.mode, fixedRate)
	if empty, err = h.against(ctx, b, args); err != nil {
		return nil, nil, 0, err
	}
	clients, filters, retained := scaleState(h.mode)
	ready := filepath.Join(b.dir, "state-ready")
	holder := h.launch.command(ctx, generatorRole, append([]string{h.petrel, "bench", "conn",
		"--clients", strconv.Itoa(clients), "--filters", strconv.Itoa(filters), "--sub-topic", "state/%i/%j",
		"--retained", strconv.Itoa(retained), "-t", "state/retained/%i", "--duration", "24h", "--ready", ready, "--quiet"},
		b.benchArgs()...))
	out, err := os.Create(filepath.Join(b.dir, "state-output"))
	if err != nil {
		return nil, nil, 0, err
	}
	defer out.Close()
	holder.Stdout, holder.Stderr = out, out
	if err := holder.Start(); err != nil {
		return nil, nil, 0, fmt.Errorf("petrel bench conn: %w", err)
	}
	h.launch.started(holder.Process.Pid)
	exited := make(chan error, 1)
	go func() { exited <- holder.Wait() }()
	defer func() {
		holder.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			holder.Process.Kill()
			<-exited
		}
	}()
	fmt.Fprintf(h.progress, "making the state: %d connections, %d subscriptions, %d retained messages\n", clients, clients*filters, retained)
	if err := awaitFile(ctx, ready, exited, 10*time.Minute); err != nil {
		out, _ := os.ReadFile(out.Name())
		return nil, nil, 0, fmt.Errorf("making the state: %w: %s", err, out)
	}
	// Making the state leaves work behind: a collection over the grown
	// heap, the store's compactions of the retained messages.
	select {
	case <-time.After(scaleSettle):
	case <-ctx.Done():
		return nil, nil, 0, ctx.Err()
	}
	rss, _ = b.rss()
	loaded, err = h.against(ctx, b, args)
	return empty, loaded, rss, err
}

// awaitFile waits until name exists, the process whose end exited
// reports ends, limit passes or ctx ends.
func awaitFile(ctx context.Context, name string, exited <-chan error, limit time.Duration) error {
	deadline := time.After(limit)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(name); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("it ended first: %v", err)
		case <-deadline:
			return fmt.Errorf("not ready within %s", limit)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// scale judges the scale measurement: the loaded median over the
// empty one, from each's best run.
func (e *evaluation) scale() {
	empty, loaded := bestLatency(e.res.get(scaleName+"/empty", petrel)), bestLatency(e.res.get(scaleName+"/loaded", petrel))
	if empty == nil || loaded == nil {
		return
	}
	clients, filters, retained := scaleState(e.res.Mode)
	what := fmt.Sprintf("%s subscriptions and %s retained messages", count(float64(clients*filters)), count(float64(retained)))
	v := verdict{Measure: "median latency · p2p 1 pair · 3.1.1 · QoS 1 · " + count(fixedRate) + "/s · holding " + what + " vs none",
		Petrel:    fmt.Sprintf("%s (empty %s)", us(loaded.Report.Latency.P50), us(empty.Report.Latency.P50)),
		Mosquitto: "—", Ratio: "—", Target: fmt.Sprintf("≤ %g× of empty", scaleRatio), Met: "—"}
	if p := empty.Report.Latency.P50; p > 0 {
		ratio := loaded.Report.Latency.P50 / p
		v.Ratio, v.Met = times(ratio), judge(ratio <= scaleRatio, true)
	}
	e.Verdicts = append(e.Verdicts, v)
	if p := empty.Report.Latency.P99; p > 0 {
		e.ScaleTail = fmt.Sprintf("The tail is another matter: p99 %s holding the state against %s empty, %s.",
			us(loaded.Report.Latency.P99), us(p), times(loaded.Report.Latency.P99/p))
	}
	e.Scale.Header = []string{"Petrel", "p50", "p90", "p99", "p99.9", "max", "samples", "broker CPU / msg", "broker RSS"}
	for _, r := range []struct {
		label string
		o     *outcome
	}{{"empty", empty}, {"holding " + what, loaded}} {
		l := r.o.Report.Latency
		rss := "—"
		if r.o.RSS > 0 {
			rss = mb(float64(r.o.RSS))
		}
		e.Scale.Rows = append(e.Scale.Rows, []string{r.label, us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max),
			count(float64(l.Count)), cpuPerMessage(r.o), rss})
	}
}
