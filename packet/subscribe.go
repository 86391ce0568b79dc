package packet

import "strings"

// RetainHandling says whether retained messages are sent when a
// subscription is made (5.0 Subscription Options bits 4 and 5).
type RetainHandling byte

// The Retain Handling values.
const (
	SendRetained          RetainHandling = 0 // at every subscribe
	SendRetainedIfNew     RetainHandling = 1 // only if the subscription did not exist
	DoNotSendRetained     RetainHandling = 2
	sharedSubscriptionTag                = "$share/"
)

// Subscription is one Topic Filter of a SUBSCRIBE with its options. The
// filter's syntax is checked by the server per subscription (a bad filter
// fails only its own SUBACK entry), not by the codec.
type Subscription struct {
	Filter            string
	QoS               QoS            // maximum QoS
	NoLocal           bool           // 5.0 only
	RetainAsPublished bool           // 5.0 only
	RetainHandling    RetainHandling // 5.0 only
}

func (s *Subscription) options(v Version) byte {
	o := byte(s.QoS)
	if v == V5 {
		if s.NoLocal {
			o |= 0x04
		}
		if s.RetainAsPublished {
			o |= 0x08
		}
		o |= byte(s.RetainHandling) << 4
	}
	return o
}

// Subscribe is the SUBSCRIBE packet.
type Subscribe struct {
	PacketID      uint16
	Props         Properties
	Subscriptions []Subscription
}

// Type implements Packet.
func (*Subscribe) Type() Type { return SUBSCRIBE }

// Encode implements Packet.
func (p *Subscribe) Encode(dst []byte, v Version) ([]byte, error) {
	if p.PacketID == 0 {
		return dst, protocolError("SUBSCRIBE without a packet identifier (v5 [MQTT-2.2.1-3], v3.1.1 [MQTT-2.3.1-1])")
	}
	if len(p.Subscriptions) == 0 {
		return dst, protocolError("SUBSCRIBE with no topic filter (v5 [MQTT-3.8.3-2], v3.1.1 [MQTT-3.8.3-3])")
	}
	n := 2
	var propsLen int
	var err error
	if v == V5 {
		if propsLen, err = p.Props.encodedSize(ownerOf(SUBSCRIBE)); err != nil {
			return dst, err
		}
		if len(p.Props.SubscriptionIdentifiers) > 1 {
			return dst, protocolError("SUBSCRIBE with more than one Subscription Identifier")
		}
		n += varintSize(propsLen) + propsLen
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		if err := checkLen(len(s.Filter), "topic filter"); err != nil {
			return dst, err
		}
		if s.QoS > ExactlyOnce || s.RetainHandling > DoNotSendRetained {
			return dst, malformed("subscription options QoS %d, Retain Handling %d", s.QoS, s.RetainHandling)
		}
		n += 3 + len(s.Filter)
	}
	if dst, err = appendHeader(dst, SUBSCRIBE, requiredFlags[SUBSCRIBE], n); err != nil {
		return dst, err
	}
	dst = appendUint16(dst, p.PacketID)
	if v == V5 {
		dst = p.Props.appendTo(dst, ownerOf(SUBSCRIBE), propsLen)
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		dst = append(appendString(dst, s.Filter), s.options(v))
	}
	return dst, nil
}

