package broker

import (
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// startPolled hands a TCP connection to the server's Poller: no goroutine
// waits on it, and it holds no read buffer between packets. A timer
// enforces the connect timeout and then the keep-alive.
func (c *conn) startPolled() error {
	// The Poller may call back before Watch returns.
	c.rmu.Lock()
	defer c.rmu.Unlock()
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return errors.ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	if err := rc.Control(func(fd uintptr) { c.fd = int(fd) }); err != nil {
		return err
	}
	c.polled = true
	c.lastRead.Store(time.Now().UnixNano())
	c.timer = time.AfterFunc(c.srv.opts.ConnectTimeout, c.checkIdle)
	if err := c.srv.poller.Watch(c.fd, c.readable); err != nil {
		c.timer.Stop()
		c.timer, c.polled = nil, false
		return err
	}
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
		return c.keepAlive * 3 / 2
	}
	return 0
}

// checkIdle runs when the timer fires: it ends a connection silent for
// too long, or sets the timer for the time left.
func (c *conn) checkIdle() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.finished {
		return
	}
	limit := c.idleLimit()
	if limit == 0 {
		return
	}
	if left := limit - time.Since(time.Unix(0, c.lastRead.Load())); left > 0 {
		c.timer.Reset(left)
		return
	}
	c.endWith(errIdle)
}

// readable runs when the Poller sees data or a hang-up: it reads what has
// arrived, handles every complete packet, keeps an incomplete one, and
// asks to be called again.
func (c *conn) readable() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.finished {
		return
	}
	wasConnected := c.sess != nil
	if err := c.readAvailable(); err != nil {
		c.endWith(err)
		c.finish()
		return
	}
	c.omu.Lock()
	closed := c.closed
	c.omu.Unlock()
	if closed {
		c.finish()
		return
	}
	if !wasConnected && c.sess != nil && c.idleLimit() > 0 {
		// CONNECT arrived: the connect timeout becomes the keep-alive.
		c.timer.Reset(c.idleLimit())
	}
	if err := c.srv.poller.Rearm(c.fd); err != nil {
		c.endWith(err)
		c.finish()
	}
}

// linger is how long a connection's reader waits for more data before it
// hands the connection back to the Poller. A busy connection is read like
// any blocking one, through the runtime's own poller, at its speed; a
// connection quiet for this long costs no goroutine and no buffer.
const linger = 100 * time.Millisecond

// readAvailable reads and handles packets until the connection has been
// quiet for linger or ends.
func (c *conn) readAvailable() error {
	buf := c.partial
	c.partial = nil
	if buf == nil {
		buf = getBuffer()
	}
	defer func() {
		if len(buf) > 0 {
			// An incomplete packet waits, in memory of its own size.
			c.partial = append(make([]byte, 0, len(buf)), buf...)
		}
		putBuffer(buf)
	}()
	maxSize := int(c.srv.opts.MaxPacketSize)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(cap(buf), maxSize))...)[:len(buf)]
		}
		c.nc.SetReadDeadline(time.Now().Add(linger))
		n, rerr := c.nc.Read(buf[len(buf):cap(buf)])
		if n > 0 {
			buf = buf[:len(buf)+n]
			c.lastRead.Store(time.Now().UnixNano())
		}
		consumed, err := c.frames(buf, maxSize)
		buf = buf[:copy(buf, buf[consumed:])]
		var ne net.Error
		switch {
		case err != nil:
			return err
		case errors.As(rerr, &ne) && ne.Timeout():
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
