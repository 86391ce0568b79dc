package broker_test

import (
	"bytes"
	"testing"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
)

func TestPublishSubscribeEveryQoS(t *testing.T) {
	t.Parallel()
	forEachReadMode(t, testPublishSubscribeEveryQoS)
}

func testPublishSubscribeEveryQoS(t *testing.T, goroutines bool) {
	b := brokertest.Start(t, broker.Options{GoroutinePerConnection: goroutines})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			sub, _ := connect(t, b.Addr, &packet.Connect{Version: v, ClientID: "sub-" + v.String(), CleanStart: true})
			ack := sub.subscribe(1, packet.Subscription{Filter: "a/+/c", QoS: packet.ExactlyOnce})
			if len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != packet.GrantedQoS2 {
				t.Fatalf("SUBACK %v, want [granted QoS 2]", ack.ReasonCodes)
			}
			pub, _ := connect(t, b.Addr, &packet.Connect{Version: v, ClientID: "pub-" + v.String(), CleanStart: true})
			for qos := packet.AtMostOnce; qos <= packet.ExactlyOnce; qos++ {
				payload := []byte{'q', byte('0' + qos)}
				pub.send(&packet.Publish{QoS: qos, Topic: "a/b/c", PacketID: uint16(10 + qos), Payload: payload})
				switch qos {
				case packet.AtLeastOnce:
					if a := expect[*packet.Puback](pub); a.PacketID != 11 {
						t.Fatalf("PUBACK for %d, want 11", a.PacketID)
					}
				case packet.ExactlyOnce:
					expect[*packet.Pubrec](pub)
					pub.send(&packet.Pubrel{PacketID: 12})
					expect[*packet.Pubcomp](pub)
				}
				got := expect[*packet.Publish](sub)
				if got.Topic != "a/b/c" || !bytes.Equal(got.Payload, payload) || got.QoS != qos {
					t.Fatalf("got %q %q QoS %d, want a/b/c %q QoS %d", got.Topic, got.Payload, got.QoS, payload, qos)
				}
				switch qos {
				case packet.AtLeastOnce:
					sub.send(&packet.Puback{PacketID: got.PacketID})
				case packet.ExactlyOnce:
					sub.send(&packet.Pubrec{PacketID: got.PacketID})
					if rel := expect[*packet.Pubrel](sub); rel.PacketID != got.PacketID {
						t.Fatalf("PUBREL for %d, want %d", rel.PacketID, got.PacketID)
					}
					sub.send(&packet.Pubcomp{PacketID: got.PacketID})
				}
			}
		})
	}
}
