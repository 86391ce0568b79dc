package interop_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/internal/listener"
	"github.com/petrelmq/petrel/internal/testcert"
)

// secureBroker serves one broker on TLS, WebSocket and secure WebSocket
// listeners, with a server certificate from a CA the test makes.
type secureBroker struct {
	*brokertest.Broker
	caFile       string
	ca           *testcert.CA
	tls, ws, wss string
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func startSecureBroker(t *testing.T) *secureBroker {
	t.Helper()
	dir := t.TempDir()
	sb := &secureBroker{ca: testcert.NewCA(t, "Petrel Interop CA")}
	sb.caFile = sb.ca.WriteFile(t, dir, "ca.pem")
	certFile, keyFile := sb.ca.Server(t).WriteFiles(t, dir, "server")
	cfg, err := listener.LoadTLS(listener.TLSFiles{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	sb.Broker = brokertest.StartOn(t, broker.Options{}, listener.Wrap(listenLoopback(t), listener.Config{TLS: cfg}),
		broker.Listener{Name: "tls", AllowAnonymous: true})
	sb.tls = sb.Addr
	ws := listener.WebSocket(listenLoopback(t), listener.WebSocketConfig{})
	wss := listener.WebSocket(listener.Wrap(listenLoopback(t), listener.Config{TLS: cfg}), listener.WebSocketConfig{})
	sb.ws, sb.wss = ws.Addr().String(), wss.Addr().String()
	sb.ServeAlso(t, ws, broker.Listener{Name: "ws", AllowAnonymous: true})
	sb.ServeAlso(t, wss, broker.Listener{Name: "wss", AllowAnonymous: true})
	return sb
}

// lockedConn is a connection paho.golang writes a packet to whole.
// paho.golang writes a packet's header and body in separate Write calls
// unless its connection is a sync.Locker, and its pinger sends the first
// PINGREQ at once from a goroutine of its own: over TLS, whose Writes are
// each a record, that PINGREQ can land between another packet's header
// and body, which the broker rightly refuses as malformed.
type lockedConn struct {
	net.Conn
	sync.Mutex
}

// dialPahoTLS dials the TLS listener, verifying it against the test's CA,
// for a paho.golang client.
func (sb *secureBroker) dialPahoTLS(t *testing.T) net.Conn {
	t.Helper()
	nc, err := tls.Dial("tcp", "localhost:"+portOf(sb.tls), &tls.Config{RootCAs: sb.ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	return &lockedConn{Conn: nc}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestPahoGolangOverTLS runs paho.golang's v5 client over a TLS
// connection that verifies the server against the test's CA.
func TestPahoGolangOverTLS(t *testing.T) {
	sb := startSecureBroker(t)
	nc := sb.dialPahoTLS(t)
	recv := make(chan *paho.Publish, 1)
	c := paho.NewClient(paho.ClientConfig{Conn: nc, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { recv <- pr.Packet; return true, nil },
	}})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if ack, err := c.Connect(ctx, &paho.Connect{ClientID: "paho-tls", CleanStart: true, KeepAlive: 30}); err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connect over TLS: %v %+v", err, ack)
	}
	defer c.Disconnect(&paho.Disconnect{})
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "tls/echo", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "tls/echo", QoS: 1, Payload: []byte("sealed")}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-recv:
		if string(p.Payload) != "sealed" {
			t.Fatalf("got %q", p.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no message over TLS")
	}
}

// TestMQTTJSOverWebSocket runs MQTT.js over ws:// and wss://, 3.1.1 and 5.
func TestMQTTJSOverWebSocket(t *testing.T) {
	script{lang: "mqttjs"}.require(t)
	sb := startSecureBroker(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ws", []string{"ws://127.0.0.1:" + portOf(sb.ws) + "/mqtt"}},
		{"wss", []string{"wss://localhost:" + portOf(sb.wss) + "/mqtt"}},
	} {
		for _, v := range []string{"311", "5"} {
			t.Run(tc.name+"/"+v, func(t *testing.T) {
				id := fmt.Sprintf("mqttjs-%s-%s", tc.name, v)
				args := []string{"ws.js", tc.args[0], v, id}
				if tc.name == "wss" {
					args = append(args, sb.caFile)
				}
				p := startProcess(t, "js", nil, "node", args...)
				line := p.waitFor(t, "the echoed message", func(line string) bool { return strings.Contains(line, `"event"`) })
				ev := parseEvent(line)
				if ev.Event != "message" || ev.Topic != "echo/"+id || ev.QoS != 1 || ev.Payload != "hello over WebSocket" {
					t.Fatalf("MQTT.js printed %s, want its message back at QoS 1", line)
				}
				p.wait(t)
			})
		}
	}
}

// chromium is Debian's headless browser.
const chromium = "/usr/bin/chromium"

// TestBrowser loads a page in headless Chromium that uses MQTT.js, as a
// web application does, over WebSocket through Petrel: the page subscribes
// and says it is ready; the test sends it a message and gets its answer.
func TestBrowser(t *testing.T) {
	script{lang: "mqttjs"}.require(t)
	if _, err := os.Stat(chromium); err != nil {
		missing(t, chromium+" is not installed (Debian package chromium)")
	}
	sb := startSecureBroker(t)

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("browser", "index.html"))
	})
	mux.HandleFunc("/mqtt.min.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("js", "node_modules", "mqtt", "dist", "mqtt.min.js"))
	})
	page := httptest.NewServer(mux)
	defer page.Close()

	// The test's own side is paho.golang over TLS.
	recv := make(chan *paho.Publish, 4)
	conn := sb.dialPahoTLS(t)
	c := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { recv <- pr.Packet; return true, nil },
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "browser-peer", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "browser/ready", QoS: 1}, {Topic: "browser/out", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	target := page.URL + "/?" + url.Values{"broker": {"ws://127.0.0.1:" + portOf(sb.ws) + "/mqtt"}, "version": {"5"}}.Encode()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--user-data-dir="+t.TempDir(), target)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("chromium output:\n%s", out.String())
		}
	}()

	next := func(what string) *paho.Publish {
		t.Helper()
		select {
		case p := <-recv:
			return p
		case <-time.After(2 * waitTimeout):
			t.Fatalf("no %s from the browser", what)
		}
		return nil
	}
	if ready := next("ready message"); ready.Topic != "browser/ready" || !strings.Contains(string(ready.Payload), "Chrome") {
		t.Fatalf("got %s %q, want browser/ready with the browser's user agent", ready.Topic, ready.Payload)
	}
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "browser/in", QoS: 1, Payload: []byte("ping")}); err != nil {
		t.Fatal(err)
	}
	if pong := next("answer"); pong.Topic != "browser/out" || string(pong.Payload) != "pong:ping" {
		t.Fatalf("got %s %q, want browser/out pong:ping", pong.Topic, pong.Payload)
	}
}
