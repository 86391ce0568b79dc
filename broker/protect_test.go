package broker_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
	"github.com/petrelmq/petrel/store/memstore"
)

// refusedWith dials, sends CONNECT and fails the test unless the broker
// refuses with code.
func refusedWith(t *testing.T, addr string, p *packet.Connect, code packet.ReasonCode) {
	t.Helper()
	c := dial(t, addr, p.Version)
	c.send(p)
	if ack := expect[*packet.Connack](c); ack.ReasonCode != code {
		t.Fatalf("%s CONNACK %s, want %s", p.Version, ack.ReasonCode, code)
	}
	c.expectClosed()
}

func TestListenerVersions(t *testing.T) {
	t.Parallel()
	b := brokertest.StartListener(t, broker.Options{}, broker.Listener{Name: "v5only", AllowAnonymous: true,
		Versions: []packet.Version{packet.V5}})
	connect(t, b.Addr, v5("new"))
	// 3.1.1 return code 1, unacceptable protocol version.
	refusedWith(t, b.Addr, v311("old"), packet.UnsupportedProtocolVersion)
}

func TestMaxConnections(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts broker.Options
		lst  broker.Listener
	}{
		{"listener", broker.Options{}, broker.Listener{Name: "small", AllowAnonymous: true, MaxConnections: 2}},
		{"server", broker.Options{MaxConnections: 2}, broker.Listener{Name: "any", AllowAnonymous: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := brokertest.StartListener(t, tc.opts, tc.lst)
			first, _ := connect(t, b.Addr, v5("one"))
			connect(t, b.Addr, v5("two"))
			refusedWith(t, b.Addr, v5("three"), packet.ServerBusy)
			// 3.1.1 return code 3, server unavailable.
			refusedWith(t, b.Addr, v311("three"), packet.ServerUnavailable)
			first.send(&packet.Disconnect{})
			first.expectClosed()
			// The freed place is taken once the broker has let go of it.
			deadline := time.Now().Add(wait)
			for {
				c := dial(t, b.Addr, packet.V5)
				c.send(v5("again"))
				ack := expect[*packet.Connack](c)
				if ack.ReasonCode == packet.Success {
					break
				}
				if ack.ReasonCode != packet.ServerBusy || time.Now().After(deadline) {
					t.Fatalf("CONNACK %s after a client left, want success", ack.ReasonCode)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestBans(t *testing.T) {
	t.Parallel()
	b := brokertest.StartListener(t, broker.Options{}, broker.Listener{Name: "bans", AllowAnonymous: true,
		Authenticator: plugin.AuthenticatorFunc(func(context.Context, *plugin.Client, plugin.Credentials) error { return nil })})

	if err := b.Ban(broker.Ban{}); err == nil {
		t.Fatal("a ban with no target was accepted")
	}
	online, _ := connect(t, b.Addr, v5("troll"))
	if err := b.Ban(broker.Ban{ClientID: "troll", Reason: "spam"}); err != nil {
		t.Fatal(err)
	}
	if d := online.expectClosed(); d == nil || d.ReasonCode != packet.AdministrativeAction {
		t.Fatalf("banned online client got %+v, want DISCONNECT administrative action", d)
	}
	refusedWith(t, b.Addr, v5("troll"), packet.Banned)
	// 3.1.1 return code 5, not authorized.
	refusedWith(t, b.Addr, v311("troll"), packet.NotAuthorized)
	connect(t, b.Addr, v5("bystander"))

	withUser := v5("someone")
	withUser.Username, withUser.HasUsername = "mallory", true
	if err := b.Ban(broker.Ban{Username: "mallory"}); err != nil {
		t.Fatal(err)
	}
	refusedWith(t, b.Addr, withUser, packet.Banned)

	if !b.Unban(broker.Ban{ClientID: "troll"}) || b.Unban(broker.Ban{ClientID: "troll"}) {
		t.Fatal("Unban did not remove the ban exactly once")
	}
	connect(t, b.Addr, v5("troll"))
	if got := len(b.Bans()); got != 1 {
		t.Fatalf("%d bans listed, want the user name ban only", got)
	}

	if err := b.Ban(broker.Ban{Network: netip.MustParsePrefix("127.0.0.0/8"), Until: time.Now().Add(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	refusedWith(t, b.Addr, v5("anyone"), packet.Banned)
	time.Sleep(400 * time.Millisecond)
	connect(t, b.Addr, v5("anyone"))
}

func TestFlappingClientIsBanned(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{FlapThreshold: 3, FlapWindow: time.Minute, FlapBan: 300 * time.Millisecond})
	for range 3 {
		c, _ := connect(t, b.Addr, v5("flapper"))
		c.send(&packet.Disconnect{})
		c.expectClosed()
	}
	refusedWith(t, b.Addr, v5("flapper"), packet.Banned)
	connect(t, b.Addr, v5("steady"))
	time.Sleep(400 * time.Millisecond)
	connect(t, b.Addr, v5("flapper"))
}

// passwordIs accepts the clients whose password is want.
func passwordIs(want string) plugin.Authenticator {
	return plugin.AuthenticatorFunc(func(_ context.Context, _ *plugin.Client, cr plugin.Credentials) error {
		if string(cr.Password) != want {
			return errors.New("wrong password")
		}
		return nil
	})
}

func withPassword(p *packet.Connect, user, password string) *packet.Connect {
	p.Username, p.HasUsername = user, true
	p.Password, p.HasPassword = []byte(password), true
	return p
}

func TestFailedLoginsAreDelayedAndThrottled(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	b := brokertest.StartListener(t, broker.Options{AuthFailureDelay: delay, AuthFailureLimit: 3},
		broker.Listener{Name: "guarded", Authenticator: passwordIs("secret")})

	c := dial(t, b.Addr, packet.V5)
	c.send(withPassword(v5("guess"), "alice", "guess1"))
	// The refusal waits out the delay: nothing arrives before it.
	c.expectNothing(delay / 2)
	if ack := expect[*packet.Connack](c); ack.ReasonCode != packet.BadUserNameOrPassword {
		t.Fatalf("CONNACK %s, want bad user name or password", ack.ReasonCode)
	}
	refusedWith(t, b.Addr, withPassword(v311("guess"), "alice", "guess2"), packet.BadUserNameOrPassword)
	refusedWith(t, b.Addr, withPassword(v5("guess"), "alice", "guess3"), packet.BadUserNameOrPassword)
	// Three failures from this address: even the right password waits.
	refusedWith(t, b.Addr, withPassword(v5("guess"), "alice", "secret"), packet.ConnectionRateExceeded)
}

func TestConnectionRatePerAddress(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{MaxConnectionRate: 2})
	connect(t, b.Addr, v5("r1"))
	connect(t, b.Addr, v5("r2"))
	refusedWith(t, b.Addr, v5("r3"), packet.ConnectionRateExceeded)
	time.Sleep(600 * time.Millisecond)
	connect(t, b.Addr, v5("r4"))
}

func TestMaxSubscriptionsPerClient(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{MaxSubscriptionsPerClient: 2})
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			c, _ := connect(t, b.Addr, conn(v, "subs"))
			ack := c.subscribe(1, packet.Subscription{Filter: "a"}, packet.Subscription{Filter: "b"},
				packet.Subscription{Filter: "c"}, packet.Subscription{Filter: "a", QoS: 1})
			want := []packet.ReasonCode{packet.GrantedQoS0, packet.GrantedQoS0, packet.QuotaExceeded, packet.GrantedQoS1}
			if v != packet.V5 {
				// 3.1.1 has one failure code, 0x80.
				want[2] = packet.UnspecifiedError
			}
			if !equalCodes(ack.ReasonCodes, want) {
				t.Fatalf("SUBACK %v, want %v", ack.ReasonCodes, want)
			}
		})
	}
}

func equalCodes(a, b []packet.ReasonCode) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMaxTopicLevels(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{MaxTopicLevels: 3})
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			c, _ := connect(t, b.Addr, conn(v, "levels"))
			ack := c.subscribe(1, packet.Subscription{Filter: "a/b/#"}, packet.Subscription{Filter: "a/b/c/#"})
			want := []packet.ReasonCode{packet.GrantedQoS0, packet.TopicFilterInvalid}
			if v != packet.V5 {
				want[1] = packet.UnspecifiedError
			}
			if !equalCodes(ack.ReasonCodes, want) {
				t.Fatalf("SUBACK %v, want %v", ack.ReasonCodes, want)
			}
			c.send(&packet.Publish{Topic: "a/b/c/d", QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("deep")})
			wantAck := packet.TopicNameInvalid
			if v != packet.V5 {
				// v3.1.1 [MQTT-3.3.5-2]: acknowledged and discarded.
				wantAck = packet.Success
			}
			if got := expect[*packet.Puback](c); got.ReasonCode != wantAck {
				t.Fatalf("PUBACK %s, want %s", got.ReasonCode, wantAck)
			}
			c.send(&packet.Publish{Topic: "a/b/c", QoS: packet.AtLeastOnce, PacketID: 2, Payload: []byte("ok")})
			if got := expect[*packet.Publish](c); got.Topic != "a/b/c" {
				t.Fatalf("got %q, want the message on a/b/c only", got.Topic)
			}
			expect[*packet.Puback](c)
		})
	}
}

