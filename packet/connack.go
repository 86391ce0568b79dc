package packet

// Connack is the CONNACK packet: the server's answer to CONNECT.
type Connack struct {
	SessionPresent bool
	// ReasonCode is the 5.0 reason code in every version; before 5.0 it is
	// sent as the nearest return code (NotAuthorized as 5, and so on).
	ReasonCode ReasonCode
	Props      Properties
}

// Type implements Packet.
func (*Connack) Type() Type { return CONNACK }

// Encode implements Packet.
func (p *Connack) Encode(dst []byte, v Version) ([]byte, error) {
	var flags byte
	// v5 [MQTT-3.2.2-6], v3.1.1 [MQTT-3.2.2-4]: never present with a refusal.
	if p.SessionPresent && v != V31 && !p.ReasonCode.IsError() {
		flags = 1
	}
	if v != V5 {
		dst, _ = appendHeader(dst, CONNACK, 0, 2)
		return append(dst, flags, connackCodeV3(p.ReasonCode)), nil
	}
	if err := checkReason(CONNACK, p.ReasonCode); err != nil {
		return dst, err
	}
	n, err := p.Props.encodedSize(ownerOf(CONNACK))
	if err != nil {
		return dst, err
	}
	if dst, err = appendHeader(dst, CONNACK, 0, 2+varintSize(n)+n); err != nil {
		return dst, err
	}
	dst = append(dst, flags, byte(p.ReasonCode))
	return p.Props.appendTo(dst, ownerOf(CONNACK), n), nil
}

// Decode implements Packet.
func (p *Connack) Decode(_ byte, body []byte, v Version) error {
	p.Props.reset()
	c := cursor{b: body}
	flags, err := c.byte("acknowledge flags")
	if err != nil {
		return err
	}
	code, err := c.byte("reason code")
	if err != nil {
		return err
	}
	if v == V31 {
		// 3.1 has no Session Present: the whole first byte is reserved.
		flags = 0
	}
	if flags&^1 != 0 {
		return malformed("reserved acknowledge flags are set (v5 [MQTT-3.2.2-1])")
	}
	p.SessionPresent = flags == 1
	if v != V5 {
		p.ReasonCode, err = connackCodeFromV3(code)
	} else {
		p.ReasonCode = ReasonCode(code)
		err = checkReason(CONNACK, p.ReasonCode)
	}
	if err != nil {
		return err
	}
	if p.ReasonCode.IsError() && p.SessionPresent {
		return protocolError("session present with a refusal (v5 [MQTT-3.2.2-6], v3.1.1 [MQTT-3.2.2-4])")
	}
	if v != V5 {
		return c.end(CONNACK)
	}
	if err := p.Props.decode(&c, ownerOf(CONNACK)); err != nil {
		return err
	}
	return c.end(CONNACK)
}
