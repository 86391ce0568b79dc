package packet

// Suback is the SUBACK packet: one reason code per subscription asked for.
type Suback struct {
	PacketID uint16
	Props    Properties
	// ReasonCodes hold the granted QoS (GrantedQoS0..2) or a failure. Before
	// 5.0 every failure is sent as 0x80 and read back as UnspecifiedError.
	ReasonCodes []ReasonCode
}

// Unsuback is the UNSUBACK packet.
type Unsuback struct {
	PacketID uint16
	Props    Properties
	// ReasonCodes has one code per filter in 5.0; before 5.0 it is empty.
	ReasonCodes []ReasonCode
}

// Type implements Packet.
func (*Suback) Type() Type { return SUBACK }

// Type implements Packet.
func (*Unsuback) Type() Type { return UNSUBACK }

// Encode implements Packet.
func (p *Suback) Encode(dst []byte, v Version) ([]byte, error) {
	return encodeCodeList(dst, v, SUBACK, p.PacketID, &p.Props, p.ReasonCodes)
}

// Encode implements Packet. Before 5.0 the reason codes are not sent.
func (p *Unsuback) Encode(dst []byte, v Version) ([]byte, error) {
	return encodeCodeList(dst, v, UNSUBACK, p.PacketID, &p.Props, p.ReasonCodes)
}

// Decode implements Packet.
func (p *Suback) Decode(_ byte, body []byte, v Version) error {
	var err error
	p.PacketID, p.ReasonCodes, err = decodeCodeList(body, v, SUBACK, &p.Props, p.ReasonCodes[:0])
	return err
}

// Decode implements Packet.
func (p *Unsuback) Decode(_ byte, body []byte, v Version) error {
	var err error
	p.PacketID, p.ReasonCodes, err = decodeCodeList(body, v, UNSUBACK, &p.Props, p.ReasonCodes[:0])
	return err
}

// subackCodeV3 is the 3.1.1 return code for a SUBACK reason code.
func subackCodeV3(c ReasonCode) byte {
	if c.IsError() {
		return subackV3Failure
	}
	return byte(c)
}

func encodeCodeList(dst []byte, v Version, t Type, id uint16, props *Properties, codes []ReasonCode) ([]byte, error) {
	if id == 0 {
		return dst, protocolError("%s without a packet identifier", t)
	}
	n := 2
	var propsLen int
	var err error
	sendCodes := v == V5 || t == SUBACK
	if sendCodes {
		if len(codes) == 0 {
			return dst, protocolError("%s without reason codes", t)
		}
		n += len(codes)
	}
	if v == V5 {
		for _, c := range codes {
			if err := checkReason(t, c); err != nil {
				return dst, err
			}
		}
		if propsLen, err = props.encodedSize(ownerOf(t)); err != nil {
			return dst, err
		}
		n += varintSize(propsLen) + propsLen
	} else if t == SUBACK {
		for _, c := range codes {
			if c > GrantedQoS2 && !c.IsError() {
				return dst, protocolError("SUBACK reason code %#x has no 3.1.1 form", byte(c))
			}
		}
	}
	if dst, err = appendHeader(dst, t, 0, n); err != nil {
		return dst, err
	}
	dst = appendUint16(dst, id)
	if v == V5 {
		dst = props.appendTo(dst, ownerOf(t), propsLen)
		for _, c := range codes {
			dst = append(dst, byte(c))
		}
	} else if t == SUBACK {
		for _, c := range codes {
			dst = append(dst, subackCodeV3(c))
		}
	}
	return dst, nil
}

func decodeCodeList(body []byte, v Version, t Type, props *Properties, codes []ReasonCode) (uint16, []ReasonCode, error) {
	c := cursor{b: body}
	id, err := c.pid()
	if err != nil {
		return 0, codes, err
	}
	if v == V5 {
		if err := props.decode(&c, ownerOf(t)); err != nil {
			return id, codes, err
		}
	} else {
		props.reset()
		if t == UNSUBACK {
			return id, codes, c.end(t)
		}
	}
	for c.remaining() > 0 {
		b, _ := c.byte("reason code")
		code := ReasonCode(b)
		if v == V5 {
			if err := checkReason(t, code); err != nil {
				return id, codes, err
			}
		} else if b > 2 && b != subackV3Failure {
			// v3.1.1 [MQTT-3.9.3-2]
			return id, codes, malformed("SUBACK return code %#x is reserved (v3.1.1 [MQTT-3.9.3-2])", b)
		}
		codes = append(codes, code)
	}
	if len(codes) == 0 {
		return id, codes, protocolError("%s without reason codes", t)
	}
	return id, codes, nil
}
