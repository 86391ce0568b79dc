package packet_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/petrelmq/petrel/packet"
)

func TestPublishRules(t *testing.T) {
	var rules []rule
	for _, v := range bothVersions {
		ps := v5props(v)
		publish := func(first byte, topic string) []byte {
			if first&0x06 != 0 {
				return pkt(first, str(topic), u16(1), ps)
			}
			return pkt(first, str(topic), ps)
		}
		rules = append(rules,
			rule{name: cite(v, "[MQTT-3.3.1-4]", "[MQTT-3.3.1-4]") + " QoS 3", v: v,
				bad: publish(0x36, "t"), good: publish(0x34, "t"), want: packet.MalformedPacket},
			rule{name: cite(v, "[MQTT-3.3.1-4]", "[MQTT-3.3.1-4]") + " QoS 3 with DUP and RETAIN", v: v,
				bad: publish(0x3f, "t"), good: publish(0x3d, "t"), want: packet.MalformedPacket},
			rule{name: cite(v, "[MQTT-3.3.1-2]", "[MQTT-3.3.1-2]") + " DUP on QoS 0 (allowed on QoS 1)", v: v,
				bad: publish(0x38, "t"), good: publish(0x3a, "t"), want: packet.MalformedPacket},
			rule{name: cite(v, "[MQTT-3.3.1-2]", "[MQTT-3.3.1-2]") + " DUP on QoS 0 with RETAIN", v: v,
				bad: publish(0x39, "t"), good: publish(0x31, "t"), want: packet.MalformedPacket},
		)
		for _, topic := range []string{"a/+", "a/#", "+", "#", "a+", "sport/tennis#"} {
			rules = append(rules, rule{
				name: fmt.Sprintf("%s wildcard in topic %q", cite(v, "[MQTT-3.3.2-2]", "[MQTT-3.3.2-2]"), topic), v: v,
				bad: publish(0x32, topic), good: publish(0x32, "a/b"), want: packet.TopicNameInvalid,
			})
		}
	}
	alias := props(prop(0x23, u16(1)))
	rules = append(rules,
		rule{name: "v3.1.1 [MQTT-4.7.3-1] empty topic name", v: packet.V311,
			bad: pkt(0x30, str("")), good: pkt(0x30, str("t")), want: packet.TopicNameInvalid},
		// 5.0 allows an empty name only when a Topic Alias stands for it.
		rule{name: "v5 §3.3.2.1 empty topic name needs a Topic Alias", v: packet.V5,
			bad: pkt(0x30, str(""), props()), good: pkt(0x30, str(""), alias), want: packet.ProtocolError},
		rule{name: "v5 [MQTT-3.3.2-2] wildcard topic with a Topic Alias", v: packet.V5,
			bad: pkt(0x30, str("a/#"), alias), good: pkt(0x30, str("a/b"), alias), want: packet.TopicNameInvalid},
	)
	checkRules(t, rules)
}

