package broker_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
)

// versions are the protocol versions a behaviour is checked in.
var versions = []packet.Version{packet.V311, packet.V5}

func conn(v packet.Version, id string) *packet.Connect {
	return &packet.Connect{Version: v, ClientID: id + "-" + v.String(), CleanStart: true, KeepAlive: 60}
}

// ackPublish completes the sender's side of a QoS 1 or 2 exchange.
func ackPublish(c *client, p *packet.Publish) {
	c.t.Helper()
	switch p.QoS {
	case packet.AtLeastOnce:
		c.send(&packet.Puback{PacketID: p.PacketID})
	case packet.ExactlyOnce:
		c.send(&packet.Pubrec{PacketID: p.PacketID})
		expect[*packet.Pubrel](c)
		c.send(&packet.Pubcomp{PacketID: p.PacketID})
	}
}

// publish sends a PUBLISH and completes the publisher's handshake.
func publish(c *client, p *packet.Publish) {
	c.t.Helper()
	c.send(p)
	switch p.QoS {
	case packet.AtLeastOnce:
		expect[*packet.Puback](c)
	case packet.ExactlyOnce:
		expect[*packet.Pubrec](c)
		c.send(&packet.Pubrel{PacketID: p.PacketID})
		expect[*packet.Pubcomp](c)
	}
}

func TestDeliveryQoSIsTheMinimum(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			// v3.1.1 [MQTT-3.8.4-6], v5 §3.8.4: the lower of the
			// message's QoS and the subscription's.
			sub, _ := connect(t, b.Addr, conn(v, "minsub"))
			sub.subscribe(1, packet.Subscription{Filter: "min/q1", QoS: packet.AtLeastOnce})
			pub, _ := connect(t, b.Addr, conn(v, "minpub"))
			publish(pub, &packet.Publish{Topic: "min/q1", QoS: packet.ExactlyOnce, PacketID: 5, Payload: []byte("2")})
			if got := expect[*packet.Publish](sub); got.QoS != packet.AtLeastOnce {
				t.Fatalf("QoS 2 message on a QoS 1 subscription arrived at QoS %d", got.QoS)
			} else {
				ackPublish(sub, got)
			}
			publish(pub, &packet.Publish{Topic: "min/q1", QoS: packet.AtMostOnce, Payload: []byte("0")})
			if got := expect[*packet.Publish](sub); got.QoS != packet.AtMostOnce {
				t.Fatalf("QoS 0 message arrived at QoS %d", got.QoS)
			}
		})
	}
}

func TestRetainedMessages(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			topic := "retained/" + v.String()
			pub, _ := connect(t, b.Addr, conn(v, "rpub"))
			publish(pub, &packet.Publish{Topic: topic, Retain: true, QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("old")})
			// v3.1.1 [MQTT-3.3.1-5], v5 [MQTT-3.3.1-5]: a new retained
			// message replaces the one stored.
			publish(pub, &packet.Publish{Topic: topic, Retain: true, QoS: packet.AtLeastOnce, PacketID: 2, Payload: []byte("new")})

			sub, _ := connect(t, b.Addr, conn(v, "rsub"))
			sub.subscribe(1, packet.Subscription{Filter: topic, QoS: packet.AtLeastOnce})
			got := expect[*packet.Publish](sub)
			// v3.1.1 [MQTT-3.3.1-8], v5 [MQTT-3.3.1-9]: sent on subscribe,
			// with RETAIN set.
			if string(got.Payload) != "new" || !got.Retain {
				t.Fatalf("on subscribe got %q retain=%v, want \"new\" retain=true", got.Payload, got.Retain)
			}
			ackPublish(sub, got)
			sub.expectNothing(100 * time.Millisecond)

			// v3.1.1 [MQTT-3.3.1-9], v5 [MQTT-3.3.1-12]: forwarded to an
			// established subscription with RETAIN cleared.
			publish(pub, &packet.Publish{Topic: topic, Retain: true, Payload: []byte("live")})
			if got := expect[*packet.Publish](sub); got.Retain || string(got.Payload) != "live" {
				t.Fatalf("live retained message forwarded with retain=%v %q", got.Retain, got.Payload)
			}

			// v3.1.1 [MQTT-3.3.1-10], v5 [MQTT-3.3.1-6]: an empty retained
			// message deletes the stored one.
			publish(pub, &packet.Publish{Topic: topic, Retain: true, Payload: nil})
			expect[*packet.Publish](sub)
			late, _ := connect(t, b.Addr, conn(v, "rlate"))
			late.subscribe(1, packet.Subscription{Filter: topic})
			late.expectNothing(200 * time.Millisecond)
		})
	}
}

