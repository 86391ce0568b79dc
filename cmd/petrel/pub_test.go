package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
)

// TestPubSubErrors checks each failure says what went wrong in one line,
// with mosquitto's exit status: the CONNACK code for a refusal.
func TestPubSubErrors(t *testing.T) {
	closed := brokertest.StartListener(t, broker.Options{}, broker.Listener{Name: "closed"})
	host, port := splitAddr(t, closed.Addr)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, freePort := splitAddr(t, free.Addr().String())
	free.Close()
	for _, tc := range []struct {
		args   []string
		status int
		stderr string // the whole of it, but for a trailing newline
	}{
		{[]string{"pub", "-h", host, "-p", port, "-t", "a", "-m", "x"}, 5,
			"petrel pub: server refused the connection: not authorized (return code 5)"},
		{[]string{"sub", "-h", host, "-p", port, "-t", "a", "-V", "5"}, 0x87,
			"petrel sub: server refused the connection: not authorized (reason code 0x87): anonymous clients are not allowed on listener closed"},
		{[]string{"pub", "-h", "127.0.0.1", "-p", freePort, "-t", "a", "-m", "x"}, 1,
			"petrel pub: connection refused by 127.0.0.1:" + freePort + ": is an MQTT server listening there?"},
		{[]string{"sub", "-h", "no-such-host.invalid", "-t", "a"}, 1,
			`petrel sub: cannot find host "no-such-host.invalid": no such host`},
		{[]string{"pub", "-t", "a/+", "-m", "x", "-p", freePort}, 2,
			"petrel pub: -t a/+: one cannot publish to a topic filter with wildcards (see petrel pub --help)"},
		{[]string{"pub", "-t", "a", "-m", "x", "-V", "4"}, 2,
			"petrel pub: -V 4: the protocol version must be 5, 311 or 31 (see petrel pub --help)"},
		{[]string{"sub", "-t", "a", "-c"}, 2,
			"petrel sub: -c keeps a session, which needs a client identifier: give one with -i (see petrel sub --help)"},
		{[]string{"pub", "-t", "a", "-m", "x", "-n"}, 2,
			"petrel pub: give exactly one of -m, -f, -l, -n and -s (see petrel pub --help)"},
		{[]string{"pub", "-t", "a", "-m", "x", "-V", "311", "-D", "PUBLISH", "content-type", "t"}, 2,
			"petrel pub: -D sets 5.0 properties, which MQTT 3.1.1 cannot carry (see petrel pub --help)"},
		{[]string{"pub", "-t", "a", "-m", "x", "-D", "PUBLISH", "session-expiry-interval", "5"}, 2,
			"petrel pub: -D PUBLISH session-expiry-interval: not a property of PUBLISH; these are: user-property, payload-format-indicator, message-expiry-interval, content-type, response-topic, correlation-data, topic-alias (see petrel pub --help)"},
		{[]string{"sub", "-L", "http://example.com/a"}, 2,
			"petrel sub: -L http://example.com/a: the URL must be mqtt:// or mqtts://[user[:password]@]host[:port]/topic, or ws:// or wss://host[:port]/path (see petrel sub --help)"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := petrel(t, "", tc.args...)
			if r.status != tc.status || r.stderr != tc.stderr+"\n" {
				t.Errorf("status %d, stderr:\n%s\nwant %d and\n%s", r.status, r.stderr, tc.status, tc.stderr)
			}
		})
	}
}

// TestPubURLFileAndWill covers -L, -f, -s and the will flags.
func TestPubURLFileAndWill(t *testing.T) {
	b := brokertest.Start(t, broker.Options{})
	host, port := splitAddr(t, b.Addr)
	file := t.TempDir() + "/payload"
	if err := os.WriteFile(file, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("mqtt://someone:secret@%s:%s/url/topic", host, port)
	for _, args := range [][]string{{"-f", file}, {"-s"}} {
		if r := petrel(t, "from a file\n", append([]string{"pub", "-L", url, "-r"}, args...)...); r.status != 0 {
			t.Fatalf("pub %q: %d %s", args, r.status, r.stderr)
		}
		if r := petrel(t, "", "sub", "-L", url, "-C", "1", "-N"); r.stdout != "from a file\n" {
			t.Fatalf("sub -L printed %q (%s), want the file's contents", r.stdout, r.stderr)
		}
	}

	watcher := startSubscriber(t, binary, "received SUBACK", "sub", "-h", host, "-p", port, "-t", "will/#", "-C", "1", "-v", "-d", "-V", "5")
	dying := startSubscriber(t, binary, "received SUBACK", "sub", "-h", host, "-p", port, "-t", "x", "-d", "-i", "dying",
		"--will-topic", "will/dying", "--will-payload", "gone", "--will-qos", "1", "-D", "WILL", "content-type", "text/plain")
	// SIGKILL, so the client cannot disconnect politely.
	if err := dying.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if r := watcher.wait(t); r.stdout != "will/dying gone\n" {
		t.Fatalf("watcher printed %q, want the will", r.stdout)
	}
}
