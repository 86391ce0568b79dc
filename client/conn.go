package client

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// conn is one network connection to the server: its reader, its queue of
// encoded packets, and its keep-alive timer.
type conn struct {
	nc         net.Conn
	r          *packet.Reader
	v          packet.Version
	readerDone chan struct{} // closed when the read loop has returned

	// Set by install before anything else uses the conn.
	maxPacket uint32        // the server's Maximum Packet Size; 0 for none
	keepAlive time.Duration // 0 for none

	mu       sync.Mutex
	drained  sync.Cond // signalled when a flush ends
	out      []byte    // encoded packets waiting to be written
	spare    []byte    // the buffer last written, reused for out
	flushing bool
	err      error // why the connection failed; set once
	writeErr error // why a write failed, if one did
	lastSent time.Time
	pingSent time.Time // when the unanswered PINGREQ went out; zero if none
	timer    *time.Timer
}

func newConn(nc net.Conn, v packet.Version) *conn {
	cn := &conn{nc: nc, r: packet.NewReader(nc, 4096), v: v, readerDone: make(chan struct{})}
	cn.r.Version = v
	cn.drained.L = &cn.mu
	return cn
}

// handshake sends CONNECT and reads the CONNACK, within ctx.
func (cn *conn) handshake(ctx context.Context, p *packet.Connect) (*packet.Connack, error) {
	stop := context.AfterFunc(ctx, func() { cn.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	b, err := p.Encode(nil, p.Version)
	if err != nil {
		return nil, fmt.Errorf("encode CONNECT: %w", err)
	}
	if _, err := cn.nc.Write(b); err != nil {
		return nil, cn.ctxErr(ctx, "send CONNECT", err)
	}
	cn.lastSent = time.Now()
	got, err := cn.r.ReadPacket()
	if err != nil {
		return nil, cn.ctxErr(ctx, "read CONNACK", err)
	}
	ack, ok := got.(*packet.Connack)
	if !ok {
		return nil, fmt.Errorf("server answered CONNECT with %s, not CONNACK", got.Type())
	}
	if ack.ReasonCode.IsError() {
		return nil, refusal(packet.CONNACK, p.Version, ack.ReasonCode, &ack.Props)
	}
	if !stop() {
		return nil, cn.ctxErr(ctx, "read CONNACK", ctx.Err())
	}
	// The CONNACK's properties alias the reader's buffer.
	owned, err := packet.Clone(ack, p.Version)
	if err != nil {
		return nil, err
	}
	return owned.(*packet.Connack), nil
}

// ctxErr names what failed, preferring the context's error when it ended
// the exchange (the deadline it set makes the I/O error say only "i/o
// timeout").
func (cn *conn) ctxErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("%s: %w", what, err)
}

// enqueue encodes p onto the outbound queue; flush writes it.
func (cn *conn) enqueue(p packet.Packet) error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err != nil {
		return fmt.Errorf("%w: %w", ErrNotConnected, cn.err)
	}
	n := len(cn.out)
	out, err := p.Encode(cn.out, cn.v)
	if err != nil {
		cn.out = out[:n]
		return err
	}
	if size := len(out) - n; cn.maxPacket > 0 && size > int(cn.maxPacket) {
		cn.out = out[:n]
		return fmt.Errorf("%w: %s of %d bytes exceeds the server's Maximum Packet Size of %d",
			packet.PacketTooLarge, p.Type(), size, cn.maxPacket)
	}
	cn.out = out
	return nil
}

// send is enqueue and flush.
func (cn *conn) send(p packet.Packet) error {
	if err := cn.enqueue(p); err != nil {
		return err
	}
	cn.flush()
	return nil
}

// flush writes the queue, unless another goroutine is writing it already,
// in which case that one writes what was queued here too: packets queued
// while a write is in progress go out together in the next one.
func (cn *conn) flush() {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.flushing {
		return
	}
	cn.flushing = true
	for len(cn.out) > 0 && cn.err == nil {
		buf := cn.out
		cn.out = cn.spare[:0]
		cn.mu.Unlock()
		_, err := cn.nc.Write(buf)
		cn.mu.Lock()
		cn.spare = buf[:0]
		cn.lastSent = time.Now()
		if err != nil && cn.writeErr == nil {
			cn.writeErr = fmt.Errorf("write: %w", err)
			cn.fail(cn.writeErr)
		}
	}
	cn.flushing = false
	cn.drained.Broadcast()
}

// drain waits until nothing is being written and returns the write error,
// if a write failed. Other failures do not count: a server closes the
// connection as soon as it reads a DISCONNECT, which may be before drain
// returns.
func (cn *conn) drain() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	for cn.flushing {
		cn.drained.Wait()
	}
	return cn.writeErr
}

// fail records why the connection ends and closes it, which ends the read
// loop. cn.mu must be held.
func (cn *conn) fail(err error) {
	if cn.err != nil {
		return
	}
	cn.err = err
	cn.nc.Close()
	if cn.timer != nil {
		cn.timer.Stop()
	}
}

func (cn *conn) close(err error) {
	cn.mu.Lock()
	cn.fail(err)
	cn.mu.Unlock()
}

// cause is why the connection ended: the first failure recorded, or else
// the read error that ended it.
func (cn *conn) cause(readErr error) error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err != nil {
		return cn.err
	}
	cn.fail(readErr)
	return readErr
}

// startKeepAlive arms the keep-alive timer. It checks four times per
// interval so the client is never silent for longer than the interval
// and a dead server is noticed within about one and a quarter of it.
func (cn *conn) startKeepAlive() {
	if cn.keepAlive <= 0 {
		return
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err == nil {
		cn.timer = time.AfterFunc(cn.keepAlive/4, cn.keepAliveTick)
	}
}

func (cn *conn) keepAliveTick() {
	cn.mu.Lock()
	if cn.err != nil {
		cn.mu.Unlock()
		return
	}
	now := time.Now()
	ping := false
	switch {
	case !cn.pingSent.IsZero():
		if now.Sub(cn.pingSent) >= cn.keepAlive {
			cn.fail(fmt.Errorf("%w (%s)", ErrKeepAliveTimeout, cn.keepAlive))
			cn.mu.Unlock()
			return
		}
	case now.Sub(cn.lastSent) >= cn.keepAlive/2:
		// v5 [MQTT-3.1.2-20], v3.1.1 [MQTT-3.1.2-23]: never silent for
		// longer than the keep-alive interval.
		cn.out, _ = (&packet.Pingreq{}).Encode(cn.out, cn.v)
		cn.pingSent = now
		ping = true
	}
	cn.timer.Reset(cn.keepAlive / 4)
	cn.mu.Unlock()
	if ping {
		cn.flush()
	}
}

// pong records a PINGRESP.
func (cn *conn) pong() {
	cn.mu.Lock()
	cn.pingSent = time.Time{}
	cn.mu.Unlock()
}