func TestRetainHandlingAndRetainAsPublished(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	pub, _ := connect(t, b.Addr, v5("rh-pub"))
	// At QoS 1, so that the PUBACK says the broker holds the retained
	// message before the subscriber subscribes; at QoS 0 it could still
	// be on its way and arrive as a live message instead.
	publish(pub, &packet.Publish{Topic: "rh/t", Retain: true, QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("kept")})
	sub, _ := connect(t, b.Addr, v5("rh-sub"))

	// v5 [MQTT-3.3.1-11]: Retain Handling 2 sends nothing.
	sub.subscribe(1, packet.Subscription{Filter: "rh/t", RetainHandling: packet.DoNotSendRetained})
	sub.expectNothing(150 * time.Millisecond)
	// v5 [MQTT-3.3.1-10]: Retain Handling 1 sends only for a new
	// subscription; this one exists.
	sub.subscribe(2, packet.Subscription{Filter: "rh/t", RetainHandling: packet.SendRetainedIfNew})
	sub.expectNothing(150 * time.Millisecond)
	sub.subscribe(3, packet.Subscription{Filter: "rh/+", RetainHandling: packet.SendRetainedIfNew, RetainAsPublished: true})
	if got := expect[*packet.Publish](sub); !got.Retain {
		t.Fatal("retained message for a new subscription arrived without RETAIN")
	}
	// v5 [MQTT-3.3.1-13]: Retain As Published keeps the flag on a live
	// message; the rh/t subscription (without it) gets its own copy
	// with the flag cleared, since the two disagree on the option.
	publish(pub, &packet.Publish{Topic: "rh/t", Retain: true, Payload: []byte("again")})
	kept := 0
	for range 2 {
		if expect[*packet.Publish](sub).Retain {
			kept++
		}
	}
	if kept != 1 {
		t.Fatalf("%d of 2 copies kept RETAIN, want exactly one", kept)
	}
}

func TestOverlappingSubscriptions(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	t.Run("3.1.1", func(t *testing.T) {
		// v3.1.1 [MQTT-3.3.5-1]: one copy, at the highest QoS.
		sub, _ := connect(t, b.Addr, v311("ov3"))
		sub.subscribe(1, packet.Subscription{Filter: "ov/#", QoS: packet.AtMostOnce},
			packet.Subscription{Filter: "ov/+", QoS: packet.AtLeastOnce})
		pub, _ := connect(t, b.Addr, v311("ov3pub"))
		publish(pub, &packet.Publish{Topic: "ov/x", QoS: packet.ExactlyOnce, PacketID: 1, Payload: []byte("m")})
		got := expect[*packet.Publish](sub)
		if got.QoS != packet.AtLeastOnce {
			t.Fatalf("QoS %d, want 1", got.QoS)
		}
		ackPublish(sub, got)
		sub.expectNothing(150 * time.Millisecond)
	})
	t.Run("5.0 subscription identifiers", func(t *testing.T) {
		// v5 [MQTT-3.3.4-3]: the one copy carries every identifier.
		sub, _ := connect(t, b.Addr, v5("ov5"))
		s1 := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "ov5/#"}}}
		s1.Props.SubscriptionIdentifiers = []uint32{7}
		sub.send(s1)
		expect[*packet.Suback](sub)
		s2 := &packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "ov5/+", QoS: packet.AtLeastOnce}}}
		s2.Props.SubscriptionIdentifiers = []uint32{9}
		sub.send(s2)
		expect[*packet.Suback](sub)
		pub, _ := connect(t, b.Addr, v5("ov5pub"))
		publish(pub, &packet.Publish{Topic: "ov5/x", QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("m")})
		got := expect[*packet.Publish](sub)
		ids := slices.Sorted(slices.Values(got.Props.SubscriptionIdentifiers))
		if got.QoS != packet.AtLeastOnce || !slices.Equal(ids, []uint32{7, 9}) {
			t.Fatalf("QoS %d ids %v, want QoS 1 ids [7 9]", got.QoS, ids)
		}
		ackPublish(sub, got)
		sub.expectNothing(150 * time.Millisecond)
	})
}

