package client_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrelmq/petrel/client"
	"github.com/petrelmq/petrel/packet"
)

const mosquittoBroker = "/usr/sbin/mosquitto"

// requireInterop skips a test whose counterpart is not installed, loudly,
// since a quiet skip would read as a pass; with PETREL_REQUIRE_INTEROP=1 it
// fails instead.
func requireInterop(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	msg := path + " is not installed (Debian package mosquitto)"
	if os.Getenv("PETREL_REQUIRE_INTEROP") == "1" {
		t.Fatal("INTEROP REQUIRED (PETREL_REQUIRE_INTEROP=1): " + msg)
	}
	t.Skip("INTEROP SKIPPED: " + msg)
}

// startMosquitto runs Debian's mosquitto broker on a free loopback port
// and returns its address once it accepts MQTT connections.
func startMosquitto(t *testing.T) string {
	t.Helper()
	requireInterop(t, mosquittoBroker)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(conf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\npersistence false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd := exec.Command(mosquittoBroker, "-c", conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("mosquitto output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(waitTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := client.Dial(ctx, client.Options{Addr: addr, Version: packet.V311, ClientID: "probe", CleanStart: true})
		cancel()
		if err == nil {
			c.Disconnect(context.Background(), packet.NormalDisconnection)
			return addr
		}
		select {
		case <-exited:
			t.Fatalf("mosquitto exited: %s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto not accepting connections on %s after %s: %v", addr, waitTimeout, err)
		}
	}
}

// TestMosquitto runs the exchanges and a session resumption against
// Debian's mosquitto: the client must work with a server other than ours.
func TestMosquitto(t *testing.T) {
	addr := startMosquitto(t)
	t.Run("exchange", func(t *testing.T) { exchangeAll(t, addr) })
	for _, v := range versions {
		t.Run(fmt.Sprintf("resume/%s", v), func(t *testing.T) {
			p := startProxy(t, addr)
			connacks := make(chan *packet.Connack, 10)
			opts := persistent(p.addr(), v, fmt.Sprintf("mosq-resume-%d", v))
			opts.OnConnect = func(a *packet.Connack) { connacks <- a }
			sub := dial(t, opts)
			<-connacks
			subscribe(t, sub, "resume/#", 2)
			pub := dial(t, client.Options{Addr: addr, Version: v, ClientID: fmt.Sprintf("mosq-pub-%d", v)})
			p.setRefuse(true)
			p.cut()
			if err := pub.Publish(testContext(t), &packet.Publish{Topic: "resume/x", QoS: 2, Payload: []byte("queued")}); err != nil {
				t.Fatal(err)
			}
			p.setRefuse(false)
			if a := <-connacks; !a.SessionPresent {
				t.Fatal("reconnected without the session")
			}
			if m := next(t, sub.Messages()); string(m.Payload) != "queued" || m.QoS != 2 {
				t.Fatalf("got QoS %d %q, want the queued QoS 2 message", m.QoS, m.Payload)
			}
		})
	}
}
