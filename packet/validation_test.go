package packet_test

// Conformance tests for the validation rules of the codec. Every packet is
// built byte by byte, so a test checks the wire form the specifications
// describe rather than whatever our encoder writes. Each rule comes as a
// pair: bytes that break it, which must fail with the exact reason code,
// and near-identical bytes that keep it, which must decode, so a rule that
// is missing and a rule that is over-eager both fail.

import (
	"errors"
	"fmt"
	"testing"

	"github.com/petrelmq/petrel/packet"
)

// rule is one validation rule: bad breaks it and must fail with want;
// good differs from bad only where the rule looks and must decode.
type rule struct {
	name      string // the normative statement, with the version, and the case
	v         packet.Version
	bad, good []byte
	want      packet.ReasonCode
}

func checkRules(t *testing.T, rules []rule) {
	t.Helper()
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			mustFail(t, r.bad, r.v, r.want)
			mustDecode(t, r.good, r.v)
		})
	}
}

// mustFail decodes wire and checks it fails with the reason code want.
func mustFail(t *testing.T, wire []byte, v packet.Version, want packet.ReasonCode) {
	t.Helper()
	_, n, err := packet.Decode(wire, v)
	var perr *packet.Error
	if !errors.As(err, &perr) || !errors.Is(err, want) {
		t.Fatalf("Decode(% x, %s) = %d bytes, %v (code %#02x); want %#02x (%s)",
			wire, v, n, err, byte(packet.CodeOf(err)), byte(want), want)
	}
}

// mustDecode decodes wire, checks it is exactly one valid packet, and
// returns the packet.
func mustDecode(t *testing.T, wire []byte, v packet.Version) packet.Packet {
	t.Helper()
	p, n, err := packet.Decode(wire, v)
	if err != nil || n != len(wire) {
		t.Fatalf("Decode(% x, %s) = %d bytes, %v; want the whole %d-byte packet", wire, v, n, err, len(wire))
	}
	return p
}

// Builders for the data types of section 1.5.

func raw(b ...byte) []byte { return b }

func u16(v int) []byte { return []byte{byte(v >> 8), byte(v)} }

func u32(v int) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// vbi is a Variable Byte Integer in its shortest form.
func vbi(v int) []byte {
	var b []byte
	for {
		d := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, d)
		}
		b = append(b, d|0x80)
	}
}

