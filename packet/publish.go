package packet

// Publish is the PUBLISH packet: an application message on its way from
// a client to the server or from the server to a client.
type Publish struct {
	Dup      bool
	QoS      QoS
	Retain   bool
	Topic    string // may be empty in 5.0 when Props.TopicAlias is set
	PacketID uint16 // only when QoS > 0
	Props    Properties
	Payload  []byte
}

// Type implements Packet.
func (*Publish) Type() Type { return PUBLISH }

func (p *Publish) flags() byte {
	f := byte(p.QoS) << 1
	if p.Dup {
		f |= 0x08
	}
	if p.Retain {
		f |= 0x01
	}
	return f
}

// Encode implements Packet.
func (p *Publish) Encode(dst []byte, v Version) ([]byte, error) {
	if p.QoS > ExactlyOnce {
		return dst, malformed("PUBLISH with QoS %d (v5 and v3.1.1 [MQTT-3.3.1-4])", p.QoS)
	}
	if p.Dup && p.QoS == AtMostOnce {
		return dst, malformed("DUP set on a QoS 0 PUBLISH (v5 and v3.1.1 [MQTT-3.3.1-2])")
	}
	if err := checkLen(len(p.Topic), "topic name"); err != nil {
		return dst, err
	}
	n := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > AtMostOnce {
		if p.PacketID == 0 {
			return dst, protocolError("QoS %d PUBLISH without a packet identifier (v5 [MQTT-2.2.1-3], v3.1.1 [MQTT-2.3.1-1])", p.QoS)
		}
		n += 2
	}
	var propsLen int
	if v == V5 {
		var err error
		if propsLen, err = p.Props.encodedSize(ownerOf(PUBLISH)); err != nil {
			return dst, err
		}
		n += varintSize(propsLen) + propsLen
	}
	dst, err := appendHeader(dst, PUBLISH, p.flags(), n)
	if err != nil {
		return dst, err
	}
	dst = appendString(dst, p.Topic)
	if p.QoS > AtMostOnce {
		dst = appendUint16(dst, p.PacketID)
	}
	if v == V5 {
		dst = p.Props.appendTo(dst, ownerOf(PUBLISH), propsLen)
	}
	return append(dst, p.Payload...), nil
}

// Decode implements Packet. It makes no allocation once p's property
// slices have grown to fit, and p aliases body afterwards.
func (p *Publish) Decode(flags byte, body []byte, v Version) error {
	p.Dup = flags&0x08 != 0
	p.QoS = QoS(flags >> 1 & 0x03)
	p.Retain = flags&0x01 != 0
	p.PacketID = 0
	if p.QoS > ExactlyOnce {
		return malformed("PUBLISH with QoS 3 (v5 and v3.1.1 [MQTT-3.3.1-4])")
	}
	if p.Dup && p.QoS == AtMostOnce {
		return malformed("DUP set on a QoS 0 PUBLISH (v5 and v3.1.1 [MQTT-3.3.1-2])")
	}
	c := cursor{b: body}
	var err error
	if p.Topic, err = c.string("topic name"); err != nil {
		return err
	}
	if p.QoS > AtMostOnce {
		if p.PacketID, err = c.pid(); err != nil {
			return err
		}
	}
	if v == V5 {
		if err := p.Props.decode(&c, ownerOf(PUBLISH)); err != nil {
			return err
		}
	} else {
		p.Props.reset()
	}
	if p.Topic == "" && v == V5 {
		if p.Props.TopicAlias == 0 {
			return protocolError("empty topic name without a Topic Alias")
		}
	} else if err := checkTopicName(p.Topic, "topic name"); err != nil {
		return err
	}
	p.Payload = body[c.i:len(body):len(body)]
	return nil
}

// Clone returns a copy of p that owns its memory, in as few allocations as
// the fields allow: every string and byte field shares one new block.
func (p *Publish) Clone() *Publish {
	q := *p
	a := arena(make([]byte, 0, len(p.Topic)+len(p.Payload)+p.Props.variableSize()))
	q.Topic = a.string(p.Topic)
	q.Payload = a.bytes(p.Payload)
	q.Props = p.Props.clone(&a)
	return &q
}
