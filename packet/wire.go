package packet

import (
	"unicode/utf8"
	"unsafe"
)

// cursor reads the primitive data types of section 1.5 from a packet body.
// Strings and binary data alias the body; nothing is copied.
type cursor struct {
	b []byte
	i int
}

func (c *cursor) remaining() int { return len(c.b) - c.i }

func (c *cursor) truncated(what string) error {
	return malformed("packet ends inside its %s", what)
}

func (c *cursor) byte(what string) (byte, error) {
	if c.i >= len(c.b) {
		return 0, c.truncated(what)
	}
	v := c.b[c.i]
	c.i++
	return v, nil
}

func (c *cursor) uint16(what string) (uint16, error) {
	if c.remaining() < 2 {
		return 0, c.truncated(what)
	}
	v := uint16(c.b[c.i])<<8 | uint16(c.b[c.i+1])
	c.i += 2
	return v, nil
}

func (c *cursor) uint32(what string) (uint32, error) {
	if c.remaining() < 4 {
		return 0, c.truncated(what)
	}
	b := c.b[c.i:]
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	c.i += 4
	return v, nil
}

func (c *cursor) varint(what string) (int, error) {
	v, n, err := decodeVarint(c.b[c.i:])
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, c.truncated(what)
	}
	c.i += n
	return v, nil
}

// binary reads Binary Data: a two-byte length and that many bytes.
func (c *cursor) binary(what string) ([]byte, error) {
	n, err := c.uint16(what)
	if err != nil {
		return nil, err
	}
	if c.remaining() < int(n) {
		return nil, c.truncated(what)
	}
	v := c.b[c.i : c.i+int(n) : c.i+int(n)]
	c.i += int(n)
	return v, nil
}

// string reads a UTF-8 Encoded String and checks it is well-formed.
func (c *cursor) string(what string) (string, error) {
	b, err := c.binary(what)
	if err != nil {
		return "", err
	}
	if err := validUTF8(b, what); err != nil {
		return "", err
	}
	return alias(b), nil
}

// pid reads a Packet Identifier, which must not be 0 where one is carried.
// v5 [MQTT-2.2.1-3], v3.1.1 [MQTT-2.3.1-1].
func (c *cursor) pid() (uint16, error) {
	id, err := c.uint16("packet identifier")
	if err == nil && id == 0 {
		err = protocolError("packet identifier 0 (v5 [MQTT-2.2.1-3], v3.1.1 [MQTT-2.3.1-1])")
	}
	return id, err
}

// alias returns b as a string without copying. The string is valid only
// while b is unchanged; see the package documentation.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// validUTF8 applies the rules for UTF-8 Encoded Strings: well-formed
// (no surrogates, no overlong forms) and no U+0000.
// v5 [MQTT-1.5.4-1] [MQTT-1.5.4-2], v3.1.1 [MQTT-1.5.3-1] [MQTT-1.5.3-2].
func validUTF8(b []byte, what string) error {
	ascii := true
	for _, ch := range b {
		if ch == 0 {
			return malformed("%s contains U+0000 (v5 [MQTT-1.5.4-2], v3.1.1 [MQTT-1.5.3-2])", what)
		}
		if ch >= utf8.RuneSelf {
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(b) {
		return malformed("%s is not well-formed UTF-8 (v5 [MQTT-1.5.4-1], v3.1.1 [MQTT-1.5.3-1])", what)
	}
	return nil
}

// decodeVarint reads a Variable Byte Integer. n is 0 when b ends before the
// integer does.
func decodeVarint(b []byte) (v, n int, err error) {
	shift := 0
	for i := 0; i < len(b); i++ {
		v |= int(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			// v5 [MQTT-1.5.5-1]: the encoding uses as few bytes as it can,
			// so a last byte of 0 after the first is never sent.
			if i > 0 && b[i] == 0 {
				return 0, 0, malformed("variable byte integer not in its shortest form (v5 [MQTT-1.5.5-1])")
			}
			return v, i + 1, nil
		}
		if i == 3 {
			return 0, 0, malformed("variable byte integer longer than four bytes")
		}
		shift += 7
	}
	return 0, 0, nil
}

func varintSize(v int) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<21:
		return 3
	}
	return 4
}

