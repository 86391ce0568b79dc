package packet_test

import (
	"testing"

	"github.com/petrelmq/petrel/packet"
)

// stringField is one UTF-8 Encoded String field of one packet: build puts
// s in it, read takes it back out of the decoded packet.
type stringField struct {
	name  string
	v     packet.Version
	build func(s string) []byte
	read  func(p packet.Packet) string
}

func stringFields() []stringField {
	var fields []stringField
	for _, v := range bothVersions {
		ps := v5props(v)
		level := byte(v)
		fields = append(fields,
			stringField{"PUBLISH topic name", v,
				func(s string) []byte { return pkt(0x30, str(s), ps) },
				func(p packet.Packet) string { return p.(*packet.Publish).Topic }},
			stringField{"CONNECT client identifier", v,
				func(s string) []byte { return connect("MQTT", level, 0x02, ps, str(s)) },
				func(p packet.Packet) string { return p.(*packet.Connect).ClientID }},
			stringField{"CONNECT user name", v,
				func(s string) []byte { return connect("MQTT", level, 0x82, ps, str("c"), str(s)) },
				func(p packet.Packet) string { return p.(*packet.Connect).Username }},
			stringField{"CONNECT will topic", v,
				func(s string) []byte { return connect("MQTT", level, 0x06, ps, str("c"), ps, str(s), str("")) },
				func(p packet.Packet) string { return p.(*packet.Connect).Will.Topic }},
			stringField{"SUBSCRIBE topic filter", v,
				func(s string) []byte { return pkt(0x82, u16(1), ps, str(s), raw(1)) },
				func(p packet.Packet) string { return p.(*packet.Subscribe).Subscriptions[0].Filter }},
			stringField{"UNSUBSCRIBE topic filter", v,
				func(s string) []byte { return pkt(0xa2, u16(1), ps, str(s)) },
				func(p packet.Packet) string { return p.(*packet.Unsubscribe).Filters[0] }},
		)
	}
	publish := func(ps ...[]byte) []byte { return pkt(0x30, str("t"), props(ps...)) }
	publishProps := func(p packet.Packet) *packet.Properties { return &p.(*packet.Publish).Props }
	connack := func(ps ...[]byte) []byte { return pkt(0x20, raw(0, 0), props(ps...)) }
	connackProps := func(p packet.Packet) *packet.Properties { return &p.(*packet.Connack).Props }
	disconnect := func(ps ...[]byte) []byte { return pkt(0xe0, raw(0), props(ps...)) }
	disconnectProps := func(p packet.Packet) *packet.Properties { return &p.(*packet.Disconnect).Props }
	return append(fields,
		stringField{"PUBLISH Content Type", packet.V5,
			func(s string) []byte { return publish(prop(0x03, str(s))) },
			func(p packet.Packet) string { return publishProps(p).ContentType }},
		stringField{"PUBLISH Response Topic", packet.V5,
			func(s string) []byte { return publish(prop(0x08, str(s))) },
			func(p packet.Packet) string { return publishProps(p).ResponseTopic }},
		stringField{"PUBLISH User Property name", packet.V5,
			func(s string) []byte { return publish(prop(0x26, str(s), str("v"))) },
			func(p packet.Packet) string { return publishProps(p).User[0].Key }},
		stringField{"PUBLISH User Property value", packet.V5,
			func(s string) []byte { return publish(prop(0x26, str("k"), str(s))) },
			func(p packet.Packet) string { return publishProps(p).User[0].Value }},
		stringField{"will Content Type", packet.V5,
			func(s string) []byte {
				return connect("MQTT", 5, 0x06, props(), str("c"), props(prop(0x03, str(s))), str("w"), str(""))
			},
			func(p packet.Packet) string { return p.(*packet.Connect).Will.Props.ContentType }},
		stringField{"CONNECT Authentication Method", packet.V5,
			func(s string) []byte { return connect("MQTT", 5, 0x02, props(prop(0x15, str(s))), str("c")) },
			func(p packet.Packet) string { return p.(*packet.Connect).Props.AuthMethod }},
		stringField{"CONNACK Assigned Client Identifier", packet.V5,
			func(s string) []byte { return connack(prop(0x12, str(s))) },
			func(p packet.Packet) string { return connackProps(p).AssignedClientID }},
		stringField{"CONNACK Response Information", packet.V5,
			func(s string) []byte { return connack(prop(0x1a, str(s))) },
			func(p packet.Packet) string { return connackProps(p).ResponseInfo }},
		stringField{"PUBACK Reason String", packet.V5,
			func(s string) []byte { return pkt(0x40, u16(1), raw(0), props(prop(0x1f, str(s)))) },
			func(p packet.Packet) string { return p.(*packet.Puback).Props.ReasonString }},
		stringField{"DISCONNECT Server Reference", packet.V5,
			func(s string) []byte { return disconnect(prop(0x1c, str(s))) },
			func(p packet.Packet) string { return disconnectProps(p).ServerReference }},
		stringField{"DISCONNECT Reason String", packet.V5,
			func(s string) []byte { return disconnect(prop(0x1f, str(s))) },
			func(p packet.Packet) string { return disconnectProps(p).ReasonString }},
	)
}

