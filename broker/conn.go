package broker

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/internal/listener"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

const (
	// readBufferSize is the bufio buffer each connection reads through.
	readBufferSize = 4 << 10
	// outHighWater is how much encoded output a connection may hold before
	// the broker stops moving messages from the session queue to it: past
	// it, a slow reader's messages wait in the bounded session queue.
	outHighWater = 256 << 10
	// writeTimeout bounds one write to a client; a client that does not
	// read for this long is disconnected.
	writeTimeout = 30 * time.Second
)

// errClientDisconnected ends the read loop after a DISCONNECT.
var errClientDisconnected = errors.New("client sent DISCONNECT")

// conn is one network connection and, after CONNECT, one client. Its
// fields are ordered by size, so that no padding is wasted: an idle
// client costs its conn.
type conn struct {
	srv        *Server
	prev, next *conn // Server.conns, guarded by Server.mu
	nc         net.Conn
	lst        *listenerRun
	client     plugin.Client
	sess       *clientSession

	// outAliases are the topic aliases the broker has told the client;
	// guarded by the session lock, under which publishes are encoded.
	outAliases map[string]uint16
	// will is this connection's will, published if it ends abnormally.
	will *will
	// rare is what the read side seldom needs; see more.
	rare *seldom
	// refusedMark is the server's count of refused store writes when the
	// packet being handled arrived; see durable.
	refusedMark int64
	// ops is what the connection keeps for operators: traffic counts,
	// login time, tracing.
	ops connOps

	omu sync.Mutex
	out []byte

	// rmu orders the Poller's callbacks.
	rmu sync.Mutex
	// wheelAt is the idle wheel tick the connection is filed under, 0 for
	// none; guarded by the wheel's lock.
	wheelAt int64
	// lastRead is when the connection last read, in Unix nanoseconds:
	// the idle check's clock, and readAt's.
	lastRead atomic.Int64

	// maxPacketSize and aliasMax (below) are the client's limits towards
	// it (v5).
	maxPacketSize uint32
	// loggedIn is set once the client is admitted; from then on its
	// client fields are read by other goroutines.
	loggedIn atomic.Bool
	// holds counts what output waits for before it may be written: the
	// CONNACK that goes in front of it, or the store, for QoS 2 messages
	// to a persistent session (see pumpLocked). Guarded by omu.
	holds int32
	fd    int32

	// keepAlive is the client's keep-alive in seconds.
	keepAlive uint16
	aliasMax  uint16
	v         packet.Version
	// problemInfo is the client's Request Problem Information: whether
	// acknowledgements may say why they failed.
	problemInfo bool
	// normalClose is set when the client ends with a normal DISCONNECT:
	// no will.
	normalClose bool
	// assignedID is set when the broker chose the client id (v5).
	assignedID bool
	// flushing, closed and needPump are guarded by omu.
	flushing bool
	closed   bool
	needPump bool
	polled   bool
	// slot is the number, plus one, of the Poller slot the callback under
	// way holds (see listener.Poller), 0 for none; guarded by rmu.
	slot uint16
	// reading is set while a Poller callback handles the connection's
	// packets: output for it waits for the callback to write it. Guarded
	// by omu.
	reading bool
	// finished is set by finish; used by the read side only.
	finished bool
}

// seldom is read-side state that most connections never need: it is made
// on first use, so that an idle connection does not carry it.
type seldom struct {
	// inAliases are the client's topic aliases (v5).
	inAliases map[uint16]string
	// auth is the enhanced authentication of a client that logged in with
	// a method (v5); nil otherwise.
	auth *authRun
	// rate is the client's publishing budget under MaxPublishRate and
	// MaxPublishByteRate.
	rate *pubRate
	// partial is an incomplete packet a Poller callback left for the next.
	partial []byte
}

// more is the connection's seldom-needed state, made if it has none yet.
// The caller is the read side.
func (c *conn) more() *seldom {
	if c.rare == nil {
		c.rare = &seldom{}
	}
	return c.rare
}

// enhanced is the client's enhanced authentication, nil if it logged in
// without a method.
func (c *conn) enhanced() *authRun {
	if c.rare == nil {
		return nil
	}
	return c.rare.auth
}

