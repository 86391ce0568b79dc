package loadgen_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/internal/loadgen"
	"github.com/petrelmq/petrel/packet"
)

// TestReportForms checks the JSON and HTML forms of a report carry the
// figures and the charts' data.
func TestReportForms(t *testing.T) {
	addr := startBroker(t, broker.Options{})
	rep := run(t, loadgen.Config{
		Target: loadgen.Target{Addr: addr}, Scenario: loadgen.FanOut, Subs: 2,
		QoS: []packet.QoS{1}, Rate: 2000, Duration: 300 * time.Millisecond,
	})
	checkComplete(t, rep, 2)

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"scenario", "server", "protocol_version", "sent", "received", "lost", "duplicates", "by_qos", "sent_per_second", "received_per_second", "latency", "ack_latency", "timeline", "errors", "bench"} {
		if _, ok := m[key]; !ok {
			t.Errorf("the JSON report has no %q: %s", key, b)
		}
	}
	lat, _ := m["latency"].(map[string]any)
	for _, key := range []string{"p50_us", "p90_us", "p99_us", "p99_9_us", "max_us", "percentiles"} {
		if _, ok := lat[key]; !ok {
			t.Errorf("the JSON latency has no %q: %v", key, lat)
		}
	}
	if m["received"] != float64(rep.Received) {
		t.Errorf("JSON received %v, want %d", m["received"], rep.Received)
	}

	var page strings.Builder
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	embedded := regexp.MustCompile(`(?s)<script type="application/json" id="report">(.*?)</script>`).FindStringSubmatch(html)
	if embedded == nil {
		t.Fatalf("no embedded report in the page:\n%s", html)
	}
	var back loadgen.Report
	if err := json.Unmarshal([]byte(embedded[1]), &back); err != nil {
		t.Fatalf("embedded report: %v", err)
	}
	if back.Received != rep.Received || len(back.Timeline) == 0 || back.Latency == nil || len(back.Latency.Percentiles) == 0 {
		t.Errorf("embedded report: received %d, %d samples, latency %+v; want the run's", back.Received, len(back.Timeline), back.Latency)
	}
	for _, want := range []string{"<svg", "Throughput", "Latency by percentile", "sent / s", "received / s", "publish to delivery", "publish to acknowledgement"} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if n := strings.Count(html, "<polyline"); n != 4 {
		t.Errorf("the page draws %d lines, want 4: sent and received over time, delivery and acknowledgement latency", n)
	}
	for _, external := range []string{"src=", "href=", "@import", "url("} {
		if strings.Contains(html, external) {
			t.Errorf("the page refers to something outside it: %q", external)
		}
	}
}
