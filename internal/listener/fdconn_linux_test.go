package listener

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// acceptPair returns a bare server side accepted through p and the
// client's net.Conn.
func acceptPair(t *testing.T, p *Poller) (*FDConn, net.Conn) {
	t.Helper()
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	nc, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Bare(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, client
}

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestFDConnReadsThroughThePoller(t *testing.T) {
	p := newPoller(t)
	c, client := acceptPair(t, p)
	if got, want := c.RemoteAddr().String(), client.LocalAddr().String(); got != want {
		t.Fatalf("RemoteAddr %s, want the client's address %s", got, want)
	}
	if got, want := c.LocalAddr().String(), client.RemoteAddr().String(); got != want {
		t.Fatalf("LocalAddr %s, want the address the client dialled %s", got, want)
	}
	buf := make([]byte, 64)
	if _, err := c.Read(buf); err != ErrWouldBlock {
		t.Fatalf("Read with nothing waiting: %v, want ErrWouldBlock", err)
	}
	ready := make(chan struct{}, 1)
	if err := p.Watch(c.Fd(), func(slot int) { p.Release(slot); ready <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	client.Write([]byte("hello"))
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("the Poller did not report the data")
	}
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read: %q, %v", buf[:n], err)
	}
	client.Close()
	if err := p.Rearm(c.Fd()); err != nil {
		t.Fatal(err)
	}
	<-ready
	if _, err := c.Read(buf); err != io.EOF {
		t.Fatalf("Read after the client closed: %v, want EOF", err)
	}
}

func TestFDConnWriteWaitsForRoom(t *testing.T) {
	p := newPoller(t)
	c, client := acceptPair(t, p)
	// Far more than the socket buffers hold: Write must wait for the
	// reader, through the Poller, several times.
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if n, err := c.Write(data); err != nil || n != len(data) {
		t.Fatalf("Write: %d of %d, %v", n, len(data), err)
	}
	c.Close()
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("the client read %d bytes, not the %d written", len(b), len(data))
	}
}

func TestFDConnTryWriteStopsWhenTheSocketIsFull(t *testing.T) {
	p := newPoller(t)
	c, client := acceptPair(t, p)
	// The client reads nothing yet: no deadline is set, so a TryWrite
	// that waited for room would hang the test.
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20)
	n, err := c.TryWrite(data)
	if err != nil || n == 0 || n >= len(data) {
		t.Fatalf("TryWrite of %d bytes to a client that reads nothing: %d, %v; want a short count and no error", len(data), n, err)
	}
	if m, err := c.TryWrite(data[n:]); err != nil || m != 0 {
		t.Fatalf("TryWrite to a full socket: %d, %v; want 0 and no error", m, err)
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if m, err := c.Write(data[n:]); err != nil || m != len(data)-n {
		t.Fatalf("Write of the rest: %d of %d, %v", m, len(data)-n, err)
	}
	c.Close()
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("the client read %d bytes, not the %d written", len(b), len(data))
	}
}

func TestFDConnWriteDeadline(t *testing.T) {
	p := newPoller(t)
	c, _ := acceptPair(t, p)
	c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	// The client reads nothing.
	_, err := c.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a client that reads nothing: %v, want the deadline", err)
	}
}

func TestFDConnCloseDuringWrite(t *testing.T) {
	p := newPoller(t)
	c, client := acceptPair(t, p)
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, 64<<20))
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // the write fills the socket and waits
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a Write cut short by Close reported success")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the waiting Write")
	}
	// The descriptor is closed: the client reads to the end.
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, client); err != nil && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the client still has an open connection after Close")
		}
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
}

// TestFDConnCloseDuringConcurrentWrites: writes take turns, and Close
// ends both the one waiting for room and the one waiting for its turn.
func TestFDConnCloseDuringConcurrentWrites(t *testing.T) {
	p := newPoller(t)
	c, _ := acceptPair(t, p)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := c.Write(make([]byte, 32<<20))
			done <- err
		}()
	}
	time.Sleep(100 * time.Millisecond) // one fills the socket and waits
	fd := c.Fd()
	c.Close()
	for range 2 {
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a Write cut short by Close reported success")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not end the Writes")
		}
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
		t.Fatal("descriptor still open after the Writes returned")
	}
}

// TestPollerBoundsCallbacks checks that callbacks run at most slots at a
// time: with every slot held, a readable descriptor waits, and runs once
// a callback releases its slot.
func TestPollerBoundsCallbacks(t *testing.T) {
	p := newPoller(t)
	slots := p.Slots()
	var running, most atomic.Int32
	// held marks the slot numbers callbacks hold: no two at once.
	held := make([]atomic.Bool, slots)
	var shared atomic.Int32
	gate := make(chan struct{})
	finished := make(chan struct{}, slots+8)
	for range slots + 8 {
		c, client := acceptPair(t, p)
		err := p.Watch(c.Fd(), func(slot int) {
			if slot < 0 || slot >= slots || held[slot].Swap(true) {
				shared.Add(1)
			}
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-gate
			running.Add(-1)
			if slot >= 0 && slot < slots {
				held[slot].Store(false)
			}
			p.Release(slot)
			finished <- struct{}{}
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for running.Load() < int32(slots) {
		if time.Now().After(deadline) {
			t.Fatalf("%d callbacks running, want %d", running.Load(), slots)
		}
		time.Sleep(time.Millisecond)
	}
	// Time for the Poller to start more than it may, were it to.
	time.Sleep(50 * time.Millisecond)
	if n := most.Load(); n != int32(slots) {
		t.Fatalf("%d callbacks ran at once, want at most %d", n, slots)
	}
	close(gate)
	for i := range slots + 8 {
		select {
		case <-finished:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d callbacks ran", i, slots+8)
		}
	}
	if n := shared.Load(); n > 0 {
		t.Fatalf("%d callbacks were told a slot number out of range or held by another", n)
	}
}

// TestPollerCallbackBlockedAfterReleaseHoldsUpNoOne checks that a callback
// that gives its slot back and then blocks (as one waiting for an
// authenticator does) keeps no other callback waiting, however many run
// after it: the goroutines callbacks run on are reused, but not one still
// busy with a callback that released its slot.
func TestPollerCallbackBlockedAfterReleaseHoldsUpNoOne(t *testing.T) {
	p := newPoller(t)
	gate := make(chan struct{})
	defer close(gate)
	blocked, blocker := acceptPair(t, p)
	if err := p.Watch(blocked.Fd(), func(slot int) {
		p.Release(slot)
		<-gate
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := blocker.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}

	c, client := acceptPair(t, p)
	ran := make(chan struct{}, 1)
	if err := p.Watch(c.Fd(), func(slot int) {
		var b [16]byte
		c.Read(b[:])
		p.Release(slot)
		if err := p.Rearm(c.Fd()); err != nil {
			t.Error(err)
		}
		ran <- struct{}{}
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 * p.Slots() {
		if _, err := client.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ran:
		case <-time.After(5 * time.Second):
			t.Fatalf("callback %d did not run while another, its slot released, was blocked", i)
		}
	}
}
