package interop_test

import (
	"strings"
	"testing"
)

// TestDisconnectWithWillMessage: on SIGTERM a 5.0 mosquitto_sub ends with
// DISCONNECT reason 0x04, Disconnect with Will Message (seen on the wire
// from Debian's 2.0.11), so that a will survives the client being stopped.
// The broker must publish that will although the client disconnected
// (v5 §3.14.2.1).
func TestDisconnectWithWillMessage(t *testing.T) {
	mosq := mosquitto{"5"}
	mosq.require(t)
	b := startBroker(t)
	got := pahoGolang{}.subscribe(t, b.Addr, "interop/will")
	will := message{Topic: "interop/will", QoS: 1, Payload: []byte("published on request")}
	p := mosquittoSub(t, append(mosq.args(b.Addr, clientID("mwill")), "-t", "interop/idle", "-d",
		"--will-topic", will.Topic, "--will-payload", string(will.Payload), "--will-qos", "1"))
	p.waitFor(t, "SUBACK", func(l string) bool { return strings.HasPrefix(l, "Subscribed (mid:") })
	p.terminate(t)
	if !strings.Contains(p.transcript(), "sending DISCONNECT") {
		t.Fatalf("mosquitto_sub did not disconnect politely; output:\n%s", p.transcript())
	}
	expectMessages(t, got, will)
}

// TestMosquittoPersistentSession stops a mosquitto_sub that asked for a
// persistent session (-c), publishes QoS 1 and 2 messages while it is
// away, and starts it again with the same client id: it must get them.
func TestMosquittoPersistentSession(t *testing.T) {
	for _, mosq := range []mosquitto{{"311"}, {"5"}} {
		t.Run(mosq.String(), func(t *testing.T) {
			mosq.require(t)
			b := startBroker(t)
			id := clientID("mpersist")
			args := append(mosq.args(b.Addr, id), "-c", "-t", "interop/offline/#", "-q", "2", "-d", "-F", "MSG %q %r %x %t")
			if mosq.version == "5" {
				args = append(args, "-x", "300") // 5.0 sessions end with the connection unless given an expiry
			}
			first := mosquittoSub(t, args)
			first.waitFor(t, "SUBACK", func(l string) bool { return strings.HasPrefix(l, "Subscribed (mid:") })
			first.terminate(t)

			away := []message{
				{Topic: "interop/offline/q1", QoS: 1, Payload: payload("offline", 1)},
				{Topic: "interop/offline/q2", QoS: 2, Payload: payload("offline", 2)},
			}
			pahoGolang{}.connectPublisher(t, b.Addr)(t, away...)

			// Subscribing again is harmless to the session, and mosquitto_sub
			// insists on a topic.
			again := mosquittoSub(t, args)
			expectMessages(t, again.messages(parseMosquittoMessage), away...)
		})
	}
}
