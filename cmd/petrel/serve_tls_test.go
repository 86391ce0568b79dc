package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"

	"github.com/petrelmq/petrel/internal/testcert"
)

// listenerRecords waits for n "listening" log records and returns them by
// listener name.
func (p *process) listenerRecords(t *testing.T, n int) map[string]map[string]any {
	t.Helper()
	recs := map[string]map[string]any{}
	for len(recs) < n {
		rec := p.awaitLog(t, "a listening record", func(rec map[string]any) bool { return rec["msg"] == "listening" })
		recs[rec["listener"].(string)] = rec
	}
	return recs
}

// awaitLog skips log records until one matches.
func (p *process) awaitLog(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case rec, ok := <-p.logs:
			if !ok {
				<-p.done
				t.Fatalf("petrel exited (%v) while the test waited for %s", p.err, what)
			}
			if match(rec) {
				return rec
			}
		case <-timeout:
			t.Fatalf("no %s logged after %s", what, deadline)
			return nil
		}
	}
}

// pahoOver connects an Eclipse Paho MQTT 5 client over conn; messages it
// receives go to recv when it is not nil.
func pahoOver(t *testing.T, conn net.Conn, id string, recv chan<- *paho.Publish) *paho.Client {
	t.Helper()
	cfg := paho.ClientConfig{Conn: conn, ClientID: id, OnClientError: func(error) {}}
	if recv != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				recv <- pr.Packet
				return true, nil
			},
		}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	// No keep-alive: paho.golang writes a packet in several Writes, which
	// only a TCP connection's writev keeps together, and its pinger could
	// write a PINGREQ between them on TLS or WebSocket.
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true})
	if err != nil {
		t.Fatalf("%s: connect: %v", id, err)
	}
	if ack.ReasonCode != 0 {
		t.Fatalf("%s: CONNACK reason %#x", id, ack.ReasonCode)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return c
}

func dialTLSClient(t *testing.T, addr string, roots *x509.CertPool, cert *testcert.Cert) (*tls.Conn, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.TLS}
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: deadline}, "tcp", addr, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func dialWebSocket(t *testing.T, url string, roots *x509.CertPool) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{"mqtt"},
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}},
	})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if ws.Subprotocol() != "mqtt" {
		t.Errorf("%s answered subprotocol %q, want mqtt", url, ws.Subprotocol())
	}
	return websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
}

func publish(t *testing.T, c *paho.Client, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)}); err != nil {
		t.Fatalf("publish %q: %v", payload, err)
	}
}

func subscribe(t *testing.T, c *paho.Client, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}}); err != nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
}

func received(t *testing.T, recv <-chan *paho.Publish, want string) {
	t.Helper()
	select {
	case p := <-recv:
		if string(p.Payload) != want {
			t.Errorf("received %q, want %q", p.Payload, want)
		}
	case <-time.After(deadline):
		t.Fatalf("%q not received after %s", want, deadline)
	}
}