func TestRetainedQuota(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{MaxRetainedMessages: 2, MaxRetainedBytes: 100, SysInterval: -1})
	c, _ := connect(t, b.Addr, v5("retainer"))
	pid := uint16(0)
	retain := func(topic string, size int) packet.ReasonCode {
		pid++
		c.send(&packet.Publish{Topic: topic, QoS: packet.AtLeastOnce, PacketID: pid, Retain: true, Payload: bytes.Repeat([]byte("x"), size)})
		return expect[*packet.Puback](c).ReasonCode
	}
	for _, step := range []struct {
		topic string
		size  int
		want  packet.ReasonCode
	}{
		{"r/1", 10, packet.NoMatchingSubscribers},
		{"r/2", 10, packet.NoMatchingSubscribers},
		{"r/3", 10, packet.QuotaExceeded},         // a third message
		{"r/1", 20, packet.NoMatchingSubscribers}, // a replacement is no new message
		{"r/2", 90, packet.QuotaExceeded},         // 23 + 93 bytes is past 100
		{"r/2", 0, packet.NoMatchingSubscribers},  // deleting makes room
		{"r/3", 60, packet.NoMatchingSubscribers},
	} {
		if got := retain(step.topic, step.size); got != step.want {
			t.Fatalf("retain %d bytes on %s: PUBACK %s, want %s", step.size, step.topic, got, step.want)
		}
	}
	sub, _ := connect(t, b.Addr, v5("reader"))
	sub.subscribe(1, packet.Subscription{Filter: "r/#"})
	got := map[string]int{}
	for range 2 {
		p := expect[*packet.Publish](sub)
		got[p.Topic] = len(p.Payload)
	}
	if got["r/1"] != 20 || got["r/3"] != 60 {
		t.Fatalf("retained set %v, want r/1 with 20 bytes and r/3 with 60", got)
	}
	sub.expectNothing(100 * time.Millisecond)
}