func TestNoLocal(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	// v5 [MQTT-3.8.3-3]
	c, _ := connect(t, b.Addr, v5("nolocal"))
	c.subscribe(1, packet.Subscription{Filter: "nl/t", NoLocal: true})
	other, _ := connect(t, b.Addr, v5("nolocal-other"))
	other.subscribe(1, packet.Subscription{Filter: "nl/t", NoLocal: true})
	publish(c, &packet.Publish{Topic: "nl/t", Payload: []byte("mine")})
	if got := expect[*packet.Publish](other); string(got.Payload) != "mine" {
		t.Fatalf("other client got %q", got.Payload)
	}
	c.expectNothing(150 * time.Millisecond)
}

func TestDollarTopics(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{SysInterval: 50 * time.Millisecond})
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			// v5 and v3.1.1 [MQTT-4.7.2-1]: '#' does not match $SYS.
			wild, _ := connect(t, b.Addr, conn(v, "wild"))
			wild.subscribe(1, packet.Subscription{Filter: "#"})
			sys, _ := connect(t, b.Addr, conn(v, "sys"))
			sys.subscribe(1, packet.Subscription{Filter: "$SYS/broker/version"})
			if got := expect[*packet.Publish](sys); got.Topic != "$SYS/broker/version" || len(got.Payload) == 0 {
				t.Fatalf("got %q %q, want the version", got.Topic, got.Payload)
			}
			wild.expectNothing(200 * time.Millisecond)
			// Clients may not publish to '$' topics: the message goes nowhere.
			publish(wild, &packet.Publish{Topic: "$SYS/fake", Payload: []byte("x")})
			spy, _ := connect(t, b.Addr, conn(v, "spy"))
			spy.subscribe(1, packet.Subscription{Filter: "$SYS/fake"})
			spy.expectNothing(150 * time.Millisecond)
		})
	}
}

func TestMessageExpiry(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	// v5 [MQTT-3.3.2-5]: an expired message is not delivered;
	// [MQTT-3.3.2-6]: the remaining interval is forwarded.
	sub, _ := connect(t, b.Addr, &packet.Connect{Version: packet.V5, ClientID: "exp-sub",
		Props: packet.Properties{SessionExpiry: 60, HasSessionExpiry: true}})
	sub.subscribe(1, packet.Subscription{Filter: "exp/#", QoS: packet.AtLeastOnce})
	sub.send(&packet.Disconnect{})
	sub.expectClosed()
	pub, _ := connect(t, b.Addr, v5("exp-pub"))
	short := &packet.Publish{Topic: "exp/short", QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("s")}
	short.Props.MessageExpiry, short.Props.HasMessageExpiry = 1, true
	long := &packet.Publish{Topic: "exp/long", QoS: packet.AtLeastOnce, PacketID: 2, Payload: []byte("l")}
	long.Props.MessageExpiry, long.Props.HasMessageExpiry = 100, true
	publish(pub, short)
	publish(pub, long)
	time.Sleep(1100 * time.Millisecond) // let the short message's lifetime pass
	sub, _ = connect(t, b.Addr, &packet.Connect{Version: packet.V5, ClientID: "exp-sub",
		Props: packet.Properties{SessionExpiry: 60, HasSessionExpiry: true}})
	got := expect[*packet.Publish](sub)
	if got.Topic != "exp/long" || !got.Props.HasMessageExpiry || got.Props.MessageExpiry > 99 || got.Props.MessageExpiry < 90 {
		t.Fatalf("got %s with expiry %v/%d, want exp/long with 90-99 s left", got.Topic, got.Props.HasMessageExpiry, got.Props.MessageExpiry)
	}
	ackPublish(sub, got)
	sub.expectNothing(150 * time.Millisecond)
}

func TestPropertiesForwardedUnchanged(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	sub, _ := connect(t, b.Addr, v5("props-sub"))
	sub.subscribe(1, packet.Subscription{Filter: "req/+"})
	pub, _ := connect(t, b.Addr, v5("props-pub"))
	p := &packet.Publish{Topic: "req/a", Payload: []byte(`{"x":1}`)}
	p.Props = packet.Properties{PayloadFormat: 1, ContentType: "application/json", ResponseTopic: "resp/a",
		CorrelationData: []byte{1, 2, 3}, User: []packet.UserProperty{{Key: "b", Value: "2"}, {Key: "a", Value: "1"}, {Key: "b", Value: "3"}}}
	publish(pub, p)
	got := expect[*packet.Publish](sub)
	// v5 [MQTT-3.3.2-4], [MQTT-3.3.2-20], [MQTT-3.3.2-15], [MQTT-3.3.2-16],
	// [MQTT-3.3.2-17], [MQTT-3.3.2-18]: forwarded unaltered, user
	// properties in order.
	g := got.Props
	if g.PayloadFormat != 1 || g.ContentType != "application/json" || g.ResponseTopic != "resp/a" ||
		!bytes.Equal(g.CorrelationData, []byte{1, 2, 3}) || !slices.Equal(g.User, p.Props.User) {
		t.Fatalf("properties %+v, want %+v", g, p.Props)
	}
}

