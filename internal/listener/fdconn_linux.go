package listener

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// FDConn is a TCP connection held as a bare non-blocking descriptor, for
// connections the Poller reads. A net.TCPConn costs about 700 bytes that
// an idle MQTT connection has no use for: the Go runtime's poll
// descriptor with its two deadline timers (outside the Go heap, never
// returned to the system) and the net package's file and address
// structures. FDConn holds the descriptor, the peer's address and a write
// deadline, and waits through the Poller only when a write cannot
// complete at once.
//
// Read never blocks: it returns ErrWouldBlock when nothing is waiting, and
// is called only by the Poller's callback. Writes may come from any
// goroutine and are done one at a time, as a net.Conn's are; Close may come
// while one waits, which then fails, and the descriptor is closed once it
// has returned, so its number is never reused under a writer.
type FDConn struct {
	fd int
	p  *Poller
	// remote is an Addr, boxed once here so that asking for it allocates
	// nothing; it costs 32 bytes. The local address, which the broker
	// does not ask for on any busy path, is asked of the socket instead.
	remote net.Addr

	// deadline is the write deadline in Unix nanoseconds, 0 for none.
	deadline atomic.Int64

	// wmu makes Writes take turns.
	wmu sync.Mutex

	mu sync.Mutex
	// writing is set while a Write uses the descriptor; it closes it on
	// the way out if Close came meanwhile.
	writing bool
	closed  bool
}

// Bare turns an accepted TCP connection into an FDConn that p serves: it
// keeps a duplicate of the descriptor and closes nc, whose runtime poll
// descriptor goes back to the runtime's cache for the next accept. The
// socket's options (TCP_NODELAY, keep-alive) carry over.
func (p *Poller) Bare(nc *net.TCPConn) (*FDConn, error) {
	rc, err := nc.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, os.NewSyscallError("fcntl", derr)
	}
	c := &FDConn{fd: nfd, p: p, remote: compact(nc.RemoteAddr())}
	// The duplicate shares the open file, which stays non-blocking.
	nc.Close()
	return c, nil
}

// compact is a TCP address as an Addr, with an IPv4 address mapped into
// IPv6 written as IPv4.
func compact(a net.Addr) net.Addr {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return a
	}
	ap := t.AddrPort()
	return Addr(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

// Fd is the descriptor, for Watch.
func (c *FDConn) Fd() int { return c.fd }

// Read reads what is waiting, or returns ErrWouldBlock; io.EOF once the
// peer has closed its side.
func (c *FDConn) Read(b []byte) (int, error) {
	for {
		n, err := rawRead(c.fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, ErrWouldBlock
		case err != nil:
			return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.remote, Err: os.NewSyscallError("read", err)}
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write writes all of b, waiting for room in the socket until the write
// deadline.
func (c *FDConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeHeld(b, true)
}

// TryWrite writes as much of b as the socket takes at once, without
// waiting for room: a short count with a nil error means the socket is
// full, or another write is under way.
func (c *FDConn) TryWrite(b []byte) (int, error) {
	if !c.wmu.TryLock() {
		return 0, nil
	}
	defer c.wmu.Unlock()
	return c.writeHeld(b, false)
}

// writeHeld writes b, waiting for room if wait is set. The caller holds
// c.wmu.
func (c *FDConn) writeHeld(b []byte, wait bool) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	c.writing = true
	c.mu.Unlock()
	n, err := c.write(b, wait)
	c.mu.Lock()
	c.writing = false
	if c.closed {
		// Close came during the write and left the descriptor to us.
		c.closeFD()
	}
	c.mu.Unlock()
	return n, err
}

func (c *FDConn) write(b []byte, wait bool) (int, error) {
	done := 0
	for done < len(b) {
		n, err := rawSend(c.fd, b[done:])
		if n > 0 {
			done += n
		}
		switch {
		case err == nil, err == unix.EINTR:
			continue
		case err == unix.EAGAIN && !wait:
			return done, nil
		case err == unix.EAGAIN:
			var deadline time.Time
			if d := c.deadline.Load(); d != 0 {
				deadline = time.Unix(0, d)
			}
			if err := c.p.waitWritable(c.fd, deadline); err != nil {
				return done, err
			}
		default:
			return done, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.remote, Err: os.NewSyscallError("send", err)}
		}
	}
	return done, nil
}

// Close closes the connection. A Write under way fails and closes the
// descriptor as it returns.
func (c *FDConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.closed = true
	if c.writing {
		// Wake the writer: its next send fails, or its wait ends.
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
		c.p.wakeWriter(c.fd)
		return nil
	}
	c.closeFD()
	return nil
}

// closeFD forgets and closes the descriptor. The caller holds c.mu.
func (c *FDConn) closeFD() {
	c.p.Forget(c.fd)
	unix.Close(c.fd)
}

// CloseRead shuts the reading side down, which makes the descriptor
// readable (end of file): the Poller's callback then runs.
func (c *FDConn) CloseRead() error { return c.shutdown(unix.SHUT_RD) }

// CloseWrite shuts the writing side down.
func (c *FDConn) CloseWrite() error { return c.shutdown(unix.SHUT_WR) }

func (c *FDConn) shutdown(how int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	return os.NewSyscallError("shutdown", unix.Shutdown(c.fd, how))
}

// LocalAddr implements net.Conn: the address the socket is bound to, asked
// of the system each time; nil once the connection is closed.
func (c *FDConn) LocalAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		return nil
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return Addr(netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)))
	case *unix.SockaddrInet6:
		return Addr(netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port)))
	}
	return nil
}

