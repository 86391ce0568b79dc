package pebblestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/packet"
)

// valueVersion leads every stored value, so a later encoding can be told
// apart from this one and migrated.
const valueVersion = 1

// Message flags.
const (
	flagRetain = 1 << iota
	flagProps
	flagWill
)

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBytes(b, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendTime keeps the instant to the nanosecond, the zero time apart:
// it means "never" or "not set" to the broker.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendUvarint(binary.AppendVarint(append(b, 1), t.Unix()), uint64(t.Nanosecond()))
}

// appendMessage encodes what the broker keeps of a message. Of the
// properties, Message.Props holds only those forwarded to subscribers,
// and those are what is stored.
func appendMessage(b []byte, m *broker.Message) []byte {
	b = append(b, valueVersion)
	b = appendString(b, m.Topic)
	b = appendBytes(b, m.Payload)
	var flags byte
	if m.Retain {
		flags |= flagRetain
	}
	if m.Props != nil {
		flags |= flagProps
	}
	b = append(b, byte(m.QoS), flags)
	if p := m.Props; p != nil {
		b = append(b, p.PayloadFormat)
		b = appendString(b, p.ContentType)
		b = appendString(b, p.ResponseTopic)
		b = appendBytes(b, p.CorrelationData)
		b = binary.AppendUvarint(b, uint64(len(p.User)))
		for _, u := range p.User {
			b = appendString(appendString(b, u.Key), u.Value)
		}
	}
	b = appendTime(b, m.Expiry)
	return appendString(b, m.Publisher)
}

// appendDelivery encodes a delivery but its Seq, which is in its key.
func appendDelivery(b []byte, d *broker.Delivery) []byte {
	b = append(b, valueVersion, byte(d.QoS))
	if d.Retain {
		b = append(b, flagRetain)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(d.SubscriptionIDs)))
	for _, id := range d.SubscriptionIDs {
		b = binary.AppendUvarint(b, uint64(id))
	}
	b = appendString(b, d.Shared)
	return appendMessage(b, d.Msg)
}

// appendRecord encodes a session record but its client id, which is in
// its key.
func appendRecord(b []byte, r *broker.SessionRecord) []byte {
	b = append(b, valueVersion, byte(r.Version))
	b = binary.AppendVarint(b, int64(r.Expiry))
	b = appendTime(b, r.DisconnectedAt)
	b = appendTime(b, r.WillDueAt)
	b = binary.AppendVarint(b, int64(r.WillDelay))
	if r.Will == nil {
		return append(b, 0)
	}
	return appendMessage(append(b, flagWill), r.Will)
}

// appendSubscription encodes a subscription but its filter, which is in
// its key, with the options as SUBSCRIBE carries them.
func appendSubscription(b []byte, s *broker.Subscription) []byte {
	opts := byte(s.QoS) | byte(s.RetainHandling)<<4
	if s.NoLocal {
		opts |= 0x04
	}
	if s.RetainAsPublished {
		opts |= 0x08
	}
	return binary.AppendUvarint(append(b, valueVersion, opts), uint64(s.Identifier))
}

// appendFlight encodes where an in-flight delivery stands. Its message
// stays under its queued key until PUBREL is sent, so that moving a
// delivery into flight is a blind write, not a read and a write.
func appendFlight(b []byte, pid uint16, phase broker.Phase) []byte {
	return append(binary.BigEndian.AppendUint16(append(b, valueVersion), pid), byte(phase))
}

// reader decodes a value; the first error sticks and later reads return
// zero values.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("value ends early")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail(errShort)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) version() {
	if v := r.byte(); v != valueVersion && r.err == nil {
		r.fail(fmt.Errorf("value encoding %d is unknown to this build", v))
	}
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// raw returns the next length-prefixed field, aliasing the value.
func (r *reader) raw() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(errShort)
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) string() string { return string(r.raw()) }

// bytes copies: the iterator owns what raw aliases.
func (r *reader) bytes() []byte {
	s := r.raw()
	if len(s) == 0 {
		return nil
	}
	return append([]byte(nil), s...)
}

func (r *reader) time() time.Time {
	switch r.byte() {
	case 0:
		return time.Time{}
	case 1:
		sec := r.varint()
		nsec := r.uvarint()
		if nsec >= 1e9 {
			r.fail(errors.New("bad nanoseconds"))
		}
		return time.Unix(sec, int64(nsec))
	default:
		r.fail(errors.New("bad time"))
		return time.Time{}
	}
}

// end reports the first error, or trailing bytes a value must not have.
func (r *reader) end() error {
	if r.err == nil && len(r.b) > 0 {
		return fmt.Errorf("%d bytes after the value", len(r.b))
	}
	return r.err
}

func (r *reader) message() *broker.Message {
	r.version()
	m := &broker.Message{Topic: r.string(), Payload: r.bytes(), QoS: packet.QoS(r.byte())}
	flags := r.byte()
	m.Retain = flags&flagRetain != 0
	if flags&flagProps != 0 {
		p := &packet.Properties{PayloadFormat: r.byte(), ContentType: r.string(), ResponseTopic: r.string(),
			CorrelationData: r.bytes()}
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			r.fail(errShort) // each user property takes at least one byte
		} else if n > 0 {
			p.User = make([]packet.UserProperty, n)
			for i := range p.User {
				p.User[i] = packet.UserProperty{Key: r.string(), Value: r.string()}
			}
		}
		m.Props = p
	}
	m.Expiry = r.time()
	m.Publisher = r.string()
	return m
}

func decodeMessage(v []byte) (*broker.Message, error) {
	r := reader{b: v}
	m := r.message()
	return m, r.end()
}

func decodeDelivery(v []byte, seq uint64) (broker.Delivery, error) {
	r := reader{b: v}
	r.version()
	d := broker.Delivery{Seq: seq, QoS: packet.QoS(r.byte()), Retain: r.byte()&flagRetain != 0}
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(errShort)
	} else if n > 0 {
		d.SubscriptionIDs = make([]uint32, n)
		for i := range d.SubscriptionIDs {
			d.SubscriptionIDs[i] = uint32(r.uvarint())
		}
	}
	d.Shared = r.string()
	d.Msg = r.message()
	return d, r.end()
}

func decodeRecord(v []byte, id string) (broker.SessionRecord, error) {
	r := reader{b: v}
	r.version()
	rec := broker.SessionRecord{ClientID: id, Version: packet.Version(r.byte()), Expiry: time.Duration(r.varint()),
		DisconnectedAt: r.time(), WillDueAt: r.time(), WillDelay: time.Duration(r.varint())}
	if r.byte()&flagWill != 0 {
		rec.Will = r.message()
	}
	return rec, r.end()
}

func decodeSubscription(v []byte, filter string) (broker.Subscription, error) {
	r := reader{b: v}
	r.version()
	opts := r.byte()
	s := broker.Subscription{Subscription: packet.Subscription{
		Filter: filter, QoS: packet.QoS(opts & 0x03), NoLocal: opts&0x04 != 0, RetainAsPublished: opts&0x08 != 0,
		RetainHandling: packet.RetainHandling(opts >> 4 & 0x03),
	}, Identifier: uint32(r.uvarint())}
	return s, r.end()
}

func decodeFlight(v []byte) (pid uint16, phase broker.Phase, err error) {
	r := reader{b: v}
	r.version()
	pid = uint16(r.byte())<<8 | uint16(r.byte())
	phase = broker.Phase(r.byte())
	return pid, phase, r.end()
}
