package packet

// Protocol names of the CONNECT variable header.
const (
	ProtocolNameMQTT   = "MQTT"   // 3.1.1 and 5.0
	ProtocolNameMQIsdp = "MQIsdp" // 3.1
)

// Will is the message a CONNECT asks the server to publish when the
// connection ends without a normal DISCONNECT.
type Will struct {
	Topic   string
	Payload []byte
	QoS     QoS
	Retain  bool
	Props   Properties // will properties, 5.0 only
}

// Connect is the CONNECT packet: the first a client sends.
type Connect struct {
	// Version is the protocol level. Decode sets it from the packet;
	// Encode uses it, not its version argument, to choose the wire form.
	Version     Version
	CleanStart  bool // Clean Session before 5.0
	KeepAlive   uint16
	ClientID    string
	HasUsername bool
	Username    string
	HasPassword bool
	Password    []byte
	Will        *Will
	Props       Properties
}

// Type implements Packet.
func (*Connect) Type() Type { return CONNECT }

func protocolName(v Version) string {
	if v == V31 {
		return ProtocolNameMQIsdp
	}
	return ProtocolNameMQTT
}

// Encode implements Packet. The wire form follows p.Version.
func (p *Connect) Encode(dst []byte, _ Version) ([]byte, error) {
	v := p.Version
	if v != V31 && v != V311 && v != V5 {
		return dst, errorf(UnsupportedProtocolVersion, "cannot encode CONNECT for protocol level %d", v)
	}
	if p.HasPassword && !p.HasUsername && v != V5 {
		return dst, malformed("a password without a user name (v3.1.1 [MQTT-3.1.2-22])")
	}
	name := protocolName(v)
	n := 2 + len(name) + 1 + 1 + 2 + 2 + len(p.ClientID)
	var propsLen, willPropsLen int
	var err error
	if v == V5 {
		if propsLen, err = p.Props.encodedSize(ownerOf(CONNECT)); err != nil {
			return dst, err
		}
		n += varintSize(propsLen) + propsLen
	}
	if err := checkLen(len(p.ClientID), "client identifier"); err != nil {
		return dst, err
	}
	var flags byte
	if p.CleanStart {
		flags |= 0x02
	}
	if w := p.Will; w != nil {
		if w.QoS > ExactlyOnce {
			return dst, malformed("will QoS %d", w.QoS)
		}
		if err := checkLen(len(w.Topic), "will topic"); err != nil {
			return dst, err
		}
		if err := checkLen(len(w.Payload), "will payload"); err != nil {
			return dst, err
		}
		flags |= 0x04 | byte(w.QoS)<<3
		if w.Retain {
			flags |= 0x20
		}
		n += 2 + len(w.Topic) + 2 + len(w.Payload)
		if v == V5 {
			if willPropsLen, err = w.Props.encodedSize(willProperties); err != nil {
				return dst, err
			}
			n += varintSize(willPropsLen) + willPropsLen
		}
	}
	if p.HasUsername {
		if err := checkLen(len(p.Username), "user name"); err != nil {
			return dst, err
		}
		flags |= 0x80
		n += 2 + len(p.Username)
	}
	if p.HasPassword {
		if err := checkLen(len(p.Password), "password"); err != nil {
			return dst, err
		}
		flags |= 0x40
		n += 2 + len(p.Password)
	}
	if dst, err = appendHeader(dst, CONNECT, 0, n); err != nil {
		return dst, err
	}
	dst = appendString(dst, name)
	dst = append(dst, byte(v), flags)
	dst = appendUint16(dst, p.KeepAlive)
	if v == V5 {
		dst = p.Props.appendTo(dst, ownerOf(CONNECT), propsLen)
	}
	dst = appendString(dst, p.ClientID)
	if w := p.Will; w != nil {
		if v == V5 {
			dst = w.Props.appendTo(dst, willProperties, willPropsLen)
		}
		dst = appendString(dst, w.Topic)
		dst = appendBinary(dst, w.Payload)
	}
	if p.HasUsername {
		dst = appendString(dst, p.Username)
	}
	if p.HasPassword {
		dst = appendBinary(dst, p.Password)
	}
	return dst, nil
}

