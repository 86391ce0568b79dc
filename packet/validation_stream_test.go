package packet_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/petrelmq/petrel/packet"
)

// headerOnly yields a fixed header and then fails the test if anything
// reads further: a packet over the maximum size must be refused before
// its body is read, or a peer could make the server buffer it.
type headerOnly struct {
	t      *testing.T
	header []byte
}

func (r *headerOnly) Read(b []byte) (int, error) {
	if len(r.header) == 0 {
		r.t.Error("the Reader read past the fixed header of a packet over its maximum size")
		return 0, io.EOF
	}
	n := copy(b, r.header)
	r.header = r.header[n:]
	return n, nil
}

// TestReaderMaximumPacketSize checks that the maximum counts the whole
// packet, fixed header included, and that a larger packet fails with
// Packet too large (0x95; v5 §3.1.2.11.4 and §3.2.2.3.6) before its body
// is read.
func TestReaderMaximumPacketSize(t *testing.T) {
	fits := pkt(0x30, str("t"), props(), make([]byte, 122)) // 2 + 126 = 128 bytes
	tooLarge := pkt(0x30, str("t"), props(), make([]byte, 123))
	cases := []struct {
		name   string
		max    int
		header []byte
	}{
		{"one byte over", 128, tooLarge[:2]},
		{"four-byte remaining length", 128, raw(0x30, 0xff, 0xff, 0xff, 0x7f)},
		{"announced 200 MB", 1 << 20, cat(raw(0x30), vbi(200<<20))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := packet.NewReader(&headerOnly{t: t, header: c.header}, 16)
			r.MaxPacketSize = c.max
			r.Version = packet.V5
			if _, err := r.ReadPacket(); !errors.Is(err, packet.PacketTooLarge) {
				t.Fatalf("ReadPacket: %v, want packet too large", err)
			}
		})
	}
	t.Run("exactly the maximum", func(t *testing.T) {
		r := packet.NewReader(bytes.NewReader(fits), 16)
		r.MaxPacketSize = len(fits)
		r.Version = packet.V5
		if _, err := r.ReadPacket(); err != nil {
			t.Fatalf("ReadPacket of a %d-byte packet with maximum %d: %v", len(fits), len(fits), err)
		}
	})
}

// TestReaderStreamEnds checks how a stream that ends is reported: cleanly
// between packets, or inside one.
func TestReaderStreamEnds(t *testing.T) {
	wire := pkt(0x32, str("t"), u16(1), []byte("payload"))
	for k := range len(wire) + 1 {
		r := packet.NewReader(bytes.NewReader(wire[:k]), 16)
		r.Version = packet.V311
		_, err := r.ReadPacket()
		switch {
		case k == 0 && err != io.EOF:
			t.Fatalf("empty stream: %v, want io.EOF", err)
		case k > 0 && k < len(wire) && err != io.ErrUnexpectedEOF:
			t.Fatalf("stream cut after %d of %d bytes: %v, want io.ErrUnexpectedEOF", k, len(wire), err)
		case k == len(wire) && err != nil:
			t.Fatalf("whole packet: %v", err)
		}
	}
}

// encodeCase is a rule on the encoding side: encoding bad must fail with
// want, and good, near-identical, must encode to bytes that decode.
type encodeCase struct {
	name      string
	v         packet.Version
	bad, good packet.Packet
	want      packet.ReasonCode
}

