package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsDial says how a test client connects.
type wsDial struct {
	path         string
	subprotocols []string
	origin       string
	tls          *tls.Config
	// proxyHeader, when set, is written on the TCP connection first.
	proxyHeader []byte
}

// dialWS connects a WebSocket client to l as d says. It returns the
// client, the HTTP response and the client's own TCP address.
func dialWS(t *testing.T, l net.Listener, d wsDial) (*websocket.Conn, *http.Response, net.Addr, error) {
	t.Helper()
	if d.path == "" {
		d.path = "/mqtt"
	}
	if d.subprotocols == nil {
		d.subprotocols = []string{"mqtt"}
	}
	scheme := "ws://"
	if d.tls != nil {
		scheme = "wss://"
	}
	var local net.Addr
	transport := &http.Transport{
		TLSClientConfig: d.tls,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			local = c.LocalAddr()
			if d.proxyHeader != nil {
				_, err = c.Write(d.proxyHeader)
			}
			return c, err
		},
	}
	t.Cleanup(transport.CloseIdleConnections)
	header := http.Header{}
	if d.origin != "" {
		header.Set("Origin", d.origin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, scheme+l.Addr().String()+d.path, &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: transport},
		HTTPHeader:   header,
		Subprotocols: d.subprotocols,
	})
	if err == nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, local, err
}

// echoWS sends the messages and reads the echo, which may come back in
// other message boundaries, as MQTT over WebSocket allows.
func echoWS(t *testing.T, c *websocket.Conn, msgs ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	want := strings.Join(msgs, "")
	for _, m := range msgs {
		if err := c.Write(ctx, websocket.MessageBinary, []byte(m)); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	var got []byte
	for len(got) < len(want) {
		typ, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read the echo: %v (have %q)", err, got)
		}
		if typ != websocket.MessageBinary {
			t.Fatalf("echo in a %v message, want binary", typ)
		}
		got = append(got, b...)
	}
	if string(got) != want {
		t.Errorf("echo %q, want %q", got, want)
	}
}

func TestWebSocket(t *testing.T) {
	l := WebSocket(listenTCP(t), WebSocketConfig{Logger: testLogger(t)})
	accepted := serveEcho(t, l)
	for _, tc := range []struct {
		offer []string
		want  string
	}{
		{[]string{"mqtt"}, "mqtt"},
		{[]string{"mqttv3.1"}, "mqttv3.1"},
		{[]string{"chat", "mqttv3.1", "mqtt"}, "mqtt"},
	} {
		t.Run(strings.Join(tc.offer, ","), func(t *testing.T) {
			c, _, local, err := dialWS(t, l, wsDial{subprotocols: tc.offer})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Subprotocol(); got != tc.want {
				t.Errorf("subprotocol %q, want %q", got, tc.want)
			}
			sc := nextConn(t, accepted)
			if got := sc.RemoteAddr().String(); got != local.String() {
				t.Errorf("RemoteAddr = %s, want the client's %s", got, local)
			}
			if _, ok := sc.(interface{ ConnectionState() tls.ConnectionState }); ok {
				t.Error("a connection over plain WebSocket reports a TLS state")
			}
			// A CONNECT split over two messages, then one more packet.
			echoWS(t, c, "\x10\x10\x00\x04MQ", "TT\x04\x02\x00\x3c\x00\x04test", "\xc0\x00")

			// Close returns at once, and the client is told the
			// connection closed normally.
			sc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				t.Errorf("after the server closed, the client reads %v, want close status 1000", err)
			}
		})
	}
}

func TestWebSocketRefusals(t *testing.T) {
	l := WebSocket(listenTCP(t), WebSocketConfig{Path: "/ws", Origins: []string{"https://app.example.com", "http://localhost:8080"}})
	accepted := serveEcho(t, l)
	for _, tc := range []struct {
		name   string
		dial   wsDial
		status int // 0: accepted
	}{
		{"wrong path", wsDial{path: "/mqtt"}, http.StatusNotFound},
		{"no subprotocol", wsDial{path: "/ws", subprotocols: []string{}}, http.StatusBadRequest},
		{"another subprotocol", wsDial{path: "/ws", subprotocols: []string{"chat"}}, http.StatusBadRequest},
		{"origin not listed", wsDial{path: "/ws", origin: "https://evil.example.com"}, http.StatusForbidden},
		{"origin with another scheme", wsDial{path: "/ws", origin: "http://app.example.com"}, http.StatusForbidden},
		{"origin listed", wsDial{path: "/ws", origin: "https://app.example.com"}, 0},
		{"origin listed, other case", wsDial{path: "/ws", origin: "http://LOCALHOST:8080"}, 0},
		{"no origin, not a browser", wsDial{path: "/ws"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, _, err := dialWS(t, l, tc.dial)
			if tc.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				nextConn(t, accepted)
				echoWS(t, c, "\xc0\x00")
				return
			}
			if err == nil {
				t.Fatal("connected; want the upgrade refused")
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Errorf("response %v (%v), want status %d", resp, err, tc.status)
			}
		})
	}
}

