package interop_test

import (
	"fmt"
	"testing"
)

// ring lists every client at every version it speaks. Each publishes to
// the next and subscribes to the previous, so each is once publisher and
// once subscriber, always opposite another implementation, and messages
// cross between 3.1, 3.1.1 and 5.0.
var ring = []mqttClient{
	mosquitto{"5"},
	pahoGolang{},
	script{"python", "311"},
	script{"mqttjs", "5"},
	mosquitto{"31"},
	pahoMQTT{4},
	script{"mqttjs", "311"},
	mosquitto{"311"},
	pahoMQTT{3},
	script{"python", "5"},
}

// TestExchange has each publisher of the ring send retained messages, live
// messages and wills at QoS 0, 1 and 2 to the next client's subscription,
// and checks that the subscriber sees each as sent, and that a client that
// disconnects politely leaves no will.
func TestExchange(t *testing.T) {
	for i, pub := range ring {
		sub := ring[(i+1)%len(ring)]
		t.Run(fmt.Sprintf("%v_to_%v", pub, sub), func(t *testing.T) {
			pub.require(t)
			sub.require(t)
			exchange(t, pub, sub)
		})
	}
}

// payload holds a NUL, bytes that are not UTF-8 and multi-byte UTF-8, which
// a client that treats payloads as text would mangle.
func payload(kind string, qos byte) []byte {
	return fmt.Appendf(nil, "%s q%d \x00\xff\xfe é ☃", kind, qos)
}

func exchange(t *testing.T, pub, sub mqttClient) {
	b := startBroker(t)
	var retained, live, wills []message
	// A will is for a connection that ends without DISCONNECT; one that
	// ends with it must not publish its will (v3.1.1 [MQTT-3.1.2-10], v5
	// [MQTT-3.14.4-3]). It is retained, so a broker that sent it anyway
	// would also leave it stored for the check at the end.
	polite := message{Topic: "interop/will/polite", QoS: 1, Retain: true, Payload: []byte("a will after DISCONNECT")}
	for qos := byte(0); qos <= 2; qos++ {
		retained = append(retained, message{Topic: fmt.Sprintf("interop/retained/q%d", qos), QoS: qos, Retain: true, Payload: payload("retained", qos)})
		live = append(live, message{Topic: fmt.Sprintf("interop/live/q%d", qos), QoS: qos, Payload: payload("live", qos)})
		// Command lines cannot carry a NUL, so wills are text. The QoS 2
		// will is retained, to check that a will is stored like any
		// retained message.
		wills = append(wills, message{Topic: fmt.Sprintf("interop/will/q%d", qos), QoS: qos, Retain: qos == 2, Payload: fmt.Appendf(nil, "will q%d é", qos)})
	}

	// The retained messages must be stored before the subscriber
	// subscribes, and a QoS 0 publish has no acknowledgement to wait for:
	// a watcher that gets them live knows the broker has handled them.
	watcher := pahoGolang{}.subscribe(t, b.Addr, "interop/#")
	publish := pub.connectPublisher(t, b.Addr)
	// Start the will clients now, as their start-up overlaps the rest.
	_, disconnect := pub.connectWithWills(t, b.Addr, polite)
	drop, _ := pub.connectWithWills(t, b.Addr, wills...)

	publish(t, retained...)
	expectMessages(t, watcher, asLive(retained)...)

	got := sub.subscribe(t, b.Addr, "interop/#")
	t.Run("retained", func(t *testing.T) { expectMessages(t, got, retained...) })

	publish(t, live...)
	t.Run("live", func(t *testing.T) { expectMessages(t, got, live...) })

	disconnect()
	drop()
	t.Run("will", func(t *testing.T) {
		expectMessages(t, got, asLive(wills)...)
		// One SUBSCRIBE, polite filter first: the broker queues retained
		// messages in filter order, so a stored polite will would come
		// before the QoS 2 will and fail expectMessages as unexpected.
		later := pahoGolang{}.subscribeAll(t, b.Addr, polite.Topic, wills[2].Topic)
		expectMessages(t, later, wills[2])
	})
}

// asLive is msgs as a subscription that existed when they were published
// receives them: without the retained flag ([MQTT-3.3.1-9], and for 5.0
// without Retain As Published, [MQTT-3.3.1-12]).
func asLive(msgs []message) []message {
	out := make([]message, len(msgs))
	for i, m := range msgs {
		m.Retain = false
		out[i] = m
	}
	return out
}
