package broker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
)

func TestFirstPacketMustBeConnect(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			// v5 and v3.1.1 [MQTT-3.1.0-1]
			c := dial(t, b.Addr, v)
			c.send(&packet.Publish{Topic: "a", Payload: []byte("x")})
			c.expectClosed()
		})
	}
}

func TestSecondConnectIsAProtocolError(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	// v5 [MQTT-3.1.0-2]
	c, _ := connect(t, b.Addr, v5("twice-5"))
	c.send(v5("twice-5"))
	if d := c.expectClosed(); d == nil || d.ReasonCode != packet.ProtocolError {
		t.Fatalf("DISCONNECT %+v, want protocol error", d)
	}
	// v3.1.1 [MQTT-3.1.0-2]: the connection is closed.
	c3, _ := connect(t, b.Addr, v311("twice-3"))
	c3.send(v311("twice-3"))
	c3.expectClosed()
}

func TestUnsupportedProtocolLevel(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	// v3.1.1 [MQTT-3.1.2-2]: return code 0x01, then close. The CONNECT
	// says level 6, which no version defines.
	c := dial(t, b.Addr, packet.V311)
	c.sendRaw([]byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 6, 0x02, 0, 60, 0, 1, 'x'})
	ack := expect[*packet.Connack](c)
	if ack.ReasonCode != packet.UnsupportedProtocolVersion {
		t.Fatalf("CONNACK %s, want unacceptable protocol version", ack.ReasonCode)
	}
	c.expectClosed()
}

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	forEachReadMode(t, func(t *testing.T, goroutines bool) {
		b := brokertest.Start(t, broker.Options{ConnectTimeout: 200 * time.Millisecond, GoroutinePerConnection: goroutines})
		c := dial(t, b.Addr, packet.V311)
		start := time.Now()
		c.expectClosed()
		if time.Since(start) < 150*time.Millisecond {
			t.Fatalf("closed after %v, before the connect timeout", time.Since(start))
		}
	})
}

// forEachReadMode runs a test against the epoll-driven read side and
// against a goroutine per connection.
func forEachReadMode(t *testing.T, f func(t *testing.T, goroutines bool)) {
	for _, goroutines := range []bool{false, true} {
		name := "poller"
		if goroutines {
			name = "goroutines"
		}
		t.Run(name, func(t *testing.T) { f(t, goroutines) })
	}
}

func TestClientIdentifiers(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	t.Run("v3.1.1 empty id with clean session 0", func(t *testing.T) {
		// v3.1.1 [MQTT-3.1.3-8]
		c := dial(t, b.Addr, packet.V311)
		c.send(&packet.Connect{Version: packet.V311, CleanStart: false})
		if ack := expect[*packet.Connack](c); ack.ReasonCode != packet.ClientIdentifierNotValid {
			t.Fatalf("CONNACK %s, want identifier rejected", ack.ReasonCode)
		}
		c.expectClosed()
	})
	t.Run("v3.1.1 empty id with clean session 1", func(t *testing.T) {
		// v3.1.1 [MQTT-3.1.3-6]: the server assigns one.
		connect(t, b.Addr, &packet.Connect{Version: packet.V311, CleanStart: true})
	})
	t.Run("v5 assigned client identifier", func(t *testing.T) {
		// v5 [MQTT-3.2.2-16]
		_, ack := connect(t, b.Addr, &packet.Connect{Version: packet.V5, CleanStart: true})
		_, ack2 := connect(t, b.Addr, &packet.Connect{Version: packet.V5, CleanStart: true})
		a, a2 := ack.Props.AssignedClientID, ack2.Props.AssignedClientID
		if a == "" || a2 == "" || a == a2 {
			t.Fatalf("assigned ids %q and %q, want two distinct non-empty ids", a, a2)
		}
	})
	t.Run("v3.1 requires an id", func(t *testing.T) {
		c := dial(t, b.Addr, packet.V31)
		c.send(&packet.Connect{Version: packet.V31, CleanStart: true})
		if ack := expect[*packet.Connack](c); ack.ReasonCode != packet.ClientIdentifierNotValid {
			t.Fatalf("CONNACK %s, want identifier rejected", ack.ReasonCode)
		}
	})
}

