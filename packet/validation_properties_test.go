package packet_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/petrelmq/petrel/packet"
)

// carrier is a 5.0 packet, or the will of a CONNECT, built around the
// properties it is given. section holds that carrier's property list.
type carrier struct {
	name    string
	section string
	build   func(ps ...[]byte) []byte
}

var (
	carrierConnect = carrier{"CONNECT", "§3.1.2.11", func(ps ...[]byte) []byte {
		return connect("MQTT", 5, 0x02, props(ps...), str("c"))
	}}
	carrierWill = carrier{"will", "§3.1.3.2", func(ps ...[]byte) []byte {
		return connect("MQTT", 5, 0x06, props(), str("c"), props(ps...), str("w"), str(""))
	}}
	carrierConnack = carrier{"CONNACK", "§3.2.2.3", func(ps ...[]byte) []byte {
		return pkt(0x20, raw(0, 0), props(ps...))
	}}
	carrierPublish = carrier{"PUBLISH", "§3.3.2.3", func(ps ...[]byte) []byte {
		return pkt(0x30, str("t"), props(ps...))
	}}
	carrierPuback = carrier{"PUBACK", "§3.4.2.2", func(ps ...[]byte) []byte {
		return pkt(0x40, u16(1), raw(0), props(ps...))
	}}
	carrierSubscribe = carrier{"SUBSCRIBE", "§3.8.2.1", func(ps ...[]byte) []byte {
		return pkt(0x82, u16(1), props(ps...), str("a"), raw(0))
	}}
	carrierDisconnect = carrier{"DISCONNECT", "§3.14.2.2", func(ps ...[]byte) []byte {
		return pkt(0xe0, raw(0), props(ps...))
	}}
)

// carriers lists everything in 5.0 that has properties.
var carriers = []carrier{
	carrierConnect,
	carrierWill,
	carrierConnack,
	carrierPublish,
	carrierPuback,
	{"PUBREC", "§3.5.2.2", func(ps ...[]byte) []byte { return pkt(0x50, u16(1), raw(0), props(ps...)) }},
	{"PUBREL", "§3.6.2.2", func(ps ...[]byte) []byte { return pkt(0x62, u16(1), raw(0), props(ps...)) }},
	{"PUBCOMP", "§3.7.2.2", func(ps ...[]byte) []byte { return pkt(0x70, u16(1), raw(0), props(ps...)) }},
	carrierSubscribe,
	{"SUBACK", "§3.9.2.1", func(ps ...[]byte) []byte { return pkt(0x90, u16(1), props(ps...), raw(0)) }},
	{"UNSUBSCRIBE", "§3.10.2.1", func(ps ...[]byte) []byte { return pkt(0xa2, u16(1), props(ps...), str("a")) }},
	{"UNSUBACK", "§3.11.2.1", func(ps ...[]byte) []byte { return pkt(0xb0, u16(1), props(ps...), raw(0)) }},
	carrierDisconnect,
	{"AUTH", "§3.15.2.2", func(ps ...[]byte) []byte { return pkt(0xf0, raw(0), props(ps...)) }},
}

// propertySpec is one row of table 2-4 of the 5.0 specification, written
// out here rather than read from the codec so that a mistake in the
// codec's table shows up.
type propertySpec struct {
	id       byte
	name     string
	value    []byte // a valid value
	in       []string
	multiple bool
}

