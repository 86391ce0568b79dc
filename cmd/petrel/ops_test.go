package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/internal/metrics/promtest"
	"github.com/petrelmq/petrel/internal/testcert"
	"github.com/petrelmq/petrel/packet"
)

// opsAndListeners waits for the operations listener's record and n
// listening records, and returns the admin API's URL and the listeners'
// addresses by name.
func (p *process) opsAndListeners(t *testing.T, n int) (string, map[string]string) {
	t.Helper()
	url := ""
	addrs := map[string]string{}
	for url == "" || len(addrs) < n {
		rec := p.awaitLog(t, "the listeners", func(rec map[string]any) bool {
			return rec["msg"] == "operations listening" || rec["msg"] == "listening"
		})
		if rec["msg"] == "listening" {
			addrs[rec["listener"].(string)] = rec["address"].(string)
		} else {
			url = "http://" + rec["address"].(string)
		}
	}
	return url, addrs
}

// discardLogs reads the process's logs from now on, so it never waits to
// write one.
func (p *process) discardLogs() {
	go func() {
		for range p.logs {
		}
	}()
}

func httpGet(t *testing.T, url string) *http.Response {
	t.Helper()
	c := &http.Client{Timeout: deadline}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// pahoClient connects a Paho MQTT 5 client to addr; the DISCONNECT the
// server sends it, if any, goes to disconnected.
func pahoClient(t *testing.T, addr, id string, disconnected chan<- *paho.Disconnect) *paho.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, deadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cfg := paho.ClientConfig{Conn: conn, ClientID: id, OnClientError: func(error) {}}
	if disconnected != nil {
		cfg.OnServerDisconnect = func(d *paho.Disconnect) { disconnected <- d }
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true})
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("%s: connect: %v, %+v", id, err, ack)
	}
	return c
}