// illFormed are byte sequences a UTF-8 Encoded String must not hold. Each
// is embedded in otherwise valid text.
var illFormed = []struct {
	name string
	b    string
	nul  bool // U+0000 has its own statement
}{
	{"U+0000", "a\x00b", true},
	{"U+0000 alone", "\x00", true},
	{"overlong U+0000 (C0 80)", "a\xc0\x80b", false},
	{"overlong two-byte (C1 BF)", "a\xc1\xbf", false},
	{"overlong three-byte (E0 80 AF)", "a\xe0\x80\xaf", false},
	{"overlong four-byte (F0 80 80 AF)", "a\xf0\x80\x80\xaf", false},
	{"surrogate U+D800 (ED A0 80)", "a\xed\xa0\x80b", false},
	{"surrogate U+DFFF (ED BF BF)", "a\xed\xbf\xbf", false},
	{"surrogate pair in CESU-8", "\xed\xa0\xbd\xed\xb8\x80", false},
	{"three-byte sequence cut after two bytes", "a\xe2\x82b", false},
	{"two-byte sequence cut at the end", "ab\xc3", false},
	{"lone continuation byte", "a\x80b", false},
	{"above U+10FFFF (F4 90 80 80)", "\xf4\x90\x80\x80", false},
	{"byte FF", "a\xffb", false},
}

// wellFormed are strings every field must accept unchanged. None holds a
// wildcard, so they are valid topic names too.
var wellFormed = []struct{ name, s string }{
	{"ASCII", "a/b"},
	{"two-byte é", "caf\xc3\xa9"},
	{"three-byte €", "\xe2\x82\xac"},
	{"four-byte U+1F600", "\xf0\x9f\x98\x80"},
	{"U+D7FF below the surrogates", "\xed\x9f\xbf"},
	{"U+E000 above the surrogates", "\xee\x80\x80"},
	{"U+10FFFF", "\xf4\x8f\xbf\xbf"},
}

// TestUTF8Strings puts every ill-formed sequence in every string field of
// both versions: each is malformed, and every well-formed string decodes
// to itself.
func TestUTF8Strings(t *testing.T) {
	for _, f := range stringFields() {
		t.Run("v"+f.v.String()+" "+f.name, func(t *testing.T) {
			for _, bad := range illFormed {
				id := cite(f.v, "[MQTT-1.5.4-1]", "[MQTT-1.5.3-1]")
				if bad.nul {
					id = cite(f.v, "[MQTT-1.5.4-2]", "[MQTT-1.5.3-2]")
				}
				t.Run(id+" "+bad.name, func(t *testing.T) {
					mustFail(t, f.build(bad.b), f.v, packet.MalformedPacket)
				})
			}
			for _, good := range wellFormed {
				t.Run(good.name, func(t *testing.T) {
					if got := f.read(mustDecode(t, f.build(good.s), f.v)); got != good.s {
						t.Fatalf("decoded %q, want %q", got, good.s)
					}
				})
			}
		})
	}
}

// TestByteOrderMark checks that U+FEFF at the start of a string is part of
// the string: v5 [MQTT-1.5.4-3], v3.1.1 [MQTT-1.5.3-3].
func TestByteOrderMark(t *testing.T) {
	const bom = "\xef\xbb\xbf"
	for _, f := range stringFields() {
		name := cite(f.v, "[MQTT-1.5.4-3]", "[MQTT-1.5.3-3]") + " " + f.name
		t.Run(name, func(t *testing.T) {
			if got := f.read(mustDecode(t, f.build(bom+"x"), f.v)); got != bom+"x" {
				t.Fatalf("decoded %q, want the byte order mark kept: %q", got, bom+"x")
			}
		})
	}
}
