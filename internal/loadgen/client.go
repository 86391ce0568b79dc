package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/packet"
)

const (
	// connectTimeout bounds dialing, the TLS and WebSocket handshakes and
	// the CONNECT exchange of one connection.
	connectTimeout = 10 * time.Second
	// closeWait is how long a client waits, after its DISCONNECT, for the
	// server to close the connection.
	closeWait = time.Second
)

// client is one MQTT connection of a run, read by one goroutine.
type client struct {
	run     *run
	id      string
	nc      net.Conn
	r       *packet.Reader
	out     outbox
	connack *packet.Connack
	// closing is set when the run ends the connection, so the read error
	// that follows is not counted as a failure.
	closing atomic.Bool
	// done is closed when the reader has returned.
	done  chan struct{}
	errMu sync.Mutex
	err   error // why the connection failed, if it did
}

// dial opens the network connection of the run's i-th client: TCP from
// the next source address, then TLS and WebSocket as the target says.
func (r *run) dial(ctx context.Context, i int) (net.Conn, error) {
	t := &r.cfg.Target
	d := net.Dialer{}
	if n := len(t.SourceAddrs); n > 0 {
		d.LocalAddr = &net.TCPAddr{IP: t.SourceAddrs[i%n]}
		d.Control = bindLater
	}
	addr := t.Addr
	if a := r.dialAddr.Load(); a != nil {
		addr = *a
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// Resolve the server's name once, not for each of thousands of
	// connections: later ones dial the address the first one reached.
	if r.dialAddr.Load() == nil {
		a := nc.RemoteAddr().String()
		r.dialAddr.CompareAndSwap(nil, &a)
	}
	if t.TLS != nil {
		tc := tls.Client(nc, t.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", t.Addr, err)
		}
		nc = tc
	}
	if t.WebSocketPath != "" {
		stop := context.AfterFunc(ctx, func() { nc.Close() })
		ws, err := dialWebSocket(nc, t.Addr, t.WebSocketPath)
		stop()
		if err != nil {
			nc.Close()
			return nil, err
		}
		nc = ws
	}
	return nc, nil
}

// open connects the run's i-th client as id and returns it once the
// server has accepted its CONNECT, with how long that took. readSize is
// the read buffer: large for a subscriber, small for an idle client.
func (r *run) open(ctx context.Context, i int, id string, readSize int) (*client, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	start := time.Now()
	nc, err := r.dial(ctx, i)
	if err != nil {
		return nil, 0, err
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	c := &client{run: r, id: id, nc: nc, done: make(chan struct{})}
	c.out.nc = nc
	ack, err := c.handshake(readSize)
	if !stop() {
		err = fmt.Errorf("no CONNACK from %s within %s", r.cfg.Addr, connectTimeout)
		if ctx.Err() == context.Canceled {
			err = ctx.Err()
		}
	}
	if err != nil {
		nc.Close()
		return nil, 0, err
	}
	c.connack = ack
	return c, time.Since(start), nil
}

func (c *client) handshake(readSize int) (*packet.Connack, error) {
	cfg := &c.run.cfg
	p := &packet.Connect{
		Version:     cfg.Version,
		CleanStart:  !cfg.Persistent,
		KeepAlive:   uint16(cfg.KeepAlive / time.Second),
		ClientID:    c.id,
		Username:    cfg.Username,
		HasUsername: cfg.Username != "",
		Password:    cfg.Password,
		HasPassword: cfg.Password != nil,
	}
	if cfg.Persistent && cfg.Version == packet.V5 {
		p.Props.SessionExpiry, p.Props.HasSessionExpiry = persistentExpiry, true
	}
	b, err := p.Encode(nil, cfg.Version)
	if err != nil {
		return nil, err
	}
	if _, err := c.nc.Write(b); err != nil {
		return nil, err
	}
	c.r = packet.NewReader(c.nc, readSize)
	c.r.Version = cfg.Version
	reply, err := c.r.ReadPacket()
	if err != nil {
		return nil, fmt.Errorf("reading CONNACK: %w", err)
	}
	ack, ok := reply.(*packet.Connack)
	if !ok {
		return nil, fmt.Errorf("the server answered CONNECT with %s, not CONNACK", reply.Type())
	}
	if ack.ReasonCode.IsError() {
		return nil, fmt.Errorf("connection refused: %w", ack.ReasonCode)
	}
	return ack, nil
}

// keepAlive is the keep-alive the server expects of this client.
func (c *client) keepAlive() time.Duration {
	if c.connack.Props.HasServerKeepAlive {
		return time.Duration(c.connack.Props.ServerKeepAlive) * time.Second
	}
	return c.run.cfg.KeepAlive
}

// send writes packets, or fails the connection.
func (c *client) send(b []byte) bool {
	if err := c.out.send(b, c.run.clock.now()); err != nil {
		c.fail(err)
		return false
	}
	return true
}

// fail counts a broken connection once, unless the run is ending it, and
// closes it so its goroutines return.
func (c *client) fail(err error) {
	if !c.closing.Swap(true) {
		c.errMu.Lock()
		c.err = err
		c.errMu.Unlock()
		c.run.connected.Add(-1)
		c.run.failure(fmt.Errorf("%s: %w", c.id, err))
	}
	c.nc.Close()
}

// failure is why the connection failed.
func (c *client) failure() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.err == nil {
		return errors.New("the connection ended")
	}
	return c.err
}

// close sends DISCONNECT and gives the server closeWait to close its
// end of the connection, which the reader sees as its end; the run
// closes ours after. The side that closes first keeps the connection in
// TIME_WAIT for a minute: on the server that costs nothing, but here it
// would hold one of the source address's ports, and a few runs of
// thousands of connections would use them all up.
func (c *client) close() {
	if c.closing.Swap(true) {
		return
	}
	c.run.connected.Add(-1)
	c.out.send([]byte{byte(packet.DISCONNECT) << 4, 0}, c.run.clock.now())
	c.nc.SetReadDeadline(time.Now().Add(closeWait))
}

// readErr is how a read loop reports the end of its connection.
func (c *client) readErr(err error) {
	if c.closing.Load() {
		return
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the server closed the connection")
	}
	c.fail(err)
}

// filtersPerSubscribe is how many filters one SUBSCRIBE of a Conn
// client carries.
const filtersPerSubscribe = 100

// subscribeIdle subscribes a client of Conn to filters and waits for the
// SUBACKs, before its reader starts.
func (c *client) subscribeIdle(filters []string, qos packet.QoS) error {
	v := c.run.cfg.Version
	c.nc.SetDeadline(time.Now().Add(connectTimeout))
	defer c.nc.SetDeadline(time.Time{})
	for len(filters) > 0 {
		batch := filters[:min(len(filters), filtersPerSubscribe)]
		filters = filters[len(batch):]
		sub := &packet.Subscribe{PacketID: 1}
		for _, f := range batch {
			sub.Subscriptions = append(sub.Subscriptions, packet.Subscription{Filter: f, QoS: qos})
		}
		b, err := sub.Encode(nil, v)
		if err != nil {
			return fmt.Errorf("subscribe to %q: %w", batch[0], err)
		}
		if err := c.out.send(b, c.run.clock.now()); err != nil {
			return fmt.Errorf("subscribe to %q: %w", batch[0], err)
		}
		h, body, err := c.r.ReadFrame()
		if err != nil {
			return fmt.Errorf("no SUBACK for %q: %w", batch[0], err)
		}
		if h.Type != packet.SUBACK {
			return fmt.Errorf("the server answered SUBSCRIBE to %q with %s", batch[0], h.Type)
		}
		if _, err := checkSuback(batch, body, v); err != nil {
			return err
		}
	}
	return nil
}

// retainedWindow is how many retained messages a Conn client keeps
// unacknowledged.
const retainedWindow = 64

// publishRetained publishes a retained message of Size bytes to each
// topic at QoS 1 and waits for every PUBACK, before its reader starts.
func (c *client) publishRetained(topics []string) error {
	v := c.run.cfg.Version
	c.nc.SetDeadline(time.Now().Add(time.Minute))
	defer c.nc.SetDeadline(time.Time{})
	p := &packet.Publish{QoS: packet.AtLeastOnce, Retain: true, Payload: make([]byte, c.run.cfg.Size)}
	var b []byte
	unacked := 0
	for i, topic := range topics {
		p.Topic, p.PacketID = topic, uint16(i%retainedWindow+1)
		var err error
		if b, err = p.Encode(b[:0], v); err != nil {
			return fmt.Errorf("retained message to %q: %w", topic, err)
		}
		if err := c.out.send(b, c.run.clock.now()); err != nil {
			return fmt.Errorf("retained message to %q: %w", topic, err)
		}
		if unacked++; unacked == retainedWindow || i == len(topics)-1 {
			for ; unacked > 0; unacked-- {
				h, _, err := c.r.ReadFrame()
				if err != nil {
					return fmt.Errorf("no PUBACK for a retained message: %w", err)
				}
				if h.Type != packet.PUBACK {
					return fmt.Errorf("the server answered a retained message with %s", h.Type)
				}
			}
		}
	}
	return nil
}

// idle reads an idle client's connection: PINGRESP, messages to its
// subscription, acknowledged and otherwise ignored, or what ends it.
func (c *client) idle() {
	v := c.run.cfg.Version
	var msg packet.Publish
	for {
		h, body, err := c.r.ReadFrame()
		if err != nil {
			c.readErr(err)
			return
		}
		var ack []byte
		switch h.Type {
		case packet.PINGRESP:
		case packet.PUBLISH:
			if err := msg.Decode(h.Flags, body, v); err != nil {
				c.fail(fmt.Errorf("malformed PUBLISH: %w", err))
				return
			}
			switch msg.QoS {
			case packet.AtLeastOnce:
				ack = []byte{byte(packet.PUBACK) << 4, 2, byte(msg.PacketID >> 8), byte(msg.PacketID)}
			case packet.ExactlyOnce:
				ack = []byte{byte(packet.PUBREC) << 4, 2, byte(msg.PacketID >> 8), byte(msg.PacketID)}
			}
		case packet.PUBREL:
			if len(body) < 2 {
				c.fail(errors.New("malformed PUBREL"))
				return
			}
			ack = []byte{byte(packet.PUBCOMP) << 4, 2, body[0], body[1]}
		case packet.DISCONNECT:
			c.readErr(serverDisconnect(v, body))
			return
		default:
			c.fail(fmt.Errorf("the server sent an idle client %s", h.Type))
			return
		}
		if ack != nil && !c.send(ack) {
			return
		}
	}
}

// serverDisconnect turns a DISCONNECT from the server into an error that
// says why.
func serverDisconnect(v packet.Version, body []byte) error {
	var d packet.Disconnect
	if err := d.Decode(0, body, v); err != nil || d.ReasonCode == packet.Success {
		return errors.New("the server sent DISCONNECT")
	}
	if d.Props.ReasonString != "" {
		return fmt.Errorf("the server disconnected: %v (%s)", d.ReasonCode, d.Props.ReasonString)
	}
	return fmt.Errorf("the server disconnected: %v", d.ReasonCode)
}
