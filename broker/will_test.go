package broker_test

import (
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
)

func withWill(p *packet.Connect, topic string, delay uint32) *packet.Connect {
	p.Will = &packet.Will{Topic: topic, Payload: []byte("gone:" + p.ClientID), QoS: packet.AtLeastOnce}
	p.Will.Props.WillDelay = delay
	return p
}

func TestWills(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			watch, _ := connect(t, b.Addr, conn(v, "watch"))
			topic := "will/" + v.String()
			watch.subscribe(1, packet.Subscription{Filter: topic, QoS: packet.AtLeastOnce})

			// v5 [MQTT-3.1.2-8], v3.1.1 [MQTT-3.1.2-8]: published when the
			// connection ends without DISCONNECT.
			c, _ := connect(t, b.Addr, withWill(conn(v, "dies"), topic, 0))
			c.nc.Close()
			if got := expect[*packet.Publish](watch); string(got.Payload) != "gone:dies-"+v.String() {
				t.Fatalf("will payload %q", got.Payload)
			} else {
				ackPublish(watch, got)
			}

			// v5 [MQTT-3.1.2-10], v3.1.1 [MQTT-3.1.2-10]: a normal
			// DISCONNECT deletes it.
			c, _ = connect(t, b.Addr, withWill(conn(v, "leaves"), topic, 0))
			c.send(&packet.Disconnect{})
			c.expectClosed()
			watch.expectNothing(200 * time.Millisecond)
		})
	}
	t.Run("keep-alive timeout sends the will", func(t *testing.T) {
		watch, _ := connect(t, b.Addr, v311("watch-ka"))
		watch.subscribe(1, packet.Subscription{Filter: "will/ka"})
		p := withWill(v311("silent"), "will/ka", 0)
		p.KeepAlive = 1
		connect(t, b.Addr, p)
		expect[*packet.Publish](watch)
	})
	t.Run("5.0 disconnect with will message", func(t *testing.T) {
		watch, _ := connect(t, b.Addr, v5("watch-04"))
		watch.subscribe(1, packet.Subscription{Filter: "will/04"})
		c, _ := connect(t, b.Addr, withWill(v5("asks"), "will/04", 0))
		c.send(&packet.Disconnect{ReasonCode: packet.DisconnectWithWillMessage})
		expect[*packet.Publish](watch)
	})
	t.Run("will retain", func(t *testing.T) {
		// A watcher sees the will go out; only then is it surely stored.
		watch, _ := connect(t, b.Addr, v311("watch-retained"))
		watch.subscribe(1, packet.Subscription{Filter: "will/retained"})
		p := withWill(v311("retains"), "will/retained", 0)
		p.Will.Retain = true
		c, _ := connect(t, b.Addr, p)
		c.nc.Close()
		expect[*packet.Publish](watch)
		late, _ := connect(t, b.Addr, v311("late-watch"))
		late.subscribe(1, packet.Subscription{Filter: "will/retained"})
		// v3.1.1 [MQTT-3.1.2-17]: a will with Will Retain is retained.
		if got := expect[*packet.Publish](late); !got.Retain || string(got.Payload) != "gone:retains" {
			t.Fatalf("got %+v, want the retained will", got)
		}
	})
}

func TestWillDelay(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	watch, _ := connect(t, b.Addr, v5("watch-delay"))
	watch.subscribe(1, packet.Subscription{Filter: "will/delay/#"})

	// v5 [MQTT-3.1.3-9]: reconnecting within the delay cancels the will.
	p := withWill(persistent(packet.V5, "delayed"), "will/delay/cancelled", 1)
	c, _ := connect(t, b.Addr, p)
	c.nc.Close()
	time.Sleep(200 * time.Millisecond) // the broker notices the close
	resumed, _ := connect(t, b.Addr, persistent(packet.V5, "delayed"))
	watch.expectNothing(1500 * time.Millisecond)
	resumed.send(&packet.Disconnect{})
	resumed.expectClosed()

	// The will waits for its delay, then goes out.
	p = withWill(persistent(packet.V5, "delayed2"), "will/delay/sent", 1)
	c, _ = connect(t, b.Addr, p)
	start := time.Now()
	c.nc.Close()
	got := expect[*packet.Publish](watch)
	if el := time.Since(start); got.Topic != "will/delay/sent" || el < 800*time.Millisecond {
		t.Fatalf("will %s after %v, want will/delay/sent after about 1 s", got.Topic, el)
	}

	// v5 [MQTT-3.1.3-9]: the session ending first sends it at once.
	p = withWill(&packet.Connect{Version: packet.V5, ClientID: "short-session", CleanStart: true}, "will/delay/ended", 60)
	c, _ = connect(t, b.Addr, p)
	c.nc.Close()
	if got := expect[*packet.Publish](watch); got.Topic != "will/delay/ended" {
		t.Fatalf("got %s, want the will of the ended session", got.Topic)
	}
}
