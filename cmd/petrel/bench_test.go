package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
)

// TestBench runs petrel bench against a broker and reads its report as
// a script would: JSON on standard output, progress on standard error,
// and the HTML file.
func TestBench(t *testing.T) {
	b := brokertest.Start(t, broker.Options{SysInterval: -1})
	host, port := splitAddr(t, b.Addr)
	page := filepath.Join(t.TempDir(), "report.html")
	r := petrel(t, "", "bench", "fanout", "-h", host, "-p", port, "--subs", "3", "-q", "1", "-V", "5",
		"--rate", "500", "--duration", "1100ms", "--json", "--html", page)
	if r.status != 0 {
		t.Fatalf("status %d; stderr:\n%s", r.status, r.stderr)
	}
	var rep struct {
		Scenario   string
		Version    string `json:"protocol_version"`
		Sent       int64
		Received   int64
		Lost       int64
		Duplicates int64
		Latency    struct {
			P99 float64 `json:"p99_us"`
		}
		Timeline []struct{ T float64 }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if rep.Scenario != "fanout" || rep.Version != "5.0" || rep.Sent < 400 || rep.Received != 3*rep.Sent || rep.Lost != 0 || rep.Duplicates != 0 || rep.Latency.P99 <= 0 || len(rep.Timeline) == 0 {
		t.Errorf("report: %+v\nwant fanout at 5.0, about 550 sent, each received 3 times, none lost", rep)
	}
	// Standard error is not a terminal here: progress comes as log lines.
	if !strings.Contains(r.stderr, "msg=progress") || !strings.Contains(r.stderr, "received_per_second=1") {
		t.Errorf("no progress line at 1,500 messages a second on stderr:\n%s", r.stderr)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "<polyline", `id="report"`, `"received":`} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the HTML report lacks %q", want)
		}
	}
}

// TestBenchLoss checks a run that loses QoS 1 messages fails, saying so:
// the broker's queues hold one message, and four publishers flood one
// subscriber.
func TestBenchLoss(t *testing.T) {
	b := brokertest.Start(t, broker.Options{SysInterval: -1, MaxQueuedMessages: 1, MaxInflight: 1})
	host, port := splitAddr(t, b.Addr)
	args := []string{"bench", "fanin", "-h", host, "-p", port, "-q", "1", "-C", "2000", "--drain", "300ms", "--quiet"}
	r := petrel(t, "", args...)
	if r.status != 1 || !strings.Contains(r.stdout, "\nFAILED: lost ") {
		t.Errorf("status %d, stdout:\n%s\nwant 1 and a FAILED line", r.status, r.stdout)
	}
	r = petrel(t, "", append(args, "--json")...)
	if r.status != 1 || !strings.HasPrefix(r.stderr, "petrel bench: FAILED: lost ") || !strings.Contains(r.stderr, " QoS 1 messages") {
		t.Errorf("with --json: status %d, stderr:\n%s\nwant 1 and the loss", r.status, r.stderr)
	}
}

func TestBenchCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		status int
		stderr string // a prefix
	}{
		{[]string{"bench"}, 2, "petrel bench: name one scenario: conn, pub, sub, fanin, fanout, p2p or shared (see petrel bench --help)"},
		{[]string{"bench", "flood"}, 2, `petrel bench: unknown scenario "flood"`},
		{[]string{"bench", "fanin", "--clients", "3"}, 2, "petrel bench: fanin takes numbers of publishers and subscribers, not of clients"},
		{[]string{"bench", "pub", "-q", "0,3"}, 2, "petrel bench: --qos 0,3: QoS must be 0, 1 or 2"},
		{[]string{"bench", "fanout", "--size", "8"}, 2, "petrel bench: payload size 8: at least 24 bytes"},
		{[]string{"bench", "conn", "-L", "http://x"}, 2, "petrel bench: -L http://x: the URL must start mqtt://"},
		{[]string{"bench", "conn", "--insecure"}, 2, "petrel bench: --insecure is for TLS"},
		{[]string{"bench", "conn", "--source-addrs", "localhost"}, 2, `petrel bench: --source-addrs: "localhost" is not an IP address`},
		{[]string{"bench", "fanout", "-p", "1", "-h", "127.0.0.1"}, 1, "petrel bench: connection refused by 127.0.0.1:1: is an MQTT server listening there?"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := petrel(t, "", tc.args...)
			if r.status != tc.status || !strings.HasPrefix(r.stderr, tc.stderr) {
				t.Errorf("status %d, stderr:\n%s\nwant %d and a line beginning\n%s", r.status, r.stderr, tc.status, tc.stderr)
			}
		})
	}
	r := petrel(t, "", "bench", "--help")
	if r.status != 0 || !strings.Contains(r.stdout, "Scenarios:") || !strings.Contains(r.stdout, "--source-addrs") {
		t.Errorf("bench --help: status %d, stdout:\n%s", r.status, r.stdout)
	}
}
