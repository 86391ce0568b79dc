package listener

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// wait bounds every wait in these tests, generous for a loaded machine.
const wait = 10 * time.Second

// listenTCP opens a TCP listener on a free loopback port.
func listenTCP(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// serveEcho accepts from l until it is closed, echoes every connection's
// bytes back, and hands each connection to the test in the order Accept
// returned them.
func serveEcho(t *testing.T, l net.Listener) <-chan net.Conn {
	t.Helper()
	accepted := make(chan net.Conn, 16)
	go func() {
		defer close(accepted)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c)
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range accepted {
			c.Close()
		}
	})
	return accepted
}

// nextConn is the next connection the listener accepted.
func nextConn(t *testing.T, accepted <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c, ok := <-accepted:
		if !ok {
			t.Fatal("listener stopped accepting")
		}
		return c
	case <-time.After(wait):
		t.Fatalf("nothing accepted after %s", wait)
		return nil
	}
}

// roundTrip writes msg to c and reads it back from the echo.
func roundTrip(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(wait))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != msg {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// closedByPeer reports whether the peer closes c without sending
// anything, within the wait.
func closedByPeer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(make([]byte, 1))
	return n == 0 && err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// eventually polls cond until it holds, failing the test after the wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > wait {
			t.Fatalf("after %s, still not so: %s", wait, what)
		}
	}
}

// testLogger logs at debug level to the test's output, shown for failed
// tests and with -v.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