func TestQueuedMemoryCap(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{Store: memstore.New(), MaxQueuedMemory: 1000, SysInterval: -1})
	// An offline persistent session collects messages until the server's
	// queues hold 1000 bytes: 4 of 303.
	p := v5("offline")
	p.CleanStart = false
	p.Props.SessionExpiry, p.Props.HasSessionExpiry = 3600, true
	s, _ := connect(t, b.Addr, p)
	s.subscribe(1, packet.Subscription{Filter: "q/t", QoS: packet.AtLeastOnce})
	s.send(&packet.Disconnect{})
	s.expectClosed()

	pub, _ := connect(t, b.Addr, v5("producer"))
	for i := range 10 {
		publish(pub, &packet.Publish{Topic: "q/t", QoS: packet.AtLeastOnce, PacketID: uint16(i + 1), Payload: bytes.Repeat([]byte{'0' + byte(i)}, 300)})
	}
	p.CleanStart = false
	s, ack := connect(t, b.Addr, p)
	if !ack.SessionPresent {
		t.Fatal("session lost")
	}
	for i := range 4 {
		m := expect[*packet.Publish](s)
		if m.Payload[0] != '0'+byte(i) {
			t.Fatalf("message %d is %c..., want the first four kept", i, m.Payload[0])
		}
		s.send(&packet.Puback{PacketID: m.PacketID})
	}
	s.expectNothing(200 * time.Millisecond)
	// With the queue drained, new messages flow again.
	publish(pub, &packet.Publish{Topic: "q/t", QoS: packet.AtLeastOnce, PacketID: 99, Payload: []byte("after")})
	if m := expect[*packet.Publish](s); string(m.Payload) != "after" {
		t.Fatalf("got %q, want the message published after the queue drained", m.Payload)
	}
}

func TestPublishRateThrottlesWithoutDropping(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, broker.Options{MaxPublishRate: 20})
	sub, _ := connect(t, b.Addr, v5("rate-sub"))
	sub.subscribe(1, packet.Subscription{Filter: "rate"})
	pub, _ := connect(t, b.Addr, v5("rate-pub"))
	start := time.Now()
	// A burst of 20 passes at once; the 10 beyond it take half a second.
	for i := range 30 {
		publish(pub, &packet.Publish{Topic: "rate", QoS: packet.AtLeastOnce, PacketID: uint16(i + 1), Payload: []byte("m")})
	}
	for range 30 {
		expect[*packet.Publish](sub)
	}
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Fatalf("30 messages at 20/s took %v, want the client slowed to about 0.5 s", took)
	}
}

