package broker

import (
	"strconv"
	"time"

	"github.com/petrelmq/petrel/internal/session"
)

// publishSys updates the $SYS topics every SysInterval until shutdown,
// as retained messages under Mosquitto's names where one exists.
func (s *Server) publishSys() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.SysInterval)
	defer t.Stop()
	s.sysOnce()
	for {
		select {
		case <-t.C:
			s.sysOnce()
		case <-s.done:
			return
		}
	}
}

// sysOnce publishes one round of $SYS topics from one Stats snapshot, the
// same counters the admin API and the metrics report.
func (s *Server) sysOnce() {
	st := s.Stats()
	i := strconv.FormatInt
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	for _, kv := range [...]struct {
		topic string
		value string
	}{
		{"$SYS/broker/version", s.opts.Version},
		{"$SYS/broker/uptime", strconv.Itoa(int(st.Uptime/time.Second)) + " seconds"},
		{"$SYS/broker/clients/connected", i(st.Online, 10)},
		{"$SYS/broker/clients/disconnected", i(st.Sessions-st.Online, 10)},
		{"$SYS/broker/clients/total", i(st.Sessions, 10)},
		{"$SYS/broker/connections/open", i(st.Connections, 10)},
		{"$SYS/broker/messages/received", u(st.Received[0] + st.Received[1] + st.Received[2])},
		{"$SYS/broker/messages/sent", u(st.Sent[0] + st.Sent[1] + st.Sent[2])},
		{"$SYS/broker/messages/dropped", u(st.Dropped.Total())},
		{"$SYS/broker/messages/expired", u(st.Dropped.Expired)},
		{"$SYS/broker/messages/inflight", i(st.Inflight, 10)},
		{"$SYS/broker/messages/queued", i(st.Queued, 10)},
		{"$SYS/broker/packets/received", u(st.PacketsReceived)},
		{"$SYS/broker/packets/sent", u(st.PacketsSent)},
		{"$SYS/broker/bytes/received", u(st.BytesReceived)},
		{"$SYS/broker/bytes/sent", u(st.BytesSent)},
		{"$SYS/broker/subscriptions/count", i(st.Subscriptions, 10)},
		{"$SYS/broker/retained messages/count", i(st.Retained, 10)},
		{"$SYS/broker/retained messages/bytes", i(st.RetainedBytes, 10)},
		{"$SYS/broker/messages/dropped/memory", u(st.Dropped.MemoryLimit)},
		{"$SYS/broker/messages/queued/bytes", i(st.QueuedBytes, 10)},
		{"$SYS/broker/clients/auth failures", u(st.AuthFailures)},
		{"$SYS/broker/clients/refused/banned", u(st.RefusedBanned)},
		{"$SYS/broker/clients/refused/limit", u(st.RefusedLimit)},
		{"$SYS/broker/publish/throttled", u(st.Throttled)},
		{"$SYS/broker/store/refused full", u(st.StoreRefused)},
	} {
		s.publish(&session.Message{Topic: kv.topic, Payload: []byte(kv.value), Retain: true}, nil)
	}
}