// TestEncodeRefuses checks that the encoder will not write what the
// decoder must refuse.
func TestEncodeRefuses(t *testing.T) {
	long := strings.Repeat("a", 65536)
	longest := long[:65535]
	pub := func(qos packet.QoS, id uint16) *packet.Publish {
		return &packet.Publish{QoS: qos, Topic: "t", PacketID: id}
	}
	conn := func(v packet.Version, edit func(*packet.Connect)) *packet.Connect {
		c := &packet.Connect{Version: v, ClientID: "c", Will: &packet.Will{Topic: "w"},
			HasUsername: true, Username: "u", HasPassword: true, Password: []byte("p")}
		edit(c)
		return c
	}
	cases := []encodeCase{
		{"v5 [MQTT-2.2.1-3] QoS 1 PUBLISH with packet identifier 0", packet.V5,
			pub(1, 0), pub(1, 1), packet.ProtocolError},
		{"v3.1.1 [MQTT-2.3.1-1] QoS 2 PUBLISH with packet identifier 0", packet.V311,
			pub(2, 0), pub(2, 1), packet.ProtocolError},
		{"v5 [MQTT-2.2.1-3] PUBACK with packet identifier 0", packet.V5,
			&packet.Puback{}, &packet.Puback{PacketID: 1}, packet.ProtocolError},
		{"v3.1.1 [MQTT-2.3.1-1] PUBREL with packet identifier 0", packet.V311,
			&packet.Pubrel{}, &packet.Pubrel{PacketID: 1}, packet.ProtocolError},
		{"v5 [MQTT-2.2.1-3] SUBSCRIBE with packet identifier 0", packet.V5,
			&packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a"}}},
			&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}}, packet.ProtocolError},
		{"v5 [MQTT-2.2.1-3] SUBACK with packet identifier 0", packet.V5,
			&packet.Suback{ReasonCodes: []packet.ReasonCode{0}},
			&packet.Suback{PacketID: 1, ReasonCodes: []packet.ReasonCode{0}}, packet.ProtocolError},
		{"v3.1.1 [MQTT-2.3.1-1] UNSUBSCRIBE with packet identifier 0", packet.V311,
			&packet.Unsubscribe{Filters: []string{"a"}},
			&packet.Unsubscribe{PacketID: 1, Filters: []string{"a"}}, packet.ProtocolError},
		{"v3.1.1 [MQTT-2.3.1-1] UNSUBACK with packet identifier 0", packet.V311,
			&packet.Unsuback{}, &packet.Unsuback{PacketID: 1}, packet.ProtocolError},
		{"v5 [MQTT-3.3.1-4] PUBLISH with QoS 3", packet.V5,
			pub(3, 1), pub(2, 1), packet.MalformedPacket},
		{"v5 [MQTT-3.3.1-2] DUP on a QoS 0 PUBLISH", packet.V5,
			&packet.Publish{Dup: true, Topic: "t"}, &packet.Publish{Dup: true, QoS: 1, PacketID: 1, Topic: "t"}, packet.MalformedPacket},
		{"v5 §2.2.2.2 PUBLISH with a Reason String", packet.V5,
			&packet.Publish{Topic: "t", Props: packet.Properties{ReasonString: "why"}},
			&packet.Publish{Topic: "t", Props: packet.Properties{ContentType: "text/plain"}}, packet.MalformedPacket},
		{"v5 §2.2.2.2 PUBACK with a Content Type", packet.V5,
			&packet.Puback{PacketID: 1, Props: packet.Properties{ContentType: "text/plain"}},
			&packet.Puback{PacketID: 1, Props: packet.Properties{ReasonString: "why"}}, packet.MalformedPacket},
		{"v5 §2.2.2.2 CONNECT with a Will Delay Interval", packet.V5,
			conn(packet.V5, func(c *packet.Connect) { c.Props.WillDelay = 5 }),
			conn(packet.V5, func(c *packet.Connect) { c.Will.Props.WillDelay = 5 }), packet.MalformedPacket},
		{"v5 §2.2.2.2 will with a Session Expiry Interval", packet.V5,
			conn(packet.V5, func(c *packet.Connect) { c.Will.Props.SessionExpiry, c.Will.Props.HasSessionExpiry = 5, true }),
			conn(packet.V5, func(c *packet.Connect) { c.Props.SessionExpiry, c.Props.HasSessionExpiry = 5, true }), packet.MalformedPacket},
		{"v5 §3.8.2.1.2 SUBSCRIBE with two Subscription Identifiers", packet.V5,
			&packet.Subscribe{PacketID: 1, Props: packet.Properties{SubscriptionIdentifiers: []uint32{1, 2}}, Subscriptions: []packet.Subscription{{Filter: "a"}}},
			&packet.Subscribe{PacketID: 1, Props: packet.Properties{SubscriptionIdentifiers: []uint32{1}}, Subscriptions: []packet.Subscription{{Filter: "a"}}}, packet.ProtocolError},
		{"v5 §3.3.2.3.8 Subscription Identifier 0", packet.V5,
			&packet.Publish{Topic: "t", Props: packet.Properties{SubscriptionIdentifiers: []uint32{0}}},
			&packet.Publish{Topic: "t", Props: packet.Properties{SubscriptionIdentifiers: []uint32{1}}}, packet.ProtocolError},
		{"v5 §3.3.2.3.8 Subscription Identifier past 268,435,455", packet.V5,
			&packet.Publish{Topic: "t", Props: packet.Properties{SubscriptionIdentifiers: []uint32{packet.MaxSubscriptionIdentifier + 1}}},
			&packet.Publish{Topic: "t", Props: packet.Properties{SubscriptionIdentifiers: []uint32{packet.MaxSubscriptionIdentifier}}}, packet.ProtocolError},
		{"v5 [MQTT-3.8.3-2] SUBSCRIBE with no topic filter", packet.V5,
			&packet.Subscribe{PacketID: 1}, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}}, packet.ProtocolError},
		{"v3.1.1 [MQTT-3.10.3-2] UNSUBSCRIBE with no topic filter", packet.V311,
			&packet.Unsubscribe{PacketID: 1}, &packet.Unsubscribe{PacketID: 1, Filters: []string{"a"}}, packet.ProtocolError},
		{"v3.1.1 [MQTT-3.1.2-22] password without a user name (allowed in v5)", packet.V311,
			conn(packet.V311, func(c *packet.Connect) { c.HasUsername, c.Username = false, "" }),
			conn(packet.V5, func(c *packet.Connect) { c.HasUsername, c.Username = false, "" }), packet.MalformedPacket},
		{"v5 [MQTT-3.1.2-12] will QoS 3", packet.V5,
			conn(packet.V5, func(c *packet.Connect) { c.Will.QoS = 3 }),
			conn(packet.V5, func(c *packet.Connect) { c.Will.QoS = 2 }), packet.MalformedPacket},
		{"v5 [MQTT-3.1.2-2] CONNECT for protocol level 6", packet.V5,
			conn(6, func(*packet.Connect) {}), conn(packet.V5, func(*packet.Connect) {}), packet.UnsupportedProtocolVersion},
		{"v5 table 2-6 PUBACK with Packet Identifier not found (a PUBREL code)", packet.V5,
			&packet.Puback{PacketID: 1, ReasonCode: packet.PacketIdentifierNotFound},
			&packet.Pubrel{PacketID: 1, ReasonCode: packet.PacketIdentifierNotFound}, packet.ProtocolError},
		{"v5 table 2-6 DISCONNECT with Unsupported Protocol Version (a CONNACK code)", packet.V5,
			&packet.Disconnect{ReasonCode: packet.UnsupportedProtocolVersion},
			&packet.Connack{ReasonCode: packet.UnsupportedProtocolVersion}, packet.ProtocolError},
		{"v5 table 2-6 SUBACK with No subscription existed (an UNSUBACK code)", packet.V5,
			&packet.Suback{PacketID: 1, ReasonCodes: []packet.ReasonCode{packet.NoSubscriptionExisted}},
			&packet.Unsuback{PacketID: 1, ReasonCodes: []packet.ReasonCode{packet.NoSubscriptionExisted}}, packet.ProtocolError},
	}
	// Every string and binary field has a two-byte length (v5 §1.5.4,
	// §1.5.6; v3.1.1 §1.5.3).
	lengths := []struct {
		name string
		make func(s string) packet.Packet
	}{
		{"topic name", func(s string) packet.Packet { return &packet.Publish{Topic: s} }},
		{"client identifier", func(s string) packet.Packet { return conn(packet.V5, func(c *packet.Connect) { c.ClientID = s }) }},
		{"user name", func(s string) packet.Packet { return conn(packet.V5, func(c *packet.Connect) { c.Username = s }) }},
		{"password", func(s string) packet.Packet {
			return conn(packet.V5, func(c *packet.Connect) { c.Password = []byte(s) })
		}},
		{"will topic", func(s string) packet.Packet { return conn(packet.V5, func(c *packet.Connect) { c.Will.Topic = s }) }},
		{"will payload", func(s string) packet.Packet {
			return conn(packet.V5, func(c *packet.Connect) { c.Will.Payload = []byte(s) })
		}},
		{"topic filter", func(s string) packet.Packet {
			return &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: s}}}
		}},
		{"unsubscribe filter", func(s string) packet.Packet { return &packet.Unsubscribe{PacketID: 1, Filters: []string{s}} }},
		{"Content Type", func(s string) packet.Packet {
			return &packet.Publish{Topic: "t", Props: packet.Properties{ContentType: s}}
		}},
		{"Correlation Data", func(s string) packet.Packet {
			return &packet.Publish{Topic: "t", Props: packet.Properties{CorrelationData: []byte(s)}}
		}},
		{"Reason String", func(s string) packet.Packet {
			return &packet.Puback{PacketID: 1, Props: packet.Properties{ReasonString: s}}
		}},
		{"User Property name", func(s string) packet.Packet {
			return &packet.Disconnect{Props: packet.Properties{User: []packet.UserProperty{{Key: s}}}}
		}},
		{"User Property value", func(s string) packet.Packet {
			return &packet.Disconnect{Props: packet.Properties{User: []packet.UserProperty{{Value: s}}}}
		}},
	}
	for _, l := range lengths {
		cases = append(cases, encodeCase{"v5 §1.5.4 " + l.name + " of 65,536 bytes", packet.V5, l.make(long), l.make(longest), packet.MalformedPacket})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if wire, err := c.bad.Encode(nil, c.v); !errors.Is(err, c.want) {
				t.Fatalf("Encode(%#v) = % .32x..., %v; want %#02x (%s)", c.bad, wire, err, byte(c.want), c.want)
			}
			wire, err := c.good.Encode(nil, c.v)
			if err != nil {
				t.Fatalf("Encode(%#v): %v", c.good, err)
			}
			mustDecode(t, wire, c.v)
		})
	}
}
