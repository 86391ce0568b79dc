//go:build linux

package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/loadgen"
	"github.com/petrelmq/petrel/packet"
)

// TestRelaysTheLatencyScenario runs the floor as the comparison does, a
// process of its own, and the latency scenario against it at a fixed rate
// and unthrottled: every message reaches the subscriber and every
// publication is acknowledged.
func TestRelaysTheLatencyScenario(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "floor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conf := filepath.Join(dir, "floor.addr")
	if err := os.WriteFile(conf, []byte(addr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the floor does not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, rate := range []float64{2000, 0} {
		cfg := loadgen.Config{Scenario: loadgen.P2P, Clients: 1, QoS: []packet.QoS{1}, Version: packet.V311, Count: 2000, Rate: rate}
		cfg.Addr = addr
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		rep, err := loadgen.Run(ctx, cfg)
		cancel()
		if err != nil {
			t.Fatalf("rate %g: %v", rate, err)
		}
		if len(rep.Failures) > 0 || rep.Received != 2000 || rep.Lost != 0 || rep.Acknowledged != 2000 {
			t.Errorf("rate %g: received %d, lost %d, acknowledged %d of 2000; failures %q",
				rate, rep.Received, rep.Lost, rep.Acknowledged, rep.Failures)
		}
		if rate > 0 && (rep.Latency == nil || rep.Latency.Count != 2000) {
			t.Errorf("rate %g: latency %+v, want 2000 samples", rate, rep.Latency)
		}
	}
}
