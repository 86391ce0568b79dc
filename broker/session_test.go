package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
)

func persistent(v packet.Version, id string) *packet.Connect {
	p := &packet.Connect{Version: v, ClientID: id + "-" + v.String(), KeepAlive: 60}
	if v == packet.V5 {
		p.Props.SessionExpiry, p.Props.HasSessionExpiry = 300, true
	}
	return p
}

func TestOfflineQueueAndResend(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			// The subscriber's will tells the test when the broker has seen
			// its connection drop, so "offline" below is really offline.
			pub, _ := connect(t, b.Addr, conn(v, "offqpub"))
			pub.subscribe(1, packet.Subscription{Filter: "offq-gone"})
			sub, _ := connect(t, b.Addr, withWill(persistent(v, "offq"), "offq-gone", 0))
			sub.subscribe(1, packet.Subscription{Filter: "offq/#", QoS: packet.ExactlyOnce})
			publish(pub, &packet.Publish{Topic: "offq/a", QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("1")})
			publish(pub, &packet.Publish{Topic: "offq/b", QoS: packet.ExactlyOnce, PacketID: 2, Payload: []byte("2")})
			// Receive both, acknowledge neither, and drop the connection.
			first, second := expect[*packet.Publish](sub), expect[*packet.Publish](sub)
			sub.nc.Close()
			if will := expect[*packet.Publish](pub); will.Topic != "offq-gone" {
				t.Fatalf("got %s, want the subscriber's will", will.Topic)
			}

			// While offline: QoS 0 is not kept; QoS 1 and 2 wait. The QoS 1
			// PUBACK also shows the QoS 0 message before it was routed.
			publish(pub, &packet.Publish{Topic: "offq/d", QoS: packet.AtMostOnce, Payload: []byte("0")})
			publish(pub, &packet.Publish{Topic: "offq/c", QoS: packet.AtLeastOnce, PacketID: 3, Payload: []byte("3")})

			sub, ack := connect(t, b.Addr, persistent(v, "offq"))
			if !ack.SessionPresent {
				t.Fatal("session not present")
			}
			// v5 and v3.1.1 [MQTT-4.4.0-1]: unacknowledged messages again,
			// with DUP and their packet ids, in their order, then the rest.
			var got []*packet.Publish
			for range 3 {
				got = append(got, expect[*packet.Publish](sub))
			}
			for i, want := range []*packet.Publish{first, second} {
				if !got[i].Dup || got[i].PacketID != want.PacketID || got[i].Topic != want.Topic {
					t.Fatalf("resent %s id %d dup=%v, want %s id %d dup=true", got[i].Topic, got[i].PacketID, got[i].Dup, want.Topic, want.PacketID)
				}
			}
			if got[2].Topic != "offq/c" || got[2].Dup {
				t.Fatalf("third message %s dup=%v, want offq/c sent for the first time", got[2].Topic, got[2].Dup)
			}
			for _, p := range got {
				ackPublish(sub, p)
			}
			sub.expectNothing(150 * time.Millisecond)
		})
	}
}

func TestPubrelResentOnResume(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			sub, _ := connect(t, b.Addr, persistent(v, "relsub"))
			sub.subscribe(1, packet.Subscription{Filter: "rel", QoS: packet.ExactlyOnce})
			pub, _ := connect(t, b.Addr, conn(v, "relpub"))
			publish(pub, &packet.Publish{Topic: "rel", QoS: packet.ExactlyOnce, PacketID: 9, Payload: []byte("x")})
			got := expect[*packet.Publish](sub)
			sub.send(&packet.Pubrec{PacketID: got.PacketID})
			expect[*packet.Pubrel](sub)
			sub.nc.Close()
			// v5 and v3.1.1 [MQTT-4.4.0-1]: PUBREL again, not the PUBLISH.
			sub, _ = connect(t, b.Addr, persistent(v, "relsub"))
			if rel := expect[*packet.Pubrel](sub); rel.PacketID != got.PacketID {
				t.Fatalf("PUBREL for %d, want %d", rel.PacketID, got.PacketID)
			}
			sub.send(&packet.Pubcomp{PacketID: got.PacketID})
			sub.expectNothing(150 * time.Millisecond)
		})
	}
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	// v5 §3.1.2.11.2: the session ends when its interval passes offline.
	p := &packet.Connect{Version: packet.V5, ClientID: "expiring", Props: packet.Properties{SessionExpiry: 1, HasSessionExpiry: true}}
	c, _ := connect(t, b.Addr, p)
	c.subscribe(1, packet.Subscription{Filter: "e", QoS: packet.AtLeastOnce})
	c.send(&packet.Disconnect{})
	c.expectClosed()
	c, ack := connect(t, b.Addr, p)
	if !ack.SessionPresent {
		t.Fatal("session gone before its expiry")
	}
	c.send(&packet.Disconnect{})
	c.expectClosed()
	// Reconnecting would resume the session and stop its clock, so wait
	// out the interval, with room for a loaded machine, then look once.
	time.Sleep(1500 * time.Millisecond)
	if _, ack = connect(t, b.Addr, p); ack.SessionPresent {
		t.Fatal("session still present after its expiry")
	}
}