var propertyTable = []propertySpec{
	{0x01, "Payload Format Indicator", raw(1), []string{"PUBLISH", "will"}, false},
	{0x02, "Message Expiry Interval", u32(60), []string{"PUBLISH", "will"}, false},
	{0x03, "Content Type", str("text/plain"), []string{"PUBLISH", "will"}, false},
	{0x08, "Response Topic", str("reply/1"), []string{"PUBLISH", "will"}, false},
	{0x09, "Correlation Data", str("\x00\x01"), []string{"PUBLISH", "will"}, false},
	{0x0b, "Subscription Identifier", vbi(1), []string{"PUBLISH", "SUBSCRIBE"}, true},
	{0x11, "Session Expiry Interval", u32(60), []string{"CONNECT", "CONNACK", "DISCONNECT"}, false},
	{0x12, "Assigned Client Identifier", str("auto-1"), []string{"CONNACK"}, false},
	{0x13, "Server Keep Alive", u16(30), []string{"CONNACK"}, false},
	{0x15, "Authentication Method", str("SCRAM-SHA-256"), []string{"CONNECT", "CONNACK", "AUTH"}, false},
	{0x16, "Authentication Data", str("data"), []string{"CONNECT", "CONNACK", "AUTH"}, false},
	{0x17, "Request Problem Information", raw(0), []string{"CONNECT"}, false},
	{0x18, "Will Delay Interval", u32(5), []string{"will"}, false},
	{0x19, "Request Response Information", raw(1), []string{"CONNECT"}, false},
	{0x1a, "Response Information", str("reply/"), []string{"CONNACK"}, false},
	{0x1c, "Server Reference", str("other:1883"), []string{"CONNACK", "DISCONNECT"}, false},
	{0x1f, "Reason String", str("why"), []string{"CONNACK", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBACK", "UNSUBACK", "DISCONNECT", "AUTH"}, false},
	{0x21, "Receive Maximum", u16(10), []string{"CONNECT", "CONNACK"}, false},
	{0x22, "Topic Alias Maximum", u16(10), []string{"CONNECT", "CONNACK"}, false},
	{0x23, "Topic Alias", u16(1), []string{"PUBLISH"}, false},
	{0x24, "Maximum QoS", raw(1), []string{"CONNACK"}, false},
	{0x25, "Retain Available", raw(0), []string{"CONNACK"}, false},
	{0x26, "User Property", cat(str("k"), str("v")), []string{"CONNECT", "will", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "DISCONNECT", "AUTH"}, true},
	{0x27, "Maximum Packet Size", u32(1024), []string{"CONNECT", "CONNACK"}, false},
	{0x28, "Wildcard Subscription Available", raw(0), []string{"CONNACK"}, false},
	{0x29, "Subscription Identifier Available", raw(0), []string{"CONNACK"}, false},
	{0x2a, "Shared Subscription Available", raw(0), []string{"CONNACK"}, false},
}

// TestPropertyPlacement puts every property on everything that has
// properties: where table 2-4 allows it the packet decodes, elsewhere it
// is malformed (v5 §2.2.2.2).
func TestPropertyPlacement(t *testing.T) {
	for _, p := range propertyTable {
		t.Run(p.name, func(t *testing.T) {
			for _, c := range carriers {
				wire := c.build(prop(p.id, p.value))
				if slices.Contains(p.in, c.name) {
					t.Run("allowed in "+c.name, func(t *testing.T) { mustDecode(t, wire, packet.V5) })
				} else {
					t.Run("v5 §2.2.2.2 not allowed in "+c.name, func(t *testing.T) { mustFail(t, wire, packet.V5, packet.MalformedPacket) })
				}
			}
		})
	}
}

// TestPropertyTwice includes every single-valued property twice in
// everything that may carry it: a Protocol Error, stated in each
// carrier's property section.
func TestPropertyTwice(t *testing.T) {
	var rules []rule
	for _, p := range propertyTable {
		for _, c := range carriers {
			if p.multiple || !slices.Contains(p.in, c.name) {
				continue
			}
			once := prop(p.id, p.value)
			rules = append(rules, rule{
				name: fmt.Sprintf("v5 %s %s twice in %s", c.section, p.name, c.name), v: packet.V5,
				bad: c.build(once, once), good: c.build(once), want: packet.ProtocolError,
			})
		}
	}
	userProperty := prop(0x26, str("k"), str("v"))
	subID := func(id int) []byte { return prop(0x0b, vbi(id)) }
	rules = append(rules,
		// A server forwards one Subscription Identifier per matching
		// subscription on a PUBLISH, but a SUBSCRIBE names one.
		rule{name: "v5 §3.8.2.1.2 Subscription Identifier twice in SUBSCRIBE (many allowed in PUBLISH)", v: packet.V5,
			bad: carrierSubscribe.build(subID(1), subID(2)), good: carrierPublish.build(subID(1), subID(2)), want: packet.ProtocolError},
		rule{name: "v5 §3.1.2.11 Receive Maximum twice in CONNECT (User Property may repeat)", v: packet.V5,
			bad:  carrierConnect.build(prop(0x21, u16(1)), prop(0x21, u16(1))),
			good: carrierConnect.build(userProperty, userProperty), want: packet.ProtocolError},
	)
	checkRules(t, rules)
}

// TestUnknownProperty tries every identifier table 2-4 does not define.
func TestUnknownProperty(t *testing.T) {
	for id := range 256 {
		if slices.ContainsFunc(propertyTable, func(p propertySpec) bool { return int(p.id) == id }) {
			continue
		}
		name := fmt.Sprintf("v5 §2.2.2.2 identifier %#02x", id)
		t.Run(name, func(t *testing.T) {
			mustFail(t, carrierPuback.build(raw(byte(id)), str("why")), packet.V5, packet.MalformedPacket)
			mustDecode(t, carrierPuback.build(raw(0x1f), str("why")), packet.V5)
		})
	}
}

// TestPropertyLength covers a property length that does not agree with
// the properties, and property values cut short.
func TestPropertyLength(t *testing.T) {
	reason := prop(0x1f, str("ab")) // 5 bytes
	puback := func(length []byte, rest ...[]byte) []byte { return pkt(0x40, u16(1), raw(0), length, cat(rest...)) }
	checkRules(t, []rule{
		{name: "v5 §2.2.2.1 property length past the end of the packet", v: packet.V5,
			bad: puback(vbi(6), reason), good: puback(vbi(5), reason), want: packet.MalformedPacket},
		{name: "v5 §2.2.2.1 property runs past the property length", v: packet.V5,
			bad: puback(vbi(4), reason), good: puback(vbi(5), reason), want: packet.MalformedPacket},
		{name: "v5 §2.2.2.1 CONNECT property length runs into the client identifier", v: packet.V5,
			bad:  connect("MQTT", 5, 0x02, vbi(6), prop(0x11, u32(60)), str("c")),
			good: connect("MQTT", 5, 0x02, vbi(5), prop(0x11, u32(60)), str("c")), want: packet.MalformedPacket},
		{name: "v5 [MQTT-1.5.5-1] property length 0 in two bytes", v: packet.V5,
			bad: puback(raw(0x80, 0x00)), good: puback(raw(0x00)), want: packet.MalformedPacket},
		{name: "v5 §1.5.5 property length of five bytes", v: packet.V5,
			bad: puback(raw(0x85, 0x80, 0x80, 0x80, 0x00), reason), good: puback(vbi(5), reason), want: packet.MalformedPacket},
		{name: "v5 §2.2.2.2 Receive Maximum of one byte", v: packet.V5,
			bad: carrierConnect.build(prop(0x21, raw(1))), good: carrierConnect.build(prop(0x21, raw(0, 1))), want: packet.MalformedPacket},
		{name: "v5 §2.2.2.2 Session Expiry Interval of three bytes", v: packet.V5,
			bad: carrierConnect.build(prop(0x11, raw(0, 0, 1))), good: carrierConnect.build(prop(0x11, raw(0, 0, 0, 1))), want: packet.MalformedPacket},
		{name: "v5 §2.2.2.2 User Property without its value", v: packet.V5,
			bad: carrierPuback.build(prop(0x26, str("k"))), good: carrierPuback.build(prop(0x26, str("k"), str(""))), want: packet.MalformedPacket},
		{name: "v5 §2.2.2.2 Correlation Data shorter than its length", v: packet.V5,
			bad: carrierPublish.build(prop(0x09, u16(3), raw(1, 2))), good: carrierPublish.build(prop(0x09, u16(2), raw(1, 2))), want: packet.MalformedPacket},
		{name: "v5 [MQTT-1.5.5-1] Subscription Identifier 1 in two bytes", v: packet.V5,
			bad: carrierPublish.build(prop(0x0b, raw(0x81, 0x00))), good: carrierPublish.build(prop(0x0b, raw(0x01))), want: packet.MalformedPacket},
	})
}

// TestPropertyValues covers values outside a property's range.
func TestPropertyValues(t *testing.T) {
	rules := []rule{
		{name: "v5 §3.1.2.11 Receive Maximum 0 in CONNECT (Topic Alias Maximum 0 is allowed)", v: packet.V5,
			bad: carrierConnect.build(prop(0x21, u16(0))), good: carrierConnect.build(prop(0x22, u16(0))), want: packet.ProtocolError},
		{name: "v5 §3.2.2.3 Receive Maximum 0 in CONNACK", v: packet.V5,
			bad: carrierConnack.build(prop(0x21, u16(0))), good: carrierConnack.build(prop(0x21, u16(65535))), want: packet.ProtocolError},
		{name: "v5 §3.1.2.11 Maximum Packet Size 0 in CONNECT", v: packet.V5,
			bad: carrierConnect.build(prop(0x27, u32(0))), good: carrierConnect.build(prop(0x27, u32(1))), want: packet.ProtocolError},
		{name: "v5 §3.2.2.3 Maximum Packet Size 0 in CONNACK", v: packet.V5,
			bad: carrierConnack.build(prop(0x27, u32(0))), good: carrierConnack.build(prop(0x27, u32(1))), want: packet.ProtocolError},
		{name: "v5 [MQTT-3.3.2-8] Topic Alias 0", v: packet.V5,
			bad: carrierPublish.build(prop(0x23, u16(0))), good: carrierPublish.build(prop(0x23, u16(1))), want: packet.TopicAliasInvalid},
		{name: "v5 §3.3.2.3.8 Subscription Identifier 0 in PUBLISH", v: packet.V5,
			bad: carrierPublish.build(prop(0x0b, vbi(0))), good: carrierPublish.build(prop(0x0b, vbi(packet.MaxSubscriptionIdentifier))), want: packet.ProtocolError},
		{name: "v5 §3.8.2.1.2 Subscription Identifier 0 in SUBSCRIBE", v: packet.V5,
			bad: carrierSubscribe.build(prop(0x0b, vbi(0))), good: carrierSubscribe.build(prop(0x0b, vbi(1))), want: packet.ProtocolError},
	}
	// Byte properties that hold 0 or 1; absence stands for the other
	// meaning some have (Maximum QoS absent means 2).
	flags := []struct {
		c       carrier
		id      byte
		name    string
		section string
	}{
		{carrierPublish, 0x01, "Payload Format Indicator", "§3.3.2.3.2"},
		{carrierWill, 0x01, "Payload Format Indicator", "§3.1.3.2.3"},
		{carrierConnect, 0x17, "Request Problem Information", "§3.1.2.11.7"},
		{carrierConnect, 0x19, "Request Response Information", "§3.1.2.11.6"},
		{carrierConnack, 0x24, "Maximum QoS", "§3.2.2.3.4"},
		{carrierConnack, 0x25, "Retain Available", "§3.2.2.3.5"},
		{carrierConnack, 0x28, "Wildcard Subscription Available", "§3.2.2.3.11"},
		{carrierConnack, 0x29, "Subscription Identifier Available", "§3.2.2.3.12"},
		{carrierConnack, 0x2a, "Shared Subscription Available", "§3.2.2.3.13"},
	}
	for _, f := range flags {
		for _, bad := range []byte{2, 0xff} {
			for _, good := range []byte{0, 1} {
				rules = append(rules, rule{
					name: fmt.Sprintf("v5 %s %s %d in %s (%d is allowed)", f.section, f.name, bad, f.c.name, good), v: packet.V5,
					bad: f.c.build(prop(f.id, raw(bad))), good: f.c.build(prop(f.id, raw(good))), want: packet.ProtocolError,
				})
			}
		}
	}
	for _, topic := range []string{"reply/+", "reply/#", "+", "a+b"} {
		for _, c := range []carrier{carrierPublish, carrierWill} {
			rules = append(rules, rule{
				name: fmt.Sprintf("v5 [MQTT-3.3.2-14] %s Response Topic %q", c.name, topic), v: packet.V5,
				bad: c.build(prop(0x08, str(topic))), good: c.build(prop(0x08, str("reply/x"))), want: packet.TopicNameInvalid,
			})
		}
	}
	checkRules(t, rules)
}
