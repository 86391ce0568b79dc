package interop_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// TestAutopahoReconnect cuts autopaho's connection and keeps it offline
// while QoS 1 and 2 messages are published to its persistent session, then
// lets it back. The messages must arrive, the QoS 1 ones in order, without
// autopaho subscribing again, and what autopaho queued while offline must
// reach the broker.
func TestAutopahoReconnect(t *testing.T) {
	b := startBroker(t)
	px := startProxy(t, b.Addr)
	u, err := url.Parse("mqtt://" + px.addr())
	if err != nil {
		t.Fatal(err)
	}

	ups := make(chan *paho.Connack, 8)
	downs := make(chan struct{}, 8)
	recv := make(chan message, 64)
	// QoS 2 messages have their own channel: the order of messages of
	// different QoS is not promised ([MQTT-4.6.0-6] is per QoS).
	recv2 := make(chan message, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		SessionExpiryInterval:         300,
		// Retry fast: the test, not a backoff, decides when it may connect.
		ReconnectBackoff: autopaho.NewConstantBackoff(20 * time.Millisecond),
		ConnectTimeout:   waitTimeout,
		OnConnectionUp:   func(_ *autopaho.ConnectionManager, ack *paho.Connack) { ups <- ack },
		OnConnectionDown: func() bool { downs <- struct{}{}; return true },
		ClientConfig: paho.ClientConfig{
			ClientID: "autopaho-reconnect",
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					p := pr.Packet
					m := message{Topic: p.Topic, QoS: p.QoS, Retain: p.Retain, Payload: p.Payload}
					if m.QoS == 2 {
						recv2 <- m
					} else {
						recv <- m
					}
					return true, nil
				},
			},
		},
	})
	if err != nil {
		t.Fatalf("autopaho: %v", err)
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), waitTimeout)
		defer dcancel()
		_ = cm.Disconnect(dctx)
	}()

	if ack := receive(t, ups, "first CONNACK"); ack.SessionPresent {
		t.Fatal("first connection with Clean Start has Session Present set")
	}
	// Subscribed once, on the first connection only: after the reconnect
	// the subscription must come from the session the broker kept.
	if ack, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "auto/#", QoS: 2}}}); err != nil || len(ack.Reasons) != 1 || ack.Reasons[0] != 2 {
		t.Fatalf("subscribe: %v %+v", err, ack)
	}

	other := make(chan message, 64)
	pub := pahoGolang{}.connect(t, b.Addr, "autopaho-peer", &paho.Connect{CleanStart: true}, other)
	if _, err := pub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "from-auto", QoS: 1}}}); err != nil {
		t.Fatalf("peer subscribe: %v", err)
	}
	publish := func(n int) message {
		t.Helper()
		m := message{Topic: "auto/seq", QoS: 1, Payload: fmt.Appendf(nil, "m%d", n)}
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: m.Topic, QoS: m.QoS, Payload: m.Payload}); err != nil {
			t.Fatalf("publish %s: %v", m.Payload, err)
		}
		return m
	}
	auto := &inbox{ch: recv}
	auto.expect(t, publish(1))

	px.refuse(true)
	px.cut()
	receive(t, downs, "autopaho noticing the cut")

	offline := []message{publish(2), publish(3), publish(4)}
	exactly := message{Topic: "auto/exactly", QoS: 2, Payload: []byte("exactly once, while offline")}
	if _, err := pub.Publish(ctx, &paho.Publish{Topic: exactly.Topic, QoS: 2, Payload: exactly.Payload}); err != nil {
		t.Fatalf("publish QoS 2: %v", err)
	}
	queued := &paho.Publish{Topic: "from-auto", QoS: 1, Payload: []byte("queued while offline")}
	if err := cm.PublishViaQueue(ctx, &autopaho.QueuePublish{Publish: queued}); err != nil {
		t.Fatalf("PublishViaQueue: %v", err)
	}

	px.refuse(false)
	if ack := receive(t, ups, "CONNACK after reconnecting"); !ack.SessionPresent {
		t.Fatal("reconnect without Clean Start to a live session: Session Present not set")
	}
	// [MQTT-4.6.0-6]: one topic, one QoS, so the order is the publisher's.
	auto.expect(t, offline...)
	auto.expect(t, publish(5))
	if got := receive(t, recv2, "the QoS 2 message"); got.Topic != exactly.Topic || string(got.Payload) != string(exactly.Payload) {
		t.Fatalf("got %v\nwant %v", got, exactly)
	}
	peer := &inbox{ch: other}
	peer.expect(t, message{Topic: queued.Topic, QoS: 1, Payload: queued.Payload})
}

// receive waits for one value on ch.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("no %s within %v", what, waitTimeout)
		panic("unreachable")
	}
}

// inbox reads one client's messages across reconnections.
type inbox struct {
	ch   <-chan message
	seen map[string]bool // payloads received
}

// expect checks that the next messages are want, in order. A QoS 1 message
// received before may come again: the client acknowledges a message only
// after handing it over, so a cut can lose that PUBACK, and then the broker
// must send the message again when the session resumes ([MQTT-4.4.0-1]).
func (in *inbox) expect(t *testing.T, want ...message) {
	t.Helper()
	if in.seen == nil {
		in.seen = make(map[string]bool)
	}
	for _, w := range want {
		got := receive(t, in.ch, "message "+w.String())
		for got.QoS == 1 && in.seen[string(got.Payload)] {
			got = receive(t, in.ch, "message "+w.String())
		}
		if got.Topic != w.Topic || got.QoS != w.QoS || got.Retain != w.Retain || string(got.Payload) != string(w.Payload) {
			t.Fatalf("got %v\nwant %v", got, w)
		}
		in.seen[string(got.Payload)] = true
	}
}
