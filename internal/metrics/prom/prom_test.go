package prom_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/client"
	"github.com/petrelmq/petrel/internal/metrics/prom"
	"github.com/petrelmq/petrel/internal/metrics/promtest"
	"github.com/petrelmq/petrel/packet"
)

const wait = 5 * time.Second

func dial(t *testing.T, addr, id string, v packet.Version) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Addr: addr, ClientID: id, Version: v, CleanStart: true})
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background(), packet.Success) })
	return c
}

// TestScrapeAfterKnownTraffic sends known traffic through a broker and
// reads it back from the metrics, as Prometheus would.
func TestScrapeAfterKnownTraffic(t *testing.T) {
	b := brokertest.Start(t, broker.Options{
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		SysInterval: -1,
	})
	srv := httptest.NewServer(prom.Handler(b.Server, "petrel test"))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sub := dial(t, b.Addr, "sub", packet.V5)
	if _, err := sub.Subscribe(ctx, packet.Subscription{Filter: "t/#", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	pub := dial(t, b.Addr, "pub", packet.V311)
	sent := map[packet.QoS]int{0: 3, 1: 2, 2: 1}
	for qos, n := range sent {
		for range n {
			if err := pub.Publish(ctx, &packet.Publish{Topic: "t/x", QoS: qos, Payload: []byte("hello")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := pub.Publish(ctx, &packet.Publish{Topic: "r/1", QoS: 1, Retain: true, Payload: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		select {
		case <-sub.Messages():
		case <-ctx.Done():
			t.Fatal("the subscriber did not get six messages")
		}
	}

	// The subscriber's last PUBACKs may still be on their way.
	var fams map[string]*dto.MetricFamily
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		fams = promtest.Scrape(t, srv.URL)
		if promtest.Value(t, fams, "petrel_packets_received_total") >= 14 || time.Now().After(deadline) {
			break
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"petrel_messages_received_total", []string{"qos", "0"}, 3},
		{"petrel_messages_received_total", []string{"qos", "1"}, 3},
		{"petrel_messages_received_total", []string{"qos", "2"}, 1},
		// The subscription's QoS 1 caps the QoS 2 message.
		{"petrel_messages_sent_total", []string{"qos", "0"}, 3},
		{"petrel_messages_sent_total", []string{"qos", "1"}, 3},
		{"petrel_messages_sent_total", []string{"qos", "2"}, 0},
		{"petrel_connections", nil, 2},
		{"petrel_connections_accepted_total", nil, 2},
		{"petrel_sessions", []string{"state", "online"}, 2},
		{"petrel_sessions", []string{"state", "offline"}, 0},
		{"petrel_subscriptions", nil, 1},
		{"petrel_retained_messages", nil, 1},
		{"petrel_retained_bytes", nil, float64(len("r/1") + len("kept"))},
		{"petrel_messages_dropped_total", []string{"reason", "queue_full"}, 0},
		{"petrel_delivery_latency_seconds", nil, 6},
		{"petrel_build_info", []string{"version", "petrel test"}, 1},
	} {
		if got := promtest.Value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// CONNECT, SUBSCRIBE and 3 PUBACKs from the subscriber; CONNECT, 7
	// PUBLISH and 1 PUBREL from the publisher.
	if got := promtest.Value(t, fams, "petrel_packets_received_total"); got != 14 {
		t.Errorf("packets received %v, want 14", got)
	}
	if got := promtest.Value(t, fams, "petrel_bytes_received_total"); got < float64(7*len("hello")) {
		t.Errorf("bytes received %v, want more than the payloads", got)
	}
	if got := promtest.Value(t, fams, "petrel_bytes_sent_total"); got < float64(6*len("hello")) {
		t.Errorf("bytes sent %v, want more than the payloads", got)
	}
	if promtest.Value(t, fams, "go_goroutines") == 0 {
		t.Error("no Go runtime metrics")
	}

	// A connection that ends keeps its traffic in the totals.
	pub.Disconnect(ctx, packet.Success)
	deadline := time.Now().Add(wait)
	for {
		fams = promtest.Scrape(t, srv.URL)
		if promtest.Value(t, fams, "petrel_connections") == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := promtest.Value(t, fams, "petrel_messages_received_total", "qos", "0"); got != 3 {
		t.Errorf("after the publisher left, received{qos=0} = %v, want 3", got)
	}
	if got := promtest.Value(t, fams, "petrel_sessions", "state", "online"); got != 1 {
		t.Errorf("after the publisher left, online sessions = %v, want 1", got)
	}
}