func TestTopicAliasFromClient(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{TopicAliasMaximum: 2})
	sub, _ := connect(t, b.Addr, v5("alias-sub"))
	sub.subscribe(1, packet.Subscription{Filter: "alias/#"})
	pub, _ := connect(t, b.Addr, v5("alias-pub"))
	set := &packet.Publish{Topic: "alias/one", Payload: []byte("1")}
	set.Props.TopicAlias = 1
	publish(pub, set)
	use := &packet.Publish{Payload: []byte("2")}
	use.Props.TopicAlias = 1
	publish(pub, use)
	for _, want := range []string{"1", "2"} {
		if got := expect[*packet.Publish](sub); got.Topic != "alias/one" || string(got.Payload) != want {
			t.Fatalf("got %q %q, want alias/one %q", got.Topic, got.Payload, want)
		}
	}
	// v5 [MQTT-3.3.2-9]: an alias above the maximum is 0x94.
	bad := &packet.Publish{Topic: "alias/x", Payload: []byte("3")}
	bad.Props.TopicAlias = 3
	pub.send(bad)
	if d := pub.expectClosed(); d == nil || d.ReasonCode != packet.TopicAliasInvalid {
		t.Fatalf("got %+v, want DISCONNECT topic alias invalid", d)
	}
}

func TestTopicAliasToClient(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	p := v5("alias-out")
	p.Props.TopicAliasMaximum = 1
	sub, _ := connect(t, b.Addr, p)
	sub.subscribe(1, packet.Subscription{Filter: "ao/#"})
	pub, _ := connect(t, b.Addr, v5("alias-out-pub"))
	for range 2 {
		publish(pub, &packet.Publish{Topic: "ao/t", Payload: []byte("x")})
	}
	first, second := expect[*packet.Publish](sub), expect[*packet.Publish](sub)
	if first.Topic != "ao/t" || first.Props.TopicAlias == 0 || second.Topic != "" || second.Props.TopicAlias != first.Props.TopicAlias {
		t.Fatalf("first %q alias %d, second %q alias %d: want the alias set, then used alone",
			first.Topic, first.Props.TopicAlias, second.Topic, second.Props.TopicAlias)
	}
}

func TestMaximumPacketSizeToClient(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	p := v5("small")
	p.Props.MaximumPacketSize = 64
	sub, _ := connect(t, b.Addr, p)
	sub.subscribe(1, packet.Subscription{Filter: "big/#", QoS: packet.AtLeastOnce})
	pub, _ := connect(t, b.Addr, v5("big-pub"))
	// v5 [MQTT-3.1.2-24], [MQTT-3.1.2-25]: too large for the client, so
	// not sent; the next one that fits is.
	publish(pub, &packet.Publish{Topic: "big/a", QoS: packet.AtLeastOnce, PacketID: 1, Payload: make([]byte, 100)})
	publish(pub, &packet.Publish{Topic: "big/b", QoS: packet.AtLeastOnce, PacketID: 2, Payload: []byte("fits")})
	if got := expect[*packet.Publish](sub); got.Topic != "big/b" {
		t.Fatalf("got %s (%d bytes), want only big/b", got.Topic, len(got.Payload))
	}
}

func TestQoS2DuplicateIsNotDeliveredTwice(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			sub, _ := connect(t, b.Addr, conn(v, "q2dsub"))
			sub.subscribe(1, packet.Subscription{Filter: "q2d", QoS: packet.ExactlyOnce})
			pub, _ := connect(t, b.Addr, conn(v, "q2dpub"))
			p := &packet.Publish{Topic: "q2d", QoS: packet.ExactlyOnce, PacketID: 77, Payload: []byte("once")}
			pub.send(p)
			expect[*packet.Pubrec](pub)
			// v5 [MQTT-4.3.3-10]: resent before PUBREL, it gets PUBREC
			// again and is not delivered again.
			dup := *p
			dup.Dup = true
			pub.send(&dup)
			expect[*packet.Pubrec](pub)
			pub.send(&packet.Pubrel{PacketID: 77})
			expect[*packet.Pubcomp](pub)
			ackPublish(sub, expect[*packet.Publish](sub))
			sub.expectNothing(150 * time.Millisecond)
		})
	}
}

