package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
)

func TestSharedSubscriptionRoundRobin(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	pub, _ := connect(t, b.Addr, v5("sh-pub"))
	// At QoS 1, so the broker has it before anyone subscribes.
	publish(pub, &packet.Publish{Topic: "jobs/1", Retain: true, QoS: packet.AtLeastOnce, PacketID: 100, Payload: []byte("retained")})
	var members []*client
	for i := range 3 {
		m, _ := connect(t, b.Addr, v5(fmt.Sprint("worker-", i)))
		m.subscribe(1, packet.Subscription{Filter: "$share/workers/jobs/+", QoS: packet.AtLeastOnce})
		members = append(members, m)
	}
	// v5 §4.8.2: retained messages are not sent to shared subscriptions.
	for _, m := range members {
		m.expectNothing(100 * time.Millisecond)
	}
	for i := range 6 {
		publish(pub, &packet.Publish{Topic: "jobs/1", QoS: packet.AtLeastOnce, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	// Each message goes to exactly one member; round robin gives each two.
	for _, m := range members {
		for range 2 {
			ackPublish(m, expect[*packet.Publish](m))
		}
		m.expectNothing(100 * time.Millisecond)
	}
}

func TestSharedSubscriptionMemberLeaves(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	leaving, _ := connect(t, b.Addr, v5("leaving"))
	leaving.subscribe(1, packet.Subscription{Filter: "$share/g/work", QoS: packet.AtLeastOnce})
	staying, _ := connect(t, b.Addr, v5("staying"))
	staying.subscribe(1, packet.Subscription{Filter: "$share/g/work", QoS: packet.AtLeastOnce})
	pub, _ := connect(t, b.Addr, v5("work-pub"))
	for i := range 2 {
		publish(pub, &packet.Publish{Topic: "work", QoS: packet.AtLeastOnce, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	// One message each; the leaving member never acknowledges its own.
	ackPublish(staying, expect[*packet.Publish](staying))
	unacked := expect[*packet.Publish](leaving)
	leaving.nc.Close()
	// v5 [MQTT-4.8.2-5]: its unacknowledged QoS 1 message goes to the
	// other member rather than being lost.
	got := expect[*packet.Publish](staying)
	if string(got.Payload) != string(unacked.Payload) {
		t.Fatalf("staying member got %q, want the leaver's %q", got.Payload, unacked.Payload)
	}
}

func TestNoLocalOnSharedIsAProtocolError(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	c, _ := connect(t, b.Addr, v5("nl-shared"))
	// v5 [MQTT-3.8.3-4]
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$share/g/t"}}})
	expect[*packet.Suback](c)
	raw := []byte{0x82, 0x0f, 0, 2, 0, 0, 0x0a, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 't', 0x04}
	raw[1] = byte(len(raw) - 2)
	c.sendRaw(raw)
	if d := c.expectClosed(); d == nil || d.ReasonCode != packet.ProtocolError {
		t.Fatalf("got %+v, want DISCONNECT protocol error", d)
	}
}

func TestSubscribeReasonCodes(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{MaximumQoS: 1, MaximumQoSSet: true, WildcardSubscriptionsDisabled: true})
	c, _ := connect(t, b.Addr, v5("codes"))
	ack := c.subscribe(1,
		packet.Subscription{Filter: "ok", QoS: packet.ExactlyOnce},
		packet.Subscription{Filter: "bad/#/x"},
		packet.Subscription{Filter: "wild/+"},
		packet.Subscription{Filter: "$share/bad+name/x"},
	)
	want := []packet.ReasonCode{packet.GrantedQoS1, packet.TopicFilterInvalid, packet.WildcardSubscriptionsNotSupported, packet.TopicFilterInvalid}
	if fmt.Sprint(ack.ReasonCodes) != fmt.Sprint(want) {
		t.Fatalf("SUBACK %v, want %v", ack.ReasonCodes, want)
	}
	c3, _ := connect(t, b.Addr, v311("codes3"))
	// v3.1.1 [MQTT-3.9.3-2]: failures are 0x80.
	ack = c3.subscribe(1, packet.Subscription{Filter: "bad/#/x"})
	if ack.ReasonCodes[0] != packet.UnspecifiedError {
		t.Fatalf("SUBACK %v, want [0x80]", ack.ReasonCodes)
	}
	// UNSUBSCRIBE reports which filters existed (v5 §3.11.3).
	c.send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"ok", "never"}})
	un := expect[*packet.Unsuback](c)
	if fmt.Sprint(un.ReasonCodes) != fmt.Sprint([]packet.ReasonCode{packet.Success, packet.NoSubscriptionExisted}) {
		t.Fatalf("UNSUBACK %v", un.ReasonCodes)
	}
}

func TestSharedSubscriptionMemberUnsubscribes(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	leaving, _ := connect(t, b.Addr, v5("unsub-leaving"))
	leaving.subscribe(1, packet.Subscription{Filter: "$share/u/job", QoS: packet.AtLeastOnce})
	staying, _ := connect(t, b.Addr, v5("unsub-staying"))
	staying.subscribe(1, packet.Subscription{Filter: "$share/u/job", QoS: packet.AtLeastOnce})
	pub, _ := connect(t, b.Addr, v5("unsub-pub"))
	for i := range 2 {
		publish(pub, &packet.Publish{Topic: "job", QoS: packet.AtLeastOnce, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	ackPublish(staying, expect[*packet.Publish](staying))
	unacked := expect[*packet.Publish](leaving)
	// v5 [MQTT-4.8.2-5]: leaving the group by UNSUBSCRIBE hands the
	// unacknowledged QoS 1 message to the member that stays.
	leaving.send(&packet.Unsubscribe{PacketID: 3, Filters: []string{"$share/u/job"}})
	expect[*packet.Unsuback](leaving)
	if got := expect[*packet.Publish](staying); string(got.Payload) != string(unacked.Payload) {
		t.Fatalf("staying member got %q, want %q", got.Payload, unacked.Payload)
	}
}