func TestConnectRules(t *testing.T) {
	var rules []rule
	for _, v := range bothVersions {
		level := byte(v)
		ps := v5props(v)
		// c builds a CONNECT of this version with the given flags and
		// the payload fields the flags announce.
		c := func(flags byte, willTopic string) []byte {
			payload := [][]byte{ps, str("c")}
			if flags&0x04 != 0 {
				payload = append(payload, ps, str(willTopic), str("bye"))
			}
			if flags&0x80 != 0 {
				payload = append(payload, str("user"))
			}
			if flags&0x40 != 0 {
				payload = append(payload, str("secret"))
			}
			return connect("MQTT", level, flags, payload...)
		}
		rules = append(rules,
			rule{name: cite(v, "[MQTT-3.1.2-1]", "[MQTT-3.1.2-1]") + " protocol name MQTX", v: v,
				bad: connect("MQTX", level, 0x02, ps, str("c")), good: c(0x02, ""), want: packet.UnsupportedProtocolVersion},
			rule{name: cite(v, "[MQTT-3.1.2-1]", "[MQTT-3.1.2-1]") + " protocol name in lower case", v: v,
				bad: connect("mqtt", level, 0x02, ps, str("c")), good: c(0x02, ""), want: packet.UnsupportedProtocolVersion},
			rule{name: cite(v, "[MQTT-3.1.2-3]", "[MQTT-3.1.2-3]") + " reserved connect flag", v: v,
				bad: c(0x03, ""), good: c(0x02, ""), want: packet.MalformedPacket},
			rule{name: cite(v, "[MQTT-3.1.2-12]", "[MQTT-3.1.2-14]") + " will QoS 3", v: v,
				bad: c(0x1e, "w"), good: c(0x16, "w"), want: packet.MalformedPacket},
			rule{name: cite(v, "[MQTT-3.1.2-11]", "[MQTT-3.1.2-13]") + " will QoS 1 without a will", v: v,
				bad: c(0x0a, "w"), good: c(0x0e, "w"), want: packet.MalformedPacket},
			rule{name: cite(v, "[MQTT-3.1.2-11]", "[MQTT-3.1.2-13]") + " will QoS 2 without a will", v: v,
				bad: c(0x12, "w"), good: c(0x16, "w"), want: packet.MalformedPacket},
			rule{name: cite(v, "[MQTT-3.1.2-13]", "[MQTT-3.1.2-15]") + " will retain without a will", v: v,
				bad: c(0x22, "w"), good: c(0x26, "w"), want: packet.MalformedPacket},
			rule{name: cite(v, "[MQTT-4.7.1-1]", "[MQTT-4.7.1-1]") + " wildcard in will topic", v: v,
				bad: c(0x06, "status/#"), good: c(0x06, "status/x"), want: packet.TopicNameInvalid},
			rule{name: cite(v, "[MQTT-4.7.1-1]", "[MQTT-4.7.1-1]") + " single-level wildcard in will topic", v: v,
				bad: c(0x06, "status/+/x"), good: c(0x06, "status/a/x"), want: packet.TopicNameInvalid},
			rule{name: cite(v, "[MQTT-4.7.3-1]", "[MQTT-4.7.3-1]") + " empty will topic", v: v,
				bad: c(0x06, ""), good: c(0x06, "w"), want: packet.TopicNameInvalid},
		)
	}
	rules = append(rules,
		rule{name: "v3.1.1 [MQTT-3.1.2-22] password without a user name (allowed in v5)", v: packet.V311,
			bad: connect("MQTT", 4, 0x42, str("c"), str("secret")), good: connect("MQTT", 5, 0x42, props(), str("c"), str("secret")), want: packet.MalformedPacket},
		rule{name: "v3.1.1 [MQTT-3.1.2-22] password without a user name (with both it decodes)", v: packet.V311,
			bad: connect("MQTT", 4, 0x42, str("c"), str("secret")), good: connect("MQTT", 4, 0xc2, str("c"), str("user"), str("secret")), want: packet.MalformedPacket},
		rule{name: "v3.1.1 [MQTT-3.1.2-2] level 4 under the 3.1 name MQIsdp", v: packet.V311,
			bad: connect("MQIsdp", 4, 0x02, str("c")), good: connect("MQIsdp", 3, 0x02, str("c")), want: packet.UnsupportedProtocolVersion},
	)
	checkRules(t, rules)
}