// Decode implements Packet. The version argument is ignored: CONNECT names
// its own. When the protocol level is one Petrel does not speak, Decode
// returns UnsupportedProtocolVersion with p.Version set, so the server can
// answer in the form that level expects.
func (p *Connect) Decode(flags byte, body []byte, _ Version) error {
	will := p.Will
	*p = Connect{Props: p.Props}
	c := cursor{b: body}
	name, err := c.string("protocol name")
	if err != nil {
		return err
	}
	level, err := c.byte("protocol level")
	if err != nil {
		return err
	}
	p.Version = Version(level)
	switch {
	case name == ProtocolNameMQTT && (p.Version == V311 || p.Version == V5):
	case name == ProtocolNameMQIsdp && p.Version == V31:
	case name != ProtocolNameMQTT && name != ProtocolNameMQIsdp:
		// v5 [MQTT-3.1.2-1], v3.1.1 [MQTT-3.1.2-1]
		return errorf(UnsupportedProtocolVersion, "protocol name %q (v5 and v3.1.1 [MQTT-3.1.2-1])", name)
	default:
		// v5 [MQTT-3.1.2-2], v3.1.1 [MQTT-3.1.2-2]
		return errorf(UnsupportedProtocolVersion, "protocol %q level %d (v5 and v3.1.1 [MQTT-3.1.2-2])", name, level)
	}
	cf, err := c.byte("connect flags")
	if err != nil {
		return err
	}
	if cf&0x01 != 0 {
		return malformed("reserved connect flag is set (v5 and v3.1.1 [MQTT-3.1.2-3])")
	}
	p.CleanStart = cf&0x02 != 0
	willFlag := cf&0x04 != 0
	willQoS := QoS(cf >> 3 & 0x03)
	willRetain := cf&0x20 != 0
	p.HasPassword = cf&0x40 != 0
	p.HasUsername = cf&0x80 != 0
	if willQoS > ExactlyOnce {
		return malformed("will QoS 3 (v5 [MQTT-3.1.2-12], v3.1.1 [MQTT-3.1.2-14])")
	}
	if !willFlag && willQoS != 0 {
		return malformed("will QoS without a will (v5 [MQTT-3.1.2-11], v3.1.1 [MQTT-3.1.2-13])")
	}
	if !willFlag && willRetain {
		return malformed("will retain without a will (v5 [MQTT-3.1.2-13], v3.1.1 [MQTT-3.1.2-15])")
	}
	if p.HasPassword && !p.HasUsername && p.Version != V5 {
		return malformed("a password without a user name (v3.1.1 [MQTT-3.1.2-22])")
	}
	if p.KeepAlive, err = c.uint16("keep alive"); err != nil {
		return err
	}
	if p.Version == V5 {
		if err := p.Props.decode(&c, ownerOf(CONNECT)); err != nil {
			return err
		}
	} else {
		p.Props.reset()
	}
	if p.ClientID, err = c.string("client identifier"); err != nil {
		return err
	}
	if willFlag {
		if will == nil {
			will = &Will{}
		}
		*will = Will{QoS: willQoS, Retain: willRetain, Props: will.Props}
		p.Will = will
		if p.Version == V5 {
			if err := will.Props.decode(&c, willProperties); err != nil {
				return err
			}
		} else {
			will.Props.reset()
		}
		if will.Topic, err = c.string("will topic"); err != nil {
			return err
		}
		if err := checkTopicName(will.Topic, "will topic"); err != nil {
			return err
		}
		if will.Payload, err = c.binary("will payload"); err != nil {
			return err
		}
	}
	if p.HasUsername {
		if p.Username, err = c.string("user name"); err != nil {
			return err
		}
	}
	if p.HasPassword {
		if p.Password, err = c.binary("password"); err != nil {
			return err
		}
	}
	return c.end(CONNECT)
}