// exchanging reports whether an enhanced authentication exchange is under
// way.
func (c *conn) exchanging() bool {
	run := c.enhanced()
	return run != nil && run.ex != nil
}

// inAlias is the topic the client set for its topic alias (v5).
func (c *conn) inAlias(alias uint16) (string, bool) {
	if c.rare == nil {
		return "", false
	}
	t, ok := c.rare.inAliases[alias]
	return t, ok
}

func newConn(s *Server, nc net.Conn, l *listenerRun) *conn {
	c := &conn{srv: s, nc: nc, lst: l}
	c.client.RemoteAddr = nc.RemoteAddr()
	c.client.Listener = l.cfg.Name
	return c
}

// remote is the client's address as logs show it: host:port, not the
// structure a JSON log would make of a net.Addr.
func (c *conn) remote() string {
	if c.client.RemoteAddr == nil {
		return ""
	}
	return c.client.RemoteAddr.String()
}

// errRefused ends a connection whose CONNECT was answered with a refusal.
var errRefused = errors.New("connection refused")

// errNotConnect ends a connection whose first packet is not CONNECT
// (v5 and v3.1.1 [MQTT-3.1.0-1]).
var errNotConnect = errors.New("first packet is not CONNECT (v5 and v3.1.1 [MQTT-3.1.0-1])")

// frame handles one complete packet: CONNECT first, then the rest.
func (c *conn) frame(h packet.FixedHeader, body []byte) error {
	c.ops.packetsIn.Inc()
	c.ops.bytesIn.Add(uint64(h.Size + len(body)))
	if c.ops.traced.Load() {
		c.traceReceived(h, body)
	}
	if c.sess == nil {
		var ok bool
		switch {
		case c.exchanging():
			ok = c.continueLogin(h, body)
		case h.Type != packet.CONNECT:
			return errNotConnect
		default:
			ok = c.connect(body)
		}
		if !ok {
			return errRefused
		}
		return nil
	}
	return c.handle(h, body)
}

// serve reads the connection on its own goroutine until it ends: the read
// side for connections the Poller cannot drive.
func (c *conn) serve() {
	defer c.finish()
	r := packet.NewReader(c.nc, readBufferSize)
	r.MaxPacketSize = int(c.srv.opts.MaxPacketSize)
	c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.ConnectTimeout))
	for {
		h, body, err := r.ReadFrame()
		now := time.Now()
		c.lastRead.Store(now.UnixNano())
		if err == nil {
			err = c.frame(h, body)
		}
		if err != nil {
			c.endWith(err)
			return
		}
		r.Version = c.v
		if c.sess == nil {
			// Still logging in: the connect timeout stands.
			continue
		}
		if limit := c.idleLimit(); limit > 0 {
			c.nc.SetReadDeadline(now.Add(limit))
		} else {
			c.nc.SetReadDeadline(time.Time{})
		}
	}
}

// finish runs once when the connection is over: the session lets go of it
// and the socket closes.
func (c *conn) finish() {
	if c.finished {
		return
	}
	c.finished = true
	c.omu.Lock()
	c.closed = true
	c.omu.Unlock()
	if c.sess != nil {
		c.detach()
	}
	if c.polled {
		c.srv.poller.Forget(int(c.fd))
	}
	c.nc.Close()
	c.srv.forget(c)
}

// endWith closes the connection for err, telling a v5 client why.
func (c *conn) endWith(err error) {
	if errors.Is(err, errClientDisconnected) {
		return
	}
	var ne net.Error
	switch {
	case errors.Is(err, errRefused):
	case errors.Is(err, errNotConnect):
		c.srv.log.Info("closing connection", "remote", c.remote(), "err", err)
		c.abort()
	case errors.As(err, &ne) && ne.Timeout() && c.sess == nil:
		c.srv.log.Info("no CONNECT in time; closing", "remote", c.remote(), "timeout", c.srv.opts.ConnectTimeout)
		c.abort()
	case errors.As(err, &ne) && ne.Timeout():
		// v5 [MQTT-3.1.2-22], v3.1.1 [MQTT-3.1.2-24]: 1.5 keep-alives
		// without a packet end the connection.
		c.srv.log.Info("keep-alive timeout", "client", c.client.ID, "remote", c.remote())
		c.disconnect(packet.KeepAliveTimeout, "", "no packet within 1.5 times the keep-alive")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrDeadlineExceeded):
		c.srv.log.Debug("connection closed", "client", c.client.ID, "remote", c.remote())
		c.abort()
	default:
		code := packet.CodeOf(err)
		c.srv.log.Info("closing connection", "client", c.client.ID, "remote", c.remote(),
			"reason", code.String(), "code", byte(code), "err", err)
		c.disconnect(code, "", err.Error())
	}
}

