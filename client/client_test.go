package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/client"
	"github.com/petrelmq/petrel/packet"
)

var versions = []packet.Version{packet.V311, packet.V5}

// TestPublishSubscribe sends a message each way at every QoS and version.
func TestPublishSubscribe(t *testing.T) {
	b := brokertest.Start(t, broker.Options{})
	exchangeAll(t, b.Addr)
}

func exchangeAll(t *testing.T, addr string) {
	for _, v := range versions {
		for qos := packet.AtMostOnce; qos <= packet.ExactlyOnce; qos++ {
			t.Run(fmt.Sprintf("%s/QoS%d", v, qos), func(t *testing.T) { exchange(t, addr, v, qos) })
		}
	}
}

// exchange has two clients send each other messages: the publisher's
// Publish returns only once the exchange is complete, and the subscriber
// receives each message once with the QoS it asked for.
func exchange(t *testing.T, addr string, v packet.Version, qos packet.QoS) {
	topic := fmt.Sprintf("pubsub/%d/%d", v, qos)
	sub := dial(t, client.Options{Addr: addr, Version: v, ClientID: fmt.Sprintf("sub-%d-%d", v, qos)})
	pub := dial(t, client.Options{Addr: addr, Version: v, ClientID: fmt.Sprintf("pub-%d-%d", v, qos)})
	subscribe(t, sub, topic, qos)
	subscribe(t, pub, topic+"/reply", qos)
	for i := range 3 {
		payload := fmt.Sprintf("m%d", i)
		if err := pub.Publish(testContext(t), &packet.Publish{Topic: topic, QoS: qos, Payload: []byte(payload)}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		m := next(t, sub.Messages())
		if m.Topic != topic || string(m.Payload) != payload || m.QoS != qos || m.Retain {
			t.Fatalf("got %s QoS %d retain %t %q, want %s QoS %d %q", m.Topic, m.QoS, m.Retain, m.Payload, topic, qos, payload)
		}
		// And back, from the subscriber's side.
		if err := sub.Publish(testContext(t), &packet.Publish{Topic: topic + "/reply", QoS: qos, Payload: m.Payload}); err != nil {
			t.Fatalf("Publish reply: %v", err)
		}
		if r := next(t, pub.Messages()); string(r.Payload) != payload || r.QoS != qos {
			t.Fatalf("reply QoS %d %q, want QoS %d %q", r.QoS, r.Payload, qos, payload)
		}
	}
	if qos > 0 {
		quiet(t, sub.Messages(), 100*time.Millisecond)
	}
}

// TestUserPropertiesAndHandler checks 5.0 properties travel both in
// CONNECT-adjacent packets and on messages, and that OnMessage receives
// messages in order and may publish from inside the handler.
func TestUserPropertiesAndHandler(t *testing.T) {
	b := brokertest.Start(t, broker.Options{})
	got := make(chan *packet.Publish, 10)
	echoed := make(chan error, 10)
	var echo *client.Client
	echo = dial(t, client.Options{Addr: b.Addr, ClientID: "echo", OnMessage: func(m *packet.Publish) {
		// Publishing at QoS 1 from the handler must not deadlock the reader.
		echoed <- echo.Publish(context.Background(), &packet.Publish{Topic: "echoed", QoS: 1, Payload: m.Payload, Props: m.Props})
	}})
	if echo.Messages() != nil {
		t.Error("Messages() is not nil with OnMessage set")
	}
	subscribe(t, echo, "echo", 1)
	listener := dial(t, client.Options{Addr: b.Addr, ClientID: "listener", OnMessage: func(m *packet.Publish) { got <- m }})
	subscribe(t, listener, "echoed", 1)
	pub := dial(t, client.Options{Addr: b.Addr, ClientID: "pub"})
	for i := range 5 {
		err := pub.Publish(testContext(t), &packet.Publish{Topic: "echo", QoS: 1, Payload: []byte{byte('0' + i)}, Props: packet.Properties{
			User:            []packet.UserProperty{{Key: "k", Value: "v"}},
			ContentType:     "text/plain",
			ResponseTopic:   "replies/here",
			CorrelationData: []byte("corr"),
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		m := next(t, got)
		if string(m.Payload) != string(rune('0'+i)) {
			t.Fatalf("message %d has payload %q: out of order", i, m.Payload)
		}
		p := m.Props
		if len(p.User) != 1 || p.User[0] != (packet.UserProperty{Key: "k", Value: "v"}) || p.ContentType != "text/plain" ||
			p.ResponseTopic != "replies/here" || string(p.CorrelationData) != "corr" {
			t.Fatalf("properties lost on the way: %+v", p)
		}
	}
	// The listener can have an echo before the echo's PUBACK is back:
	// wait for every Publish from the handler before the broker stops.
	for range 5 {
		select {
		case err := <-echoed:
			if err != nil {
				t.Errorf("Publish from handler: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("a Publish from the handler did not return in %s", waitTimeout)
		}
	}
}

func TestRetained(t *testing.T) {
	b := brokertest.Start(t, broker.Options{})
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			topic := fmt.Sprintf("retained/%d", v)
			pub := dial(t, client.Options{Addr: b.Addr, Version: v, ClientID: "pub"})
			if err := pub.Publish(testContext(t), &packet.Publish{Topic: topic, QoS: 1, Retain: true, Payload: []byte("kept")}); err != nil {
				t.Fatal(err)
			}
			sub := dial(t, client.Options{Addr: b.Addr, Version: v, ClientID: "sub"})
			subscribe(t, sub, topic, 1)
			if m := next(t, sub.Messages()); !m.Retain || string(m.Payload) != "kept" {
				t.Fatalf("got retain %t %q, want the retained message", m.Retain, m.Payload)
			}
		})
	}
}

// TestWill cuts a client's connection and expects its will, with its 5.0
// properties; and a 5.0 Disconnect with DisconnectWithWillMessage.
func TestWill(t *testing.T) {
	b := brokertest.Start(t, broker.Options{})
	watcher := dial(t, client.Options{Addr: b.Addr, ClientID: "watcher"})
	subscribe(t, watcher, "wills/#", 1)
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			topic := fmt.Sprintf("wills/%d", v)
			p := startProxy(t, b.Addr)
			dying := dial(t, client.Options{Addr: p.addr(), Version: v, ClientID: "dying", Will: &packet.Will{
				Topic: topic, QoS: 1, Payload: []byte("gone"), Props: packet.Properties{ContentType: "text/plain"},
			}})
			p.cut()
			select {
			case <-dying.Done():
			case <-time.After(waitTimeout):
				t.Fatal("client did not notice its connection was cut")
			}
			if err := dying.Err(); err == nil || !strings.HasPrefix(err.Error(), "connection lost: ") {
				t.Errorf("Err() = %v, want connection lost", err)
			}
			m := next(t, watcher.Messages())
			if m.Topic != topic || string(m.Payload) != "gone" {
				t.Fatalf("got %s %q, want the will", m.Topic, m.Payload)
			}
			if v == packet.V5 && m.Props.ContentType != "text/plain" {
				t.Errorf("will content type %q, want text/plain", m.Props.ContentType)
			}
		})
	}
	t.Run("DisconnectWithWillMessage", func(t *testing.T) {
		c := dial(t, client.Options{Addr: b.Addr, ClientID: "leaving", Will: &packet.Will{Topic: "wills/leaving", Payload: []byte("bye")}})
		if err := c.Disconnect(testContext(t), packet.DisconnectWithWillMessage); err != nil {
			t.Fatal(err)
		}
		if m := next(t, watcher.Messages()); string(m.Payload) != "bye" {
			t.Fatalf("got %q, want the will", m.Payload)
		}
		if err := c.Publish(testContext(t), &packet.Publish{Topic: "x"}); !errors.Is(err, client.ErrClosed) {
			t.Errorf("Publish after Disconnect: %v, want ErrClosed", err)
		}
	})
}

