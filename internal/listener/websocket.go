package listener

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// WebSocketConfig configures a WebSocket listener.
type WebSocketConfig struct {
	// Path is the URL path clients connect to. Default "/mqtt"; other
	// paths are answered 404 Not Found.
	Path string
	// Origins lists the origins ("https://example.com", scheme, host and
	// any port) whose web pages may connect. A browser's request from
	// another origin is answered 403 Forbidden. Empty admits every
	// origin; requests without an Origin header, which clients outside a
	// browser send, are always admitted.
	Origins []string
	// HandshakeTimeout bounds the HTTP upgrade request, from the moment
	// the connection is accepted (or its TLS handshake ends) until the
	// request's headers are read. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxMessageSize is the largest WebSocket message a client may send;
	// a larger one closes the connection with status 1009 (Message Too
	// Big). Set it to the broker's maximum packet size: MQTT clients send
	// a packet per message. Default 1 MiB, the broker's default.
	MaxMessageSize int64
	// Logger receives the HTTP server's errors at debug level; nil
	// discards them.
	Logger *slog.Logger
}

// The subprotocols a client must offer: "mqtt" is MQTT's own [MQTT-6.0.0-3],
// and "mqttv3.1" is what some MQTT 3.1 clients offer, which Mosquitto
// accepts too.
var subprotocols = []string{"mqtt", "mqttv3.1"}

