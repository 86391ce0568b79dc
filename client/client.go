package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// Client is a connection to an MQTT server that outlives network
// connections when AutoReconnect is set. Its methods may be called from
// any goroutine.
type Client struct {
	opts Options

	// ctx ends reconnection attempts; cancelled by Disconnect and when the
	// Client finishes.
	ctx    context.Context
	cancel context.CancelFunc

	inbox     chan inbound         // reader to delivery goroutine; closed when the last reader is gone
	messages  chan *packet.Publish // nil when OnMessage is set
	done      chan struct{}        // closed when the Client has finished
	stopped   chan struct{}        // closed by Disconnect: stop delivering
	producers sync.WaitGroup       // read loops and the reconnect loop, the senders on inbox

	// slotFreed holds a token when an in-flight slot may have come free;
	// see acquire.
	slotFreed chan struct{}

	mu          sync.Mutex
	cur         *conn // nil while reconnecting
	connack     *packet.Connack
	clientID    string
	pending     map[uint16]*request
	nextID      uint16
	seq         uint64
	inflight    int // QoS 1 and 2 PUBLISH packets awaiting their last acknowledgement
	quota       int // the server's Receive Maximum
	inboundQoS2 map[uint16]bool
	closing     bool // Disconnect was called
	finished    bool
	err         error // why the Client finished, nil after Disconnect
}

// Dial connects to the server and returns a Client once the server has
// accepted the CONNECT. A refusal is a *ReasonError; a failure to reach
// the server wraps the network error (a *net.DNSError for an unknown
// host, say). AutoReconnect applies only once connected: Dial itself does
// not retry.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	opts.setDefaults()
	c := &Client{
		opts:        opts,
		inbox:       make(chan inbound, inboxSize),
		done:        make(chan struct{}),
		stopped:     make(chan struct{}),
		slotFreed:   make(chan struct{}, 1),
		clientID:    opts.ClientID,
		pending:     make(map[uint16]*request),
		inboundQoS2: make(map[uint16]bool),
	}
	if opts.OnMessage == nil {
		c.messages = make(chan *packet.Publish)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.connect(ctx, false); err != nil {
		c.cancel()
		return nil, err
	}
	go c.deliver()
	return c, nil
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	var nc net.Conn
	var err error
	if c.opts.Dialer != nil {
		nc, err = c.opts.Dialer(ctx)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", c.opts.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.opts.Addr, err)
	}
	return nc, nil
}

// connect dials, exchanges CONNECT and CONNACK, and makes the connection
// the current one.
func (c *Client) connect(ctx context.Context, resume bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
	defer cancel()
	nc, err := c.dial(ctx)
	if err != nil {
		return err
	}
	cn := newConn(nc, c.opts.Version)
	c.mu.Lock()
	p := c.connectPacket(resume)
	c.mu.Unlock()
	ack, err := cn.handshake(ctx, p)
	if err != nil {
		nc.Close()
		if _, ok := err.(*ReasonError); !ok {
			err = fmt.Errorf("connect to %s: %w", c.opts.Addr, err)
		}
		return err
	}
	c.mu.Lock()
	if c.closing || c.finished {
		c.mu.Unlock()
		nc.Close()
		return ErrClosed
	}
	c.install(cn, ack)
	c.producers.Add(1)
	c.mu.Unlock()
	cn.flush()
	cn.startKeepAlive()
	go c.readLoop(cn)
	if c.opts.OnConnect != nil {
		c.opts.OnConnect(ack)
	}
	return nil
}

// install makes cn the current connection, adopts the limits the server
// announced and sends again what the session still owes. c.mu must be
// held.
func (c *Client) install(cn *conn, ack *packet.Connack) {
	c.cur = cn
	c.connack = ack
	if ack.Props.AssignedClientID != "" {
		c.clientID = ack.Props.AssignedClientID
	}
	c.quota = 65535
	if ack.Props.ReceiveMaximum != 0 {
		c.quota = int(ack.Props.ReceiveMaximum)
	}
	cn.maxPacket = ack.Props.MaximumPacketSize
	cn.keepAlive = c.opts.KeepAlive
	if ack.Props.HasServerKeepAlive {
		// v5 [MQTT-3.2.2-21]: the server's value replaces ours.
		cn.keepAlive = time.Duration(ack.Props.ServerKeepAlive) * time.Second
	}
	if !ack.SessionPresent {
		// The server has no session, so nothing it sent before is
		// outstanding, and a QoS 2 message it has acknowledged with
		// PUBREC has been received: only PUBLISH packets still need
		// sending.
		clear(c.inboundQoS2)
		for id, r := range c.pending {
			if r.released {
				c.complete(id, r, result{})
			}
		}
	}
	// v5 [MQTT-4.4.0-1], v3.1.1 [MQTT-4.4.0-1]: resend unacknowledged
	// PUBLISH (with DUP) and PUBREL packets with their original packet
	// identifiers, in their original order [MQTT-4.6.0-1].
	reqs := make([]*request, 0, len(c.pending))
	for _, r := range c.pending {
		reqs = append(reqs, r)
	}
	slices.SortFunc(reqs, func(a, b *request) int { return cmp.Compare(a.seq, b.seq) })
	for _, r := range reqs {
		var err error
		switch p := r.pkt.(type) {
		case *packet.Publish:
			if r.released {
				err = cn.enqueue(&packet.Pubrel{PacketID: p.PacketID})
			} else {
				p.Dup = true
				err = cn.enqueue(p)
			}
		default:
			err = cn.enqueue(p)
		}
		if err != nil {
			// The new server's limits refuse what the old one took.
			c.complete(r.id(), r, result{err: err})
		}
	}
}