func TestConnectErrors(t *testing.T) {
	closed := brokertest.StartListener(t, broker.Options{}, broker.Listener{Name: "closed"})
	for _, v := range versions {
		t.Run("refused/"+v.String(), func(t *testing.T) {
			_, err := client.Dial(testContext(t), client.Options{Addr: closed.Addr, Version: v})
			var re *client.ReasonError
			if !errors.As(err, &re) || re.Packet != packet.CONNACK || !re.Code.IsError() {
				t.Fatalf("Dial: %v, want a CONNACK refusal", err)
			}
			want := fmt.Sprintf("server refused the connection: %s (reason code 0x%02X)", re.Code, byte(re.Code))
			if v != packet.V5 {
				want = fmt.Sprintf("server refused the connection: %s (return code %d)", re.Code, re.WireCode())
			}
			if !strings.HasPrefix(err.Error(), want) || !errors.Is(err, re.Code) {
				t.Errorf("error %q, want it to begin %q and match its code", err, want)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = client.Dial(testContext(t), client.Options{Addr: addr})
		if err == nil || !strings.HasPrefix(err.Error(), "connect to "+addr+": ") || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("Dial: %v, want connection refused naming %s", err, addr)
		}
	})
	t.Run("unknown host", func(t *testing.T) {
		_, err := client.Dial(testContext(t), client.Options{Addr: "no-such-host.invalid:1883"})
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) {
			t.Errorf("Dial: %v, want a *net.DNSError", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		// A server that accepts and never answers.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		_, err = client.Dial(testContext(t), client.Options{Addr: l.Addr().String(), ConnectTimeout: 200 * time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dial: %v, want the deadline exceeded", err)
		}
	})
}

// TestKeepAliveDetectsDeadServer holds back everything the server sends:
// the client must give up on its PINGREQ and end the connection.
func TestKeepAliveDetectsDeadServer(t *testing.T) {
	b := brokertest.Start(t, broker.Options{})
	p := startProxy(t, b.Addr)
	lost := make(chan error, 1)
	c := dial(t, client.Options{Addr: p.addr(), KeepAlive: time.Second, OnConnectionLost: func(err error) { lost <- err }})
	p.holdBack()
	start := time.Now()
	select {
	case err := <-lost:
		if !errors.Is(err, client.ErrKeepAliveTimeout) {
			t.Errorf("connection lost with %v, want ErrKeepAliveTimeout", err)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("gave up after %s, before the keep-alive interval", d)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the client never noticed the server had gone silent")
	}
	<-c.Done()
}

// TestReceiveMaximum publishes many QoS 1 and 2 messages at once to a
// server that allows two in flight: a client that sent a third would be
// disconnected with Receive Maximum exceeded.
func TestReceiveMaximum(t *testing.T) {
	b := brokertest.Start(t, broker.Options{ReceiveMaximum: 2})
	c := dial(t, client.Options{Addr: b.Addr})
	if got := c.Connack().Props.ReceiveMaximum; got != 2 {
		t.Fatalf("server Receive Maximum %d, want 2", got)
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if err := c.Publish(testContext(t), &packet.Publish{Topic: "window", QoS: packet.QoS(1 + i%2)}); err != nil {
				t.Errorf("Publish %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}

func TestPublishChecks(t *testing.T) {
	b := brokertest.Start(t, broker.Options{MaximumQoS: 1, MaximumQoSSet: true, RetainDisabled: true})
	c := dial(t, client.Options{Addr: b.Addr})
	for _, tc := range []struct {
		p    packet.Publish
		want packet.ReasonCode
	}{
		{packet.Publish{Topic: "a/+", QoS: 1}, packet.TopicNameInvalid},
		{packet.Publish{Topic: "a", QoS: 2}, packet.QoSNotSupported},
		{packet.Publish{Topic: "a", Retain: true}, packet.RetainNotSupported},
	} {
		if err := c.Publish(testContext(t), &tc.p); !errors.Is(err, tc.want) {
			t.Errorf("Publish %+v: %v, want %s", tc.p, err, tc.want)
		}
	}
	// The connection is still good.
	if err := c.Publish(testContext(t), &packet.Publish{Topic: "a", QoS: 1}); err != nil {
		t.Fatal(err)
	}
}