// handle dispatches one packet after CONNECT.
func (c *conn) handle(h packet.FixedHeader, body []byte) error {
	if c.srv.store != nil {
		c.refusedMark = c.srv.storeRefused.Load()
	}
	switch h.Type {
	case packet.PUBLISH:
		var p packet.Publish
		if err := p.Decode(h.Flags, body, c.v); err != nil {
			return err
		}
		return c.handlePublish(&p)
	case packet.PUBACK:
		var p packet.Puback
		if err := p.Decode(h.Flags, body, c.v); err != nil {
			return err
		}
		c.sess.puback(p.PacketID, c.readAt())
	case packet.PUBREC:
		var p packet.Pubrec
		if err := p.Decode(h.Flags, body, c.v); err != nil {
			return err
		}
		c.sess.pubrec(c, p.PacketID, p.ReasonCode)
	case packet.PUBREL:
		var p packet.Pubrel
		if err := p.Decode(h.Flags, body, c.v); err != nil {
			return err
		}
		c.handlePubrel(p.PacketID)
	case packet.PUBCOMP:
		var p packet.Pubcomp
		if err := p.Decode(h.Flags, body, c.v); err != nil {
			return err
		}
		c.sess.pubcomp(p.PacketID, c.readAt())
	case packet.SUBSCRIBE:
		var p packet.Subscribe
		if err := p.Decode(h.Flags, body, c.v); err != nil {
			return err
		}
		return c.handleSubscribe(&p)
	case packet.UNSUBSCRIBE:
		var p packet.Unsubscribe
		if err := p.Decode(h.Flags, body, c.v); err != nil {
			return err
		}
		c.handleUnsubscribe(&p)
	case packet.PINGREQ:
		c.send(&packet.Pingresp{})
	case packet.DISCONNECT:
		var p packet.Disconnect
		if err := p.Decode(h.Flags, body, c.v); err != nil {
			return err
		}
		return c.handleDisconnect(&p)
	case packet.CONNECT:
		// v5 [MQTT-3.1.0-2], v3.1.1 [MQTT-3.1.0-2]
		return &packet.Error{Code: packet.ProtocolError, Reason: "second CONNECT (v5 and v3.1.1 [MQTT-3.1.0-2])"}
	case packet.AUTH:
		if c.v != packet.V5 {
			return &packet.Error{Code: packet.MalformedPacket, Reason: "AUTH before MQTT 5"}
		}
		var p packet.Auth
		if err := p.Decode(h.Flags, body, c.v); err != nil {
			return err
		}
		return c.reauthenticate(&p)
	default:
		return &packet.Error{Code: packet.ProtocolError, Reason: h.Type.String() + " is sent only by a server"}
	}
	return nil
}

func (c *conn) handleDisconnect(p *packet.Disconnect) error {
	if p.Props.HasSessionExpiry {
		c.sess.mu.Lock()
		wasZero := c.sess.expiry == 0
		if wasZero && p.Props.SessionExpiry != 0 {
			c.sess.mu.Unlock()
			// v5 [MQTT-3.14.2-2]
			return &packet.Error{Code: packet.ProtocolError, Reason: "DISCONNECT sets a Session Expiry Interval after CONNECT set 0 (v5 [MQTT-3.14.2-2])"}
		}
		wasPersistent := c.sess.persistent()
		c.sess.expiry = c.srv.sessionExpiry(p.Props.SessionExpiry)
		if wasPersistent && !c.sess.persistent() {
			// The session now ends with this connection: nothing of it
			// may survive a restart.
			c.srv.apply(Op{Kind: OpEndSession, ClientID: c.sess.id})
		}
		c.sess.mu.Unlock()
	}
	// v5 §3.14.2.1: 0x04 asks for the will; every other reason drops it
	// [MQTT-3.1.2-10].
	c.normalClose = p.ReasonCode != packet.DisconnectWithWillMessage
	c.ops.setEndReason(p.ReasonCode)
	return errClientDisconnected
}

