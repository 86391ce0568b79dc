// Package brokertest starts real brokers for tests, as net/http/httptest
// does for HTTP servers: on 127.0.0.1 with a port the system picks, stopped
// when the test ends.
package brokertest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
)

// Broker is a running test broker.
type Broker struct {
	*broker.Server
	// Addr is the host:port clients connect to.
	Addr string
}

// Start runs a broker with opts on a fresh loopback port that admits
// anonymous clients, and stops it when the test ends.
func Start(t testing.TB, opts broker.Options) *Broker {
	t.Helper()
	return StartListener(t, opts, broker.Listener{Name: "test", AllowAnonymous: true})
}

// StartListener is Start with the listener's admission rules given.
func StartListener(t testing.TB, opts broker.Options, cfg broker.Listener) *Broker {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return StartOn(t, opts, l, cfg)
}

// StartOn is StartListener on a listener the test made: TLS or
// WebSocket, say. The broker closes it when it stops.
func StartOn(t testing.TB, opts broker.Options, l net.Listener, cfg broker.Listener) *Broker {
	t.Helper()
	var logs *testLog
	if opts.Logger == nil {
		logs = &testLog{t: t}
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := broker.New(opts)
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l, cfg) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A test may have shut the broker down itself.
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("broker shutdown: %v", err)
		}
		if logs != nil {
			logs.stop()
		}
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return &Broker{Server: srv, Addr: l.Addr().String()}
}

// testLog sends the broker's logs to the test's log, shown when it fails,
// and drops what timers log after the test has ended.
type testLog struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("broker: %s", b[:len(b)-1])
	}
	return len(b), nil
}

func (l *testLog) stop() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}
