package broker

import (
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/internal/metrics"
	"github.com/petrelmq/petrel/packet"
)

// stats are the broker's counters, the one source of $SYS, the admin API
// and the metrics. What changes for every message is counted per
// connection (see traffic) and summed when read; what is shared here
// changes per connection, subscription or dropped message.
type stats struct {
	connected     metrics.Gauge
	sessions      metrics.Gauge
	subscriptions metrics.Gauge
	retained      metrics.Gauge
	retainedBytes metrics.Gauge // topic and payload bytes of the retained set
	accepted      metrics.Counter
	// dropped counts deliveries dropped, by why.
	dropped          [numDropReasons]metrics.Counter
	authFailures     metrics.Counter // failed logins and re-authentications
	refusedBanned    metrics.Counter // connections refused by a ban
	refusedLimit     metrics.Counter // connections refused by a connection limit or rate
	throttled        metrics.Counter // times a client's reading paused for its publish rate
	refusedStoreFull metrics.Counter // packets refused because the store was full
	// queuedBytes is the size of the messages in all session queues.
	queuedBytes metrics.Gauge

	// ended is the traffic of connections that have closed, added in
	// under Server.mu as each leaves Server.conns.
	ended traffic
	// deliveryLatency is how long messages took from their PUBLISH's
	// arrival to their encoding for a subscriber; storeSync how long
	// acknowledgements waited for the store.
	deliveryLatency *metrics.Histogram
	storeSync       *metrics.Histogram
	// shards hands connections their histogram shard hints.
	shards atomic.Uint32
}

func newStats() stats {
	return stats{
		deliveryLatency: metrics.NewHistogram(metrics.LatencyBounds...),
		storeSync:       metrics.NewHistogram(metrics.LatencyBounds...),
	}
}

// dropReason says why a delivery was dropped.
type dropReason byte

const (
	dropQueueFull dropReason = iota // the session's queue was full: its overflow policy
	dropOffline                     // a QoS 0 message for an offline session, or one that ended
	dropTooLarge                    // larger than the client's Maximum Packet Size
	dropNoMember                    // no other member of a shared group to take it
	dropMemory                      // all queues held MaxQueuedMemory
	dropExpired                     // its Message Expiry passed before it went out
	numDropReasons
)

// traffic is what one connection has carried. The in side is written by
// the connection's reader, one packet at a time; the out side under the
// connection's output lock: each has one writer at a time, so counting
// costs a plain load and store, and readers sum every connection.
type traffic struct {
	received  [3]metrics.Local // PUBLISH packets from the client, by QoS
	packetsIn metrics.Local
	bytesIn   metrics.Local
	sent      [3]metrics.Local // PUBLISH packets to the client, by QoS
	// packetsOut counts packets encoded for the client; bytesOut the
	// bytes handed to the socket.
	packetsOut metrics.Local
	bytesOut   metrics.Local
}

// addTo adds the counts to t's running totals in sum.
func (t *traffic) addTo(sum *Traffic) {
	for q := range t.received {
		sum.Received[q] += t.received[q].Load()
		sum.Sent[q] += t.sent[q].Load()
	}
	sum.PacketsReceived += t.packetsIn.Load()
	sum.PacketsSent += t.packetsOut.Load()
	sum.BytesReceived += t.bytesIn.Load()
	sum.BytesSent += t.bytesOut.Load()
}

// fold adds a closing connection's traffic to the server's. The caller
// holds Server.mu, which makes it ended's one writer.
func (t *traffic) fold(c *traffic) {
	for q := range t.received {
		t.received[q].Add(c.received[q].Load())
		t.sent[q].Add(c.sent[q].Load())
	}
	t.packetsIn.Add(c.packetsIn.Load())
	t.packetsOut.Add(c.packetsOut.Load())
	t.bytesIn.Add(c.bytesIn.Load())
	t.bytesOut.Add(c.bytesOut.Load())
}

// connOps is what a connection keeps for operators: its traffic, when it
// logged in, and whether its packets are traced.
type connOps struct {
	traffic
	// connectedAt, in Unix nanoseconds, is set before the client is
	// logged in, and read after.
	connectedAt int64
	// shard spreads connections over the shards of the server's
	// histograms.
	shard uint32
	// traced logs the client's packets, payloads included (see
	// Server.SetTrace).
	traced atomic.Bool
	// endReason is 0x100 | the reason code of the DISCONNECT that ended
	// the connection, from either side; 0 when none was sent.
	endReason atomic.Uint32
}

func (o *connOps) setEndReason(code packet.ReasonCode) {
	o.endReason.CompareAndSwap(0, 0x100|uint32(code))
}

// endReasonText is the ending DISCONNECT's reason as logs show it, "" if
// there was none.
func (o *connOps) endReasonText() string {
	r := o.endReason.Load()
	if r == 0 {
		return ""
	}
	return packet.ReasonCode(r & 0xFF).String()
}

// countSent counts a PUBLISH encoded for the client and, for a message a
// client published just now, how long it took to get here. The caller
// holds c.omu.
func (c *conn) countSent(d *Delivery, dup bool, now time.Time) {
	c.ops.sent[d.QoS].Inc()
	c.ops.packetsOut.Inc()
	// A retained message sent on subscribing, or one sent again, says
	// nothing about how fast the broker delivers.
	if r := d.Msg.Received; r != 0 && !dup && !d.Retain {
		c.srv.stats.deliveryLatency.Observe(uint(c.ops.shard), time.Duration(sinceEpoch(now)-r))
	}
	if c.ops.traced.Load() {
		c.traceDelivery(d, dup)
	}
}

