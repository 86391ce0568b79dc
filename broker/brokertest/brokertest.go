// Package brokertest starts real brokers for tests, as net/http/httptest
// does for HTTP servers: on 127.0.0.1 with a port the system picks, stopped
// when the test ends.
package brokertest

import (
	"context"
	"errors"
	"net"
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
	srv := broker.New(opts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l, cfg) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("broker shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return &Broker{Server: srv, Addr: l.Addr().String()}
}
