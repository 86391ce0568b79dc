//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The limits both brokers get. Mosquitto's defaults (1,000 queued
// messages, 20 in flight) would make it drop messages, or slow its
// publishers, under loads Petrel's defaults take; raising the queues of
// both alike keeps the comparison about speed. The in-flight limits are
// Petrel's defaults, which Mosquitto also announces to MQTT 5 clients as
// its Receive Maximum.
const (
	maxQueued   = 1_000_000
	maxInflight = 1024
)

// server is a broker under test.
type server struct {
	Name string
	Bin  string
	// confName is its configuration file's name; conf writes the file's
	// text for a listener on 127.0.0.1:port and data kept under dir.
	confName string
	conf     func(port int, dir string) string
}

func petrelServer(bin string) *server {
	return &server{Name: "Petrel", Bin: bin, confName: "petrel.yaml", conf: petrelConfig}
}

func mosquittoServer(bin string) *server {
	return &server{Name: "Mosquitto", Bin: bin, confName: "mosquitto.conf", conf: func(port int, _ string) string { return mosquittoConfig(port) }}
}

// floorServer is the relay that does no work: the latency any broker's
// sits on, on this machine (see bench/floor). Its configuration file holds
// its address.
func floorServer(bin string) *server {
	return &server{Name: floor, Bin: bin, confName: "floor.addr", conf: func(port int, _ string) string {
		return fmt.Sprintf("127.0.0.1:%d\n", port)
	}}
}

// petrelConfig is Petrel as it ships, with its default store (Pebble, in
// a data directory), but for the queue limit both brokers share.
func petrelConfig(port int, dir string) string {
	return fmt.Sprintf(`listeners:
  - address: 127.0.0.1:%d
data_dir: %s
max_queued_messages: %d
max_inflight: %d
receive_maximum: %d
log_level: warn
`, port, filepath.Join(dir, "data"), maxQueued, maxInflight, maxInflight)
}

// mosquittoConfig is Mosquitto with the same limits. Its persistence is
// off: every scenario uses clean sessions, which neither broker writes to
// disk, and Mosquitto would only save its state at exit. Nagle's
// algorithm is off, as it is on every connection Petrel accepts.
func mosquittoConfig(port int) string {
	return fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages %d
max_queued_bytes 0
max_inflight_messages %d
max_inflight_bytes 0
memory_limit 0
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
`, port, maxQueued, maxInflight)
}

// launcher starts the brokers and the load generator alike: each in a
// session of its own, pinned to its CPU and at the chosen priority.
type launcher struct {
	// cpus are the broker's and the generator's CPUs; nil leaves them to
	// the scheduler.
	cpus []int
	nice int
	// niceErr is why the priority could not be raised, if it could not.
	niceErr error
}

const (
	brokerRole = iota
	generatorRole
)

// command is argv run in role.
func (l *launcher) command(ctx context.Context, role int, argv []string) *exec.Cmd {
	var full []string
	if l.nice != 0 {
		full = append(full, "nice", "-n", strconv.Itoa(l.nice))
	}
	if l.cpus != nil {
		full = append(full, "taskset", "-c", strconv.Itoa(l.cpus[role]))
	}
	full = append(full, argv...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	// A session of its own gives the child a scheduler autogroup of its
	// own, whose priority started can set; Pdeathsig ends it with this
	// process, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// started sets the priority of a child's autogroup: where the kernel
// groups tasks by session, nice only ranks tasks within a group, and
// groups share the CPU equally whatever their tasks' nice values.
func (l *launcher) started(pid int) {
	if l.nice == 0 {
		return
	}
	err := os.WriteFile(fmt.Sprintf("/proc/%d/autogroup", pid), []byte(strconv.Itoa(l.nice)), 0)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && l.niceErr == nil {
		l.niceErr = err
	}
}

// broker is a running server under test.
type broker struct {
	srv    *server
	cmd    *exec.Cmd
	pid    int
	port   int
	dir    string
	exited chan struct{}
	err    error // how it exited, once exited is closed
}

// startBroker starts srv in a fresh directory and waits until it accepts
// connections.
func (h *harness) startBroker(ctx context.Context, srv *server) (*broker, error) {
	dir, err := os.MkdirTemp(h.tmp, strings.ToLower(srv.Name)+"-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, srv.confName)
	if err := os.WriteFile(conf, []byte(srv.conf(port, dir)), 0o600); err != nil {
		return nil, err
	}
	out, err := os.Create(filepath.Join(dir, "output"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	// The broker outlives ctx's run only by being stopped.
	cmd := h.launch.command(context.WithoutCancel(ctx), brokerRole, []string{srv.Bin, "-c", conf})
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", srv.Name, err)
	}
	b := &broker{srv: srv, cmd: cmd, pid: cmd.Process.Pid, port: port, dir: dir, exited: make(chan struct{})}
	go func() {
		b.err = cmd.Wait()
		close(b.exited)
	}()
	h.launch.started(b.pid)
	if err := b.awaitListening(ctx, 15*time.Second); err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

// freePort finds a port of 127.0.0.1 nothing listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (b *broker) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// benchArgs are the petrel bench flags that aim it at b.
func (b *broker) benchArgs() []string { return []string{"-h", "127.0.0.1", "-p", strconv.Itoa(b.port)} }

func (b *broker) awaitListening(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-b.exited:
			return fmt.Errorf("%s exited at start (%v): %s", b.srv.Name, b.err, b.output())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if c, err := net.DialTimeout("tcp", b.addr(), 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not listen on %s within %s: %s", b.srv.Name, b.addr(), limit, b.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether the broker is still running, and if not, why.
func (b *broker) alive() error {
	select {
	case <-b.exited:
		return fmt.Errorf("%s exited during the run (%v): %s", b.srv.Name, b.err, b.output())
	default:
		return nil
	}
}

// stop asks the broker to shut down, kills it if it takes too long, and
// removes its directory.
func (b *broker) stop() {
	select {
	case <-b.exited:
	default:
		b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(20 * time.Second):
			b.cmd.Process.Kill()
			<-b.exited
		}
	}
	os.RemoveAll(b.dir)
}

// output is the end of what the broker wrote, for error messages.
func (b *broker) output() string {
	out, _ := os.ReadFile(filepath.Join(b.dir, "output"))
	out = bytes.TrimSpace(out)
	if len(out) > 2000 {
		out = out[len(out)-2000:]
	}
	if len(out) == 0 {
		return "no output"
	}
	return string(out)
}

// rss is the broker's resident memory now, from /proc.
func (b *broker) rss() (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", b.pid)
}