// str is a UTF-8 Encoded String or Binary Data: a two-byte length and the
// bytes as given, well-formed or not.
func str(s string) []byte { return append(u16(len(s)), s...) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// pkt is a whole packet: the first byte (type and flags), the shortest
// remaining length, and the body.
func pkt(first byte, body ...[]byte) []byte {
	b := cat(body...)
	return cat([]byte{first}, vbi(len(b)), b)
}

// props is a property length followed by the properties.
func props(ps ...[]byte) []byte {
	b := cat(ps...)
	return cat(vbi(len(b)), b)
}

// prop is one property: its identifier and its value.
func prop(id byte, value ...[]byte) []byte { return cat([]byte{id}, cat(value...)) }

// connect is a CONNECT with keep alive 30; rest is what follows the keep
// alive (properties in 5.0, then the payload).
func connect(name string, level, flags byte, rest ...[]byte) []byte {
	return pkt(0x10, str(name), raw(level, flags), u16(30), cat(rest...))
}

// v5props is the property length of an empty property list in 5.0 and
// nothing before it, where packets have no properties.
func v5props(v packet.Version) []byte {
	if v == packet.V5 {
		return props()
	}
	return nil
}

var bothVersions = []packet.Version{packet.V311, packet.V5}

// cite picks the statement id of the version: the two specifications
// number their statements differently.
func cite(v packet.Version, v5, v311 string) string {
	if v == packet.V5 {
		return "v5 " + v5
	}
	return "v3.1.1 " + v311
}

// minimal is the shortest valid body of a packet type, with the flags the
// type requires.
type minimal struct {
	t     packet.Type
	flags byte
	body  []byte
}

// minimalBodies lists every packet type of the version but PUBLISH, whose
// flags are not reserved.
func minimalBodies(v packet.Version) []minimal {
	ps := v5props(v)
	connackBody, unsubackBody := raw(0, 0), u16(1)
	connectBody := cat(str("MQTT"), raw(4, 0x02), u16(30), str("c"))
	if v == packet.V5 {
		connackBody = cat(raw(0, 0), ps)
		unsubackBody = cat(u16(1), ps, raw(0))
		connectBody = cat(str("MQTT"), raw(5, 0x02), u16(30), ps, str("c"))
	}
	bodies := []minimal{
		{packet.CONNECT, 0, connectBody},
		{packet.CONNACK, 0, connackBody},
		{packet.PUBACK, 0, u16(1)},
		{packet.PUBREC, 0, u16(1)},
		{packet.PUBREL, 2, u16(1)},
		{packet.PUBCOMP, 0, u16(1)},
		{packet.SUBSCRIBE, 2, cat(u16(1), ps, str("a"), raw(0))},
		{packet.SUBACK, 0, cat(u16(1), ps, raw(0))},
		{packet.UNSUBSCRIBE, 2, cat(u16(1), ps, str("a"))},
		{packet.UNSUBACK, 0, unsubackBody},
		{packet.PINGREQ, 0, nil},
		{packet.PINGRESP, 0, nil},
		{packet.DISCONNECT, 0, nil},
	}
	if v == packet.V5 {
		bodies = append(bodies, minimal{packet.AUTH, 0, nil})
	}
	return bodies
}

// TestReservedFlagBits flips each bit of the fixed-header flag nibble of
// every packet type but PUBLISH: each flip is malformed.
func TestReservedFlagBits(t *testing.T) {
	var rules []rule
	for _, v := range bothVersions {
		id := cite(v, "[MQTT-2.1.3-1]", "[MQTT-2.2.2-1]")
		for _, m := range minimalBodies(v) {
			good := pkt(byte(m.t)<<4|m.flags, m.body)
			for bit := byte(1); bit < 0x10; bit <<= 1 {
				rules = append(rules, rule{
					name: fmt.Sprintf("%s %s flags %#x", id, m.t, m.flags^bit), v: v,
					bad: pkt(byte(m.t)<<4|m.flags^bit, m.body), good: good, want: packet.MalformedPacket,
				})
			}
		}
	}
	checkRules(t, rules)
}

func TestReservedPacketTypes(t *testing.T) {
	checkRules(t, []rule{
		{name: "v5 §2.1.2 packet type 0 is reserved", v: packet.V5,
			bad: raw(0x00, 0x00), good: raw(0xc0, 0x00), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.1 packet type 0 is reserved", v: packet.V311,
			bad: raw(0x00, 0x00), good: raw(0xc0, 0x00), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.1 packet type 15 is reserved (AUTH is 5.0 only)", v: packet.V311,
			bad: raw(0xf0, 0x00), good: raw(0xe0, 0x00), want: packet.MalformedPacket},
	})
}

// TestRemainingLength covers the Variable Byte Integer of the fixed header
// through Decode.
func TestRemainingLength(t *testing.T) {
	body128 := cat(str("t"), props(), make([]byte, 124)) // a QoS 0 PUBLISH body of 128 bytes
	checkRules(t, []rule{
		{name: "v5 §1.5.5 remaining length of five bytes", v: packet.V5,
			bad: raw(0xc0, 0x80, 0x80, 0x80, 0x80, 0x00), good: raw(0xc0, 0x00), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.3 remaining length of five bytes", v: packet.V311,
			bad: raw(0xc0, 0x80, 0x80, 0x80, 0x80, 0x00), good: raw(0xc0, 0x00), want: packet.MalformedPacket},
		{name: "v5 [MQTT-1.5.5-1] remaining length 0 in two bytes", v: packet.V5,
			bad: raw(0xc0, 0x80, 0x00), good: raw(0xc0, 0x00), want: packet.MalformedPacket},
		{name: "v5 [MQTT-1.5.5-1] remaining length 0 in four bytes", v: packet.V5,
			bad: raw(0xc0, 0x80, 0x80, 0x80, 0x00), good: raw(0xc0, 0x00), want: packet.MalformedPacket},
		{name: "v5 [MQTT-1.5.5-1] remaining length 5 in two bytes", v: packet.V5,
			bad: cat(raw(0x30, 0x85, 0x00), str("ab"), props()), good: cat(raw(0x30, 0x05), str("ab"), props()), want: packet.MalformedPacket},
		{name: "v5 [MQTT-1.5.5-1] remaining length 128 in three bytes", v: packet.V5,
			bad: cat(raw(0x30, 0x80, 0x81, 0x00), body128), good: cat(raw(0x30, 0x80, 0x01), body128), want: packet.MalformedPacket},
	})
}

// TestParseFixedHeaderLength checks the largest remaining length four bytes
// carry, which no test can afford to send as a whole packet.
func TestParseFixedHeaderLength(t *testing.T) {
	h, n, err := packet.ParseFixedHeader(raw(0x30, 0xff, 0xff, 0xff, 0x7f))
	if err != nil || n != 5 || h.Remaining != packet.MaxRemainingLength || h.Size != 5 {
		t.Fatalf("four-byte maximum: header %+v, %d bytes, %v; want remaining %d in 5 bytes", h, n, err, packet.MaxRemainingLength)
	}
	_, _, err = packet.ParseFixedHeader(raw(0x30, 0xff, 0xff, 0xff, 0xff, 0x7f))
	if !errors.Is(err, packet.MalformedPacket) {
		t.Fatalf("v5 §1.5.5 five-byte remaining length: %v, want malformed packet", err)
	}
}

// TestTruncatedBody covers bodies that end inside a field although the
// remaining length says the packet is whole.
func TestTruncatedBody(t *testing.T) {
	checkRules(t, []rule{
		{name: "v3.1.1 §2.2.3 CONNECT ends inside the protocol name", v: packet.V311,
			bad: pkt(0x10, u16(4), []byte("MQ")), good: connect("MQTT", 4, 0x02, str("c")), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.3 CONNECT ends inside the keep alive", v: packet.V311,
			bad: pkt(0x10, str("MQTT"), raw(4, 0x02, 0)), good: connect("MQTT", 4, 0x02, str("c")), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.3 CONNECT ends inside the client identifier", v: packet.V311,
			bad: connect("MQTT", 4, 0x02, u16(3), []byte("ab")), good: connect("MQTT", 4, 0x02, str("abc")), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.3 CONNECT without the will its flags announce", v: packet.V311,
			bad: connect("MQTT", 4, 0x06, str("c")), good: connect("MQTT", 4, 0x06, str("c"), str("w"), str("")), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.3 CONNECT without the user name its flags announce", v: packet.V311,
			bad: connect("MQTT", 4, 0x82, str("c")), good: connect("MQTT", 4, 0x82, str("c"), str("u")), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.3 CONNECT without the password its flags announce", v: packet.V311,
			bad: connect("MQTT", 4, 0xc2, str("c"), str("u")), good: connect("MQTT", 4, 0xc2, str("c"), str("u"), str("p")), want: packet.MalformedPacket},
		{name: "v5 §2.1.4 CONNECT without its property length", v: packet.V5,
			bad: pkt(0x10, str("MQTT"), raw(5, 0x02), u16(30)), good: connect("MQTT", 5, 0x02, props(), str("")), want: packet.MalformedPacket},
		{name: "v5 §2.1.4 CONNECT without its will property length", v: packet.V5,
			bad: connect("MQTT", 5, 0x06, props(), str("c")), good: connect("MQTT", 5, 0x06, props(), str("c"), props(), str("w"), str("")), want: packet.MalformedPacket},
		{name: "v5 §2.1.4 CONNACK without its property length", v: packet.V5,
			bad: pkt(0x20, raw(0, 0)), good: pkt(0x20, raw(0, 0), props()), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.3 CONNACK of one byte", v: packet.V311,
			bad: pkt(0x20, raw(0)), good: pkt(0x20, raw(0, 0)), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.3 PUBLISH ends inside its topic", v: packet.V311,
			bad: pkt(0x30, u16(3), []byte("ab")), good: pkt(0x30, str("abc")), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.3 QoS 1 PUBLISH ends inside its packet identifier", v: packet.V311,
			bad: pkt(0x32, str("t"), raw(0)), good: pkt(0x32, str("t"), u16(1)), want: packet.MalformedPacket},
		{name: "v5 §2.1.4 PUBLISH without its property length", v: packet.V5,
			bad: pkt(0x30, str("t")), good: pkt(0x30, str("t"), props()), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.3 PUBACK of one byte", v: packet.V311,
			bad: pkt(0x40, raw(0)), good: pkt(0x40, u16(1)), want: packet.MalformedPacket},
		{name: "v5 §2.1.4 PUBREL of one byte", v: packet.V5,
			bad: pkt(0x62, raw(0)), good: pkt(0x62, u16(1)), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.3 SUBSCRIBE filter without its options byte", v: packet.V311,
			bad: pkt(0x82, u16(1), str("a")), good: pkt(0x82, u16(1), str("a"), raw(0)), want: packet.MalformedPacket},
		{name: "v5 §2.1.4 SUBSCRIBE second filter without its options byte", v: packet.V5,
			bad: pkt(0x82, u16(1), props(), str("a"), raw(0), str("b")), good: pkt(0x82, u16(1), props(), str("a"), raw(0), str("b"), raw(1)), want: packet.MalformedPacket},
		{name: "v3.1.1 §2.2.3 UNSUBSCRIBE ends inside a filter", v: packet.V311,
			bad: pkt(0xa2, u16(1), u16(2), []byte("a")), good: pkt(0xa2, u16(1), str("ab")), want: packet.MalformedPacket},
		{name: "v5 §2.1.4 SUBACK without its property length", v: packet.V5,
			bad: pkt(0x90, u16(1)), good: pkt(0x90, u16(1), props(), raw(0)), want: packet.MalformedPacket},
	})
}

// TestTrailingBytes covers bytes left over after the last field.
func TestTrailingBytes(t *testing.T) {
	var rules []rule
	for _, v := range bothVersions {
		id := cite(v, "§2.1.4", "§2.2.3")
		ps := v5props(v)
		connectBody := cat(str("MQTT"), raw(byte(v), 0x02), u16(30), ps, str("c"))
		rules = append(rules,
			rule{name: id + " byte after the CONNECT payload", v: v,
				bad: pkt(0x10, connectBody, raw(0)), good: pkt(0x10, connectBody), want: packet.MalformedPacket},
			rule{name: id + " byte after the CONNACK", v: v,
				bad: pkt(0x20, raw(0, 0), ps, raw(0)), good: pkt(0x20, raw(0, 0), ps), want: packet.MalformedPacket},
		)
	}
	// In 3.1.1 the acknowledgements end with the packet identifier; in 5.0
	// a reason code may follow it, so the extra byte is a second field.
	for _, first := range []byte{0x40, 0x50, 0x62, 0x70} {
		typ := packet.Type(first >> 4)
		rules = append(rules,
			rule{name: "v3.1.1 §2.2.3 byte after the " + typ.String() + " packet identifier", v: packet.V311,
				bad: pkt(first, u16(1), raw(0)), good: pkt(first, u16(1)), want: packet.MalformedPacket},
			rule{name: "v5 §2.1.4 byte after the " + typ.String() + " properties", v: packet.V5,
				bad: pkt(first, u16(1), raw(0), props(), raw(0)), good: pkt(first, u16(1), raw(0), props()), want: packet.MalformedPacket},
		)
	}
	rules = append(rules,
		rule{name: "v3.1.1 §2.2.3 byte after the UNSUBACK packet identifier", v: packet.V311,
			bad: pkt(0xb0, u16(1), raw(0)), good: pkt(0xb0, u16(1)), want: packet.MalformedPacket},
		rule{name: "v5 §2.1.4 byte after the DISCONNECT properties", v: packet.V5,
			bad: pkt(0xe0, raw(0), props(), raw(0)), good: pkt(0xe0, raw(0), props()), want: packet.MalformedPacket},
		rule{name: "v5 §2.1.4 byte after the AUTH properties", v: packet.V5,
			bad: pkt(0xf0, raw(0x18), props(prop(0x15, str("m"))), raw(0)), good: pkt(0xf0, raw(0x18), props(prop(0x15, str("m")))), want: packet.MalformedPacket},
	)
	checkRules(t, rules)
}

// TestNonEmptyBody covers the packets whose remaining length must be 0.
func TestNonEmptyBody(t *testing.T) {
	var rules []rule
	for _, v := range []packet.Version{packet.V31, packet.V311, packet.V5} {
		for _, first := range []byte{0xc0, 0xd0} {
			typ := packet.Type(first >> 4)
			rules = append(rules, rule{
				name: fmt.Sprintf("v%s §3.%d %s with a body", v, typ, typ), v: v,
				bad: pkt(first, raw(0)), good: pkt(first), want: packet.MalformedPacket,
			})
		}
		if v != packet.V5 {
			rules = append(rules, rule{
				name: fmt.Sprintf("v%s §3.14 DISCONNECT with a body", v), v: v,
				bad: pkt(0xe0, raw(0)), good: pkt(0xe0), want: packet.MalformedPacket,
			})
		}
	}
	checkRules(t, rules)
}

// TestIncompletePacket checks that a packet cut short of its remaining
// length asks for more bytes instead of failing: a stream delivers packets
// in pieces.
func TestIncompletePacket(t *testing.T) {
	for _, v := range bothVersions {
		for _, m := range minimalBodies(v) {
			wire := pkt(byte(m.t)<<4|m.flags, m.body)
			t.Run(fmt.Sprintf("v%s %s", v, m.t), func(t *testing.T) {
				for k := range len(wire) {
					if p, n, err := packet.Decode(wire[:k], v); p != nil || n != 0 || err != nil {
						t.Fatalf("Decode of %d of %d bytes = %v, %d, %v; want nil, 0, nil", k, len(wire), p, n, err)
					}
				}
				mustDecode(t, wire, v)
			})
		}
	}
}

// TestPacketIdentifierZero covers every packet that carries a Packet
// Identifier: it must not be 0.
func TestPacketIdentifierZero(t *testing.T) {
	builders := []struct {
		what  string
		build func(v packet.Version, id int) []byte
	}{
		{"QoS 1 PUBLISH", func(v packet.Version, id int) []byte { return pkt(0x32, str("t"), u16(id), v5props(v)) }},
		{"QoS 2 PUBLISH", func(v packet.Version, id int) []byte { return pkt(0x34, str("t"), u16(id), v5props(v)) }},
		{"PUBACK", func(_ packet.Version, id int) []byte { return pkt(0x40, u16(id)) }},
		{"PUBREC", func(_ packet.Version, id int) []byte { return pkt(0x50, u16(id)) }},
		{"PUBREL", func(_ packet.Version, id int) []byte { return pkt(0x62, u16(id)) }},
		{"PUBCOMP", func(_ packet.Version, id int) []byte { return pkt(0x70, u16(id)) }},
		{"SUBSCRIBE", func(v packet.Version, id int) []byte { return pkt(0x82, u16(id), v5props(v), str("a"), raw(1)) }},
		{"SUBACK", func(v packet.Version, id int) []byte { return pkt(0x90, u16(id), v5props(v), raw(1)) }},
		{"UNSUBSCRIBE", func(v packet.Version, id int) []byte { return pkt(0xa2, u16(id), v5props(v), str("a")) }},
		{"UNSUBACK", func(v packet.Version, id int) []byte {
			if v == packet.V5 {
				return pkt(0xb0, u16(id), props(), raw(0))
			}
			return pkt(0xb0, u16(id))
		}},
	}
	var rules []rule
	for _, v := range bothVersions {
		for _, b := range builders {
			rules = append(rules, rule{
				name: cite(v, "[MQTT-2.2.1-3]", "[MQTT-2.3.1-1]") + " " + b.what + " with packet identifier 0", v: v,
				bad: b.build(v, 0), good: b.build(v, 1), want: packet.ProtocolError,
			})
		}
	}
	checkRules(t, rules)
}
