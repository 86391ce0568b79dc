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

func (s *Server) sysOnce() {
	st := &s.stats
	for _, kv := range [...]struct {
		topic string
		value string
	}{
		{"$SYS/broker/version", s.opts.Version},
		{"$SYS/broker/uptime", strconv.Itoa(int(time.Since(s.started)/time.Second)) + " seconds"},
		{"$SYS/broker/clients/connected", strconv.FormatInt(st.connected.Load(), 10)},
		{"$SYS/broker/clients/total", strconv.FormatInt(st.sessions.Load(), 10)},
		{"$SYS/broker/messages/received", strconv.FormatInt(st.received.Load(), 10)},
		{"$SYS/broker/messages/sent", strconv.FormatInt(st.sent.Load(), 10)},
		{"$SYS/broker/messages/dropped", strconv.FormatInt(st.dropped.Load(), 10)},
		{"$SYS/broker/subscriptions/count", strconv.FormatInt(st.subscriptions.Load(), 10)},
		{"$SYS/broker/retained messages/count", strconv.FormatInt(st.retained.Load(), 10)},
		{"$SYS/broker/retained messages/bytes", strconv.FormatInt(st.retainedBytes.Load(), 10)},
		{"$SYS/broker/messages/dropped/memory", strconv.FormatInt(st.droppedMemory.Load(), 10)},
		{"$SYS/broker/messages/queued/bytes", strconv.FormatInt(st.queuedBytes.Load(), 10)},
		{"$SYS/broker/clients/auth failures", strconv.FormatInt(st.authFailures.Load(), 10)},
		{"$SYS/broker/clients/refused/banned", strconv.FormatInt(st.refusedBanned.Load(), 10)},
		{"$SYS/broker/clients/refused/limit", strconv.FormatInt(st.refusedLimit.Load(), 10)},
		{"$SYS/broker/publish/throttled", strconv.FormatInt(st.throttled.Load(), 10)},
		{"$SYS/broker/store/refused full", strconv.FormatInt(st.refusedStoreFull.Load(), 10)},
	} {
		s.publish(&session.Message{Topic: kv.topic, Payload: []byte(kv.value), Retain: true})
	}
}
