package broker

import (
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/petrelmq/petrel/internal/listener"
	"github.com/petrelmq/petrel/packet"
)

// startPolled hands a TCP connection to the server's Poller: no goroutine
// waits on it, and it holds no read buffer between packets. The server's
// idle wheel enforces the connect timeout and then the keep-alive.
func (c *conn) startPolled() error {
	// The Poller may call back before Watch returns.
	c.rmu.Lock()
	defer c.rmu.Unlock()
	switch nc := c.nc.(type) {
	case *listener.FDConn:
		c.fd = int32(nc.Fd())
	case syscall.Conn:
		rc, err := nc.SyscallConn()
		if err != nil {
			return err
		}
		if err := rc.Control(func(fd uintptr) { c.fd = int32(fd) }); err != nil {
			return err
		}
	default:
		return errors.ErrUnsupported
	}
	c.polled = true
	now := time.Now()
	c.lastRead.Store(now.UnixNano())
	if err := c.srv.poller.Watch(int(c.fd), c.readable); err != nil {
		c.polled = false
		return err
	}
	c.srv.idle.schedule(c, now.Add(c.srv.opts.ConnectTimeout))
	return nil
}

// errIdle is the read side's timeout: no CONNECT in time, or 1.5
// keep-alives without a packet.
var errIdle = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "read timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return false }

var _ net.Error = timeoutError{}

// idleLimit is how long the connection may stay silent.
func (c *conn) idleLimit() time.Duration {
	switch {
	case c.sess == nil:
		return c.srv.opts.ConnectTimeout
	case c.keepAlive > 0:
		return time.Duration(c.keepAlive) * time.Second * 3 / 2
	}
	return 0
}

// checkIdle runs when the idle wheel reaches the connection: it ends a
// connection silent for too long, or files it again for the time left.
func (c *conn) checkIdle() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.finished || !c.polled {
		return
	}
	limit := c.idleLimit()
	if limit == 0 {
		return
	}
	last := time.Unix(0, c.lastRead.Load())
	if time.Since(last) < limit {
		c.srv.idle.schedule(c, last.Add(limit))
		return
	}
	c.endWith(errIdle)
}

// readable runs when the Poller sees data or a hang-up, in slot: it reads
// what has arrived, handles every complete packet, keeps an incomplete
// one, writes what that gave its own and other connections to say, and
// asks to be called again.
func (c *conn) readable(slot int) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	// Deferred after the unlock, so it runs first: a callback that
	// follows this one, once Rearm lets it, waits for rmu and so finds
	// the slot given back.
	c.slot = uint16(slot) + 1
	defer c.releaseSlot()
	if c.finished {
		return
	}
	if c.bare() {
		// A bare descriptor's reads never wait, so its output can wait
		// for the callback to end (a net.TCPConn's reads may linger).
		c.omu.Lock()
		c.reading = true
		c.omu.Unlock()
	}
	wasConnected := c.sess != nil
	if err := c.readAvailable(); err != nil {
		c.endWith(err)
		c.finish()
		return
	}
	if !wasConnected && c.sess != nil && c.idleLimit() > 0 {
		// CONNECT arrived: the connect timeout becomes the keep-alive.
		c.srv.idle.schedule(c, time.Now().Add(c.idleLimit()))
	}
	if err := c.srv.poller.Rearm(int(c.fd)); err != nil {
		c.endWith(err)
		c.finish()
	}
}

// linger is how long the reader of a net.TCPConn waits for more data
// before it hands the connection back to the Poller: a busy connection is
// read like any blocking one, through the runtime's own poller, at its
// speed; one quiet for this long costs no goroutine and no buffer. A bare
// descriptor (listener.FDConn), which is how plain TCP listeners accept,
// has no runtime poller to wait in: its reader goes back to the Poller as
// soon as nothing is waiting.
const linger = 100 * time.Millisecond