// epoch is the origin of Message.Received: a monotonic reading, so
// latencies survive wall-clock changes.
var epoch = time.Now()

// sinceEpoch is t as Message.Received records it; never 0, which means
// unknown.
func sinceEpoch(t time.Time) int64 { return int64(t.Sub(epoch)) | 1 }

// Traffic counts what clients sent and received.
type Traffic struct {
	// Received and Sent count PUBLISH packets from and to clients, by QoS.
	Received [3]uint64
	Sent     [3]uint64
	// PacketsReceived and PacketsSent count every control packet.
	PacketsReceived uint64
	PacketsSent     uint64
	BytesReceived   uint64
	BytesSent       uint64
}

// Drops counts deliveries the broker dropped, by why.
type Drops struct {
	QueueFull    uint64 // the session's queue was full (its overflow policy)
	Offline      uint64 // a QoS 0 message for an offline session
	TooLarge     uint64 // larger than the client's Maximum Packet Size
	NoSubscriber uint64 // no member of a shared group was left to take it
	MemoryLimit  uint64 // all queues held MaxQueuedMemory
	Expired      uint64 // its Message Expiry passed before it went out
}

// Total is every drop but expiry, as $SYS/broker/messages/dropped counts.
func (d Drops) Total() uint64 {
	return d.QueueFull + d.Offline + d.TooLarge + d.NoSubscriber + d.MemoryLimit
}

// Histogram is a latency histogram at one moment.
type Histogram = metrics.HistogramSnapshot

// Stats is a snapshot of the server's counters and gauges.
type Stats struct {
	Uptime time.Duration
	// Connections counts open network connections, logged in or not;
	// Accepted every connection accepted since start.
	Connections int64
	Accepted    uint64
	// Online counts connected clients; Sessions every session, online or
	// offline.
	Online        int64
	Sessions      int64
	Subscriptions int64
	Retained      int64
	RetainedBytes int64
	// Queued and QueuedBytes are the messages waiting in session queues;
	// Inflight the deliveries sent and not yet acknowledged.
	Queued      int64
	QueuedBytes int64
	Inflight    int64
	Traffic
	Dropped Drops
	// AuthFailures counts failed logins and re-authentications;
	// RefusedBanned and RefusedLimit the connections refused by a ban or
	// by a connection limit or rate.
	AuthFailures  uint64
	RefusedBanned uint64
	RefusedLimit  uint64
	// Throttled counts the pauses in reading from clients above their
	// publish rate; StoreRefused the packets refused because the store was
	// full.
	Throttled    uint64
	StoreRefused uint64
	// DeliveryLatency is how long messages took from the arrival of their
	// PUBLISH to their encoding for each subscriber, queueing included;
	// StoreSync how long acknowledgements waited for the store.
	DeliveryLatency Histogram
	StoreSync       Histogram
}

// Stats returns the counters now. It walks every connection and session,
// so it costs in proportion to them; nothing on the publish path waits
// for it but a session's lock, briefly.
func (s *Server) Stats() Stats {
	st := &s.stats
	out := Stats{
		Uptime:        time.Since(s.started),
		Connections:   s.open.Load(),
		Accepted:      st.accepted.Load(),
		Online:        st.connected.Load(),
		Sessions:      st.sessions.Load(),
		Subscriptions: st.subscriptions.Load(),
		Retained:      st.retained.Load(),
		RetainedBytes: st.retainedBytes.Load(),
		QueuedBytes:   st.queuedBytes.Load(),
		Dropped: Drops{
			QueueFull:    st.dropped[dropQueueFull].Load(),
			Offline:      st.dropped[dropOffline].Load(),
			TooLarge:     st.dropped[dropTooLarge].Load(),
			NoSubscriber: st.dropped[dropNoMember].Load(),
			MemoryLimit:  st.dropped[dropMemory].Load(),
			Expired:      st.dropped[dropExpired].Load(),
		},
		AuthFailures:    st.authFailures.Load(),
		RefusedBanned:   st.refusedBanned.Load(),
		RefusedLimit:    st.refusedLimit.Load(),
		Throttled:       st.throttled.Load(),
		StoreRefused:    st.refusedStoreFull.Load(),
		DeliveryLatency: st.deliveryLatency.Snapshot(),
		StoreSync:       st.storeSync.Snapshot(),
	}
	s.mu.Lock()
	st.ended.addTo(&out.Traffic)
	for c := s.conns; c != nil; c = c.next {
		c.ops.addTo(&out.Traffic)
	}
	s.mu.Unlock()
	s.eachSession(func(cs *clientSession) {
		cs.mu.Lock()
		out.Queued += int64(cs.st.Queued())
		out.Inflight += int64(cs.st.InflightCount())
		cs.mu.Unlock()
	})
	return out
}

// eachSession calls f for every session, holding no lock: sessions made
// meanwhile may be missed and ended ones visited.
func (s *Server) eachSession(f func(cs *clientSession)) {
	var batch []*clientSession
	t := s.sessions
	for i := range t.shards {
		sh := &t.shards[i]
		batch = batch[:0]
		sh.mu.RLock()
		for _, cs := range sh.m {
			batch = append(batch, cs)
		}
		sh.mu.RUnlock()
		for _, cs := range batch {
			f(cs)
		}
	}
}
