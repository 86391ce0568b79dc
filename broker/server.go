package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/internal/listener"
	"github.com/petrelmq/petrel/internal/session"
	"github.com/petrelmq/petrel/internal/topic"
	"github.com/petrelmq/petrel/packet"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("broker: server closed")

// Server is an MQTT broker. Create it with New, hand it listeners with
// Serve, and stop it with Shutdown.
type Server struct {
	opts  Options
	log   *slog.Logger
	store Store
	// storeFailed is set once a write to the store has failed: what the
	// store holds is no longer what was acknowledged.
	storeFailed atomic.Bool
	// storeRefused counts writes the store refused for lack of space.
	storeRefused atomic.Int64

	// poller drives plain TCP connections; nil when unavailable or turned
	// off, and then each connection reads on its own goroutine. idle
	// enforces their connect timeouts and keep-alives.
	poller *listener.Poller
	// batches are the Poller callbacks' flush batches, one per slot.
	batches []flushBatch
	idle    idleWheel

	tree     topic.Tree
	retained topic.Retained[*session.Message]

	// sessionsMu serialises session creation, takeover and removal; the
	// publish path only reads sessions, through the sync.Map.
	sessionsMu sync.Mutex
	sessions   *sessionTable

	shared   sharedPicker
	interest interest

	mu sync.Mutex
	// listeners are the listeners Serve accepts on, with their names.
	listeners map[net.Listener]string
	// conns lists the open connections through their own prev and next
	// links: a map entry per connection would cost more than the links.
	conns   *conn
	closing atomic.Bool
	done    chan struct{}
	wg      sync.WaitGroup

	// open counts the open connections of every listener.
	open  atomic.Int64
	guard guard

	stats   stats
	ops     serverOps
	started time.Time
}

// New returns a Server with the given options. With a Store, it first
// restores the stored retained messages and sessions.
func New(opts Options) (*Server, error) {
	opts = opts.withDefaults()
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		store:     opts.Store,
		sessions:  newSessionTable(),
		listeners: map[net.Listener]string{},
		done:      make(chan struct{}),
		stats:     newStats(),
		started:   time.Now(),
	}
	l := opts.Limits()
	s.ops.limits.Store(&l)
	s.shared.strategy = opts.SharedStrategy
	if !opts.GoroutinePerConnection {
		p, err := listener.NewPoller()
		switch {
		case err == nil:
			s.poller = p
			s.batches = make([]flushBatch, p.Slots())
		case errors.Is(err, errors.ErrUnsupported):
		default:
			return nil, fmt.Errorf("start the connection poller: %w", err)
		}
	}
	if s.store != nil {
		if err := s.restore(); err != nil {
			return nil, err
		}
	}
	if s.poller != nil {
		s.idle.start()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.idle.run(s.done)
		}()
	}
	if opts.SysInterval > 0 {
		s.wg.Add(1)
		go s.publishSys()
	}
	return s, nil
}

// Serve accepts connections on l until Shutdown, admitting clients as cfg
// says. It returns ErrServerClosed after Shutdown, or the error that made
// accepting impossible. Temporary accept errors (too many open files, say)
// are retried with backoff.
func (s *Server) Serve(l net.Listener, cfg Listener) error {
	if cfg.Name == "" {
		cfg.Name = l.Addr().String()
	}
	run := &listenerRun{cfg: cfg, authn: cfg.Authenticator, authz: cfg.Authorizer}
	if run.authn == nil {
		run.authn = s.opts.Authenticator
	}
	if run.authz == nil {
		run.authz = s.opts.Authorizer
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = cfg.Name
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if tc, ok := nc.(*net.TCPConn); ok && err == nil && s.poller != nil {
			// Held as a bare descriptor that the Poller reads, an idle
			// connection costs far less than as a net.Conn.
			if bc, berr := s.poller.Bare(tc); berr == nil {
				nc = bc
			} else {
				s.log.Warn("cannot hold a connection as a bare descriptor", "remote", tc.RemoteAddr().String(), "err", berr)
			}
		}
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "listener", cfg.Name, "err", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
				case <-s.done:
					return ErrServerClosed
				}
				continue
			}
			return err
		}
		backoff = 0
		c := newConn(s, nc, run)
		s.stats.accepted.Inc()
		c.ops.shard = s.stats.shards.Add(1)
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		c.next = s.conns
		if s.conns != nil {
			s.conns.prev = c
		}
		s.conns = c
		run.open.Add(1)
		s.open.Add(1)
		s.wg.Add(1)
		s.mu.Unlock()
		_, bare := nc.(*listener.FDConn)
		_, tcp := nc.(*net.TCPConn)
		switch {
		case !bare && !tcp || s.poller == nil:
			go c.serve()
		case bare:
			if err := c.startPolled(); err != nil {
				s.log.Warn("cannot poll a connection; closing it", "remote", c.remote(), "err", err)
				c.finish()
			}
		default:
			if err := c.startPolled(); err != nil {
				s.log.Warn("cannot poll a connection; reading it on a goroutine", "remote", c.remote(), "err", err)
				go c.serve()
			}
		}
	}
}

// isTemporary reports accept errors that pass: running out of file
// descriptors or buffers, or a connection reset before it was accepted.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		s.conns = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	s.stats.ended.fold(&c.ops.traffic)
	s.mu.Unlock()
	c.lst.open.Add(-1)
	s.open.Add(-1)
	s.wg.Done()
}

// Shutdown stops accepting, tells v5 clients the server is shutting down
// (DISCONNECT 0x8B, or 0x9C Use Another Server, 0x9D Server Moved with
// RedirectPermanent, when ServerReference is set), closes every connection
// and waits for them to finish until ctx ends, then closes the store. It
// is Drain with the redirect the Options name.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.Drain(ctx, DrainOptions{ServerReference: s.opts.ServerReference, Permanent: s.opts.RedirectPermanent})
}

// Drain stops accepting, tells v5 clients the server is shutting down, or
// where to go instead when d names a server, closes every connection and
// waits for them to finish until ctx ends, then closes the store, which
// writes out what it holds. Ready reports an error from the start.
func (s *Server) Drain(ctx context.Context, d DrainOptions) error {
	if !s.closing.CompareAndSwap(false, true) {
		return ErrServerClosed
	}
	s.log.Info("draining", "connections", s.open.Load(), "server_reference", d.ServerReference)
	close(s.done)
	s.mu.Lock()
	for l := range s.listeners {
		l.Close()
	}
	var conns []*conn
	for c := s.conns; c != nil; c = c.next {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	code := packet.ServerShuttingDown
	switch {
	case d.ServerReference != "" && d.Permanent:
		code = packet.ServerMoved
	case d.ServerReference != "":
		code = packet.UseAnotherServer
	}
	for _, c := range conns {
		c.shutdown(code, d.ServerReference)
	}
	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.poller != nil {
		s.poller.Close()
	}
	if s.store != nil {
		return s.store.Close()
	}
	return nil
}