// readAt is when what is being handled was read: the clock for handling
// it, read once a read instead of once a packet.
func (c *conn) readAt() time.Time { return time.Unix(0, c.lastRead.Load()) }

// send encodes a packet to the client and schedules a write.
func (c *conn) send(p packet.Packet) {
	c.omu.Lock()
	defer c.omu.Unlock()
	if c.closed {
		return
	}
	if props := reasonProps(p); props != nil && props.ReasonString != "" {
		c.out = c.appendFitting(c.outBuf(), p, props)
	} else {
		var err error
		if c.out, err = p.Encode(c.outBuf(), c.v); err != nil {
			c.srv.log.Error("cannot encode a packet to a client", "client", c.client.ID, "type", p.Type(), "err", err)
			return
		}
	}
	c.ops.packetsOut.Inc()
	if c.ops.traced.Load() {
		c.traceSent(p)
	}
	c.kickLocked(nil)
}

// outBuf is the output buffer to append to: a pooled one when the
// connection has none, so a busy connection reuses buffers instead of
// growing a new one after every write. The caller holds c.omu.
func (c *conn) outBuf() []byte {
	if c.out == nil {
		c.out = getBuffer()
	}
	return c.out
}

// kickLocked has waiting output written if no write is under way: by the
// connection's own read callback when one is running, which writes it when
// its packets are handled; through flush batch b, if not nil, for a bare
// descriptor; otherwise by a flush goroutine. No goroutine waits on an
// idle connection: one is started when there is something to write and
// ends when the buffer is empty. The caller holds c.omu.
func (c *conn) kickLocked(b *flushBatch) {
	if c.flushing || c.reading || !c.writable() {
		return
	}
	c.flushing = true
	if b != nil && c.bare() {
		b.conns = append(b.conns, c)
		return
	}
	go c.flush()
}

// bare reports whether the connection is a bare descriptor, which can be
// written without waiting (see writeNow).
func (c *conn) bare() bool {
	_, ok := c.nc.(*listener.FDConn)
	return ok
}

// writable reports whether output waits and may be written now. The
// caller holds c.omu.
func (c *conn) writable() bool { return !c.closed && len(c.out) > 0 && c.holds == 0 }

// stopFlushing ends a write: the next kick starts another. If the pump
// stopped at the output's high-water mark, it runs again. The caller holds
// c.omu, which stopFlushing releases.
func (c *conn) stopFlushing() {
	c.flushing = false
	refill := c.needPump && !c.closed
	c.needPump = false
	c.omu.Unlock()
	if refill && c.sess != nil {
		c.sess.refill(c)
	}
}

// flush writes pending output until none is left. Everything queued while
// a write is under way goes out in the next write, so under load many
// packets share one system call.
func (c *conn) flush() {
	for {
		buf, ok := c.takeOutput(true)
		if !ok {
			return
		}
		c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := c.nc.Write(buf)
		putBuffer(buf)
		if err != nil {
			c.writeFailed()
			return
		}
	}
}

// writeNow writes the connection's output, which a flush batch held, from
// the batch's goroutine, as far as the socket takes it at once: a client
// that does not read never holds up the publisher whose callback writes.
// What the socket cannot take, and what came meanwhile, a flush goroutine
// writes.
func (c *conn) writeNow() {
	buf, ok := c.takeOutput(false)
	if !ok {
		return
	}
	n, err := c.nc.(*listener.FDConn).TryWrite(buf)
	c.omu.Lock()
	c.ops.bytesOut.Add(uint64(n))
	if err != nil {
		c.omu.Unlock()
		putBuffer(buf)
		c.writeFailed()
		return
	}
	if n < len(buf) {
		// The rest goes first, ahead of what was queued meanwhile.
		rest := buf[:copy(buf, buf[n:])]
		if len(c.out) > 0 {
			rest = append(rest, c.out...)
			putBuffer(c.out)
		}
		c.out = rest
	} else {
		putBuffer(buf)
	}
	if !c.writable() {
		c.stopFlushing()
		return
	}
	c.omu.Unlock()
	go c.flush()
}

