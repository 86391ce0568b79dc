package packet

// Puback is the PUBACK packet: the answer to a QoS 1 PUBLISH.
type Puback struct {
	PacketID   uint16
	ReasonCode ReasonCode // 5.0 only
	Props      Properties // 5.0 only
}

// Pubrec is the PUBREC packet: the first answer to a QoS 2 PUBLISH.
// It has the fields of Puback.
type Pubrec Puback

// Pubrel is the PUBREL packet: the second step of the QoS 2 exchange.
// It has the fields of Puback.
type Pubrel Puback

// Pubcomp is the PUBCOMP packet: the last step of the QoS 2 exchange.
// It has the fields of Puback.
type Pubcomp Puback

// Type implements Packet.
func (*Puback) Type() Type { return PUBACK }

// Type implements Packet.
func (*Pubrec) Type() Type { return PUBREC }

// Type implements Packet.
func (*Pubrel) Type() Type { return PUBREL }

// Type implements Packet.
func (*Pubcomp) Type() Type { return PUBCOMP }

// Encode implements Packet.
func (p *Puback) Encode(dst []byte, v Version) ([]byte, error) { return p.encode(dst, v, PUBACK) }

// Encode implements Packet.
func (p *Pubrec) Encode(dst []byte, v Version) ([]byte, error) {
	return (*Puback)(p).encode(dst, v, PUBREC)
}

// Encode implements Packet.
func (p *Pubrel) Encode(dst []byte, v Version) ([]byte, error) {
	return (*Puback)(p).encode(dst, v, PUBREL)
}

// Encode implements Packet.
func (p *Pubcomp) Encode(dst []byte, v Version) ([]byte, error) {
	return (*Puback)(p).encode(dst, v, PUBCOMP)
}

// Decode implements Packet.
func (p *Puback) Decode(_ byte, body []byte, v Version) error { return p.decode(body, v, PUBACK) }

// Decode implements Packet.
func (p *Pubrec) Decode(_ byte, body []byte, v Version) error {
	return (*Puback)(p).decode(body, v, PUBREC)
}

// Decode implements Packet.
func (p *Pubrel) Decode(_ byte, body []byte, v Version) error {
	return (*Puback)(p).decode(body, v, PUBREL)
}

// Decode implements Packet.
func (p *Pubcomp) Decode(_ byte, body []byte, v Version) error {
	return (*Puback)(p).decode(body, v, PUBCOMP)
}

func (p *Puback) encode(dst []byte, v Version, t Type) ([]byte, error) {
	if p.PacketID == 0 {
		return dst, protocolError("%s without a packet identifier", t)
	}
	if v != V5 {
		dst, _ = appendHeader(dst, t, requiredFlags[t], 2)
		return appendUint16(dst, p.PacketID), nil
	}
	if err := checkReason(t, p.ReasonCode); err != nil {
		return dst, err
	}
	n, err := p.Props.encodedSize(ownerOf(t))
	if err != nil {
		return dst, err
	}
	// The reason code and property length may be left out when they say
	// nothing: success without properties (v5 section 3.4.2.1).
	remaining := 2
	switch {
	case n > 0:
		remaining = 3 + varintSize(n) + n
	case p.ReasonCode != Success:
		remaining = 3
	}
	if dst, err = appendHeader(dst, t, requiredFlags[t], remaining); err != nil {
		return dst, err
	}
	dst = appendUint16(dst, p.PacketID)
	if remaining > 2 {
		dst = append(dst, byte(p.ReasonCode))
	}
	if n > 0 {
		dst = p.Props.appendTo(dst, ownerOf(t), n)
	}
	return dst, nil
}

func (p *Puback) decode(body []byte, v Version, t Type) error {
	p.ReasonCode = Success
	p.Props.reset()
	c := cursor{b: body}
	var err error
	if p.PacketID, err = c.pid(); err != nil {
		return err
	}
	if v != V5 || c.remaining() == 0 {
		return c.end(t)
	}
	code, _ := c.byte("reason code")
	p.ReasonCode = ReasonCode(code)
	if err := checkReason(t, p.ReasonCode); err != nil {
		return err
	}
	if c.remaining() == 0 {
		return nil
	}
	if err := p.Props.decode(&c, ownerOf(t)); err != nil {
		return err
	}
	return c.end(t)
}