// TestOpsMetricsAndHealth runs the binary, sends known traffic and reads
// it back from /metrics with Prometheus's own parser.
func TestOpsMetricsAndHealth(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "ops_address: 127.0.0.1:0\nlisteners:\n  - name: mqtt\n    address: 127.0.0.1:0\n")
	p := start(t, "-c", cfg, "--no-persist")
	url, addrs := p.opsAndListeners(t, 1)
	p.discardLogs()
	if resp := httpGet(t, url+"/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", resp.Status)
	}
	if resp := httpGet(t, url+"/readyz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %s", resp.Status)
	}

	recv := make(chan *paho.Publish, 10)
	conn, err := net.DialTimeout("tcp", addrs["mqtt"], deadline)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	subscribe(t, pahoOver(t, conn, "sub", recv), "m/#")
	pub := pahoClient(t, addrs["mqtt"], "pub", nil)
	for i := range 3 {
		publish(t, pub, "m/x", fmt.Sprint("reading ", i))
		received(t, recv, fmt.Sprint("reading ", i))
	}

	fams := promtest.Scrape(t, url+"/metrics")
	metric := func(name string, labels ...string) float64 {
		t.Helper()
		return promtest.Value(t, fams, name, labels...)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"petrel_messages_received_total", []string{"qos", "1"}, 3},
		{"petrel_messages_sent_total", []string{"qos", "1"}, 3},
		{"petrel_sessions", []string{"state", "online"}, 2},
		{"petrel_connections", nil, 2},
		{"petrel_subscriptions", nil, 1},
		{"petrel_delivery_latency_seconds", nil, 3},
		{"petrel_messages_dropped_total", []string{"reason", "queue_full"}, 0},
	} {
		if got := metric(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if metric("process_start_time_seconds") == 0 {
		t.Error("no process metrics")
	}
}

// TestOpsReloadKeepsClients changes the password file, the ACL file, the
// TLS certificate, a limit, the log level and a listener's address under
// a connected client, then reloads through petrel ctl (the admin API) and
// with SIGHUP: the client stays, the new rules apply to its next
// operation, and the listener change is reported as needing a restart.
func TestOpsReloadKeepsClients(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	for _, u := range [][]string{{"-c", passwd, "alice", "wonderland"}, {passwd, "bob", "builder"}} {
		if r := petrel(t, "", append([]string{"passwd", "-b"}, u...)...); r.status != 0 {
			t.Fatalf("petrel passwd: %s", r.stderr)
		}
	}
	write := func(path, body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	acl := filepath.Join(dir, "acl")
	write(acl, "user alice\ntopic readwrite alice/#\n")
	keys := filepath.Join(dir, "api-keys")
	write(keys, "ops: 0123456789abcdef0123456789abcdef\n")
	ca := testcert.NewCA(t, "Petrel Test CA")
	first, second := ca.Server(t), ca.Server(t)
	certFile, keyFile := first.WriteFiles(t, dir, "server")
	config := func(extra, address string) string {
		return writeConfig(t, dir, fmt.Sprintf(`password_file: %s
acl_file: %s
api_keys_file: %s
auth_failure_delay: 0
ops_address: 127.0.0.1:0
%slisteners:
  - name: secure
    address: %s
    allow_anonymous: false
    tls: {cert_file: %s, key_file: %s}
`, passwd, acl, keys, extra, address, certFile, keyFile))
	}
	cfg := config("", "127.0.0.1:0")
	p := start(t, "-c", cfg, "--no-persist")
	url, addrs := p.opsAndListeners(t, 1)
	addr := addrs["secure"]

	// login connects over TLS and returns the connection, the CONNACK
	// code and the serial number of the certificate the broker showed.
	login := func(id, user, password string) (*brokertest.Conn, packet.ReasonCode, string) {
		t.Helper()
		tc, err := dialTLSClient(t, addr, ca.Pool(), nil)
		if err != nil {
			t.Fatal(err)
		}
		c := brokertest.Over(t, tc, packet.V5)
		c.Send(&packet.Connect{Version: packet.V5, ClientID: id, CleanStart: true, KeepAlive: 60,
			Username: user, HasUsername: true, Password: []byte(password), HasPassword: true})
		ack, ok := c.Next(deadline).(*packet.Connack)
		if !ok {
			t.Fatalf("%s: no CONNACK", id)
		}
		return c, ack.ReasonCode, tc.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	publishCode := func(c *brokertest.Conn, topic string, id uint16) packet.ReasonCode {
		t.Helper()
		c.Send(&packet.Publish{Topic: topic, QoS: 1, PacketID: id, Payload: []byte("x")})
		ack, ok := c.Next(deadline).(*packet.Puback)
		if !ok {
			t.Fatalf("no PUBACK for %s", topic)
		}
		return ack.ReasonCode
	}
	alice, code, _ := login("a", "alice", "wonderland")
	if code != packet.Success {
		t.Fatalf("alice: CONNACK %s", code)
	}
	if code := subscribeCode(t, alice, "shared/news"); code != packet.NotAuthorized {
		t.Fatalf("shared/news before the reload: SUBACK %s, want not authorized", code)
	}
	if code := publishCode(alice, "alice/a/b/c", 1); code.IsError() {
		t.Fatalf("alice/a/b/c before the reload: PUBACK %s", code)
	}

	if r := petrel(t, "", "passwd", "-D", passwd, "bob"); r.status != 0 {
		t.Fatalf("petrel passwd -D: %s", r.stderr)
	}
	write(acl, "user alice\ntopic readwrite alice/#\ntopic read shared/#\n")
	second.WriteFiles(t, dir, "server")
	config("max_topic_levels: 2\nlog_level: warn\n", "127.0.0.1:1")

	r := petrel(t, "", "ctl", "--url", url, "--api-key-file", keys, "--json", "reload")
	if r.status != 0 {
		t.Fatalf("petrel ctl reload: status %d: %s%s", r.status, r.stdout, r.stderr)
	}
	var rep struct {
		Applied         []string `json:"applied"`
		RestartRequired []string `json:"restart_required"`
		Errors          []string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("petrel ctl --json reload printed %q: %v", r.stdout, err)
	}
	applied := strings.Join(rep.Applied, ", ")
	for _, want := range []string{"listener secure TLS certificates", passwd, acl, keys, "max_topic_levels", "log_level"} {
		if !strings.Contains(applied, want) {
			t.Errorf("the reload applied %q, want %s among them", applied, want)
		}
	}
	if strings.Join(rep.RestartRequired, ", ") != "listener secure" || len(rep.Errors) != 0 {
		t.Errorf("restart required %q, errors %q; want the listener and no errors", rep.RestartRequired, rep.Errors)
	}
	restartWarning := func() map[string]any {
		t.Helper()
		return p.awaitLog(t, "the restart warning", func(rec map[string]any) bool {
			return rec["msg"] == "changed settings take effect only when the broker restarts"
		})
	}
	restartWarning()

	if code := subscribeCode(t, alice, "shared/news"); code != packet.GrantedQoS0 {
		t.Errorf("shared/news after the reload: SUBACK %s, want granted: alice stayed connected under the new rules", code)
	}
	if code := publishCode(alice, "alice/a/b/c", 2); code != packet.TopicNameInvalid {
		t.Errorf("alice/a/b/c under max_topic_levels 2: PUBACK %s, want Topic Name Invalid", code)
	}
	if _, code, serial := login("b", "bob", "builder"); code != packet.BadUserNameOrPassword || serial != second.Leaf.SerialNumber.String() {
		t.Errorf("bob after his removal: CONNACK %s with certificate %s; want refused, with the new certificate %s", code, serial, second.Leaf.SerialNumber)
	}
	r = petrel(t, "", "ctl", "--url", url, "--api-key-file", keys, "log")
	if r.status != 0 || !strings.Contains(r.stdout, "level:") || !strings.Contains(r.stdout, "warn") {
		t.Errorf("petrel ctl log after the reload: %d %s%s", r.status, r.stdout, r.stderr)
	}

	// SIGHUP does the same: the limit goes, the listener is still
	// reported.
	config("log_level: warn\n", "127.0.0.1:1")
	p.cmd.Process.Signal(syscall.SIGHUP)
	if rec := restartWarning(); fmt.Sprint(rec["settings"]) != "[listener secure]" {
		t.Errorf("SIGHUP reported %v as needing a restart", rec["settings"])
	}
	if code := publishCode(alice, "alice/a/b/c", 3); code.IsError() {
		t.Errorf("alice/a/b/c after the limit went: PUBACK %s", code)
	}
}

// TestOpsDrainSendsClientsElsewhere drains the broker through petrel ctl:
// Paho MQTT 5 clients are told to use another server, and the process
// exits.
func TestOpsDrainSendsClientsElsewhere(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "ops_address: 127.0.0.1:0\nlisteners:\n  - name: mqtt\n    address: 127.0.0.1:0\n")
	p := start(t, "-c", cfg, "--no-persist")
	url, addrs := p.opsAndListeners(t, 1)
	disconnected := make(chan *paho.Disconnect, 2)
	for _, id := range []string{"one", "two"} {
		pahoClient(t, addrs["mqtt"], id, disconnected)
	}
	r := petrel(t, "", "ctl", "--url", url, "drain", "--server-reference", "other.example.com:1883")
	if r.status != 0 || !strings.Contains(r.stdout, "draining") {
		t.Fatalf("petrel ctl drain: %d %s%s", r.status, r.stdout, r.stderr)
	}
	for range 2 {
		select {
		case d := <-disconnected:
			if d.ReasonCode != byte(packet.UseAnotherServer) || d.Properties == nil || d.Properties.ServerReference != "other.example.com:1883" {
				t.Errorf("a client got DISCONNECT %#x %+v, want Use Another Server naming other.example.com:1883", d.ReasonCode, d.Properties)
			}
		case <-time.After(deadline):
			t.Fatal("a client got no DISCONNECT")
		}
	}
	p.discardLogs()
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("after the drain petrel exited with %v, want status 0", p.err)
		}
	case <-time.After(deadline):
		t.Fatal("petrel still running after the drain")
	}
}