// TestUnsupportedProtocolLevel checks that a CONNECT with a level Petrel
// does not speak fails with Unsupported Protocol Version and still tells
// the level (v5 and v3.1.1 [MQTT-3.1.2-2]), so the server can answer in
// that level's CONNACK form, whichever way it decodes.
func TestUnsupportedProtocolLevel(t *testing.T) {
	cases := []struct {
		name  string
		level byte
		good  []byte // the same CONNECT at a level Petrel speaks
	}{
		{"MQTT level 6", 6, connect("MQTT", 5, 0x02, props(), str("c"))},
		{"MQTT level 3", 3, connect("MQTT", 4, 0x02, str("c"))},
		{"MQTT level 0", 0, connect("MQTT", 4, 0x02, str("c"))},
		{"MQTT level 0x84 (bridge bit on 4)", 0x84, connect("MQTT", 4, 0x02, str("c"))},
	}
	for _, c := range cases {
		t.Run("v5 and v3.1.1 [MQTT-3.1.2-2] "+c.name, func(t *testing.T) {
			bad := connect("MQTT", c.level, 0x02, str("c"))
			check := func(how string, p packet.Packet, err error) {
				t.Helper()
				if !errors.Is(err, packet.UnsupportedProtocolVersion) {
					t.Fatalf("%s: %v, want unsupported protocol version", how, err)
				}
				if cp, ok := p.(*packet.Connect); !ok || cp.Version != packet.Version(c.level) {
					t.Fatalf("%s: packet %#v, want a CONNECT with Version %d", how, p, c.level)
				}
			}
			p, _, err := packet.Decode(bad, packet.V5)
			check("Decode", p, err)
			var cp packet.Connect
			err = cp.Decode(0, bad[2:], packet.V5)
			check("Connect.Decode", &cp, err)
			p, err = packet.NewReader(bytes.NewReader(bad), 64).ReadPacket()
			check("Reader.ReadPacket", p, err)
			mustDecode(t, c.good, packet.V5)
		})
	}
}

func TestConnackRules(t *testing.T) {
	checkRules(t, []rule{
		{name: "v5 [MQTT-3.2.2-1] reserved acknowledge flag bit 1", v: packet.V5,
			bad: pkt(0x20, raw(0x02, 0), props()), good: pkt(0x20, raw(0x01, 0), props()), want: packet.MalformedPacket},
		{name: "v5 [MQTT-3.2.2-1] reserved acknowledge flag bit 7", v: packet.V5,
			bad: pkt(0x20, raw(0x80, 0), props()), good: pkt(0x20, raw(0x00, 0), props()), want: packet.MalformedPacket},
		{name: "v3.1.1 §3.2.2.1 reserved acknowledge flag bit 1", v: packet.V311,
			bad: pkt(0x20, raw(0x02, 0)), good: pkt(0x20, raw(0x01, 0)), want: packet.MalformedPacket},
		{name: "v5 [MQTT-3.2.2-6] session present with a refusal", v: packet.V5,
			bad: pkt(0x20, raw(0x01, 0x87), props()), good: pkt(0x20, raw(0x00, 0x87), props()), want: packet.ProtocolError},
		{name: "v3.1.1 [MQTT-3.2.2-4] session present with a refusal", v: packet.V311,
			bad: pkt(0x20, raw(0x01, 0x05)), good: pkt(0x20, raw(0x00, 0x05)), want: packet.ProtocolError},
	})
}

// TestConnackReturnCodesV3 tries every 3.1 and 3.1.1 CONNACK return code:
// 0 to 5 are defined, 6 to 255 reserved (v3.1.1 §3.2.2.3).
func TestConnackReturnCodesV3(t *testing.T) {
	for _, v := range []packet.Version{packet.V31, packet.V311} {
		t.Run("v"+v.String()+" §3.2.2.3", func(t *testing.T) {
			for code := range 256 {
				wire := pkt(0x20, raw(0, byte(code)))
				if code <= 5 {
					mustDecode(t, wire, v)
				} else {
					mustFail(t, wire, v, packet.MalformedPacket)
				}
			}
		})
	}
}

// TestSubackReturnCodesV311 tries every 3.1.1 SUBACK return code: only
// 0x00, 0x01, 0x02 and 0x80 exist (v3.1.1 [MQTT-3.9.3-2]).
func TestSubackReturnCodesV311(t *testing.T) {
	for code := range 256 {
		wire := pkt(0x90, u16(1), raw(byte(code)))
		if code <= 2 || code == 0x80 {
			mustDecode(t, wire, packet.V311)
		} else {
			mustFail(t, wire, packet.V311, packet.MalformedPacket)
		}
	}
}

