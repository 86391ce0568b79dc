//go:build linux

// Command floor is the latency floor of the comparison in bench/compare:
// an MQTT 3.1.1 relay that does nothing a broker could leave out. It
// accepts the latency scenario's two clients, answers CONNECT, SUBSCRIBE
// and PINGREQ, and passes each PUBLISH to the connections subscribed to
// exactly its topic, then acknowledges it: no sessions, no wildcards, no
// queues, no limits, no store. One thread waits in epoll_wait and makes
// the same system calls per message a C program would (read, one send to
// the subscriber, one send of the PUBACK), and the loop allocates
// nothing, so the collector never runs.
//
// Whatever latency it shows is the machine's: the kernel's loopback path,
// waking the relay's CPU and the generator's, the hypervisor's scheduling
// of both. A broker's latency can approach it, never go below it.
//
//	floor -c FILE   # FILE holds the address to listen on: 127.0.0.1:1883
//
// It is a measuring instrument, not a broker: it trusts its clients, as
// the comparison's generator is, and ends a connection on anything else.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	conf := flag.String("c", "", "read the address to listen on from `FILE`")
	flag.Parse()
	if err := run(*conf); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// client is one connection.
type client struct {
	fd int
	// in holds what has been read and not yet handled.
	in  []byte
	buf [1 << 16]byte
	// topic is what the client subscribed to, empty if nothing.
	topic  string
	nextID uint16
}

type relay struct {
	epfd    int
	clients map[int]*client
	out     [1 << 16]byte
}

func run(conf string) error {
	text, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	// One thread, and no collector to pause it: the loop allocates
	// nothing once its clients are connected.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(-1)

	ln, err := net.Listen("tcp", strings.TrimSpace(string(text)))
	if err != nil {
		return err
	}
	lfd, err := listenerFD(ln.(*net.TCPListener))
	if err != nil {
		return err
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}); err != nil {
		return err
	}
	r := &relay{epfd: epfd, clients: map[int]*client{}}
	evs := make([]unix.EpollEvent, 64)
	for {
		n, err := wait(epfd, evs)
		if err != nil {
			return err
		}
		for _, ev := range evs[:n] {
			if int(ev.Fd) == lfd {
				r.accept(lfd)
				continue
			}
			if c := r.clients[int(ev.Fd)]; c != nil && !r.readable(c) {
				r.drop(c)
			}
		}
	}
}

// wait waits for events as a C program would: the thread blocks in
// epoll_wait holding the program's one P, so that no other thread of the
// runtime's is woken to take it while it waits, nor to give it back after.
// The runtime's monitor, seeing the goroutine run on, interrupts the wait
// with a signal every 10 ms or so; yielding after each wait tells it the
// goroutine is not stuck, which keeps it quiet while messages flow.
func wait(epfd int, evs []unix.EpollEvent) (int, error) {
	for {
		n, _, errno := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), ^uintptr(0), 0, 0)
		runtime.Gosched()
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, errno
	}
}

// listenerFD is a duplicate of the listener's descriptor, non-blocking.
func listenerFD(ln *net.TCPListener) (int, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	return fd, unix.SetNonblock(fd, true)
}

func (r *relay) accept(lfd int) {
	fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if err != nil {
		return
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		unix.Close(fd)
		return
	}
	c := &client{fd: fd}
	c.in = c.buf[:0]
	r.clients[fd] = c
}

func (r *relay) drop(c *client) {
	unix.EpollCtl(r.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	delete(r.clients, c.fd)
}

// readable reads what c sent and handles its complete packets; false ends
// the connection.
func (r *relay) readable(c *client) bool {
	free := c.buf[len(c.in):]
	if len(free) == 0 {
		return false
	}
	n, _, errno := syscall.RawSyscall(unix.SYS_READ, uintptr(c.fd), uintptr(unsafe.Pointer(unsafe.SliceData(free))), uintptr(len(free)))
	switch {
	case errno == unix.EAGAIN || errno == unix.EINTR:
		return true
	case errno != 0 || n == 0:
		return false
	}
	c.in = c.buf[:len(c.in)+int(n)]
	rest := c.in
	for {
		kind, body, next, ok := frame(rest)
		if !ok {
			break
		}
		if !r.packet(c, kind, body) {
			return false
		}
		rest = next
	}
	c.in = c.buf[:copy(c.buf[:], rest)]
	return true
}

// frame splits the first complete packet off b.
func frame(b []byte) (kind byte, body, rest []byte, ok bool) {
	size, shift := 0, 0
	for i := 1; i < len(b) && i <= 4; i++ {
		size |= int(b[i]&0x7f) << shift
		shift += 7
		if b[i]&0x80 == 0 {
			if len(b) < i+1+size {
				return 0, nil, nil, false
			}
			return b[0], b[i+1 : i+1+size], b[i+1+size:], true
		}
	}
	return 0, nil, nil, false
}

// packet handles one packet from c.
func (r *relay) packet(c *client, kind byte, body []byte) bool {
	switch kind >> 4 {
	case 1: // CONNECT: accepted, no session present.
		return send(c.fd, []byte{0x20, 2, 0, 0})
	case 8: // SUBSCRIBE: the first filter is the client's topic.
		if len(body) < 5 {
			return false
		}
		n := int(binary.BigEndian.Uint16(body[2:]))
		if len(body) < 5+n {
			return false
		}
		c.topic = string(body[4 : 4+n])
		return send(c.fd, []byte{0x90, 3, body[0], body[1], body[4+n] & 3})
	case 3:
		return r.publish(c, kind, body)
	case 4: // PUBACK from a subscriber: nothing is kept to release.
		return true
	case 12: // PINGREQ
		return send(c.fd, []byte{0xd0, 0})
	}
	return false
}

// publish passes a PUBLISH on to every client subscribed to its topic,
// with a packet identifier of the receiver's, then acknowledges it.
func (r *relay) publish(c *client, kind byte, body []byte) bool {
	qos := kind >> 1 & 3
	if qos > 1 || len(body) < 2 {
		return false
	}
	n := int(binary.BigEndian.Uint16(body))
	idAt := 2 + n
	if len(body) < idAt+2*int(qos) {
		return false
	}
	topic := body[2:idAt]
	for _, s := range r.clients {
		if s.topic == "" || s.topic != string(topic) {
			continue
		}
		out := r.out[:0]
		out = append(out, kind&^0x08)
		for size := len(body); ; {
			b := byte(size & 0x7f)
			if size >>= 7; size > 0 {
				out = append(out, b|0x80)
				continue
			}
			out = append(out, b)
			break
		}
		at := len(out) + idAt
		out = append(out, body...)
		if qos == 1 {
			s.nextID++
			if s.nextID == 0 {
				s.nextID = 1
			}
			binary.BigEndian.PutUint16(out[at:], s.nextID)
		}
		if !send(s.fd, out) {
			r.drop(s)
		}
	}
	if qos == 0 {
		return true
	}
	return send(c.fd, []byte{0x40, 2, body[idAt], body[idAt+1]})
}

// send writes all of b, waiting for room if the socket is full.
func send(fd int, b []byte) bool {
	for len(b) > 0 {
		n, _, errno := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), unix.MSG_NOSIGNAL, 0, 0)
		switch errno {
		case 0:
			b = b[n:]
		case unix.EINTR:
		case unix.EAGAIN:
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, -1)
		default:
			return false
		}
	}
	return true
}