// readAvailable reads and handles packets until nothing more is waiting
// (for a net.TCPConn, for linger) or the connection ends.
func (c *conn) readAvailable() error {
	var buf []byte
	if c.rare != nil {
		buf, c.rare.partial = c.rare.partial, nil
	}
	if buf == nil {
		buf = getBuffer()
	}
	defer func() {
		if len(buf) > 0 {
			// An incomplete packet waits, in memory of its own size.
			c.more().partial = append(make([]byte, 0, len(buf)), buf...)
		}
		putBuffer(buf)
	}()
	maxSize := int(c.srv.opts.MaxPacketSize)
	_, bare := c.nc.(*listener.FDConn)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(cap(buf), maxSize))...)[:len(buf)]
		}
		c.nc.SetReadDeadline(time.Now().Add(linger))
		room := cap(buf) - len(buf)
		n, rerr := c.nc.Read(buf[len(buf):cap(buf)])
		if n > 0 {
			buf = buf[:len(buf)+n]
			c.lastRead.Store(time.Now().UnixNano())
		}
		consumed, err := c.frames(buf, maxSize)
		buf = buf[:copy(buf, buf[consumed:])]
		if b := c.batch(); b != nil {
			// What this read's packets gave to say goes out now, not when
			// the socket runs dry, which a publisher that never pauses
			// would put off for ever.
			c.writeBatch(b, false)
		}
		var ne net.Error
		switch {
		case err != nil:
			return err
		case rerr == listener.ErrWouldBlock, errors.As(rerr, &ne) && ne.Timeout():
			return nil
		case bare && rerr == nil && n < room && len(buf) == 0:
			// A short read emptied the socket and ended on a packet
			// boundary: asking again would only hear EAGAIN, a system
			// call per message at low rates. What arrives meanwhile makes
			// the rearmed descriptor ready at once. (Mid-packet, reading
			// on saves keeping the partial packet for the next callback.)
			return nil
		case rerr != nil:
			return rerr
		}
	}
}

// frames handles the complete packets at the start of b and returns how
// many bytes they took.
func (c *conn) frames(b []byte, maxSize int) (int, error) {
	off := 0
	for {
		h, hn, err := packet.ParseFixedHeaderVersion(b[off:], c.v)
		if err != nil {
			return off, err
		}
		if hn == 0 {
			return off, nil
		}
		total := hn + h.Remaining
		if total > maxSize {
			return off, &packet.Error{Code: packet.PacketTooLarge,
				Reason: h.Type.String() + " larger than the maximum packet size"}
		}
		if len(b)-off < total {
			return off, nil
		}
		if err := c.frame(h, b[off+hn:off+total:off+total]); err != nil {
			return off, err
		}
		off += total
	}
}

// releaseSlot writes what the callback under way gave its flush batch,
// and its own connection's output last, then gives back the Poller slot
// it holds, if it still holds one. A callback calls it before it waits
// for anything but the CPU, so that waiting clients never keep others
// from being read, nor output from being written. The caller holds rmu,
// or is not driven by the Poller.
func (c *conn) releaseSlot() {
	if c.slot == 0 {
		return
	}
	if b := c.batch(); b != nil {
		c.writeBatch(b, true)
	}
	c.srv.poller.Release(int(c.slot - 1))
	c.slot = 0
}

// writeBatch writes what the callback's packets so far gave flush batch b
// to say, its own connection's output last; after the last, the
// connection's output no longer waits for the callback. The caller holds
// rmu.
func (c *conn) writeBatch(b *flushBatch, last bool) {
	c.omu.Lock()
	c.reading = false
	c.kickLocked(b)
	c.reading = !last
	c.omu.Unlock()
	b.flush()
}

// batch is the flush batch of the callback under way, nil if none or if
// the callback's reads may wait. The caller holds rmu, or is not driven
// by the Poller.
func (c *conn) batch() *flushBatch {
	if c.slot == 0 || !c.bare() {
		return nil
	}
	return &c.srv.batches[c.slot-1]
}

// flushBatch collects the connections a Poller callback gave output to,
// so that the callback writes each once, itself, when its packets are
// handled (see releaseSlot): at low rates a message reaches its subscriber
// without a goroutine hand-off, and under load each connection still gets
// one write for everything the callback's packets gave it. There is one
// per Poller slot, used by the callback that holds the slot.
type flushBatch struct {
	conns []*conn
}

// flush writes every connection filed, each of which the filer marked
// flushing.
func (b *flushBatch) flush() {
	for i, c := range b.conns {
		b.conns[i] = nil
		c.writeNow()
	}
	b.conns = b.conns[:0]
}