func TestSubscribeUnsubscribeRules(t *testing.T) {
	sub := func(v packet.Version, filter string, options byte) []byte {
		return pkt(0x82, u16(1), v5props(v), str(filter), raw(options))
	}
	rules := []rule{
		{name: "v5 [MQTT-3.8.3-2] SUBSCRIBE with no topic filter", v: packet.V5,
			bad: pkt(0x82, u16(1), props()), good: sub(packet.V5, "a", 0), want: packet.ProtocolError},
		{name: "v3.1.1 [MQTT-3.8.3-3] SUBSCRIBE with no topic filter", v: packet.V311,
			bad: pkt(0x82, u16(1)), good: sub(packet.V311, "a", 0), want: packet.ProtocolError},
		{name: "v5 [MQTT-3.10.3-2] UNSUBSCRIBE with no topic filter", v: packet.V5,
			bad: pkt(0xa2, u16(1), props()), good: pkt(0xa2, u16(1), props(), str("a")), want: packet.ProtocolError},
		{name: "v3.1.1 [MQTT-3.10.3-2] UNSUBSCRIBE with no topic filter", v: packet.V311,
			bad: pkt(0xa2, u16(1)), good: pkt(0xa2, u16(1), str("a")), want: packet.ProtocolError},
		// Unlike 3.1.1, 5.0 makes Maximum QoS 3 a Protocol Error.
		{name: "v5 §3.8.3.1 Maximum QoS 3", v: packet.V5,
			bad: sub(packet.V5, "a", 0x03), good: sub(packet.V5, "a", 0x02), want: packet.ProtocolError},
		{name: "v3.1.1 [MQTT-3-8.3-4] QoS 3", v: packet.V311,
			bad: sub(packet.V311, "a", 0x03), good: sub(packet.V311, "a", 0x02), want: packet.MalformedPacket},
		{name: "v5 §3.8.3.1 Retain Handling 3", v: packet.V5,
			bad: sub(packet.V5, "a", 0x30), good: sub(packet.V5, "a", 0x20), want: packet.ProtocolError},
		{name: "v5 [MQTT-3.8.3-4] No Local on a shared subscription", v: packet.V5,
			bad: sub(packet.V5, "$share/g/a", 0x04), good: sub(packet.V5, "$share/g/a", 0x00), want: packet.ProtocolError},
		{name: "v5 [MQTT-3.8.3-4] No Local on a shared subscription (allowed on a plain one)", v: packet.V5,
			bad: sub(packet.V5, "$share/g/a", 0x04), good: sub(packet.V5, "g/a", 0x04), want: packet.ProtocolError},
	}
	// Every non-reserved option bit set at once must still decode.
	for _, bit := range []byte{0x40, 0x80} {
		rules = append(rules, rule{
			name: fmt.Sprintf("v5 [MQTT-3.8.3-5] reserved option bit %#x", bit), v: packet.V5,
			bad: sub(packet.V5, "a", 0x2e|bit), good: sub(packet.V5, "a", 0x2e), want: packet.MalformedPacket,
		})
	}
	// 3.1.1 has only the QoS bits: the 5.0 option bits are reserved.
	for _, bit := range []byte{0x04, 0x08, 0x10, 0x20, 0x40, 0x80} {
		rules = append(rules, rule{
			name: fmt.Sprintf("v3.1.1 [MQTT-3-8.3-4] reserved option bit %#x", bit), v: packet.V311,
			bad: sub(packet.V311, "a", 0x02|bit), good: sub(packet.V311, "a", 0x02), want: packet.MalformedPacket,
		})
	}
	checkRules(t, rules)
}

