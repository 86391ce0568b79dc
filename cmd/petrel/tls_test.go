package main

import (
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/internal/listener"
	"github.com/petrelmq/petrel/internal/testcert"
)

// secureBroker is an in-process broker with a TLS listener that requires
// client certificates from the test CA, a WebSocket and a secure
// WebSocket listener.
type secureBroker struct {
	ca                    *testcert.CA
	dir                   string
	caFile                string
	clientCert, clientKey string
	tls, ws, wss          string // addresses
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func startSecureBroker(t *testing.T) *secureBroker {
	t.Helper()
	sb := &secureBroker{ca: testcert.NewCA(t, "Petrel Test CA"), dir: t.TempDir()}
	sb.caFile = sb.ca.WriteFile(t, sb.dir, "ca.pem")
	certFile, keyFile := sb.ca.Server(t).WriteFiles(t, sb.dir, "server")
	sb.clientCert, sb.clientKey = sb.ca.Client(t, "tool").WriteFiles(t, sb.dir, "client")
	mtls, err := listener.LoadTLS(listener.TLSFiles{CertFile: certFile, KeyFile: keyFile, CAFile: sb.caFile, RequireCertificate: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := listener.LoadTLS(listener.TLSFiles{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	tl := listener.Wrap(listen(t), listener.Config{TLS: mtls})
	b := brokertest.StartOn(t, broker.Options{}, tl, broker.Listener{Name: "mtls", AllowAnonymous: true})
	sb.tls = b.Addr
	ws := listener.WebSocket(listen(t), listener.WebSocketConfig{})
	wss := listener.WebSocket(listener.Wrap(listen(t), listener.Config{TLS: plain}), listener.WebSocketConfig{})
	sb.ws, sb.wss = ws.Addr().String(), wss.Addr().String()
	b.ServeAlso(t, ws, broker.Listener{Name: "ws", AllowAnonymous: true})
	b.ServeAlso(t, wss, broker.Listener{Name: "wss", AllowAnonymous: true})
	return sb
}

func port(t *testing.T, addr string) string {
	_, p := splitAddr(t, addr)
	return p
}

// TestPubSubTransports publishes and subscribes with petrel pub and sub
// over TLS with a client certificate, WebSocket and secure WebSocket.
func TestPubSubTransports(t *testing.T) {
	sb := startSecureBroker(t)
	tlsFlags := []string{"-h", "localhost", "-p", port(t, sb.tls), "--cafile", sb.caFile, "--cert", sb.clientCert, "--key", sb.clientKey}
	for _, tc := range []struct {
		name string
		conn []string
	}{
		{"TLS", tlsFlags},
		{"mqtts URL", []string{"-L", "mqtts://localhost:" + port(t, sb.tls) + "/ignored", "--cafile", sb.caFile, "--cert", sb.clientCert, "--key", sb.clientKey}},
		{"WebSocket", []string{"-L", "ws://127.0.0.1:" + port(t, sb.ws) + "/mqtt"}},
		{"secure WebSocket", []string{"-L", "wss://localhost:" + port(t, sb.wss) + "/mqtt", "--cafile", sb.caFile}},
	} {
		for _, v := range []string{"311", "5"} {
			t.Run(tc.name+"/"+v, func(t *testing.T) {
				topic := fmt.Sprintf("transport/%s/%s", strings.ReplaceAll(tc.name, " ", "-"), v)
				args := append(append([]string{}, tc.conn...), "-V", v, "-q", "1", "-t", topic)
				s := startSubscriber(t, binary, "received SUBACK", append(append([]string{"sub"}, args...), "-C", "1", "-v", "-d")...)
				if r := petrel(t, "", append(append([]string{"pub"}, args...), "-m", "over "+tc.name)...); r.status != 0 {
					t.Fatalf("pub exited %d: %s", r.status, r.stderr)
				}
				if got := s.wait(t); got.status != 0 || got.stdout != topic+" over "+tc.name+"\n" {
					t.Fatalf("sub exited %d printing %q; stderr:\n%s", got.status, got.stdout, got.stderr)
				}
			})
		}
	}
}

// TestTLSFailures checks each TLS failure says what to do about it.
func TestTLSFailures(t *testing.T) {
	sb := startSecureBroker(t)
	other := testcert.NewCA(t, "Another CA")
	otherFile := other.WriteFile(t, sb.dir, "other-ca.pem")
	wrongName := sb.ca.Issue(t, testcert.Options{Subject: pkix.Name{CommonName: "elsewhere"}, Hosts: []string{"elsewhere.example"}})
	certFile, keyFile := wrongName.WriteFiles(t, sb.dir, "wrong-name")
	named, err := listener.LoadTLS(listener.TLSFiles{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	nb := brokertest.StartOn(t, broker.Options{}, listener.Wrap(listen(t), listener.Config{TLS: named}), broker.Listener{Name: "named", AllowAnonymous: true})

	for _, tc := range []struct {
		name   string
		args   []string
		status int
		stderr string
	}{
		{"unknown CA", []string{"-h", "localhost", "-p", port(t, sb.tls), "--cafile", otherFile}, 1,
			"petrel pub: TLS: the server's certificate is signed by an authority not trusted here: give its CA with --cafile"},
		{"wrong host name", []string{"-h", "127.0.0.1", "-p", port(t, nb.Addr), "--cafile", sb.caFile}, 1,
			"petrel pub: TLS: the server's certificate is not for this host name: connect by a name it lists, or use --insecure"},
		{"insecure skips the name only", []string{"-h", "127.0.0.1", "-p", port(t, nb.Addr), "--cafile", sb.caFile, "--insecure"}, 0, ""},
		{"insecure still checks the CA", []string{"-h", "127.0.0.1", "-p", port(t, nb.Addr), "--cafile", otherFile, "--insecure"}, 1,
			"petrel pub: "},
		{"no client certificate", []string{"-h", "localhost", "-p", port(t, sb.tls), "--cafile", sb.caFile}, 1, "petrel pub: "},
		{"key without certificate", []string{"-h", "localhost", "-p", port(t, sb.tls), "--cafile", sb.caFile, "--key", sb.clientKey}, 2,
			"petrel pub: --cert and --key go together (see petrel pub --help)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := petrel(t, "", append(append([]string{"pub"}, tc.args...), "-t", "t", "-m", "x")...)
			if r.status != tc.status || !strings.HasPrefix(r.stderr, tc.stderr) {
				t.Fatalf("status %d, stderr %q; want %d and a message starting %q", r.status, r.stderr, tc.status, tc.stderr)
			}
		})
	}
}

// startMosquittoTLS runs Debian's mosquitto with a TLS listener using
// the test CA's server certificate, and returns its port.
func startMosquittoTLS(t *testing.T, sb *secureBroker) string {
	t.Helper()
	const broker = "/usr/sbin/mosquitto"
	if _, err := os.Stat(broker); err != nil {
		msg := broker + " is not installed (Debian package mosquitto)"
		if os.Getenv("PETREL_REQUIRE_INTEROP") == "1" {
			t.Fatal("INTEROP REQUIRED (PETREL_REQUIRE_INTEROP=1): " + msg)
		}
		t.Skip("INTEROP SKIPPED: " + msg)
	}
	l := listen(t)
	p := port(t, l.Addr().String())
	l.Close()
	certFile, keyFile := sb.ca.Server(t).WriteFiles(t, sb.dir, "mosquitto")
	conf := filepath.Join(sb.dir, "mosquitto.conf")
	body := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n"+
		// As root mosquitto becomes the user mosquitto, who cannot read
		// the test's private directory.
		"user root\ncafile %s\ncertfile %s\nkeyfile %s\n",
		p, sb.caFile, certFile, keyFile)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd := exec.Command(broker, "-c", conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("mosquitto output:\n%s", out.String())
		}
	})
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+p); err == nil {
			c.Close()
			return p
		}
		if time.Since(start) > deadline {
			t.Fatalf("mosquitto does not listen on %s: %s", p, out.String())
		}
	}
}

// TestMosquittoTLSInterop exchanges messages over TLS between petrel pub
// and sub and mosquitto_pub and mosquitto_sub, through Petrel and through
// Debian's mosquitto broker.
func TestMosquittoTLSInterop(t *testing.T) {
	requireMosquittoClients(t)
	sb := startSecureBroker(t)
	brokers := []struct{ name, port string }{
		{"petrel", port(t, sb.tls)},
		{"mosquitto", startMosquittoTLS(t, sb)},
	}
	for _, br := range brokers {
		for _, v := range []string{"311", "5"} {
			for _, dir := range []struct {
				name         string
				pub          string
				pubArgs, sub []string
			}{
				{"mosquitto_pub to petrel sub", mosquittoPub, nil, []string{binary, "sub"}},
				{"petrel pub to mosquitto_sub", binary, []string{"pub"}, []string{"stdbuf", "-oL", mosquittoSub}},
			} {
				t.Run(fmt.Sprintf("%s/%s/%s", br.name, dir.name, v), func(t *testing.T) {
					topic := fmt.Sprintf("tls/%s/%s/%s", br.name, v, dir.name[:6])
					common := []string{"-h", "localhost", "-p", br.port, "--cafile", sb.caFile, "--cert", sb.clientCert, "--key", sb.clientKey,
						"-V", v, "-q", "1", "-t", topic}
					s := startSubscriber(t, dir.sub[0], "received SUBACK", append(append(dir.sub[1:], common...), "-C", "1", "-v", "-d")...)
					if r := runTool(t, "", dir.pub, append(append(dir.pubArgs, common...), "-m", "secret")...); r.status != 0 {
						t.Fatalf("publisher exited %d: %s", r.status, r.stderr)
					}
					if got := s.wait(t); got.status != 0 || got.stdout != topic+" secret\n" {
						t.Fatalf("subscriber exited %d printing %q; stderr:\n%s", got.status, got.stdout, got.stderr)
					}
				})
			}
		}
	}
}