// TestCtl runs petrel ctl's commands against a running broker, as an
// operator would.
func TestCtl(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "api-keys")
	if err := os.WriteFile(keys, []byte("ops: 0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, "api_keys_file: "+keys+"\nops_address: 127.0.0.1:0\nlisteners:\n  - name: mqtt\n    address: 127.0.0.1:0\n")
	p := start(t, "-c", cfg, "--no-persist")
	url, addrs := p.opsAndListeners(t, 1)
	p.discardLogs()
	dev := pahoClient(t, addrs["mqtt"], "dev/1", nil)
	subscribe(t, dev, "cmd/dev/1")

	ctl := func(args ...string) result {
		t.Helper()
		return petrel(t, "", append([]string{"ctl", "--url", url, "--api-key-file", keys}, args...)...)
	}
	for _, tc := range []struct {
		args   []string
		status int
		stdout []string // each must appear
		stderr string
	}{
		{args: []string{"clients"}, stdout: []string{"CLIENT ID", "dev/1", "5.0"}},
		{args: []string{"clients", "-s", "nobody"}, stdout: []string{"CLIENT ID"}},
		{args: []string{"clients", "show", "dev/1"}, stdout: []string{"client_id:", "dev/1", "filters:", "cmd/dev/1"}},
		{args: []string{"subscriptions", "--topic", "cmd/dev/1"}, stdout: []string{"dev/1", "cmd/dev/1"}},
		{args: []string{"publish", "-t", "cfg/mode", "-m", "eco", "-r", "-q", "1"}, stdout: []string{"delivered to 0 sessions"}},
		{args: []string{"retained"}, stdout: []string{"TOPIC", "cfg/mode"}},
		{args: []string{"retained", "show", "cfg/mode"}, stdout: []string{"topic:", "cfg/mode", "\neco\n"}},
		{args: []string{"retained", "delete", "cfg/mode"}, stdout: []string{"deleted"}},
		{args: []string{"retained", "show", "cfg/mode"}, status: 1, stderr: `no retained message on "cfg/mode" (HTTP 404)`},
		{args: []string{"ban", "add", "--client-id", "dev/9", "--for", "1h", "--reason", "testing"}, stdout: []string{"banned client id dev/9"}},
		{args: []string{"ban"}, stdout: []string{"CLIENT ID", "dev/9", "testing"}},
		{args: []string{"ban", "remove", "--client-id", "dev/9"}, stdout: []string{"lifted"}},
		{args: []string{"ban", "add"}, status: 2, stderr: "want one of --client-id, --username and --network"},
		{args: []string{"log", "--level", "debug", "--trace", "dev/1"}, stdout: []string{"level:", "debug", "dev/1"}},
		{args: []string{"log", "--level", "info", "--no-trace"}, stdout: []string{"info"}},
		{args: []string{"sessions", "--state", "online"}, stdout: []string{"dev/1", "online"}},
		{args: []string{"broker"}, stdout: []string{"version:", "ready:", "yes", "limits:"}},
		{args: []string{"clients", "kick", "dev/1"}, stdout: []string{"disconnected dev/1"}},
		{args: []string{"sessions", "delete", "nobody"}, status: 1, stderr: `no session of "nobody" (HTTP 404)`},
		{args: []string{"frobnicate"}, status: 2, stderr: `unknown command "frobnicate"`},
	} {
		r := ctl(tc.args...)
		if r.status != tc.status {
			t.Errorf("petrel ctl %s: status %d, want %d\n%s%s", strings.Join(tc.args, " "), r.status, tc.status, r.stdout, r.stderr)
			continue
		}
		for _, want := range tc.stdout {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("petrel ctl %s printed:\n%s\nwant %q in it", strings.Join(tc.args, " "), r.stdout, want)
			}
		}
		if !strings.Contains(r.stderr, tc.stderr) || tc.stderr == "" && r.stderr != "" {
			t.Errorf("petrel ctl %s: stderr %q, want %q", strings.Join(tc.args, " "), r.stderr, tc.stderr)
		}
	}

	r := ctl("--json", "stats")
	var st struct {
		Sessions int `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); r.status != 0 || err != nil {
		t.Errorf("petrel ctl --json stats: %d %s: %v", r.status, r.stdout, err)
	}
	r = petrel(t, "", "ctl", "--url", url, "--api-key", "not-the-key-not-the-key", "stats")
	if r.status != 1 || !strings.Contains(r.stderr, "unknown API key (HTTP 401)") {
		t.Errorf("a wrong key: %d %s", r.status, r.stderr)
	}
	r = petrel(t, "", "ctl", "--url", url, "stats")
	if r.status != 1 || !strings.Contains(r.stderr, "HTTP 401") {
		t.Errorf("no key where one is needed: %d %s", r.status, r.stderr)
	}
}

// TestOpsSeparateAdminListener: with admin_address the admin API is
// served there, and only there; metrics stay on the operations listener.
func TestOpsSeparateAdminListener(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "ops_address: 127.0.0.1:0\nadmin_address: 127.0.0.1:0\nlisteners:\n  - address: 127.0.0.1:0\n")
	p := start(t, "-c", cfg, "--no-persist")
	by := map[string]string{}
	for len(by) < 2 {
		rec := p.awaitLog(t, "the operations listeners", func(rec map[string]any) bool { return rec["msg"] == "operations listening" })
		by[rec["serves"].(string)] = "http://" + rec["address"].(string)
	}
	p.discardLogs()
	ops, api := by["metrics, health"], by["admin API, health"]
	for _, c := range []struct {
		url  string
		want int
	}{
		{ops + "/metrics", http.StatusOK},
		{ops + "/api/v1/stats", http.StatusNotFound},
		{api + "/api/v1/stats", http.StatusOK},
		{api + "/metrics", http.StatusNotFound},
		{api + "/healthz", http.StatusOK},
	} {
		if resp := httpGet(t, c.url); resp.StatusCode != c.want {
			t.Errorf("GET %s: %s, want %d", c.url, resp.Status, c.want)
		}
	}
}

// TestOpsDefaultPortTaken: when another process holds the default
// operations port, the broker says so and serves MQTT without it.
func TestOpsDefaultPortTaken(t *testing.T) {
	if l, err := net.Listen("tcp", "127.0.0.1:18083"); err == nil {
		defer l.Close()
	}
	p := start(t, "-p", "0", "--no-persist")
	p.awaitLog(t, "the warning", func(rec map[string]any) bool {
		return strings.HasPrefix(fmt.Sprint(rec["msg"]), "the operations listener's default address is in use") && rec["level"] == "WARN"
	})
	connect(t, p.listening(t, 1)["default"], packet.V5)
}

// TestNoOps: --no-ops opens no operations listener, and says so.
func TestNoOps(t *testing.T) {
	p := start(t, "-p", "0", "--no-ops", "--no-persist")
	p.awaitLog(t, "the operations listener's absence", func(rec map[string]any) bool {
		return strings.HasPrefix(fmt.Sprint(rec["msg"]), "the operations listener is off")
	})
	p.listening(t, 1)
}