// lost handles the end of cn: finish the Client, or start reconnecting.
// It runs on cn's read loop.
func (c *Client) lost(cn *conn, readErr error) {
	err := cn.cause(readErr)
	c.mu.Lock()
	if c.cur != cn || c.closing {
		c.mu.Unlock()
		return
	}
	c.cur = nil
	reconnect := c.opts.AutoReconnect && c.ctx.Err() == nil
	if reconnect {
		c.producers.Add(1)
	} else {
		c.finish(fmt.Errorf("connection lost: %w", err))
	}
	c.mu.Unlock()
	if c.opts.OnConnectionLost != nil {
		c.opts.OnConnectionLost(err)
	}
	if reconnect {
		go c.reconnect()
	}
}

// reconnect redials with exponential backoff until it succeeds or the
// Client is closed.
func (c *Client) reconnect() {
	defer c.producers.Done()
	delay := c.opts.ReconnectDelay
	for {
		err := c.connect(c.ctx, true)
		if err == nil || c.ctx.Err() != nil {
			return
		}
		if c.opts.OnConnectionLost != nil {
			c.opts.OnConnectionLost(fmt.Errorf("reconnect: %w", err))
		}
		t := time.NewTimer(delay)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(delay*2, c.opts.MaxReconnectDelay)
	}
}

// finish ends the Client: every call in progress fails with err. c.mu
// must be held.
func (c *Client) finish(err error) {
	if c.finished {
		return
	}
	c.finished = true
	c.err = err
	for id, r := range c.pending {
		c.complete(id, r, result{err: err})
	}
	close(c.done)
	c.cancel()
	go func() {
		c.producers.Wait()
		close(c.inbox)
	}()
}

// Disconnect sends DISCONNECT with reason (5.0; NormalDisconnection, or
// DisconnectWithWillMessage to have the server publish the will) and
// closes the connection once everything queued before it is written, or
// when ctx ends. Calls still waiting for the server fail with ErrClosed.
func (c *Client) Disconnect(ctx context.Context, reason packet.ReasonCode) error {
	c.mu.Lock()
	if c.closing || c.finished {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closing = true
	c.cancel()
	cn := c.cur
	var err error
	if cn != nil {
		err = cn.enqueue(&packet.Disconnect{ReasonCode: reason})
	}
	c.mu.Unlock()
	close(c.stopped)
	if cn != nil {
		stop := context.AfterFunc(ctx, func() { cn.close(ctx.Err()) })
		cn.flush()
		err = cmp.Or(err, cn.drain())
		stop()
		cn.close(ErrClosed)
		<-cn.readerDone
	}
	c.mu.Lock()
	c.finish(ErrClosed)
	c.err = nil
	c.mu.Unlock()
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// Done is closed when the Client has finished: after Disconnect, or when
// the connection was lost without AutoReconnect.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why the Client finished: nil while it runs and after
// Disconnect, the cause of the lost connection otherwise.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Connack is the server's answer to the latest accepted CONNECT: whether
// a session was present, and (5.0) the limits and identifiers it set.
func (c *Client) Connack() *packet.Connack {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connack
}

// ClientID is the client identifier in use, as assigned by the server when
// Options.ClientID was empty (5.0).
func (c *Client) ClientID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientID
}

// Messages delivers incoming messages when Options.OnMessage is nil; it is
// nil otherwise. A message is acknowledged once received from it. It is
// closed after the Client finishes and its messages are delivered; after
// Disconnect, messages still queued are dropped.
func (c *Client) Messages() <-chan *packet.Publish { return c.messages }