func TestCleanSessionEndsWithConnection(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	// v3.1.1 [MQTT-3.1.2-6]: a clean session's state ends with it.
	c, _ := connect(t, b.Addr, &packet.Connect{Version: packet.V311, ClientID: "cs", CleanStart: true})
	c.subscribe(1, packet.Subscription{Filter: "cs/t", QoS: packet.AtLeastOnce})
	c.send(&packet.Disconnect{})
	c.expectClosed()
	c, ack := connect(t, b.Addr, &packet.Connect{Version: packet.V311, ClientID: "cs"})
	if ack.SessionPresent {
		t.Fatal("clean session survived its connection")
	}
	pub, _ := connect(t, b.Addr, v311("cs-pub"))
	publish(pub, &packet.Publish{Topic: "cs/t", QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("x")})
	c.expectNothing(150 * time.Millisecond)
}

func TestOutboundWindowFollowsReceiveMaximum(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	p := v5("window")
	p.Props.ReceiveMaximum = 2
	sub, _ := connect(t, b.Addr, p)
	sub.subscribe(1, packet.Subscription{Filter: "w", QoS: packet.AtLeastOnce})
	pub, _ := connect(t, b.Addr, v5("window-pub"))
	for i := range 4 {
		publish(pub, &packet.Publish{Topic: "w", QoS: packet.AtLeastOnce, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	// v5 [MQTT-3.3.4-9]: no more than Receive Maximum unacknowledged.
	a, c := expect[*packet.Publish](sub), expect[*packet.Publish](sub)
	sub.expectNothing(200 * time.Millisecond)
	sub.send(&packet.Puback{PacketID: a.PacketID})
	d := expect[*packet.Publish](sub)
	sub.send(&packet.Puback{PacketID: c.PacketID})
	e := expect[*packet.Publish](sub)
	// v5 and v3.1.1 §4.6: in order.
	if string(a.Payload)+string(c.Payload)+string(d.Payload)+string(e.Payload) != "0123" {
		t.Fatalf("order %s%s%s%s, want 0123", a.Payload, c.Payload, d.Payload, e.Payload)
	}
}

func TestQueueOverflowDropsOldest(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{MaxQueuedMessages: 2})
	sub, _ := connect(t, b.Addr, persistent(packet.V311, "ovf"))
	sub.subscribe(1, packet.Subscription{Filter: "ovf", QoS: packet.AtLeastOnce})
	sub.send(&packet.Disconnect{})
	sub.expectClosed()
	pub, _ := connect(t, b.Addr, v311("ovf-pub"))
	for i := range 4 {
		publish(pub, &packet.Publish{Topic: "ovf", QoS: packet.AtLeastOnce, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	sub, _ = connect(t, b.Addr, persistent(packet.V311, "ovf"))
	for _, want := range []string{"2", "3"} {
		got := expect[*packet.Publish](sub)
		if string(got.Payload) != want {
			t.Fatalf("got %q, want %q: the oldest should have been dropped", got.Payload, want)
		}
		ackPublish(sub, got)
	}
	sub.expectNothing(150 * time.Millisecond)
}

func TestQueueOverflowDisconnectsSlowConsumer(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{MaxQueuedMessages: 2, QueueOverflow: broker.Disconnect})
	p := v5("slow")
	p.Props.ReceiveMaximum = 1
	sub, _ := connect(t, b.Addr, p)
	sub.subscribe(1, packet.Subscription{Filter: "slow", QoS: packet.AtLeastOnce})
	pub, _ := connect(t, b.Addr, v5("slow-pub"))
	// One in flight, two queued, and the fourth overflows: the consumer,
	// which acknowledges nothing, is disconnected; the publisher is not.
	for i := range 4 {
		publish(pub, &packet.Publish{Topic: "slow", QoS: packet.AtLeastOnce, PacketID: uint16(i + 1), Payload: []byte("x")})
	}
	if d := sub.expectClosed(); d == nil || d.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("got %+v, want DISCONNECT quota exceeded", d)
	}
	publish(pub, &packet.Publish{Topic: "slow", QoS: packet.AtLeastOnce, PacketID: 9, Payload: []byte("y")})
}