// Decode implements Packet.
func (p *Subscribe) Decode(_ byte, body []byte, v Version) error {
	p.Subscriptions = p.Subscriptions[:0]
	c := cursor{b: body}
	var err error
	if p.PacketID, err = c.pid(); err != nil {
		return err
	}
	if v == V5 {
		if err := p.Props.decode(&c, ownerOf(SUBSCRIBE)); err != nil {
			return err
		}
	} else {
		p.Props.reset()
	}
	for c.remaining() > 0 {
		var s Subscription
		if s.Filter, err = c.string("topic filter"); err != nil {
			return err
		}
		o, err := c.byte("subscription options")
		if err != nil {
			return err
		}
		if err := s.setOptions(o, v); err != nil {
			return err
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	if len(p.Subscriptions) == 0 {
		return protocolError("SUBSCRIBE with no topic filter (v5 [MQTT-3.8.3-2], v3.1.1 [MQTT-3.8.3-3])")
	}
	return nil
}

func (s *Subscription) setOptions(o byte, v Version) error {
	s.QoS = QoS(o & 0x03)
	if v != V5 {
		if s.QoS > ExactlyOnce {
			return malformed("subscription with QoS 3 (v3.1.1 [MQTT-3-8.3-4])")
		}
		if o&^0x03 != 0 {
			return malformed("reserved subscription option bits are set (v3.1.1 [MQTT-3-8.3-4])")
		}
		return nil
	}
	if o&0xc0 != 0 {
		return malformed("reserved subscription option bits are set (v5 [MQTT-3.8.3-5])")
	}
	if s.QoS > ExactlyOnce {
		// Unlike 3.1.1, 5.0 makes this a Protocol Error, not a Malformed Packet.
		return protocolError("subscription with Maximum QoS 3 (v5 §3.8.3.1)")
	}
	s.NoLocal = o&0x04 != 0
	s.RetainAsPublished = o&0x08 != 0
	s.RetainHandling = RetainHandling(o >> 4 & 0x03)
	if s.RetainHandling > DoNotSendRetained {
		return protocolError("Retain Handling 3")
	}
	if s.NoLocal && strings.HasPrefix(s.Filter, sharedSubscriptionTag) {
		return protocolError("No Local on a shared subscription (v5 [MQTT-3.8.3-4])")
	}
	return nil
}

// Unsubscribe is the UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID uint16
	Props    Properties
	Filters  []string
}

// Type implements Packet.
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }

// Encode implements Packet.
func (p *Unsubscribe) Encode(dst []byte, v Version) ([]byte, error) {
	if p.PacketID == 0 {
		return dst, protocolError("UNSUBSCRIBE without a packet identifier (v5 [MQTT-2.2.1-3], v3.1.1 [MQTT-2.3.1-1])")
	}
	if len(p.Filters) == 0 {
		return dst, protocolError("UNSUBSCRIBE with no topic filter (v5 and v3.1.1 [MQTT-3.10.3-2])")
	}
	n := 2
	var propsLen int
	var err error
	if v == V5 {
		if propsLen, err = p.Props.encodedSize(ownerOf(UNSUBSCRIBE)); err != nil {
			return dst, err
		}
		n += varintSize(propsLen) + propsLen
	}
	for _, f := range p.Filters {
		if err := checkLen(len(f), "topic filter"); err != nil {
			return dst, err
		}
		n += 2 + len(f)
	}
	if dst, err = appendHeader(dst, UNSUBSCRIBE, requiredFlags[UNSUBSCRIBE], n); err != nil {
		return dst, err
	}
	dst = appendUint16(dst, p.PacketID)
	if v == V5 {
		dst = p.Props.appendTo(dst, ownerOf(UNSUBSCRIBE), propsLen)
	}
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst, nil
}

// Decode implements Packet.
func (p *Unsubscribe) Decode(_ byte, body []byte, v Version) error {
	p.Filters = p.Filters[:0]
	c := cursor{b: body}
	var err error
	if p.PacketID, err = c.pid(); err != nil {
		return err
	}
	if v == V5 {
		if err := p.Props.decode(&c, ownerOf(UNSUBSCRIBE)); err != nil {
			return err
		}
	} else {
		p.Props.reset()
	}
	for c.remaining() > 0 {
		f, err := c.string("topic filter")
		if err != nil {
			return err
		}
		p.Filters = append(p.Filters, f)
	}
	if len(p.Filters) == 0 {
		return protocolError("UNSUBSCRIBE with no topic filter (v5 and v3.1.1 [MQTT-3.10.3-2])")
	}
	return nil
}