// takeOutput takes the output to write next, counted as sent if count is
// set, or, if none may be written now, ends the write under way and
// reports false.
func (c *conn) takeOutput(count bool) ([]byte, bool) {
	c.omu.Lock()
	// Held output waits, even for a write already under way; the release
	// starts another.
	if !c.writable() {
		c.stopFlushing()
		return nil, false
	}
	buf := c.out
	c.out = nil
	if count {
		c.ops.bytesOut.Add(uint64(len(buf)))
	}
	c.omu.Unlock()
	return buf, true
}

// writeFailed ends the write under way, and the connection, after a write
// failed.
func (c *conn) writeFailed() {
	c.omu.Lock()
	c.flushing = false
	c.omu.Unlock()
	c.abort()
}

// disconnect sends a v5 client DISCONNECT with code and a Reason String
// saying why, then closes. A Reason String is always allowed on DISCONNECT
// (v5 [MQTT-3.1.2-29]).
func (c *conn) disconnect(code packet.ReasonCode, reference, why string) {
	c.ops.setEndReason(code)
	if c.v == packet.V5 && code.ValidFor(packet.DISCONNECT) {
		d := &packet.Disconnect{ReasonCode: code}
		d.Props.ServerReference = reference
		d.Props.ReasonString = why
		c.omu.Lock()
		if !c.closed {
			c.out = c.appendFitting(c.out, d, &d.Props)
		}
		c.omu.Unlock()
	}
	c.closeAfterWrite()
}

// reasonProps returns the properties of the acknowledgements that may
// carry a Reason String.
func reasonProps(p packet.Packet) *packet.Properties {
	switch p := p.(type) {
	case *packet.Puback:
		return &p.Props
	case *packet.Pubrec:
		return &p.Props
	case *packet.Suback:
		return &p.Props
	case *packet.Unsuback:
		return &p.Props
	}
	return nil
}

// appendFitting encodes p, dropping its Reason String if the packet would
// exceed the client's Maximum Packet Size (v5 [MQTT-3.1.2-24]): the reason
// is a courtesy, the packet is not.
func (c *conn) appendFitting(dst []byte, p packet.Packet, props *packet.Properties) []byte {
	start := len(dst)
	out, err := p.Encode(dst, c.v)
	if err == nil && (c.maxPacketSize == 0 || len(out)-start <= int(c.maxPacketSize)) {
		return out
	}
	props.ReasonString = ""
	out, _ = p.Encode(out[:start], c.v)
	return out
}

// closeAfterWrite writes what is pending, briefly, then ends the
// connection.
func (c *conn) closeAfterWrite() {
	c.omu.Lock()
	if c.closed {
		c.omu.Unlock()
		return
	}
	c.closed = true
	buf := c.out
	c.out = nil
	if c.holds > 0 {
		// Held output may not go out yet (a QoS 2 message the store has
		// not recorded): none of it does, the session sends it again.
		buf = nil
	}
	c.ops.bytesOut.Add(uint64(len(buf)))
	c.omu.Unlock()
	if len(buf) > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		c.nc.Write(buf)
		putBuffer(buf)
	}
	c.wake()
}

// abort ends the connection without writing what is pending.
func (c *conn) abort() {
	c.omu.Lock()
	c.closed = true
	c.out = nil
	c.omu.Unlock()
	c.wake()
}

// wake makes the read side see the end: shutting the socket down (rather
// than closing it) makes it readable, so the goroutine or Poller callback
// that reads it runs finish.
func (c *conn) wake() {
	if tc, ok := c.nc.(interface {
		CloseRead() error
		CloseWrite() error
	}); ok {
		tc.CloseRead()
		tc.CloseWrite()
		return
	}
	c.nc.Close()
}

// shutdown ends the connection because the server is stopping, with
// code and the server the client should use instead, if any.
func (c *conn) shutdown(code packet.ReasonCode, reference string) {
	c.disconnect(code, reference, "the server is shutting down")
}

// takenOver ends the connection because a new one took its session over
// (v5 and v3.1.1 [MQTT-3.1.4-3]).
func (c *conn) takenOver() {
	c.disconnect(packet.SessionTakenOver, "", "another connection took this session over")
}
