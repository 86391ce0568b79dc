package session

import (
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// Message is an application message inside the broker: immutable once
// made, and shared by every session it is delivered to.
type Message struct {
	Topic   string
	Payload []byte
	QoS     packet.QoS // the QoS it was published with
	Retain  bool
	// Props holds the properties forwarded to subscribers, nil when there
	// are none: payload format, content type, response topic, correlation
	// data and user properties. Message Expiry is carried by Expiry, not
	// here; Topic Alias and Subscription Identifiers belong to each
	// delivery.
	Props *packet.Properties
	// Expiry is when the message expires; the zero time means never.
	Expiry time.Time
	// Publisher is the client id of the publishing client, "" for messages
	// the broker makes itself; No Local compares against it.
	Publisher string
	// Received is when a client's PUBLISH of the message arrived, on a
	// monotonic clock of the broker's; 0 when unknown. It measures
	// delivery latency, and is not stored.
	Received int64

	// Shared is set, before the message reaches other goroutines, when it
	// will go to more than one subscriber (or is retained, and so may):
	// only then is caching its encodings worth their allocations.
	Shared bool

	// wire caches the PUBLISH encodings that many subscribers share, so a
	// message fanned out to thousands is encoded a handful of times. It is
	// made by the first SetWire: most messages go to one subscriber, and
	// their 96 bytes of cache would be two fifths of the message.
	wire atomic.Pointer[wireCache]
}

// wireCache holds a message's shared encodings, by wireIndex.
type wireCache [wireForms]atomic.Pointer[WireForm]

// WireForm is a cached encoding of a message. A QoS 1 or 2 form carries
// packet identifier 1 at PacketIDAt, to be replaced per subscriber.
type WireForm struct {
	Bytes      []byte
	PacketIDAt int
}

// wireForms counts the shareable forms: MQTT 5 or earlier, QoS 0 to 2,
// RETAIN set or not.
const wireForms = 2 * 3 * 2

func wireIndex(v5 bool, qos packet.QoS, retain bool) int {
	i := int(qos) * 2
	if retain {
		i++
	}
	if v5 {
		i += 6
	}
	return i
}

// Wire returns the cached form for a wire version, QoS and RETAIN flag, or
// nil before SetWire.
func (m *Message) Wire(v5 bool, qos packet.QoS, retain bool) *WireForm {
	c := m.wire.Load()
	if c == nil {
		return nil
	}
	return c[wireIndex(v5, qos, retain)].Load()
}

// SetWire caches a form. Concurrent first users may both make and set one;
// they make the same bytes.
func (m *Message) SetWire(v5 bool, qos packet.QoS, retain bool, f *WireForm) {
	c := m.wire.Load()
	if c == nil {
		c = new(wireCache)
		if !m.wire.CompareAndSwap(nil, c) {
			c = m.wire.Load()
		}
	}
	c[wireIndex(v5, qos, retain)].Store(f)
}

// Expired reports whether the message's lifetime has ended at now.
func (m *Message) Expired(now time.Time) bool {
	return !m.Expiry.IsZero() && !now.Before(m.Expiry)
}

// RemainingExpiry is the Message Expiry Interval to send at now: the
// received value minus the time the message waited, rounded up so a live
// message never reads as 0 (v5 [MQTT-3.3.2-6]).
func (m *Message) RemainingExpiry(now time.Time) (uint32, bool) {
	if m.Expiry.IsZero() {
		return 0, false
	}
	left := m.Expiry.Sub(now)
	if left <= 0 {
		return 0, true
	}
	return uint32((left + time.Second - 1) / time.Second), true
}

// Size is the memory the message's variable data takes, for queue limits.
func (m *Message) Size() int {
	n := len(m.Topic) + len(m.Payload)
	if p := m.Props; p != nil {
		n += len(p.ContentType) + len(p.ResponseTopic) + len(p.CorrelationData)
		for _, u := range p.User {
			n += len(u.Key) + len(u.Value)
		}
	}
	return n
}

// Delivery is one message on its way to one session, with what differs
// per subscriber.
type Delivery struct {
	Msg *Message
	// QoS is the delivery QoS: the lower of the message's QoS and the
	// subscription's (v5 and v3.1.1 §3.8.4).
	QoS    packet.QoS
	Retain bool
	// SubscriptionIDs are the identifiers of the matching subscriptions (v5).
	SubscriptionIDs []uint32
	// Seq orders the session's deliveries and names one in the store;
	// Enqueue assigns it.
	Seq uint64
	// Shared is the shared subscription ("$share/group/filter") the
	// delivery came through, "" for an ordinary subscription: a member
	// that leaves hands such deliveries on to another member.
	Shared string
}
