package main

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
)

const (
	mosquittoPub = "/usr/bin/mosquitto_pub"
	mosquittoSub = "/usr/bin/mosquitto_sub"
)

// requireMosquittoClients skips loudly when Debian's mosquitto-clients is
// missing, since a quiet skip would read as a pass; with
// PETREL_REQUIRE_INTEROP=1 it fails instead.
func requireMosquittoClients(t *testing.T) {
	t.Helper()
	for _, name := range []string{mosquittoPub, mosquittoSub, "stdbuf"} {
		if _, err := exec.LookPath(name); err != nil {
			msg := name + " is not installed (Debian packages mosquitto-clients and coreutils)"
			if os.Getenv("PETREL_REQUIRE_INTEROP") == "1" {
				t.Fatal("INTEROP REQUIRED (PETREL_REQUIRE_INTEROP=1): " + msg)
			}
			t.Skip("INTEROP SKIPPED: " + msg)
		}
	}
}

// TestMosquittoClientsInterop sends messages from mosquitto_pub to petrel
// sub and from petrel pub to mosquitto_sub, through a Petrel broker.
func TestMosquittoClientsInterop(t *testing.T) {
	requireMosquittoClients(t)
	b := brokertest.Start(t, broker.Options{})
	host, port := splitAddr(t, b.Addr)
	for _, v := range []string{"311", "5"} {
		for _, q := range []string{"0", "1", "2"} {
			for _, dir := range []struct {
				name         string
				pub          string
				pubArgs, sub []string
			}{
				{"mosquitto_pub to petrel sub", mosquittoPub, nil, []string{binary, "sub"}},
				// stdbuf, or mosquitto_sub holds back its -d lines in a pipe.
				{"petrel pub to mosquitto_sub", binary, []string{"pub"}, []string{"stdbuf", "-oL", mosquittoSub}},
			} {
				t.Run(fmt.Sprintf("%s/%s/QoS%s", dir.name, v, q), func(t *testing.T) {
					topic := fmt.Sprintf("interop/%s/%s/%s", v, q, dir.name[:6])
					common := []string{"-h", host, "-p", port, "-V", v, "-q", q, "-t", topic}
					s := startSubscriber(t, dir.sub[0], "received SUBACK", append(append(dir.sub[1:], common...), "-C", "2", "-v", "-d")...)
					r := runTool(t, "", dir.pub, append(append(dir.pubArgs, common...), "-m", "hello world")...)
					if r.status != 0 {
						t.Fatalf("publisher exited %d: %s", r.status, r.stderr)
					}
					if r := runTool(t, "", dir.pub, append(append(dir.pubArgs, common...), "-n")...); r.status != 0 {
						t.Fatalf("publisher -n exited %d: %s", r.status, r.stderr)
					}
					got := s.wait(t)
					if want := topic + " hello world\n" + topic + " (null)\n"; got.status != 0 || got.stdout != want {
						t.Fatalf("subscriber exited %d printing %q, want %q; stderr:\n%s", got.status, got.stdout, want, got.stderr)
					}
				})
			}
		}
	}
}

// TestFlagCompatibility runs the same mosquitto_sub command lines with
// mosquitto_sub and petrel sub, on the same retained message, and expects
// the same output and status.
func TestFlagCompatibility(t *testing.T) {
	requireMosquittoClients(t)
	b := brokertest.Start(t, broker.Options{})
	host, port := splitAddr(t, b.Addr)
	pubArgs := []string{"-h", host, "-p", port, "-t", "compat/a", "-m", "payload <1>", "-r", "-q", "1", "-V", "5",
		"-D", "PUBLISH", "user-property", "k", "v", "-D", "PUBLISH", "content-type", "text/plain",
		"-D", "PUBLISH", "response-topic", "compat/r", "-D", "PUBLISH", "correlation-data", "cd"}
	// Published once by each tool: the second replaces the first, and
	// both must leave the same retained message.
	for _, tool := range [][]string{{mosquittoPub}, {binary, "pub"}} {
		if r := runTool(t, "", tool[0], append(tool[1:], pubArgs...)...); r.status != 0 {
			t.Fatalf("%s exited %d: %s", tool[0], r.status, r.stderr)
		}
		for _, args := range [][]string{
			{"-t", "compat/#", "-C", "1"},
			{"-t", "compat/#", "-C", "1", "-v"},
			{"-t", "compat/#", "-C", "1", "-N"},
			{"-t", "compat/#", "-C", "1", "-F", `%t|%p|%q|%r|%l|%x|%X\t%%`},
			{"-t", "compat/#", "-C", "1", "-V", "5", "-F", `%P|%C|%R|%D`},
			{"-t", "compat/#", "-C", "1", "-V", "mqttv311", "-q", "2", "-v"},
			{"-L", fmt.Sprintf("mqtt://%s:%s/compat/a", host, port), "-C", "1"},
			{"-t", "compat/#", "-R", "-W", "1"},
		} {
			full := append([]string{"-h", host, "-p", port}, args...)
			want := runTool(t, "", mosquittoSub, full...)
			got := petrel(t, "", append([]string{"sub"}, full...)...)
			if got.stdout != want.stdout || got.status != want.status {
				t.Errorf("sub %q after %s:\npetrel sub printed %q, status %d\nmosquitto_sub      %q, status %d",
					args, tool[0], got.stdout, got.status, want.stdout, want.status)
			}
		}
	}
}
