package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
)

// waitTimeout bounds every wait for something a client or the broker should
// do promptly. It is far above what a healthy run needs, so that a loaded
// two-core CI machine running -race does not fail a correct broker.
const waitTimeout = 15 * time.Second

// processTimeout bounds the life of any external client process.
const processTimeout = 45 * time.Second

// message is one application message as a client sent or received it.
type message struct {
	Topic   string
	QoS     byte
	Retain  bool
	Payload []byte
}

func (m message) String() string {
	return fmt.Sprintf("%s QoS %d retain %t payload %q", m.Topic, m.QoS, m.Retain, m.Payload)
}

// missing skips a test whose client is not installed, loudly, since a quiet
// skip would read as a pass. With PETREL_REQUIRE_INTEROP=1 it fails instead.
func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("PETREL_REQUIRE_INTEROP") == "1" {
		t.Fatal("INTEROP REQUIRED (PETREL_REQUIRE_INTEROP=1): " + what + "; run .ci/install-interop")
	}
	t.Skip("INTEROP SKIPPED: " + what + "; run .ci/install-interop")
}

// startBroker runs a broker for one test; brokertest shows its log when
// the test fails.
func startBroker(t *testing.T) *brokertest.Broker {
	t.Helper()
	return brokertest.Start(t, broker.Options{})
}

// subscription is what a subscribed client has received. msgs is closed if
// the client goes away.
type subscription struct {
	msgs <-chan message
	// transcript is what the client printed, for failure messages.
	transcript func() string
}

// expectMessages waits until sub has received every message in want, in any
// order, and checks each one's QoS, retained flag and payload. A QoS 1
// message may come twice (at least once); anything else unexpected fails.
func expectMessages(t *testing.T, sub subscription, want ...message) {
	t.Helper()
	pending := make(map[string]message, len(want))
	for _, m := range want {
		pending[m.Topic] = m
	}
	got := make(map[string]bool)
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	fail := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if sub.transcript != nil {
			msg += "\nsubscriber output:\n" + sub.transcript()
		}
		t.Fatal(msg)
	}
	for len(pending) > 0 {
		select {
		case m, ok := <-sub.msgs:
			if !ok {
				fail("subscriber went away; still waiting for %v", pending)
			}
			w, isPending := pending[m.Topic]
			if !isPending {
				if got[m.Topic] && m.QoS == 1 {
					continue
				}
				fail("unexpected message %v", m)
			}
			if m.QoS != w.QoS || m.Retain != w.Retain || !bytes.Equal(m.Payload, w.Payload) {
				fail("got %v\nwant %v", m, w)
			}
			delete(pending, m.Topic)
			got[m.Topic] = true
		case <-deadline.C:
			fail("after %v still waiting for %v", waitTimeout, pending)
		}
	}
}

// process is an external client. Its standard output is read line by line
// as it comes, since the tests synchronise on what the client prints.
type process struct {
	name   string
	cmd    *exec.Cmd
	lines  chan string   // stdout lines, closed at EOF
	exited chan struct{} // closed once the process has been waited for
	err    error         // from Wait; read after exited
	// backlog holds lines waitFor passed over, for messages: a client may
	// print a message it received before it reports its SUBACK.
	backlog []string

	mu     sync.Mutex
	output bytes.Buffer // stdout and stderr as they came
}

// lockedWriter lets stdout's reader and exec's stderr copier share output.
type lockedWriter struct{ p *process }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.output.Write(b)
}

// startProcess starts name with args and stdin (nil for none), in dir
// when it is not empty. The process is killed when the test ends, or after
// processTimeout.
func startProcess(t *testing.T, dir string, stdin io.Reader, name string, args ...string) *process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	p := &process{
		name:   name + " " + strings.Join(args, " "),
		cmd:    cmd,
		lines:  make(chan string, 4096),
		exited: make(chan struct{}),
	}
	cmd.Stderr = lockedWriter{p}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		defer cancel()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(lockedWriter{p}, line)
			select {
			case p.lines <- line:
			default: // nobody is listening any more; the transcript keeps it
			}
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	return p
}

// transcript is everything the process printed so far.
func (p *process) transcript() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// waitFor reads output lines until match accepts one, and fails the test if
// the process exits or stays silent for waitTimeout first.
func (p *process) waitFor(t *testing.T, what string, match func(line string) bool) string {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.exited
				t.Fatalf("%s exited (%v) before %s; output:\n%s", p.name, p.err, what, p.transcript())
			}
			if match(line) {
				return line
			}
			p.backlog = append(p.backlog, line)
		case <-deadline.C:
			t.Fatalf("%s: no %s within %v; output:\n%s", p.name, what, waitTimeout, p.transcript())
		}
	}
}

// messages turns the lines that parse as messages into a subscription.
// It must not be called while waitFor runs.
func (p *process) messages(parse func(line string) (message, bool)) subscription {
	out := make(chan message, 1024)
	backlog := p.backlog
	p.backlog = nil
	go func() {
		defer close(out)
		for _, line := range backlog {
			if m, ok := parse(line); ok {
				out <- m
			}
		}
		for line := range p.lines {
			if m, ok := parse(line); ok {
				out <- m
			}
		}
	}()
	return subscription{msgs: out, transcript: p.transcript}
}

// wait waits for the process to exit and fails the test unless it exits 0.
func (p *process) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(waitTimeout):
		t.Fatalf("%s still running after %v; output:\n%s", p.name, waitTimeout, p.transcript())
	}
	if p.err != nil {
		t.Fatalf("%s: %v; output:\n%s", p.name, p.err, p.transcript())
	}
}

// terminate sends SIGTERM, on which the clients disconnect politely, and
// waits for the process to exit 0.
func (p *process) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v", p.name, err)
	}
	p.wait(t)
}

// kill ends the process with SIGKILL, so it cannot send DISCONNECT or
// close its socket politely: to the broker, its connection just drops.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// proxy relays TCP between clients and the broker so that a test can cut a
// Go client's connection as a network failure would: neither end sent
// DISCONNECT, and each sees the other close.
type proxy struct {
	l      net.Listener
	target string

	mu       sync.Mutex
	conns    map[net.Conn]bool // both ends of every relay
	refusing bool
	wg       sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &proxy{l: l, target: target, conns: make(map[net.Conn]bool)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		l.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.l.Accept()
		if err != nil {
			return // closed by cleanup
		}
		p.mu.Lock()
		refusing := p.refusing
		p.mu.Unlock()
		if refusing {
			client.Close()
			continue
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.relay(client, server)
		go p.relay(server, client)
	}
}

func (p *proxy) relay(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	// Either side ending ends both, as when a link goes down.
	p.mu.Lock()
	delete(p.conns, src)
	delete(p.conns, dst)
	p.mu.Unlock()
	src.Close()
	dst.Close()
}

// cut closes every relayed connection at once.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// refuse makes the proxy close new connections as soon as they arrive, so a
// reconnecting client stays offline until refuse(false).
func (p *proxy) refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusing = on
}