func TestSecureWebSocket(t *testing.T) {
	p := newPKI(t)
	files := p.withCA(t)
	files.RequireCertificate = true
	l := WebSocket(Wrap(listenTCP(t), Config{TLS: mustLoad(t, files)}), WebSocketConfig{})
	accepted := serveEcho(t, l)

	alice := p.ca.Client(t, "alice")
	c, _, local, err := dialWS(t, l, wsDial{tls: &tls.Config{RootCAs: p.ca.Pool(), Certificates: []tls.Certificate{alice.TLS}}})
	if err != nil {
		t.Fatal(err)
	}
	sc := nextConn(t, accepted)
	if got := sc.RemoteAddr().String(); got != local.String() {
		t.Errorf("RemoteAddr = %s, want the client's %s", got, local)
	}
	st, ok := sc.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		t.Fatalf("%T has no ConnectionState method", sc)
	}
	if name, _ := CommonName(st.ConnectionState()); name != "alice" {
		t.Errorf("CommonName = %q, want alice", name)
	}
	echoWS(t, c, "\xc0\x00")

	// A client without a certificate fails the TLS handshake, before any
	// HTTP.
	if _, _, _, err := dialWS(t, l, wsDial{tls: &tls.Config{RootCAs: p.ca.Pool()}}); err == nil {
		t.Error("a client without a certificate connected")
	}
}

// TestWebSocketBehindProxy sends a PROXY header before the HTTP upgrade.
func TestWebSocketBehindProxy(t *testing.T) {
	l := WebSocket(Wrap(listenTCP(t), Config{ProxyProtocol: true}), WebSocketConfig{})
	accepted := serveEcho(t, l)
	c, _, _, err := dialWS(t, l, wsDial{proxyHeader: []byte("PROXY TCP6 2001:db8::7 2001:db8::1 50000 443\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	if got := nextConn(t, accepted).RemoteAddr().String(); got != "[2001:db8::7]:50000" {
		t.Errorf("RemoteAddr = %s, want the proxied [2001:db8::7]:50000", got)
	}
	echoWS(t, c, "\xc0\x00")
}

func TestWebSocketMaxMessageSize(t *testing.T) {
	l := WebSocket(listenTCP(t), WebSocketConfig{MaxMessageSize: 16})
	accepted := serveRaw(t, l)
	c, _, _, err := dialWS(t, l, wsDial{})
	if err != nil {
		t.Fatal(err)
	}
	sc := nextConn(t, accepted)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c.Write(ctx, websocket.MessageBinary, make([]byte, 16))
	c.Write(ctx, websocket.MessageBinary, make([]byte, 64))
	sc.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 128)
	var n int
	for err == nil {
		var m int
		m, err = sc.Read(buf)
		n += m
	}
	// The library may pass on the start of the message that is too big
	// before it fails; the MQTT decoder's own limit sees to the packet.
	if n < 16 || n >= 16+64 || isTimeout(err) {
		t.Errorf("read %d bytes, then %v; want the 16 within the limit, not all 64 beyond it, then an error", n, err)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("client sees %v, want close status 1009 (message too big)", err)
	}
}

func TestWebSocketTextMessageRefused(t *testing.T) {
	l := WebSocket(listenTCP(t), WebSocketConfig{})
	accepted := serveRaw(t, l)
	c, _, _, err := dialWS(t, l, wsDial{})
	if err != nil {
		t.Fatal(err)
	}
	sc := nextConn(t, accepted)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	// The client reads, so it answers the server's close.
	clientErr := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		clientErr <- err
	}()
	c.Write(ctx, websocket.MessageText, []byte("\xc0\x00"))
	sc.SetReadDeadline(time.Now().Add(wait))
	if n, err := sc.Read(make([]byte, 8)); err == nil || isTimeout(err) {
		t.Errorf("Read of a text message: %d bytes, %v; want an error", n, err)
	}
	if err := <-clientErr; websocket.CloseStatus(err) != websocket.StatusUnsupportedData {
		t.Errorf("client sees %v, want close status 1003 (unsupported data)", err)
	}
}

// TestWebSocketReadDeadline checks a deadline reads as a TCP connection's
// does: os.ErrDeadlineExceeded, a net.Error that is a timeout.
func TestWebSocketReadDeadline(t *testing.T) {
	l := WebSocket(listenTCP(t), WebSocketConfig{})
	accepted := serveRaw(t, l)
	if _, _, _, err := dialWS(t, l, wsDial{}); err != nil {
		t.Fatal(err)
	}
	sc := nextConn(t, accepted)
	sc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := sc.Read(make([]byte, 8))
	if !errors.Is(err, os.ErrDeadlineExceeded) || !isTimeout(err) {
		t.Errorf("Read past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
}

func TestWebSocketClose(t *testing.T) {
	tcp := listenTCP(t)
	l := WebSocket(tcp, WebSocketConfig{})
	acceptErr := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		acceptErr <- err
	}()
	l.Close()
	select {
	case err := <-acceptErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("Accept still blocked after Close")
	}
	if c, err := net.Dial("tcp", tcp.Addr().String()); err == nil {
		c.Close()
		t.Error("the TCP listener still accepts after Close")
	}
}

// TestWebSocketUpgradeTimeout checks a connection that sends no upgrade
// request in time is closed.
func TestWebSocketUpgradeTimeout(t *testing.T) {
	l := WebSocket(listenTCP(t), WebSocketConfig{HandshakeTimeout: 300 * time.Millisecond})
	serveRaw(t, l)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /mqtt HTTP/1.1\r\n"))
	start := time.Now()
	if !closedByPeer(c) {
		t.Fatal("connection without a complete upgrade request not closed")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("closed after %s, want about 300ms", d)
	}
}