func TestReceiveMaximumExceeded(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{ReceiveMaximum: 2})
	c, _ := connect(t, b.Addr, v5("greedy"))
	// v5 [MQTT-3.3.4-7]: a third unacknowledged QoS 2 PUBLISH breaks our
	// Receive Maximum of 2.
	for id := uint16(1); id <= 3; id++ {
		c.send(&packet.Publish{Topic: "rm", QoS: packet.ExactlyOnce, PacketID: id, Payload: []byte("x")})
	}
	expect[*packet.Pubrec](c)
	expect[*packet.Pubrec](c)
	if d := c.expectClosed(); d == nil || d.ReasonCode != packet.ReceiveMaximumExceeded {
		t.Fatalf("got %+v, want DISCONNECT receive maximum exceeded", d)
	}
}

func TestRetainedStreamWithinFlowControl(t *testing.T) {
	t.Parallel()
	// More retained messages than the queue holds: all arrive, none is
	// dropped by the overflow policy, and the window is respected.
	const n = 300
	b := brokertest.Start(t, broker.Options{MaxQueuedMessages: 10})
	pub, _ := connect(t, b.Addr, v5("stream-pub"))
	for i := range n {
		publish(pub, &packet.Publish{Topic: fmt.Sprintf("stream/%03d", i), Retain: true, QoS: packet.AtLeastOnce,
			PacketID: uint16(i + 1), Payload: []byte("x")})
	}
	p := v5("stream-sub")
	p.Props.ReceiveMaximum = 5
	sub, _ := connect(t, b.Addr, p)
	sub.subscribe(1, packet.Subscription{Filter: "stream/#", QoS: packet.AtLeastOnce})
	seen := map[string]bool{}
	for len(seen) < n {
		got := expect[*packet.Publish](sub)
		if !got.Retain || seen[got.Topic] {
			t.Fatalf("got %s retain=%v (seen before: %v)", got.Topic, got.Retain, seen[got.Topic])
		}
		seen[got.Topic] = true
		sub.send(&packet.Puback{PacketID: got.PacketID})
	}
	sub.expectNothing(100 * time.Millisecond)
}

// TestFanOutSharesEncodingCorrectly sends one message to subscribers whose
// wire forms agree and differ (version, QoS, packet ids in use), so the
// encoding shared between them is checked from each side.
func TestFanOutSharesEncodingCorrectly(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	type want struct {
		c   *client
		qos packet.QoS
	}
	var subs []want
	for i, v := range []packet.Version{packet.V311, packet.V311, packet.V5, packet.V5, packet.V31} {
		qos := packet.QoS(i % 3)
		c, _ := connect(t, b.Addr, &packet.Connect{Version: v, ClientID: fmt.Sprint("fan-", i), CleanStart: true})
		c.subscribe(1, packet.Subscription{Filter: "fan/#", QoS: qos})
		// Advance the broker's packet ids for this client differently.
		for range i {
			publish(c, &packet.Publish{Topic: "other", QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("-")})
		}
		subs = append(subs, want{c, qos})
	}
	pub, _ := connect(t, b.Addr, v5("fan-pub"))
	for n := range 3 {
		publish(pub, &packet.Publish{Topic: "fan/x", QoS: packet.ExactlyOnce, PacketID: uint16(n + 1), Payload: []byte(fmt.Sprint("m", n))})
	}
	for i, s := range subs {
		seen := map[uint16]bool{}
		var got []*packet.Publish
		for n := range 3 {
			p := expect[*packet.Publish](s.c)
			if p.Topic != "fan/x" || string(p.Payload) != fmt.Sprint("m", n) || p.QoS != s.qos || p.Retain {
				t.Fatalf("subscriber %d got %s %q QoS %d retain %v, want fan/x m%d QoS %d", i, p.Topic, p.Payload, p.QoS, p.Retain, n, s.qos)
			}
			if s.qos > 0 && (p.PacketID == 0 || seen[p.PacketID]) {
				t.Fatalf("subscriber %d got packet id %d twice or zero", i, p.PacketID)
			}
			seen[p.PacketID] = true
			got = append(got, p)
		}
		for _, p := range got {
			ackPublish(s.c, p)
		}
	}
}
