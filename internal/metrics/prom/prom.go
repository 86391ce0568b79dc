// Package prom exposes a broker's counters to Prometheus, in its text
// format, under names that follow Prometheus's conventions: a petrel_
// prefix, base units (seconds, bytes), _total on counters, and labels for
// the dimensions (qos, reason, state). Each scrape takes one broker.Stats
// snapshot, so the values agree with each other and with $SYS.
//
// # Imports
//
// prom is the only package that imports the Prometheus client; only cmd
// imports prom, so neither the broker nor an embedder of it depends on
// Prometheus.
package prom

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/petrelmq/petrel/broker"
)

// Source is what the metrics are read from: a *broker.Server.
type Source interface {
	Stats() broker.Stats
}

// Handler serves the metrics of src, of the Go runtime and of the
// process. version is reported by petrel_build_info.
func Handler(src Source, version string) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(src, version),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// collector turns one Stats snapshot per scrape into metrics.
type collector struct {
	src     Source
	version string
}

// NewCollector returns a prometheus.Collector of src's Stats.
func NewCollector(src Source, version string) prometheus.Collector {
	return &collector{src: src, version: version}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("petrel_"+name, help, labels, nil)
}

var (
	buildInfo       = desc("build_info", "The broker's version, as a label of a metric that is always 1.", "version")
	startTime       = desc("start_time_seconds", "When the broker started, in seconds since the Unix epoch.")
	connections     = desc("connections", "Open network connections, logged in or not.")
	accepted        = desc("connections_accepted_total", "Network connections accepted.")
	refused         = desc("connections_refused_total", "Connections refused before login, by why: banned, or over a connection limit or rate.", "reason")
	authFailures    = desc("auth_failures_total", "Failed logins and re-authentications.")
	sessions        = desc("sessions", "Sessions, online (a client is connected) or offline.", "state")
	subscriptions   = desc("subscriptions", "Subscriptions of all sessions.")
	retained        = desc("retained_messages", "Retained messages.")
	retainedBytes   = desc("retained_bytes", "Topic and payload bytes of the retained messages.")
	received        = desc("messages_received_total", "PUBLISH packets received from clients, by QoS.", "qos")
	sent            = desc("messages_sent_total", "PUBLISH packets sent to clients, by QoS.", "qos")
	dropped         = desc("messages_dropped_total", "Deliveries dropped, by why: queue_full (the session's overflow policy), offline (QoS 0 for an offline client), too_large (above the client's maximum packet size), no_subscriber (no shared group member left), memory_limit (max_queued_memory), expired.", "reason")
	queued          = desc("messages_queued", "Messages waiting in session queues.")
	queuedBytes     = desc("messages_queued_bytes", "Topic and payload bytes of the messages waiting in session queues.")
	inflight        = desc("messages_inflight", "QoS 1 and 2 deliveries sent and not yet acknowledged.")
	packetsReceived = desc("packets_received_total", "MQTT control packets received.")
	packetsSent     = desc("packets_sent_total", "MQTT control packets sent.")
	bytesReceived   = desc("bytes_received_total", "Bytes of MQTT packets received.")
	bytesSent       = desc("bytes_sent_total", "Bytes written to clients.")
	throttled       = desc("publish_throttled_total", "Pauses in reading from clients above their publish rate.")
	storeRefused    = desc("store_refused_total", "Packets refused because the store was full.")
	storeSync       = desc("store_sync_seconds", "How long acknowledgements waited for the store to make writes durable.")
	deliveryLatency = desc("delivery_latency_seconds", "How long messages took from the arrival of their PUBLISH to their encoding for a subscriber, time in the subscriber's queue included; retained messages sent on subscribing and resent messages are not counted.")
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{buildInfo, startTime, connections, accepted, refused, authFailures,
		sessions, subscriptions, retained, retainedBytes, received, sent, dropped, queued, queuedBytes, inflight,
		packetsReceived, packetsSent, bytesReceived, bytesSent, throttled, storeRefused, storeSync, deliveryLatency} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(buildInfo, 1, c.version)
	gauge(startTime, float64(time.Now().Add(-st.Uptime).UnixMilli())/1e3)
	gauge(connections, float64(st.Connections))
	counter(accepted, st.Accepted)
	counter(refused, st.RefusedBanned, "banned")
	counter(refused, st.RefusedLimit, "limit")
	counter(authFailures, st.AuthFailures)
	gauge(sessions, float64(st.Online), "online")
	gauge(sessions, float64(st.Sessions-st.Online), "offline")
	gauge(subscriptions, float64(st.Subscriptions))
	gauge(retained, float64(st.Retained))
	gauge(retainedBytes, float64(st.RetainedBytes))
	for q := range st.Received {
		counter(received, st.Received[q], strconv.Itoa(q))
		counter(sent, st.Sent[q], strconv.Itoa(q))
	}
	d := st.Dropped
	for _, r := range []struct {
		reason string
		n      uint64
	}{
		{"queue_full", d.QueueFull}, {"offline", d.Offline}, {"too_large", d.TooLarge},
		{"no_subscriber", d.NoSubscriber}, {"memory_limit", d.MemoryLimit}, {"expired", d.Expired},
	} {
		counter(dropped, r.n, r.reason)
	}
	gauge(queued, float64(st.Queued))
	gauge(queuedBytes, float64(st.QueuedBytes))
	gauge(inflight, float64(st.Inflight))
	counter(packetsReceived, st.PacketsReceived)
	counter(packetsSent, st.PacketsSent)
	counter(bytesReceived, st.BytesReceived)
	counter(bytesSent, st.BytesSent)
	counter(throttled, st.Throttled)
	counter(storeRefused, st.StoreRefused)
	ch <- histogram(storeSync, st.StoreSync)
	ch <- histogram(deliveryLatency, st.DeliveryLatency)
}

// histogram turns a latency histogram into Prometheus's form: cumulative
// buckets with upper bounds in seconds.
func histogram(d *prometheus.Desc, h broker.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var n uint64
	for i, b := range h.Bounds {
		n += h.Counts[i]
		buckets[b.Seconds()] = n
	}
	return prometheus.MustNewConstHistogram(d, h.Count(), h.Sum.Seconds(), buckets)
}
