package client_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/client"
	"github.com/petrelmq/petrel/packet"
)

// waitTimeout bounds every wait for something that should happen promptly;
// far above what a healthy run needs, for a loaded machine under -race.
const waitTimeout = 15 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// dial connects with opts and disconnects when the test ends.
func dial(t *testing.T, opts client.Options) *client.Client {
	t.Helper()
	c, err := client.Dial(testContext(t), opts)
	if err != nil {
		t.Fatalf("Dial %s: %v", opts.Addr, err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background(), packet.NormalDisconnection) })
	return c
}

// next waits for the next message on ch.
func next(t *testing.T, ch <-chan *packet.Publish) *packet.Publish {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("message channel closed")
		}
		return m
	case <-time.After(waitTimeout):
		t.Fatalf("no message after %s", waitTimeout)
	}
	return nil
}

// quiet fails if a message arrives on ch within d: the way to check that
// something does not happen, bounded since it cannot be awaited.
func quiet(t *testing.T, ch <-chan *packet.Publish, d time.Duration) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected message %s %q", m.Topic, m.Payload)
	case <-time.After(d):
	}
}

func subscribe(t *testing.T, c *client.Client, filter string, qos packet.QoS) {
	t.Helper()
	codes, err := c.Subscribe(testContext(t), packet.Subscription{Filter: filter, QoS: qos})
	if err != nil {
		t.Fatalf("Subscribe %s: %v", filter, err)
	}
	if len(codes) != 1 || codes[0] != packet.ReasonCode(qos) {
		t.Fatalf("Subscribe %s QoS %d: SUBACK %v", filter, qos, codes)
	}
}

// proxy forwards TCP connections to a server, and can hold back what the
// server sends or cut every connection, to stage network failures.
type proxy struct {
	target string
	l      net.Listener

	mu     sync.Mutex
	conns  []net.Conn
	hold   chan struct{} // while open, server-to-client bytes wait; nil when flowing
	refuse bool          // close new connections at once
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: target, l: l}
	t.Cleanup(func() {
		l.Close()
		p.cut()
	})
	go p.accept()
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) accept() {
	for {
		down, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			down.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		go func() { io.Copy(up, down); up.Close() }()
		go p.copyDown(down, up)
	}
}

// copyDown copies from the server, waiting while the proxy holds.
func (p *proxy) copyDown(down, up net.Conn) {
	defer down.Close()
	buf := make([]byte, 4096)
	for {
		n, err := up.Read(buf)
		p.mu.Lock()
		hold := p.hold
		p.mu.Unlock()
		if hold != nil {
			<-hold
		}
		if n > 0 {
			if _, werr := down.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// holdBack stops server-to-client bytes until cut.
func (p *proxy) holdBack() {
	p.mu.Lock()
	p.hold = make(chan struct{})
	p.mu.Unlock()
}

// cut closes every connection through the proxy, dropping what it held,
// and lets later connections flow.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	if p.hold != nil {
		close(p.hold)
		p.hold = nil
	}
}

// setRefuse makes the server unreachable through the proxy, or reachable
// again.
func (p *proxy) setRefuse(refuse bool) {
	p.mu.Lock()
	p.refuse = refuse
	p.mu.Unlock()
}