func TestListenerAuthorizer(t *testing.T) {
	t.Parallel()
	readOnly := plugin.AuthorizerFunc(func(_ *plugin.Client, a plugin.Action, topic string) bool {
		return a != plugin.Publish && !strings.HasPrefix(topic, "secret/")
	})
	b := brokertest.StartListener(t, broker.Options{}, broker.Listener{Name: "ro", AllowAnonymous: true, Authorizer: readOnly})
	c, _ := connect(t, b.Addr, v5("ro"))
	ack := c.subscribe(1, packet.Subscription{Filter: "public/#"}, packet.Subscription{Filter: "secret/#"})
	if want := []packet.ReasonCode{packet.GrantedQoS0, packet.NotAuthorized}; !equalCodes(ack.ReasonCodes, want) {
		t.Fatalf("SUBACK %v, want %v", ack.ReasonCodes, want)
	}
	c.send(&packet.Publish{Topic: "public/x", QoS: packet.AtLeastOnce, PacketID: 1})
	if got := expect[*packet.Puback](c); got.ReasonCode != packet.NotAuthorized {
		t.Fatalf("PUBACK %s, want not authorized", got.ReasonCode)
	}
}

func TestSlowConsumerIsolation(t *testing.T) {
	t.Parallel()
	const n, queue = 1000, 100
	b := brokertest.Start(t, broker.Options{MaxQueuedMessages: queue, MaxInflight: 50, QueueOverflow: broker.DropOldest, SysInterval: -1})

	// The stuck client's window of 50 unacknowledged messages fills, then
	// its queue of 100.
	stuck, _ := connect(t, b.Addr, v311("stuck"))
	stuck.subscribe(1, packet.Subscription{Filter: "flood", QoS: packet.AtLeastOnce})
	healthy, _ := connect(t, b.Addr, v311("healthy"))
	healthy.subscribe(1, packet.Subscription{Filter: "flood", QoS: packet.AtLeastOnce})

	// While the stuck client reads nothing, each message is acknowledged
	// to the publisher and reaches the healthy subscriber, in order.
	pub, _ := connect(t, b.Addr, v311("flooder"))
	payload := bytes.Repeat([]byte("p"), 1024)
	for i := range n {
		binary.BigEndian.PutUint32(payload, uint32(i))
		publish(pub, &packet.Publish{Topic: "flood", QoS: packet.AtLeastOnce, PacketID: uint16(i%60000 + 1), Payload: payload})
		m := expect[*packet.Publish](healthy)
		if got := binary.BigEndian.Uint32(m.Payload); got != uint32(i) {
			t.Fatalf("healthy subscriber got message %d, want %d", got, i)
		}
		healthy.send(&packet.Puback{PacketID: m.PacketID})
	}

	// The stuck client's queue kept its newest messages and dropped the
	// oldest: it gets what its window and socket held, then the end.
	got, last := 0, uint32(0)
	for {
		p, err := stuck.next(500 * time.Millisecond)
		if err != nil {
			break
		}
		m, ok := p.(*packet.Publish)
		if !ok {
			t.Fatalf("stuck client got %s", p.Type())
		}
		got++
		last = binary.BigEndian.Uint32(m.Payload)
		stuck.send(&packet.Puback{PacketID: m.PacketID})
	}
	if got >= n || last != n-1 {
		t.Fatalf("stuck client got %d messages ending with %d, want fewer than %d ending with %d", got, last, n, n-1)
	}
}

func TestAnonymousBesideAnAuthenticator(t *testing.T) {
	t.Parallel()
	b := brokertest.StartListener(t, broker.Options{AuthFailureDelay: -1},
		broker.Listener{Name: "mixed", AllowAnonymous: true, Authenticator: passwordIs("secret")})
	// As Mosquitto's allow_anonymous beside a password file: a client
	// without a user name is the listener's to admit, one with a user name
	// must prove it.
	connect(t, b.Addr, v5("anonymous"))
	connect(t, b.Addr, withPassword(v5("member"), "alice", "secret"))
	refusedWith(t, b.Addr, withPassword(v5("pretender"), "alice", "guess"), packet.BadUserNameOrPassword)
}
