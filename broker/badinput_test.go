package broker_test

import (
	"testing"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
)

// TestBadInputClosesOnlyThatConnection sends each kind of bad input on its
// own connection and checks the broker answers with the right DISCONNECT,
// closes that connection, and keeps serving a bystander.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	forEachReadMode(t, testBadInput)
}

func testBadInput(t *testing.T, goroutines bool) {
	b := brokertest.Start(t, broker.Options{MaxPacketSize: 1024, TopicAliasMaximum: 4, GoroutinePerConnection: goroutines})
	bystander, _ := connect(t, b.Addr, v5("bystander"))
	bystander.subscribe(1, packet.Subscription{Filter: "still/alive"})
	cases := []struct {
		name string
		raw  []byte
		want packet.ReasonCode
	}{
		// v5 [MQTT-2.1.3-1]: reserved flags.
		{"reserved flags", []byte{0x31 | 0x06, 0x03, 0, 1, 'a'}, packet.MalformedPacket},
		// v5 [MQTT-1.5.5-1]: remaining length over four bytes.
		{"remaining length over four bytes", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, packet.MalformedPacket},
		// v5 [MQTT-1.5.4-1]: ill-formed UTF-8 in a topic.
		{"invalid UTF-8", []byte{0x30, 0x05, 0, 2, 0xc3, 0x28, 0}, packet.MalformedPacket},
		// v5 §4.13 and [MQTT-3.1.2-24]: larger than our Maximum Packet Size.
		{"too large", append([]byte{0x30, 0x80, 0x10}, make([]byte, 2048)...), packet.PacketTooLarge},
		// v5 [MQTT-3.3.2-8]: topic alias 0.
		{"topic alias 0", []byte{0x30, 0x08, 0, 1, 'a', 3, 0x23, 0, 0, 'x'}, packet.TopicAliasInvalid},
		// v5 [MQTT-3.3.2-9]: alias above the maximum.
		{"topic alias too big", []byte{0x30, 0x08, 0, 1, 'a', 3, 0x23, 0, 9, 'x'}, packet.TopicAliasInvalid},
		// v5 [MQTT-3.3.2-2]: a wildcard in a PUBLISH topic.
		{"wildcard in topic", []byte{0x30, 0x05, 0, 2, 'a', '#', 0}, packet.TopicNameInvalid},
		// v5 [MQTT-3.1.0-2]: a second CONNECT.
		{"second CONNECT", mustEncode(t, v5("again")), packet.ProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := connect(t, b.Addr, v5("bad-"+tc.name))
			c.sendRaw(tc.raw)
			d := c.expectClosed()
			if d == nil || d.ReasonCode != tc.want {
				t.Fatalf("got %+v, want DISCONNECT %s", d, tc.want)
			}
			// v5 [MQTT-3.1.2-29]: DISCONNECT may always say why.
			if d.Props.ReasonString == "" {
				t.Fatal("DISCONNECT without a Reason String")
			}
		})
	}
	pub, _ := connect(t, b.Addr, v5("prober"))
	publish(pub, &packet.Publish{Topic: "still/alive", Payload: []byte("yes")})
	if got := expect[*packet.Publish](bystander); string(got.Payload) != "yes" {
		t.Fatalf("bystander got %q", got.Payload)
	}
}

func mustEncode(t *testing.T, p packet.Packet) []byte {
	t.Helper()
	v := packet.V5
	if c, ok := p.(*packet.Connect); ok {
		v = c.Version
	}
	b, err := p.Encode(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