func appendVarint(dst []byte, v int) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

func appendUint16(dst []byte, v uint16) []byte {
	return append(dst, byte(v>>8), byte(v))
}

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendString(dst []byte, s string) []byte {
	dst = appendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBinary(dst []byte, b []byte) []byte {
	dst = appendUint16(dst, uint16(len(b)))
	return append(dst, b...)
}

// checkLen reports a string or binary field too long for its two-byte
// length prefix.
func checkLen(n int, what string) error {
	if n > MaxStringLength {
		return malformed("%s is %d bytes, more than %d", what, n, MaxStringLength)
	}
	return nil
}

// appendHeader appends the fixed header of a packet whose remaining length
// is remaining.
func appendHeader(dst []byte, t Type, flags byte, remaining int) ([]byte, error) {
	if remaining > MaxRemainingLength {
		return dst, errorf(PacketTooLarge, "%s remaining length %d exceeds %d", t, remaining, MaxRemainingLength)
	}
	dst = append(dst, byte(t)<<4|flags)
	return appendVarint(dst, remaining), nil
}

// ParseFixedHeader reads a fixed header from the start of b. It returns
// n == 0 and no error when b is too short to hold the whole header yet.
// It checks the flag nibble against the packet type (v5 [MQTT-2.1.3-1],
// v3.1.1 [MQTT-2.2.2-1]) and the PUBLISH QoS (v5 and v3.1.1 [MQTT-3.3.1-4]).
func ParseFixedHeader(b []byte) (h FixedHeader, n int, err error) {
	return parseFixedHeader(b, V5)
}

// ParseFixedHeaderVersion is ParseFixedHeader for a known protocol version:
// MQTT 3.1 clients set DUP on a resent PUBREL, SUBSCRIBE or UNSUBSCRIBE,
// which 3.1 allows and later versions do not.
func ParseFixedHeaderVersion(b []byte, v Version) (h FixedHeader, n int, err error) {
	return parseFixedHeader(b, v)
}

func parseFixedHeader(b []byte, v Version) (h FixedHeader, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	h.Type = Type(b[0] >> 4)
	h.Flags = b[0] & 0x0f
	flags := h.Flags
	if v == V31 && requiredFlags[h.Type] != 0 {
		flags &^= 0x08
	}
	if err := checkFlags(h.Type, flags); err != nil {
		return h, 0, err
	}
	rl, m, err := decodeVarint(b[1:])
	if err != nil || m == 0 {
		return h, 0, err
	}
	h.Remaining = rl
	h.Size = 1 + m
	return h, h.Size, nil
}

func checkFlags(t Type, flags byte) error {
	switch t {
	case 0:
		return malformed("packet type 0 is reserved")
	case PUBLISH:
		if flags&0x06 == 0x06 {
			return malformed("PUBLISH with QoS 3 (v5 and v3.1.1 [MQTT-3.3.1-4])")
		}
		return nil
	}
	if flags != requiredFlags[t] {
		return malformed("%s fixed header flags %#x, want %#x (v5 [MQTT-2.1.3-1], v3.1.1 [MQTT-2.2.2-1])", t, flags, requiredFlags[t])
	}
	return nil
}

// end reports bytes left over after the last field of a packet.
func (c *cursor) end(t Type) error {
	if c.remaining() != 0 {
		return malformed("%d bytes after the end of %s", c.remaining(), t)
	}
	return nil
}

// checkTopicName applies the packet-level rules for a topic name: at least
// one character (v5 and v3.1.1 [MQTT-4.7.3-1]) and no wildcard characters
// (v5 and v3.1.1 [MQTT-3.3.2-2], [MQTT-4.7.1-1]). UTF-8 was checked on read.
func checkTopicName(topic, what string) error {
	if topic == "" {
		return errorf(TopicNameInvalid, "%s is empty (v5 and v3.1.1 [MQTT-4.7.3-1])", what)
	}
	for i := 0; i < len(topic); i++ {
		if topic[i] == '+' || topic[i] == '#' {
			return errorf(TopicNameInvalid, "%s %q contains a wildcard (v5 and v3.1.1 [MQTT-3.3.2-2])", what, topic)
		}
	}
	return nil
}
