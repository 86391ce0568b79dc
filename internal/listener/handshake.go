package listener

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// DefaultHandshakeTimeout bounds a connection's handshakes when the
// configuration sets no limit.
const DefaultHandshakeTimeout = 10 * time.Second

// Config says what a listener does with a connection before handing it
// to the broker.
type Config struct {
	// ProxyProtocol expects every connection to begin with a PROXY
	// protocol header (version 1 or 2), as HAProxy, AWS and other load
	// balancers send, and reports the client address it names from the
	// connection's RemoteAddr. A connection without a valid header is
	// closed. Anyone who can reach the listener can claim any address
	// this way, so only the proxy should be able to reach it.
	ProxyProtocol bool
	// TLS, when not nil, runs a TLS server handshake, after the PROXY
	// header when there is one. Accept then returns *tls.Conn, its
	// handshake done.
	TLS *TLS
	// HandshakeTimeout bounds the PROXY header and the TLS handshake
	// together. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Logger receives a debug record for each connection closed because
	// its handshake failed; nil discards them.
	Logger *slog.Logger
}

// Wrap returns a listener that accepts connections from l and returns
// them from Accept once the handshakes cfg asks for are done. With none,
// it returns l itself.
//
// Each handshake runs on a goroutine of its own, bounded by the time
// limit, so a client that stalls holds up neither the listener nor other
// clients, and one that fails closes only its own connection. Close
// closes l and the connections still in their handshakes.
func Wrap(l net.Listener, cfg Config) net.Listener {
	if !cfg.ProxyProtocol && cfg.TLS == nil {
		return l
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handshakeListener{
		Listener: l,
		cfg:      cfg,
		ready:    make(chan accepted),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
		pending:  map[net.Conn]struct{}{},
	}
	if cfg.TLS != nil {
		h.tlsConfig = cfg.TLS.Config()
	}
	go h.acceptLoop()
	return h
}

type handshakeListener struct {
	net.Listener
	cfg       Config
	tlsConfig *tls.Config

	// ready hands connections and accept errors to Accept. It is
	// unbuffered, so a caller that backs off after an error also holds
	// back acceptLoop.
	ready chan accepted
	// done is closed by Close; stopped when acceptLoop has returned, with
	// err the reason.
	done, stopped chan struct{}
	err           error
	closeOnce     sync.Once

	mu      sync.Mutex
	pending map[net.Conn]struct{} // in their handshakes; nil once closed
}

type accepted struct {
	conn net.Conn
	err  error
}

// Accept returns the next connection whose handshakes succeeded.
func (h *handshakeListener) Accept() (net.Conn, error) {
	select {
	case a := <-h.ready:
		return a.conn, a.err
	case <-h.done:
		return nil, net.ErrClosed
	case <-h.stopped:
		select {
		case <-h.done:
			return nil, net.ErrClosed
		default:
			return nil, h.err
		}
	}
}

// Close stops accepting and closes the connections still in their
// handshakes.
func (h *handshakeListener) Close() error {
	err := net.ErrClosed
	h.closeOnce.Do(func() {
		close(h.done)
		err = h.Listener.Close()
		h.mu.Lock()
		for c := range h.pending {
			c.Close()
		}
		h.pending = nil
		h.mu.Unlock()
	})
	return err
}

func (h *handshakeListener) acceptLoop() {
	for {
		c, err := h.Listener.Accept()
		if err != nil {
			var t interface{ Temporary() bool }
			if errors.As(err, &t) && t.Temporary() {
				// Passed on, so the caller logs it and backs off.
				select {
				case h.ready <- accepted{err: err}:
					continue
				case <-h.done:
				}
			}
			h.err = err
			close(h.stopped)
			return
		}
		h.mu.Lock()
		if h.pending == nil {
			h.mu.Unlock()
			c.Close()
			continue
		}
		h.pending[c] = struct{}{}
		h.mu.Unlock()
		go h.handshake(c)
	}
}

func (h *handshakeListener) handshake(raw net.Conn) {
	c, err := h.prepare(raw)
	h.mu.Lock()
	closed := h.pending == nil
	delete(h.pending, raw)
	h.mu.Unlock()
	if err != nil || closed {
		if err != nil && !closed {
			h.cfg.Logger.Debug("handshake failed; connection closed", "remote", c.RemoteAddr().String(), "err", err)
		}
		raw.Close()
		return
	}
	select {
	case h.ready <- accepted{conn: c}:
	case <-h.done:
		c.Close()
	}
}

// prepare runs the handshakes on raw. It returns the connection to hand
// on, or on failure the one to name in the log: the client's address once
// a PROXY header has given it.
func (h *handshakeListener) prepare(raw net.Conn) (net.Conn, error) {
	raw.SetDeadline(time.Now().Add(h.cfg.HandshakeTimeout))
	var c net.Conn = raw
	if h.cfg.ProxyProtocol {
		pc, err := readProxyHeader(raw)
		if err != nil {
			return raw, err
		}
		c = pc
	}
	if h.tlsConfig != nil {
		tc := tls.Server(c, h.tlsConfig)
		if err := tc.Handshake(); err != nil {
			return c, err
		}
		c = tc
	}
	return c, raw.SetDeadline(time.Time{})
}
