package session

import (
	"slices"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// OverflowPolicy says what happens when a delivery would take a session's
// queue past its limits.
type OverflowPolicy byte

// The overflow policies.
const (
	// DropOldest drops the oldest queued delivery to make room.
	DropOldest OverflowPolicy = iota
	// DropNewest drops the delivery that does not fit.
	DropNewest
	// Disconnect keeps the queue and asks the broker to disconnect the
	// client (a slow consumer) while keeping its session.
	Disconnect
)

// String is the policy's name in configuration.
func (p OverflowPolicy) String() string {
	switch p {
	case DropOldest:
		return "drop_oldest"
	case DropNewest:
		return "drop_newest"
	case Disconnect:
		return "disconnect"
	}
	return "unknown"
}

// Limits bound one session's outbound state.
type Limits struct {
	// MaxInflight is the outbound window: QoS 1 and 2 messages sent and not
	// yet acknowledged. The broker sets it to the lower of its own limit and
	// the client's Receive Maximum (v5 [MQTT-3.3.4-9]). 0 means 65,535, as
	// does anything above it.
	MaxInflight int
	// MaxQueued and MaxQueuedBytes bound the deliveries waiting to be sent;
	// 0 means no limit.
	MaxQueued      int
	MaxQueuedBytes int
	Overflow       OverflowPolicy
}

// Subscription is one of the session's subscriptions, keyed by its filter
// as the client sent it ("$share/g/f" included).
type Subscription struct {
	packet.Subscription
	Identifier uint32
}

// Phase is where an outbound QoS 1 or 2 message stands.
type Phase byte

// The phases of an in-flight message.
const (
	AwaitPuback  Phase = iota + 1 // QoS 1 PUBLISH sent
	AwaitPubrec                   // QoS 2 PUBLISH sent
	AwaitPubcomp                  // QoS 2 PUBREL sent
)

// Inflight is an outbound QoS 1 or 2 message sent and not yet acknowledged.
type Inflight struct {
	PacketID uint16
	Phase    Phase
	Delivery
}

// Enqueued says what Enqueue did.
type Enqueued byte

// The outcomes of Enqueue.
const (
	Queued        Enqueued = iota // queued, nothing dropped
	DroppedOldest                 // queued after dropping the oldest delivery
	DroppedNewest                 // not queued: the queue is full
	Overflowed                    // not queued; the policy says disconnect
)

// State is one client's session state. It is not safe for concurrent use.
type State struct {
	Limits        Limits
	Subscriptions Subscriptions

	queue queue
	// inflight holds its deliveries by value: one allocation fewer per
	// message sent.
	inflight map[uint16]Inflight
	seq      uint64
	nextPID  uint16
	// inboundQoS2 holds the packet ids of QoS 2 PUBLISHes received and
	// answered with PUBREC, until their PUBREL (v5 [MQTT-4.3.3-9]).
	// It and inflight are made on first use: an idle session holds no
	// empty maps.
	inboundQoS2 map[uint16]struct{}
}

// New returns an empty session.
func New(limits Limits) *State {
	return &State{Limits: limits}
}

// Queued is the number of deliveries waiting to be sent.
func (s *State) Queued() int { return s.queue.len() }

// QueuedBytes is the size of the messages waiting to be sent.
func (s *State) QueuedBytes() int { return s.queue.bytes }

// InflightCount is the number of messages sent and not yet acknowledged.
func (s *State) InflightCount() int { return len(s.inflight) }

func (s *State) full(extra int) bool {
	l := s.Limits
	return (l.MaxQueued > 0 && s.queue.len()+1 > l.MaxQueued) ||
		(l.MaxQueuedBytes > 0 && s.queue.bytes+extra > l.MaxQueuedBytes && s.queue.len() > 0)
}

// HasRoom reports whether a delivery of size bytes fits in the queue
// without the overflow policy dropping anything.
func (s *State) HasRoom(size int) bool { return !s.full(size) }

// Enqueue adds a delivery to the end of the queue, applying the overflow
// policy when the queue is full. It assigns d.Seq and returns the delivery
// as queued and those the policy dropped to make room, which a store must
// forget.
func (s *State) Enqueue(d Delivery) (queued Delivery, dropped []Delivery, result Enqueued) {
	s.seq++
	d.Seq = s.seq
	if !s.full(d.Msg.Size()) {
		s.queue.push(d)
		return d, nil, Queued
	}
	switch s.Limits.Overflow {
	case DropOldest:
		for s.queue.len() > 0 && s.full(d.Msg.Size()) {
			old, _ := s.queue.pop()
			dropped = append(dropped, old)
		}
		s.queue.push(d)
		return d, dropped, DroppedOldest
	case DropNewest:
		return d, nil, DroppedNewest
	}
	return d, nil, Overflowed
}

// window is MaxInflight, capped at 65,535: there are no more packet ids,
// and allocatePID relies on one being free whenever the window has room.
func (s *State) window() int {
	if s.Limits.MaxInflight <= 0 {
		return 65535
	}
	return min(s.Limits.MaxInflight, 65535)
}

// Next takes the next delivery to send, if the in-flight window allows it.
// For QoS 1 and 2 it allocates a packet id and records the message as in
// flight. Expired messages are discarded on the way (v5 [MQTT-3.3.2-5]) and
// returned in expired, for the store to forget.
func (s *State) Next(now time.Time) (d Delivery, pid uint16, expired []Delivery, ok bool) {
	for {
		head, ok := s.queue.peek()
		if !ok {
			return Delivery{}, 0, expired, false
		}
		if head.Msg.Expired(now) {
			s.queue.pop()
			expired = append(expired, head)
			continue
		}
		if head.QoS > packet.AtMostOnce && len(s.inflight) >= s.window() {
			return Delivery{}, 0, expired, false
		}
		s.queue.pop()
		if head.QoS == packet.AtMostOnce {
			return head, 0, expired, true
		}
		pid = s.allocatePID()
		phase := AwaitPuback
		if head.QoS == packet.ExactlyOnce {
			phase = AwaitPubrec
		}
		if s.inflight == nil {
			s.inflight = map[uint16]Inflight{}
		}
		s.inflight[pid] = Inflight{PacketID: pid, Phase: phase, Delivery: head}
		return head, pid, expired, true
	}
}

// allocatePID returns the next packet id not in flight. The window is at
// most 65,535, so one is always free when Next calls it.
func (s *State) allocatePID() uint16 {
	for {
		s.nextPID++
		if s.nextPID == 0 {
			s.nextPID = 1
		}
		if _, used := s.inflight[s.nextPID]; !used {
			return s.nextPID
		}
	}
}

// Puback completes a QoS 1 delivery and returns its sequence number. It
// reports false for a packet id that is not awaiting PUBACK, which the
// broker ignores.
func (s *State) Puback(pid uint16) (seq uint64, ok bool) {
	f, ok := s.inflight[pid]
	if !ok || f.Phase != AwaitPuback {
		return 0, false
	}
	delete(s.inflight, pid)
	return f.Seq, true
}

// Pubrec moves a QoS 2 delivery to its PUBREL phase. sendPubrel says
// whether to answer with PUBREL; found is false for a packet id not in
// flight (answer PUBREL with Packet Identifier Not Found in 5.0). A PUBREC
// with a failure code ends the delivery without PUBREL (v5 §4.3.3);
// ended says so. seq names the delivery.
func (s *State) Pubrec(pid uint16, code packet.ReasonCode) (seq uint64, sendPubrel, found, ended bool) {
	f, ok := s.inflight[pid]
	if !ok {
		return 0, true, false, false
	}
	switch f.Phase {
	case AwaitPubrec:
		if code.IsError() {
			delete(s.inflight, pid)
			return f.Seq, false, true, true
		}
		f.Phase = AwaitPubcomp
		// The message is delivered; only the packet id stays in use.
		f.Delivery = Delivery{Seq: f.Seq}
		s.inflight[pid] = f
		return f.Seq, true, true, false
	case AwaitPubcomp:
		return f.Seq, true, true, false
	}
	// A PUBREC for a QoS 1 delivery names no QoS 2 exchange: answer as
	// for an unknown packet id.
	return 0, true, false, false
}

// Pubcomp completes a QoS 2 delivery and returns its sequence number.
func (s *State) Pubcomp(pid uint16) (seq uint64, ok bool) {
	f, ok := s.inflight[pid]
	if !ok || f.Phase != AwaitPubcomp {
		return 0, false
	}
	delete(s.inflight, pid)
	return f.Seq, true
}

// Resend lists the in-flight messages in the order they were first sent,
// for a resumed session to send again: PUBLISH with DUP for those awaiting
// PUBACK or PUBREC, PUBREL for those awaiting PUBCOMP (v5 [MQTT-4.4.0-1],
// v3.1.1 [MQTT-4.4.0-1]).
func (s *State) Resend() []Inflight {
	out := make([]Inflight, 0, len(s.inflight))
	for _, f := range s.inflight {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b Inflight) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return out
}

// TakeUnacknowledged removes and returns the in-flight QoS 1 messages and
// the queued deliveries, for a shared subscription's member that leaves:
// the broker gives them to another member (v5 [MQTT-4.8.2-5]). QoS 2
// messages already sent stay, as the specification requires.
func (s *State) TakeUnacknowledged(keep func(*Delivery) bool) []Delivery {
	var out []Delivery
	for _, f := range s.Resend() {
		if f.Phase == AwaitPuback && !keep(&f.Delivery) {
			out = append(out, f.Delivery)
			delete(s.inflight, f.PacketID)
		}
	}
	s.queue.removeFunc(func(d *Delivery) bool {
		if keep(d) {
			return false
		}
		out = append(out, *d)
		return true
	})
	return out
}

// DropQoS0 discards queued QoS 0 deliveries, when a client goes offline
// and the broker keeps no QoS 0 messages for offline sessions.
func (s *State) DropQoS0() int {
	return s.queue.removeFunc(func(d *Delivery) bool { return d.QoS == packet.AtMostOnce })
}

// ReceiveQoS2 records an inbound QoS 2 packet id. duplicate is true when
// the id already awaits PUBREL: the sender resent the PUBLISH, which gets
// PUBREC again but is not delivered twice (v5 [MQTT-4.3.3-10]).
func (s *State) ReceiveQoS2(pid uint16) (duplicate bool) {
	if _, ok := s.inboundQoS2[pid]; ok {
		return true
	}
	if s.inboundQoS2 == nil {
		s.inboundQoS2 = map[uint16]struct{}{}
	}
	s.inboundQoS2[pid] = struct{}{}
	return false
}

// Release handles PUBREL: it frees the packet id and reports whether it
// was awaiting release.
func (s *State) Release(pid uint16) bool {
	if _, ok := s.inboundQoS2[pid]; !ok {
		return false
	}
	delete(s.inboundQoS2, pid)
	return true
}

// QueuedDeliveries returns a copy of the queue, in order.
func (s *State) QueuedDeliveries() []Delivery {
	out := make([]Delivery, 0, s.queue.len())
	for i := 0; i < s.queue.n; i++ {
		out = append(out, s.queue.buf[(s.queue.head+i)%len(s.queue.buf)])
	}
	return out
}

// InboundQoS2IDs returns the packet ids awaiting PUBREL, in no order.
func (s *State) InboundQoS2IDs() []uint16 {
	out := make([]uint16, 0, len(s.inboundQoS2))
	for pid := range s.inboundQoS2 {
		out = append(out, pid)
	}
	return out
}

// InboundQoS2 is the number of QoS 2 messages received and not released:
// they count against the broker's Receive Maximum.
func (s *State) InboundQoS2() int { return len(s.inboundQoS2) }

// Discard ends a delivery the broker could not send (too large for the
// client, say) as if it had been acknowledged.
func (s *State) Discard(pid uint16) {
	delete(s.inflight, pid)
}

// Restore rebuilds a session's queue and in-flight window from a store,
// at start-up. queued is in delivery order.
func (s *State) Restore(queued []Delivery, inflight []Inflight, inboundQoS2 []uint16) {
	for _, d := range queued {
		s.queue.push(d)
		s.seq = max(s.seq, d.Seq)
	}
	if len(inflight) > 0 && s.inflight == nil {
		s.inflight = map[uint16]Inflight{}
	}
	for _, f := range inflight {
		s.inflight[f.PacketID] = f
		s.seq = max(s.seq, f.Seq)
		s.nextPID = max(s.nextPID, f.PacketID)
	}
	if len(inboundQoS2) > 0 && s.inboundQoS2 == nil {
		s.inboundQoS2 = map[uint16]struct{}{}
	}
	for _, pid := range inboundQoS2 {
		s.inboundQoS2[pid] = struct{}{}
	}
}
