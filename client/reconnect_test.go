package client_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/client"
	"github.com/petrelmq/petrel/packet"
)

// persistent is the options of a client whose session outlives its
// connection, reconnecting quickly through addr.
func persistent(addr string, v packet.Version, id string) client.Options {
	return client.Options{
		Addr: addr, Version: v, ClientID: id, SessionExpiry: 300,
		AutoReconnect: true, ReconnectDelay: 20 * time.Millisecond, MaxReconnectDelay: 100 * time.Millisecond,
	}
}

// TestReconnectResumesSubscription cuts a subscriber off while messages
// are published to it: after it reconnects on its own, the session gives
// it every message, the QoS 2 one exactly once; and a Publish made while
// it was offline completes once it is back.
func TestReconnectResumesSubscription(t *testing.T) {
	b := brokertest.Start(t, broker.Options{})
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			p := startProxy(t, b.Addr)
			connacks := make(chan *packet.Connack, 10)
			opts := persistent(p.addr(), v, fmt.Sprintf("resume-sub-%d", v))
			opts.OnConnect = func(a *packet.Connack) { connacks <- a }
			sub := dial(t, opts)
			<-connacks
			subscribe(t, sub, "resume/#", 2)
			pub := dial(t, client.Options{Addr: b.Addr, Version: v, ClientID: fmt.Sprintf("resume-pub-%d", v)})

			p.setRefuse(true)
			p.cut()
			offline := make(chan error, 1)
			go func() {
				offline <- sub.Publish(testContext(t), &packet.Publish{Topic: "resume/from-sub", QoS: 1, Payload: []byte("late")})
			}()
			for qos := packet.AtLeastOnce; qos <= packet.ExactlyOnce; qos++ {
				if err := pub.Publish(testContext(t), &packet.Publish{Topic: "resume/x", QoS: qos, Payload: fmt.Appendf(nil, "q%d", qos)}); err != nil {
					t.Fatal(err)
				}
			}
			p.setRefuse(false)

			select {
			case a := <-connacks:
				if !a.SessionPresent {
					t.Fatal("reconnected without the session")
				}
			case <-time.After(waitTimeout):
				t.Fatal("the client did not reconnect")
			}
			want := map[string]bool{"q1": true, "q2": true, "late": true}
			for len(want) > 0 {
				m := next(t, sub.Messages())
				if !want[string(m.Payload)] && string(m.Payload) != "q1" {
					t.Fatalf("unexpected or repeated message %q", m.Payload)
				}
				delete(want, string(m.Payload))
			}
			if err := <-offline; err != nil {
				t.Errorf("Publish made while offline: %v", err)
			}
		})
	}
}

// TestReconnectResendsInFlight holds back the server's acknowledgements
// of a QoS 1 and a QoS 2 message, then cuts the connection: the client
// sends them again on reconnection, Publish returns nil, and the QoS 2
// message still reaches the subscriber once.
func TestReconnectResendsInFlight(t *testing.T) {
	b := brokertest.Start(t, broker.Options{})
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			topic := fmt.Sprintf("inflight/%d", v)
			sub := dial(t, client.Options{Addr: b.Addr, Version: v, ClientID: fmt.Sprintf("inflight-sub-%d", v)})
			subscribe(t, sub, topic, 2)
			p := startProxy(t, b.Addr)
			pub := dial(t, persistent(p.addr(), v, fmt.Sprintf("resend-pub-%d", v)))

			p.holdBack()
			done := make(chan error, 2)
			for qos := packet.AtLeastOnce; qos <= packet.ExactlyOnce; qos++ {
				go func() {
					done <- pub.Publish(testContext(t), &packet.Publish{Topic: topic, QoS: qos, Payload: fmt.Appendf(nil, "q%d", qos)})
				}()
			}
			// Both messages reached the server, which has forwarded them;
			// its acknowledgements are held in the proxy.
			got := map[string]int{}
			for len(got) < 2 {
				got[string(next(t, sub.Messages()).Payload)]++
			}
			select {
			case err := <-done:
				t.Fatalf("Publish returned %v while its acknowledgement was held back", err)
			default:
			}
			p.cut()
			for range 2 {
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("Publish: %v", err)
					}
				case <-time.After(waitTimeout):
					t.Fatal("Publish did not complete after reconnection")
				}
			}
			// The QoS 1 message may come again (at least once); the QoS 2
			// one must not.
			deadline := time.After(200 * time.Millisecond)
			for {
				select {
				case m := <-sub.Messages():
					if got[string(m.Payload)]++; string(m.Payload) != "q1" {
						t.Fatalf("QoS 2 message delivered %d times", got["q2"])
					}
					continue
				case <-deadline:
				}
				break
			}
		})
	}
}