func TestSessionPresent(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			id := "present-" + v.String()
			persistent := &packet.Connect{Version: v, ClientID: id}
			if v == packet.V5 {
				persistent.Props.SessionExpiry, persistent.Props.HasSessionExpiry = 60, true
			}
			c, ack := connect(t, b.Addr, persistent)
			// v5 and v3.1.1 [MQTT-3.2.2-3]: no stored session, not present.
			if ack.SessionPresent {
				t.Fatal("session present on the first connection")
			}
			c.send(&packet.Disconnect{})
			c.expectClosed()
			// v5 [MQTT-3.2.2-3], v3.1.1 [MQTT-3.2.2-2]: resumed.
			c, ack = connect(t, b.Addr, persistent)
			if !ack.SessionPresent {
				t.Fatal("session not present on resume")
			}
			c.send(&packet.Disconnect{})
			c.expectClosed()
			// v5 [MQTT-3.2.2-2], v3.1.1 [MQTT-3.2.2-1]: clean start
			// discards it.
			clean := *persistent
			clean.CleanStart = true
			if _, ack = connect(t, b.Addr, &clean); ack.SessionPresent {
				t.Fatal("session present after clean start")
			}
		})
	}
}

func TestSessionTakeover(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	// v5 [MQTT-3.1.4-3]: the old connection gets DISCONNECT 0x8E.
	old, _ := connect(t, b.Addr, v5("taken"))
	connect(t, b.Addr, v5("taken"))
	if d := old.expectClosed(); d == nil || d.ReasonCode != packet.SessionTakenOver {
		t.Fatalf("old connection got %+v, want DISCONNECT session taken over", d)
	}
	// v3.1.1 [MQTT-3.1.4-2]: the old connection is closed.
	old3, _ := connect(t, b.Addr, v311("taken3"))
	connect(t, b.Addr, v311("taken3"))
	old3.expectClosed()
}

func TestKeepAlive(t *testing.T) {
	t.Parallel()
	forEachReadMode(t, testKeepAlive)
}

func testKeepAlive(t *testing.T, goroutines bool) {
	b := brokertest.Start(t, broker.Options{GoroutinePerConnection: goroutines})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			// v5 [MQTT-3.1.2-22], v3.1.1 [MQTT-3.1.2-24]: silence for one
			// and a half keep-alives closes the connection.
			p := &packet.Connect{Version: v, ClientID: "ka-" + v.String(), CleanStart: true, KeepAlive: 1}
			c, _ := connect(t, b.Addr, p)
			start := time.Now()
			d := c.expectClosed()
			if el := time.Since(start); el < 1400*time.Millisecond {
				t.Fatalf("closed after %v, before 1.5 keep-alives", el)
			}
			if v == packet.V5 && (d == nil || d.ReasonCode != packet.KeepAliveTimeout) {
				t.Fatalf("DISCONNECT %+v, want keep alive timeout", d)
			}
		})
	}
	t.Run("pings keep it open", func(t *testing.T) {
		c, _ := connect(t, b.Addr, &packet.Connect{Version: packet.V311, ClientID: "pinger", CleanStart: true, KeepAlive: 1})
		for range 4 {
			c.send(&packet.Pingreq{})
			expect[*packet.Pingresp](c)
			time.Sleep(500 * time.Millisecond) // the client's own pace, below the keep-alive
		}
	})
}

func TestServerKeepAlive(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{MaxKeepAlive: 30})
	// v5 §3.2.2.3.14: a keep-alive above the maximum is replaced, and the
	// client is told.
	_, ack := connect(t, b.Addr, &packet.Connect{Version: packet.V5, ClientID: "ska", CleanStart: true, KeepAlive: 300})
	if !ack.Props.HasServerKeepAlive || ack.Props.ServerKeepAlive != 30 {
		t.Fatalf("Server Keep Alive %v/%d, want 30", ack.Props.HasServerKeepAlive, ack.Props.ServerKeepAlive)
	}
}

