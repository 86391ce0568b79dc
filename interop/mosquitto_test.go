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