// reasonCodesByPacket is table 2-6 of the 5.0 specification, by packet,
// written out here so that a mistake in the codec's table shows up. Bad
// authentication method (0x8C) is in DISCONNECT's list as table 2-6 has
// it, although the table of section 3.14.2.1 leaves it out.
var reasonCodesByPacket = map[packet.Type][]byte{
	packet.CONNACK: {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c,
		0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f},
	packet.PUBACK:   {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
	packet.PUBREC:   {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
	packet.PUBREL:   {0x00, 0x92},
	packet.PUBCOMP:  {0x00, 0x92},
	packet.SUBACK:   {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2},
	packet.UNSUBACK: {0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91},
	packet.DISCONNECT: {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
		0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2},
	packet.AUTH: {0x00, 0x18, 0x19},
}

// TestReasonCodesByPacket tries every byte as the reason code of every 5.0
// packet that has one: the codes of table 2-6 decode and are kept, every
// other byte is a Protocol Error.
func TestReasonCodesByPacket(t *testing.T) {
	builders := []struct {
		t     packet.Type
		build func(code byte) []byte
		read  func(p packet.Packet) packet.ReasonCode
	}{
		{packet.CONNACK, func(c byte) []byte { return pkt(0x20, raw(0, c), props()) },
			func(p packet.Packet) packet.ReasonCode { return p.(*packet.Connack).ReasonCode }},
		{packet.PUBACK, func(c byte) []byte { return pkt(0x40, u16(1), raw(c)) },
			func(p packet.Packet) packet.ReasonCode { return p.(*packet.Puback).ReasonCode }},
		{packet.PUBREC, func(c byte) []byte { return pkt(0x50, u16(1), raw(c), props()) },
			func(p packet.Packet) packet.ReasonCode { return p.(*packet.Pubrec).ReasonCode }},
		{packet.PUBREL, func(c byte) []byte { return pkt(0x62, u16(1), raw(c)) },
			func(p packet.Packet) packet.ReasonCode { return p.(*packet.Pubrel).ReasonCode }},
		{packet.PUBCOMP, func(c byte) []byte { return pkt(0x70, u16(1), raw(c), props()) },
			func(p packet.Packet) packet.ReasonCode { return p.(*packet.Pubcomp).ReasonCode }},
		{packet.SUBACK, func(c byte) []byte { return pkt(0x90, u16(1), props(), raw(0, c)) },
			func(p packet.Packet) packet.ReasonCode { return p.(*packet.Suback).ReasonCodes[1] }},
		{packet.UNSUBACK, func(c byte) []byte { return pkt(0xb0, u16(1), props(), raw(0, c)) },
			func(p packet.Packet) packet.ReasonCode { return p.(*packet.Unsuback).ReasonCodes[1] }},
		{packet.DISCONNECT, func(c byte) []byte { return pkt(0xe0, raw(c)) },
			func(p packet.Packet) packet.ReasonCode { return p.(*packet.Disconnect).ReasonCode }},
		{packet.AUTH, func(c byte) []byte { return pkt(0xf0, raw(c), props(prop(0x15, str("m")))) },
			func(p packet.Packet) packet.ReasonCode { return p.(*packet.Auth).ReasonCode }},
	}
	for _, b := range builders {
		t.Run("v5 table 2-6 "+b.t.String(), func(t *testing.T) {
			valid := reasonCodesByPacket[b.t]
			for code := range 256 {
				wire := b.build(byte(code))
				if !slices.Contains(valid, byte(code)) {
					mustFail(t, wire, packet.V5, packet.ProtocolError)
					continue
				}
				if got := b.read(mustDecode(t, wire, packet.V5)); got != packet.ReasonCode(code) {
					t.Fatalf("reason code %#02x decoded as %#02x", code, byte(got))
				}
			}
		})
	}
}

func TestAuthIsV5Only(t *testing.T) {
	auth := pkt(0xf0, raw(0x18), props(prop(0x15, str("SCRAM-SHA-256"))))
	t.Run("v3.1.1 §2.2.1 AUTH (type 15 is reserved)", func(t *testing.T) {
		mustFail(t, auth, packet.V311, packet.MalformedPacket)
		mustFail(t, pkt(0xf0), packet.V311, packet.MalformedPacket)
		mustDecode(t, auth, packet.V5)
		mustDecode(t, pkt(0xf0), packet.V5)
	})
	t.Run("v3.1.1 §2.2.1 encoding AUTH", func(t *testing.T) {
		a := &packet.Auth{ReasonCode: packet.ContinueAuthentication}
		if _, err := a.Encode(nil, packet.V311); !errors.Is(err, packet.ProtocolError) {
			t.Fatalf("Encode for 3.1.1: %v, want protocol error", err)
		}
		wire, err := a.Encode(nil, packet.V5)
		if err != nil {
			t.Fatalf("Encode for 5.0: %v", err)
		}
		mustDecode(t, wire, packet.V5)
	})
}
