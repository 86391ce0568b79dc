package broker_test

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// wait bounds every expectation: long enough for a loaded 2-core machine,
// short enough that a hang fails the test rather than CI.
const wait = 5 * time.Second

// client is a raw MQTT client for conformance tests: it sends exactly the
// packets a test builds and reports exactly the packets the broker sends.
type client struct {
	t  testing.TB
	nc net.Conn
	r  *packet.Reader
	v  packet.Version
}

func dial(t testing.TB, addr string, v packet.Version) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	r := packet.NewReader(nc, 4096)
	r.Version = v
	return &client{t: t, nc: nc, r: r, v: v}
}

// connect dials and completes CONNECT/CONNACK, failing the test unless
// the broker accepts.
func connect(t testing.TB, addr string, p *packet.Connect) (*client, *packet.Connack) {
	t.Helper()
	c := dial(t, addr, p.Version)
	c.send(p)
	ack := expect[*packet.Connack](c)
	if ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %s, want success", ack.ReasonCode)
	}
	return c, ack
}

func (c *client) send(p packet.Packet) {
	c.t.Helper()
	b, err := p.Encode(nil, c.v)
	if err != nil {
		c.t.Fatalf("encode %s: %v", p.Type(), err)
	}
	c.sendRaw(b)
}

func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(wait))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next reads the next packet the broker sends, owned by the caller.
func (c *client) next(within time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(within))
	p, err := c.r.ReadPacket()
	if err != nil {
		return nil, err
	}
	return packet.Clone(p, c.v)
}

// expect reads the next packet and fails the test unless it is a T.
func expect[T packet.Packet](c *client) T {
	c.t.Helper()
	p, err := c.next(wait)
	if err != nil {
		c.t.Fatalf("waiting for a packet: %v", err)
	}
	q, ok := p.(T)
	if !ok {
		var zero T
		c.t.Fatalf("got %s %+v, want %T", p.Type(), p, zero)
	}
	return q
}

// expectNothing fails the test if the broker sends a packet within d.
func (c *client) expectNothing(d time.Duration) {
	c.t.Helper()
	p, err := c.next(d)
	if err == nil {
		c.t.Fatalf("got %s %+v, want nothing", p.Type(), p)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("want silence, got connection error %v", err)
	}
}

// expectClosed reads until the broker closes the connection and returns
// the DISCONNECT it sent first, if any.
func (c *client) expectClosed() *packet.Disconnect {
	c.t.Helper()
	var d *packet.Disconnect
	for {
		p, err := c.next(wait)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.t.Fatalf("connection still open after %v", wait)
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
				c.t.Fatalf("reading until close: %v", err)
			}
			return d
		}
		if dp, ok := p.(*packet.Disconnect); ok {
			d = dp
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

func (c *client) subscribe(id uint16, subs ...packet.Subscription) *packet.Suback {
	c.t.Helper()
	c.send(&packet.Subscribe{PacketID: id, Subscriptions: subs})
	return expect[*packet.Suback](c)
}

func v311(id string) *packet.Connect {
	return &packet.Connect{Version: packet.V311, ClientID: id, CleanStart: true, KeepAlive: 60}
}

func v5(id string) *packet.Connect {
	return &packet.Connect{Version: packet.V5, ClientID: id, CleanStart: true, KeepAlive: 60}
}

// quietLogger sends a broker's logs to the test log.
func quietLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("broker: %s", b)
	return len(b), nil
}