func writeConfig(t *testing.T, dir, config string) string {
	t.Helper()
	path := filepath.Join(dir, "petrel.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeTLSWebSocketAndProxy starts petrel from a config file with a
// TLS listener that requires client certificates, a WebSocket, a secure
// WebSocket and a PROXY protocol listener, and has real clients talk
// across them.
func TestServeTLSWebSocketAndProxy(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "Petrel Test CA")
	certFile, keyFile := ca.Server(t).WriteFiles(t, dir, "server")
	caFile := ca.WriteFile(t, dir, "ca.crt")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
listeners:
  - name: mqtts
    address: 127.0.0.1:0
    tls:
      cert_file: %[1]s
      key_file: %[2]s
      ca_file: %[3]s
      require_certificate: true
      identity: cn
  - name: ws
    address: 127.0.0.1:0
    protocol: ws
  - name: wss
    address: 127.0.0.1:0
    protocol: ws
    websocket_path: /secure
    tls: {cert_file: %[1]s, key_file: %[2]s}
  - name: proxied
    address: 127.0.0.1:0
    proxy_protocol: true
`, certFile, keyFile, caFile))
	p := start(t, "-c", cfg, "--no-persist")
	recs := p.listenerRecords(t, 4)
	for name, want := range map[string]string{"mqtts": "mqtts", "ws": "ws", "wss": "wss", "proxied": "mqtt"} {
		if got := recs[name]["kind"]; got != want {
			t.Errorf("listener %s logged kind %v, want %s", name, got, want)
		}
	}
	if recs["proxied"]["proxy_protocol"] != true || recs["wss"]["path"] != "/secure" {
		t.Errorf("listening records lack proxy_protocol or path: %v, %v", recs["proxied"], recs["wss"])
	}
	addr := func(name string) string { return recs[name]["address"].(string) }

	tc, err := dialTLSClient(t, addr("mqtts"), ca.Pool(), ca.Client(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	recv := make(chan *paho.Publish, 10)
	sub := pahoOver(t, tc, "tls-subscriber", recv)
	subscribe(t, sub, "petrel/#")

	ws := pahoOver(t, dialWebSocket(t, "ws://"+addr("ws")+"/mqtt", nil), "ws-publisher", nil)
	publish(t, ws, "petrel/ws", "over ws")
	received(t, recv, "over ws")

	wss := pahoOver(t, dialWebSocket(t, "wss://"+addr("wss")+"/secure", ca.Pool()), "wss-publisher", nil)
	publish(t, wss, "petrel/wss", "over wss")
	received(t, recv, "over wss")

	// Without a client certificate the TLS listener refuses the
	// handshake; with TLS 1.3 the client hears of it on its first read.
	if c, err := dialTLSClient(t, addr("mqtts"), ca.Pool(), nil); err == nil {
		c.SetReadDeadline(time.Now().Add(deadline))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("a client without a certificate was served")
		}
	}

	raw, err := net.DialTimeout("tcp", addr("proxied"), deadline)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write([]byte("PROXY TCP4 192.0.2.1 198.51.100.1 51234 1883\r\n"))
	px := pahoOver(t, raw, "proxied", nil)
	rec := p.awaitLog(t, "the proxied client's connection", func(rec map[string]any) bool {
		return rec["msg"] == "client connected" && rec["client"] == "proxied"
	})
	if rec["remote"] != "192.0.2.1:51234" {
		t.Errorf("proxied client logged from %v, want the address in the PROXY header, 192.0.2.1:51234", rec["remote"])
	}
	publish(t, px, "petrel/proxied", "through a proxy")
	received(t, recv, "through a proxy")

	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("after SIGTERM petrel exited with %v, want status 0", err)
	}
}

// TestSIGHUPReloadsCertificates replaces the certificate files of a
// running broker: after SIGHUP new clients see the new certificate while
// a client connected before stays connected, and files that fail to load
// leave the last good certificate in use.
func TestSIGHUPReloadsCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "Petrel Test CA")
	first, second := ca.Server(t), ca.Server(t)
	certFile, keyFile := first.WriteFiles(t, dir, "server")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
listeners:
  - name: secure
    address: 127.0.0.1:0
    tls: {cert_file: %s, key_file: %s}
`, certFile, keyFile))
	p := start(t, "-c", cfg, "--no-persist")
	addr := p.listenerRecords(t, 1)["secure"]["address"].(string)

	// servedBy connects a new client; serial is the serial number of the
	// certificate the broker presented it.
	servedBy := func() *tls.Conn {
		t.Helper()
		c, err := dialTLSClient(t, addr, ca.Pool(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	serial := func(c *tls.Conn) string { return c.ConnectionState().PeerCertificates[0].SerialNumber.String() }

	before := servedBy()
	if serial(before) != first.Leaf.SerialNumber.String() {
		t.Fatalf("broker presents serial %s, want %s", serial(before), first.Leaf.SerialNumber)
	}
	recv := make(chan *paho.Publish, 10)
	subscribe(t, pahoOver(t, before, "before-reload", recv), "reload/#")

	second.WriteFiles(t, dir, "server")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.awaitLog(t, "the reload", func(rec map[string]any) bool {
		return rec["msg"] == "TLS certificates reloaded" && rec["listener"] == "secure"
	})
	after := servedBy()
	if serial(after) != second.Leaf.SerialNumber.String() {
		t.Errorf("after SIGHUP the broker presents serial %s, want the new %s", serial(after), second.Leaf.SerialNumber)
	}
	publish(t, pahoOver(t, after, "after-reload", nil), "reload/test", "to the client connected before")
	received(t, recv, "to the client connected before")

	if err := os.WriteFile(keyFile, []byte("-----BEGIN PRIVATE KEY-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	rec := p.awaitLog(t, "the failed reload", func(rec map[string]any) bool {
		return rec["level"] == "ERROR" && rec["listener"] == "secure"
	})
	if msg, _ := rec["err"].(string); !strings.Contains(msg, keyFile) {
		t.Errorf("reload failure logged as %v, want an error naming %s", rec, keyFile)
	}
	if got := serial(servedBy()); got != second.Leaf.SerialNumber.String() {
		t.Errorf("after a failed reload the broker presents serial %s, want the last good %s", got, second.Leaf.SerialNumber)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("after SIGTERM petrel exited with %v, want status 0", err)
	}
}
