package packet

import "strconv"

// Version is the protocol level a client announces in CONNECT.
type Version byte

// The protocol levels Petrel speaks.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1
	V5   Version = 5 // MQTT 5.0
)

func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return "level " + strconv.Itoa(int(v))
}

// Type is a control packet type, the high nibble of the first byte.
type Type byte

// The control packet types.
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15
)

var typeNames = [...]string{
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// requiredFlags holds the fixed-header flag nibble each packet type must
// carry. PUBLISH is absent: its flags are DUP, QoS and RETAIN.
// v5 [MQTT-2.1.3-1], v3.1.1 [MQTT-2.2.2-1].
var requiredFlags = [16]byte{
	PUBREL:      0x2,
	SUBSCRIBE:   0x2,
	UNSUBSCRIBE: 0x2,
}

// QoS is a quality-of-service level: 0, 1 or 2.
type QoS byte

// The QoS levels.
const (
	AtMostOnce  QoS = 0
	AtLeastOnce QoS = 1
	ExactlyOnce QoS = 2
)

// Limits of the wire format.
const (
	// MaxRemainingLength is the largest value four bytes of variable byte
	// integer can carry.
	MaxRemainingLength = 268_435_455
	// MaxPacketSize is the largest packet the wire format allows: one type
	// byte, four length bytes and the largest remaining length.
	MaxPacketSize = 1 + 4 + MaxRemainingLength
	// MaxStringLength is the longest UTF-8 string or binary field.
	MaxStringLength = 65_535
	// MaxSubscriptionIdentifier is the largest Subscription Identifier.
	MaxSubscriptionIdentifier = MaxRemainingLength
)

// FixedHeader is the first part of every control packet.
type FixedHeader struct {
	Type      Type
	Flags     byte // low nibble of the first byte
	Remaining int  // remaining length: bytes after the fixed header
	Size      int  // length of the fixed header itself: 2 to 5
}

// Packet is one MQTT control packet. Every packet type in this package
// implements it through a pointer receiver.
type Packet interface {
	// Type is the control packet type.
	Type() Type
	// Encode appends the packet's wire form for protocol version v to dst.
	// Fields the version cannot carry (properties before 5.0) are left out.
	Encode(dst []byte, v Version) ([]byte, error)
	// Decode replaces the packet's contents with those decoded from body,
	// the bytes after the fixed header whose flag nibble is flags. The
	// packet aliases body afterwards; see the package documentation.
	Decode(flags byte, body []byte, v Version) error
}

// New returns an empty packet of type t, or nil for the reserved type 0.
func New(t Type) Packet {
	switch t {
	case CONNECT:
		return &Connect{}
	case CONNACK:
		return &Connack{}
	case PUBLISH:
		return &Publish{}
	case PUBACK:
		return &Puback{}
	case PUBREC:
		return &Pubrec{}
	case PUBREL:
		return &Pubrel{}
	case PUBCOMP:
		return &Pubcomp{}
	case SUBSCRIBE:
		return &Subscribe{}
	case SUBACK:
		return &Suback{}
	case UNSUBSCRIBE:
		return &Unsubscribe{}
	case UNSUBACK:
		return &Unsuback{}
	case PINGREQ:
		return &Pingreq{}
	case PINGRESP:
		return &Pingresp{}
	case DISCONNECT:
		return &Disconnect{}
	case AUTH:
		return &Auth{}
	}
	return nil
}