// WebSocket returns a listener that serves HTTP on l and returns each
// WebSocket upgraded at cfg.Path as a net.Conn that carries MQTT in
// binary messages. For secure WebSocket, l is a listener from Wrap with
// TLS; the connections then have a ConnectionState method that reports
// the TLS handshake, client certificate included. RemoteAddr is the
// client's TCP address (as a PROXY header gave it, if any); proxies'
// X-Forwarded-For headers are not trusted.
//
// A client must offer the subprotocol "mqtt" or "mqttv3.1"; the answer
// names the one it offered. Compression (permessage-deflate) is not
// offered: it costs every connection tens of kilobytes, and MQTT payloads
// are often compressed already.
//
// Close stops the HTTP server, closing l, and closes upgraded connections
// no one has accepted yet; connections already accepted are the
// caller's.
//
// The WebSocket library is github.com/coder/websocket rather than
// gorilla/websocket: its NetConn gives a net.Conn over a WebSocket with
// deadlines, message boundaries ignored as MQTT over WebSocket requires
// [MQTT-6.0.0-2], and a read limit, which gorilla leaves to the caller to
// build; and it depends on nothing else.
func WebSocket(l net.Listener, cfg WebSocketConfig) net.Listener {
	if cfg.Path == "" {
		cfg.Path = "/mqtt"
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	w := &wsListener{
		inner:   l,
		cfg:     cfg,
		origins: map[string]bool{},
		conns:   make(chan net.Conn),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	for _, o := range cfg.Origins {
		w.origins[strings.ToLower(o)] = true
	}
	w.srv = &http.Server{
		Handler:           w,
		ReadHeaderTimeout: cfg.HandshakeTimeout,
		// Between requests on a connection that is not upgraded, such as
		// after a 404.
		IdleTimeout: cfg.HandshakeTimeout,
		ErrorLog:    slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	go func() {
		w.err = w.srv.Serve(l)
		close(w.stopped)
	}()
	return w
}

type wsListener struct {
	inner   net.Listener
	cfg     WebSocketConfig
	origins map[string]bool
	srv     *http.Server

	conns         chan net.Conn
	done, stopped chan struct{}
	err           error // why Serve returned, once stopped is closed
	closeOnce     sync.Once
}

// connKey finds the request's connection in its context.
type connKey struct{}

func (w *wsListener) Accept() (net.Conn, error) {
	select {
	case c := <-w.conns:
		return c, nil
	case <-w.done:
		return nil, net.ErrClosed
	case <-w.stopped:
		select {
		case <-w.done:
			return nil, net.ErrClosed
		default:
			return nil, w.err
		}
	}
}

func (w *wsListener) Close() error {
	err := net.ErrClosed
	w.closeOnce.Do(func() {
		close(w.done)
		err = w.srv.Close()
		// Serve closes l too, but perhaps not yet if it has only just
		// started, and a Unix socket's file goes when l is closed.
		w.inner.Close()
	})
	return err
}

func (w *wsListener) Addr() net.Addr { return w.inner.Addr() }

func (w *wsListener) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != w.cfg.Path {
		http.NotFound(rw, r)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && len(w.origins) > 0 && !w.origins[strings.ToLower(origin)] {
		http.Error(rw, fmt.Sprintf("origin %s may not connect", origin), http.StatusForbidden)
		return
	}
	if !offersSubprotocol(r) {
		http.Error(rw, `MQTT over WebSocket: offer the subprotocol "mqtt" in Sec-WebSocket-Protocol`, http.StatusBadRequest)
		return
	}
	ws, err := websocket.Accept(rw, r, &websocket.AcceptOptions{
		Subprotocols: subprotocols,
		// Origins are checked above, against whole origins rather than
		// the library's host patterns.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		w.cfg.Logger.Debug("WebSocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return // Accept has answered
	}
	nc := r.Context().Value(connKey{}).(net.Conn)
	// The request's context ends when this handler returns; the
	// connection lives until it is closed.
	c := &wsConn{Conn: websocket.NetConn(context.Background(), ws, websocket.MessageBinary), ws: ws, local: nc.LocalAddr(), remote: nc.RemoteAddr()}
	// After NetConn, which lifts the limit.
	ws.SetReadLimit(w.cfg.MaxMessageSize)
	var conn net.Conn = c
	if r.TLS != nil {
		conn = &wssConn{wsConn: c, state: *r.TLS}
	}
	select {
	case w.conns <- conn:
	case <-w.done:
		ws.CloseNow()
	}
}

// offersSubprotocol reports whether the client offers one of ours.
func offersSubprotocol(r *http.Request) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			for _, ours := range subprotocols {
				if strings.EqualFold(strings.TrimSpace(p), ours) {
					return true
				}
			}
		}
	}
	return false
}

// wsConn is an MQTT connection over WebSocket.
//
// A read deadline that passes during a Read closes the WebSocket, as the
// library does; the broker closes a connection whose deadline passed in
// any case. The error Read returns then is os.ErrDeadlineExceeded, as a
// TCP connection's would be.
type wsConn struct {
	net.Conn
	ws            *websocket.Conn
	local, remote net.Addr
	readDeadline  atomic.Int64 // UnixNano; 0 for none
	closeOnce     sync.Once
}

func (c *wsConn) LocalAddr() net.Addr  { return c.local }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

func (c *wsConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		if d := c.readDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			err = &net.OpError{Op: "read", Net: "websocket", Source: c.local, Addr: c.remote, Err: os.ErrDeadlineExceeded}
		}
	}
	return n, err
}

func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.storeDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

func (c *wsConn) SetDeadline(t time.Time) error {
	c.storeDeadline(t)
	return c.Conn.SetDeadline(t)
}

func (c *wsConn) storeDeadline(t time.Time) {
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	c.readDeadline.Store(d)
}

// Close starts the WebSocket closing handshake and returns at once: the
// handshake waits for the peer's answer (up to the library's 5 s), which
// must not hold up the broker. It closes the WebSocket before the NetConn,
// whose Close would first end a Read in progress and with it the TCP
// connection, often before the close frame is out.
func (c *wsConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = nil
		go func() {
			c.ws.Close(websocket.StatusNormalClosure, "")
			c.Conn.Close()
		}()
	})
	return err
}

// wssConn is an MQTT connection over secure WebSocket.
type wssConn struct {
	*wsConn
	state tls.ConnectionState
}

// ConnectionState reports the TLS handshake, as tls.Conn's does.
func (c *wssConn) ConnectionState() tls.ConnectionState { return c.state }

var _ interface{ ConnectionState() tls.ConnectionState } = (*wssConn)(nil)
