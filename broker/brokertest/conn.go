package brokertest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/packet"
)

// Wait bounds what a Conn waits for a packet the test expects.
const Wait = 5 * time.Second

// Conn is a bare MQTT connection for tests that need exactly the packets
// they send and to see exactly the packets the broker sends, reason codes
// and all.
type Conn struct {
	t  testing.TB
	nc net.Conn
	r  *packet.Reader
	v  packet.Version
}

// Dial connects to addr over TCP; the connection closes when the test
// ends.
func Dial(t testing.TB, addr string, v packet.Version) *Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, Wait)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return Over(t, nc, v)
}

// Over is a Conn over an established connection: TLS, say.
func Over(t testing.TB, nc net.Conn, v packet.Version) *Conn {
	t.Cleanup(func() { nc.Close() })
	r := packet.NewReader(nc, 4096)
	r.Version = v
	return &Conn{t: t, nc: nc, r: r, v: v}
}

// Connect dials, sends p and returns the Conn and the CONNACK's code.
func Connect(t testing.TB, addr string, p *packet.Connect) (*Conn, packet.ReasonCode) {
	t.Helper()
	c := Dial(t, addr, p.Version)
	c.Send(p)
	ack, ok := c.Next(Wait).(*packet.Connack)
	if !ok {
		t.Fatalf("%s: no CONNACK", p.ClientID)
	}
	return c, ack.ReasonCode
}

// Send writes p.
func (c *Conn) Send(p packet.Packet) {
	c.t.Helper()
	b, err := p.Encode(nil, c.v)
	if err != nil {
		c.t.Fatalf("encode %s: %v", p.Type(), err)
	}
	c.nc.SetWriteDeadline(time.Now().Add(Wait))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write %s: %v", p.Type(), err)
	}
}

// Next returns the next packet the broker sends within d, or nil if none
// comes in time or the connection ends.
func (c *Conn) Next(d time.Duration) packet.Packet {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	p, err := c.r.ReadPacket()
	if err != nil {
		return nil
	}
	q, err := packet.Clone(p, c.v)
	if err != nil {
		c.t.Fatalf("clone %s: %v", p.Type(), err)
	}
	return q
}

// Closed reports whether the broker has closed the connection, waiting up
// to Wait and skipping what arrives before.
func (c *Conn) Closed() bool {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(Wait))
	for {
		if _, err := c.r.ReadPacket(); err != nil {
			var ne net.Error
			return !errors.As(err, &ne) || !ne.Timeout()
		}
	}
}

// ServeAlso serves l on b with cfg as well, until the test ends.
func (b *Broker) ServeAlso(t testing.TB, l net.Listener, cfg broker.Listener) {
	t.Helper()
	served := make(chan error, 1)
	go func() { served <- b.Serve(l, cfg) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Shutdown(ctx)
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("listener %s: %v", cfg.Name, err)
		}
	})
}