func TestConnackAnnouncesLimits(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{ReceiveMaximum: 10, MaxPacketSize: 4096, TopicAliasMaximum: 5,
		MaximumQoS: 1, MaximumQoSSet: true, RetainDisabled: true, SharedSubscriptionsDisabled: true,
		ResponseInformation: "replies/"})
	p := v5("limits")
	p.Props.RequestResponseInfo = 1
	_, ack := connect(t, b.Addr, p)
	pr := ack.Props
	if pr.ReceiveMaximum != 10 || pr.MaximumPacketSize != 4096 || pr.TopicAliasMaximum != 5 ||
		!pr.HasMaximumQoS || pr.MaximumQoS != 1 || !pr.HasRetainAvailable || pr.RetainAvailable != 0 ||
		!pr.HasSharedSubAvailable || pr.SharedSubAvailable != 0 || pr.ResponseInfo != "replies/" {
		t.Fatalf("CONNACK properties %+v do not announce the configured limits", pr)
	}
}

func TestAnonymousRefusedWhereNotAllowed(t *testing.T) {
	t.Parallel()
	b := brokertest.StartListener(t, broker.Options{}, broker.Listener{Name: "closed", AllowAnonymous: false})
	c := dial(t, b.Addr, packet.V5)
	c.send(v5("anon"))
	if ack := expect[*packet.Connack](c); ack.ReasonCode != packet.NotAuthorized {
		t.Fatalf("CONNACK %s, want not authorized", ack.ReasonCode)
	}
	c3 := dial(t, b.Addr, packet.V311)
	c3.send(v311("anon3"))
	if ack := expect[*packet.Connack](c3); ack.ReasonCode != packet.NotAuthorized {
		t.Fatalf("CONNACK %s, want not authorized (return code 5)", ack.ReasonCode)
	}
}

func TestShutdownTellsV5Clients(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	c, _ := connect(t, b.Addr, v5("bye"))
	go b.Shutdown(t.Context())
	if d := c.expectClosed(); d == nil || d.ReasonCode != packet.ServerShuttingDown {
		t.Fatalf("got %+v, want DISCONNECT server shutting down", d)
	}
	if !strings.HasPrefix(b.Addr, "127.0.0.1:") {
		t.Fatalf("test broker listens on %s, want loopback", b.Addr)
	}
}

func TestRedirect(t *testing.T) {
	t.Parallel()
	for _, permanent := range []bool{false, true} {
		b := brokertest.Start(t, broker.Options{Redirect: true, RedirectPermanent: permanent, ServerReference: "other.example:1883"})
		// v5 §4.11: CONNACK 0x9C or 0x9D with a Server Reference.
		c := dial(t, b.Addr, packet.V5)
		c.send(v5("moved"))
		ack := expect[*packet.Connack](c)
		want := packet.UseAnotherServer
		if permanent {
			want = packet.ServerMoved
		}
		if ack.ReasonCode != want || ack.Props.ServerReference != "other.example:1883" {
			t.Fatalf("CONNACK %s reference %q, want %s other.example:1883", ack.ReasonCode, ack.Props.ServerReference, want)
		}
		c.expectClosed()
		c3 := dial(t, b.Addr, packet.V311)
		c3.send(v311("moved3"))
		if ack := expect[*packet.Connack](c3); ack.ReasonCode != packet.ServerUnavailable {
			t.Fatalf("3.1.1 CONNACK %s, want server unavailable", ack.ReasonCode)
		}
	}
}

func TestRequestProblemInformation(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{})
	for _, want := range []bool{true, false} {
		p := v5(fmt.Sprint("problem-", want))
		if !want {
			// v5 [MQTT-3.1.2-29]: 0 forbids Reason Strings on PUBACK.
			p.Props.RequestProblemInfo, p.Props.HasRequestProblemInfo = 0, true
		}
		c, _ := connect(t, b.Addr, p)
		c.send(&packet.Publish{Topic: "$SYS/forged", QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("x")})
		ack := expect[*packet.Puback](c)
		if ack.ReasonCode != packet.NotAuthorized || (ack.Props.ReasonString != "") != want {
			t.Fatalf("Request Problem Information %v: PUBACK %s with reason %q", want, ack.ReasonCode, ack.Props.ReasonString)
		}
	}
}
