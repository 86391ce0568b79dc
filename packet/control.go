package packet

// Pingreq is the PINGREQ packet.
type Pingreq struct{}

// Pingresp is the PINGRESP packet.
type Pingresp struct{}

// Type implements Packet.
func (*Pingreq) Type() Type { return PINGREQ }

// Type implements Packet.
func (*Pingresp) Type() Type { return PINGRESP }

// Encode implements Packet.
func (*Pingreq) Encode(dst []byte, _ Version) ([]byte, error) {
	return append(dst, byte(PINGREQ)<<4, 0), nil
}

// Encode implements Packet.
func (*Pingresp) Encode(dst []byte, _ Version) ([]byte, error) {
	return append(dst, byte(PINGRESP)<<4, 0), nil
}

// Decode implements Packet.
func (*Pingreq) Decode(_ byte, body []byte, _ Version) error { return emptyBody(PINGREQ, body) }

// Decode implements Packet.
func (*Pingresp) Decode(_ byte, body []byte, _ Version) error { return emptyBody(PINGRESP, body) }

func emptyBody(t Type, body []byte) error {
	if len(body) != 0 {
		return malformed("%s with a remaining length of %d, want 0", t, len(body))
	}
	return nil
}

// Disconnect is the DISCONNECT packet. Before 5.0 it carries nothing and
// only a client sends it.
type Disconnect struct {
	ReasonCode ReasonCode // 5.0 only
	Props      Properties // 5.0 only
}

// Auth is the AUTH packet of 5.0 enhanced authentication.
type Auth struct {
	ReasonCode ReasonCode
	Props      Properties
}

// Type implements Packet.
func (*Disconnect) Type() Type { return DISCONNECT }

// Type implements Packet.
func (*Auth) Type() Type { return AUTH }

// Encode implements Packet.
func (p *Disconnect) Encode(dst []byte, v Version) ([]byte, error) {
	if v != V5 {
		return append(dst, byte(DISCONNECT)<<4, 0), nil
	}
	return encodeReasonOnly(dst, DISCONNECT, p.ReasonCode, &p.Props)
}

// Encode implements Packet. AUTH exists only in 5.0.
func (p *Auth) Encode(dst []byte, v Version) ([]byte, error) {
	if v != V5 {
		return dst, protocolError("AUTH is not part of MQTT %s", v)
	}
	return encodeReasonOnly(dst, AUTH, p.ReasonCode, &p.Props)
}

// Decode implements Packet.
func (p *Disconnect) Decode(_ byte, body []byte, v Version) error {
	if v != V5 {
		p.ReasonCode = NormalDisconnection
		p.Props.reset()
		return emptyBody(DISCONNECT, body)
	}
	var err error
	p.ReasonCode, err = decodeReasonOnly(body, DISCONNECT, &p.Props)
	return err
}

// Decode implements Packet.
func (p *Auth) Decode(_ byte, body []byte, v Version) error {
	if v != V5 {
		// Packet type 15 is reserved before 5.0.
		return malformed("AUTH is not part of MQTT %s", v)
	}
	var err error
	p.ReasonCode, err = decodeReasonOnly(body, AUTH, &p.Props)
	return err
}

// encodeReasonOnly writes DISCONNECT and AUTH, whose variable header is a
// reason code and properties, both left out when they say nothing.
func encodeReasonOnly(dst []byte, t Type, code ReasonCode, props *Properties) ([]byte, error) {
	if err := checkReason(t, code); err != nil {
		return dst, err
	}
	n, err := props.encodedSize(ownerOf(t))
	if err != nil {
		return dst, err
	}
	remaining := 0
	switch {
	case n > 0:
		remaining = 1 + varintSize(n) + n
	case code != Success:
		remaining = 1
	}
	if dst, err = appendHeader(dst, t, 0, remaining); err != nil {
		return dst, err
	}
	if remaining > 0 {
		dst = append(dst, byte(code))
	}
	if n > 0 {
		dst = props.appendTo(dst, ownerOf(t), n)
	}
	return dst, nil
}

func decodeReasonOnly(body []byte, t Type, props *Properties) (ReasonCode, error) {
	props.reset()
	if len(body) == 0 {
		return Success, nil
	}
	code := ReasonCode(body[0])
	if err := checkReason(t, code); err != nil {
		return code, err
	}
	c := cursor{b: body, i: 1}
	if c.remaining() == 0 {
		return code, nil
	}
	if err := props.decode(&c, ownerOf(t)); err != nil {
		return code, err
	}
	return code, c.end(t)
}
