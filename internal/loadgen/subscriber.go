package loadgen

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// subscriber is a client that subscribes once and then receives on its
// connection's reader goroutine, which accounts for each message,
// acknowledges it and times it.
type subscriber struct {
	*client
	index  int
	filter string // as subscribed, $share/ prefix included
	group  *group
	// suback carries the SUBACK's outcome: the granted QoS or an error.
	suback  chan error
	granted packet.QoS

	// tally, latency and last (the clock reading of the last delivery)
	// belong to the reader until the run ends.
	tally   tally
	latency *Histogram
	last    int64

	received atomic.Int64 // messages from load generators, duplicates included
	unique   atomic.Int64 // of those, the first delivery to this subscriber
	foreign  atomic.Int64 // messages from anywhere else

	// target, in Sub, is how many messages to receive before closing
	// reached.
	target    int64
	reached   chan struct{}
	reachOnce sync.Once
}

// group is a set of subscribers that together expect each matching
// message once: one subscriber, or the members of a shared subscription.
type group struct {
	filter  string // without the $share/ prefix
	members []*subscriber
	// pubs are the indexes of the run's publishers whose topic the filter
	// matches.
	pubs []int
}

// subscribe sends SUBSCRIBE and waits for the reader to see the SUBACK.
func (s *subscriber) subscribe(qos packet.QoS) error {
	b, err := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: s.filter, QoS: qos}}}).Encode(nil, s.run.cfg.Version)
	if err != nil {
		return fmt.Errorf("subscribe to %q: %w", s.filter, err)
	}
	if !s.send(b) {
		return fmt.Errorf("subscribe to %q: the connection failed", s.filter)
	}
	select {
	case err := <-s.suback:
		return err
	case <-s.done:
		return fmt.Errorf("subscribe to %q: %w", s.filter, s.failure())
	case <-time.After(connectTimeout):
		return fmt.Errorf("no SUBACK for %q within %s", s.filter, connectTimeout)
	}
}

// read receives until the connection ends.
func (s *subscriber) read() {
	v := s.run.cfg.Version
	var msg packet.Publish
	var out []byte
	for {
		h, body, err := s.r.ReadFrame()
		if err != nil {
			s.readErr(err)
			return
		}
		switch h.Type {
		case packet.PUBLISH:
			if err := msg.Decode(h.Flags, body, v); err != nil {
				s.fail(fmt.Errorf("malformed PUBLISH: %w", err))
				return
			}
			s.receive(msg.Payload)
			switch msg.QoS {
			case packet.AtLeastOnce:
				out = append(out, byte(packet.PUBACK)<<4, 2, byte(msg.PacketID>>8), byte(msg.PacketID))
			case packet.ExactlyOnce:
				out = append(out, byte(packet.PUBREC)<<4, 2, byte(msg.PacketID>>8), byte(msg.PacketID))
			}
		case packet.PUBREL:
			if len(body) < 2 {
				s.fail(errors.New("malformed PUBREL"))
				return
			}
			out = append(out, byte(packet.PUBCOMP)<<4, 2, body[0], body[1])
		case packet.SUBACK:
			s.suback <- s.subacked(body, v)
		case packet.PINGRESP:
		case packet.DISCONNECT:
			s.readErr(serverDisconnect(v, body))
			return
		default:
			s.fail(fmt.Errorf("the server sent a subscriber %s", h.Type))
			return
		}
		if s.r.Buffered() == 0 {
			if len(out) > 0 && !s.send(out) {
				return
			}
			out = out[:0]
			// Only now, with the acknowledgements on their way ahead of
			// any DISCONNECT, may the run end.
			if s.target > 0 && s.received.Load() >= s.target {
				s.reachOnce.Do(func() { close(s.reached) })
			}
		}
	}
}

// subacked checks the SUBACK and notes the QoS granted.
func (s *subscriber) subacked(body []byte, v packet.Version) error {
	granted, err := checkSuback([]string{s.filter}, body, v)
	s.granted = granted
	return err
}

// checkSuback checks the SUBACK of a SUBSCRIBE to filters and returns
// the QoS granted to the first.
func checkSuback(filters []string, body []byte, v packet.Version) (packet.QoS, error) {
	var ack packet.Suback
	if err := ack.Decode(0, body, v); err != nil {
		return 0, fmt.Errorf("malformed SUBACK: %w", err)
	}
	if len(ack.ReasonCodes) != len(filters) {
		return 0, fmt.Errorf("SUBACK with %d codes for %d filters", len(ack.ReasonCodes), len(filters))
	}
	for i, code := range ack.ReasonCodes {
		if code.IsError() {
			return 0, fmt.Errorf("subscription to %q refused: %v", filters[i], code)
		}
	}
	return packet.QoS(ack.ReasonCodes[0]), nil
}

// receive accounts for one message's payload.
func (s *subscriber) receive(payload []byte) {
	h, ok := parsePayload(payload)
	if !ok || h.run != s.run.id && s.run.cfg.Scenario != Sub {
		s.foreign.Add(1)
		return
	}
	s.last = s.run.clock.now()
	s.latency.Record(time.Duration(s.last - h.stamp))
	if !s.tally.record(h) {
		s.unique.Add(1)
	}
	s.received.Add(1)
}