// RemoteAddr implements net.Conn; the address is an Addr.
func (c *FDConn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the write deadline; reads never wait.
func (c *FDConn) SetDeadline(t time.Time) error { return c.SetWriteDeadline(t) }

// SetReadDeadline does nothing: reads never wait.
func (c *FDConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline bounds the wait of Write for room in the socket.
func (c *FDConn) SetWriteDeadline(t time.Time) error {
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	c.deadline.Store(d)
	return nil
}

var _ net.Conn = (*FDConn)(nil)

// errNotWatched reports a write wait on a closed Poller.
var errNotWatched = errors.New("listener: poller closed")

// waitWritable waits until fd has room to write, deadline passes (zero:
// no deadline), or wakeWriter is called for it.
func (p *Poller) waitWritable(fd int, deadline time.Time) error {
	ch := make(chan struct{})
	p.wmu.Lock()
	p.writers[int32(fd)] = ch
	p.wmu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(fd)}
	err := unix.EpollCtl(p.wepfd, unix.EPOLL_CTL_MOD, fd, &ev)
	if errors.Is(err, unix.ENOENT) {
		err = unix.EpollCtl(p.wepfd, unix.EPOLL_CTL_ADD, fd, &ev)
	}
	if err != nil {
		p.dropWriter(fd, ch)
		return fmt.Errorf("epoll_ctl %d: %w", fd, err)
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
		return nil
	case <-timeout:
		p.dropWriter(fd, ch)
		return os.ErrDeadlineExceeded
	case <-p.done:
		return errNotWatched
	}
}

// dropWriter removes fd's waiter if it is still ch.
func (p *Poller) dropWriter(fd int, ch chan struct{}) {
	p.wmu.Lock()
	if p.writers[int32(fd)] == ch {
		delete(p.writers, int32(fd))
	}
	p.wmu.Unlock()
}

// wakeWriter ends fd's write wait, if there is one.
func (p *Poller) wakeWriter(fd int) {
	p.wmu.Lock()
	ch := p.writers[int32(fd)]
	delete(p.writers, int32(fd))
	p.wmu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// writeLoop wakes writers whose descriptors have room.
func (p *Poller) writeLoop() {
	evs := make([]unix.EpollEvent, 64)
	for {
		n, err := waitEvents(p.wepf, evs)
		if err != nil {
			return
		}
		for i := range n {
			if evs[i].Fd == int32(p.wakefd) {
				return
			}
			p.wakeWriter(int(evs[i].Fd))
		}
	}
}
