package broker_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/store/memstore"
)

// eventually polls cond until it holds or wait passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOpsStatsMatchSys sends known traffic and finds it in Stats and in
// the $SYS topics, which are published from the same counters.
func TestOpsStatsMatchSys(t *testing.T) {
	b := brokertest.Start(t, broker.Options{Logger: quietLogger(t), SysInterval: 20 * time.Millisecond})
	sub, _ := connect(t, b.Addr, v5("sub"))
	sub.subscribe(1, packet.Subscription{Filter: "a/#", QoS: 1})
	pub, _ := connect(t, b.Addr, v311("pub"))
	for i := range 5 {
		pub.send(&packet.Publish{Topic: "a/b", QoS: packet.QoS(i % 2), PacketID: uint16(i + 1), Payload: []byte("x")})
	}
	for range 5 {
		if p := expect[*packet.Publish](sub); p.QoS == 1 {
			sub.send(&packet.Puback{PacketID: p.PacketID})
		}
	}
	eventually(t, "every packet is counted", func() bool {
		st := b.Stats()
		return st.PacketsSent >= 2+5+2+1 && st.PacketsReceived >= 2+5+1+2
	})
	st := b.Stats()
	if st.Received != [3]uint64{3, 2, 0} || st.Sent != [3]uint64{3, 2, 0} {
		t.Errorf("received %v, sent %v, want [3 2 0] and [3 2 0]", st.Received, st.Sent)
	}
	if st.Online != 2 || st.Sessions != 2 || st.Connections != 2 || st.Accepted != 2 || st.Subscriptions != 1 {
		t.Errorf("online %d, sessions %d, connections %d, accepted %d, subscriptions %d; want 2, 2, 2, 2, 1",
			st.Online, st.Sessions, st.Connections, st.Accepted, st.Subscriptions)
	}
	if st.DeliveryLatency.Count() != 5 {
		t.Errorf("delivery latency observed %d times, want 5", st.DeliveryLatency.Count())
	}
	if st.BytesReceived == 0 || st.BytesSent == 0 {
		t.Errorf("bytes in %d, out %d", st.BytesReceived, st.BytesSent)
	}

	spy, _ := connect(t, b.Addr, v311("spy"))
	spy.subscribe(1, packet.Subscription{Filter: "$SYS/broker/messages/received"},
		packet.Subscription{Filter: "$SYS/broker/clients/connected"})
	seen := map[string]string{}
	for seen["$SYS/broker/messages/received"] != "5" || seen["$SYS/broker/clients/connected"] != "3" {
		p := expect[*packet.Publish](spy)
		seen[p.Topic] = string(p.Payload)
	}
}

// TestOpsTrafficOutlivesConnections: a connection's counts stay in the
// totals after it closes.
func TestOpsTrafficOutlivesConnections(t *testing.T) {
	b := brokertest.Start(t, broker.Options{Logger: quietLogger(t), SysInterval: -1})
	pub, _ := connect(t, b.Addr, v311("pub"))
	pub.send(&packet.Publish{Topic: "t", Payload: []byte("x")})
	pub.send(&packet.Disconnect{})
	pub.expectClosed()
	eventually(t, "the publisher's connection is gone", func() bool { return b.Stats().Connections == 0 })
	if st := b.Stats(); st.Received[0] != 1 || st.PacketsReceived != 3 {
		t.Errorf("after the publisher left: received %v, packets %d; want [1 0 0] and 3", st.Received, st.PacketsReceived)
	}
}

// TestOpsSetLimitsApplyLive changes limits under a connected client: it
// stays, and meets the new limits at its next operation.
func TestOpsSetLimitsApplyLive(t *testing.T) {
	b := brokertest.Start(t, broker.Options{Logger: quietLogger(t), SysInterval: -1})
	c, _ := connect(t, b.Addr, v5("c"))
	c.send(&packet.Publish{Topic: "a/b/c", QoS: 1, PacketID: 1})
	if ack := expect[*packet.Puback](c); ack.ReasonCode.IsError() {
		t.Fatalf("before the change: PUBACK %s", ack.ReasonCode)
	}
	l := b.Limits()
	if l.AuthFailureDelay != time.Second || l.FlapWindow != time.Minute {
		t.Errorf("limits %+v do not show the defaults", l)
	}
	l.MaxTopicLevels, l.MaxConnections = 2, 1
	b.SetLimits(l)
	c.send(&packet.Publish{Topic: "a/b/c", QoS: 1, PacketID: 2})
	if ack := expect[*packet.Puback](c); ack.ReasonCode != packet.TopicNameInvalid {
		t.Errorf("after MaxTopicLevels 2: PUBACK %s, want Topic Name Invalid", ack.ReasonCode)
	}
	late := dial(t, b.Addr, packet.V5)
	late.send(v5("late"))
	if ack := expect[*packet.Connack](late); ack.ReasonCode != packet.ServerBusy {
		t.Errorf("a second client under MaxConnections 1: CONNACK %s, want Server Busy", ack.ReasonCode)
	}
	b.SetLimits(broker.Limits{})
	if got := b.Limits(); got.MaxTopicLevels != 0 || got.AuthFailureLimit != 10 {
		t.Errorf("zero limits gave %+v, want no caps and the defaults", got)
	}
	c.send(&packet.Publish{Topic: "a/b/c", QoS: 1, PacketID: 3})
	if ack := expect[*packet.Puback](c); ack.ReasonCode.IsError() {
		t.Errorf("after lifting the limit: PUBACK %s", ack.ReasonCode)
	}
}

func TestOpsDrainTellsClientsWhereToGo(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    broker.DrainOptions
		code packet.ReasonCode
	}{
		{"shutting down", broker.DrainOptions{}, packet.ServerShuttingDown},
		{"use another server", broker.DrainOptions{ServerReference: "other:1883"}, packet.UseAnotherServer},
		{"server moved", broker.DrainOptions{ServerReference: "other:1883", Permanent: true}, packet.ServerMoved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := brokertest.Start(t, broker.Options{Logger: quietLogger(t), SysInterval: -1, Store: memstore.New()})
			eventually(t, "the broker is ready", func() bool { return b.Ready(context.Background()) == nil })
			c5, _ := connect(t, b.Addr, v5("five"))
			c3, _ := connect(t, b.Addr, v311("three"))
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := b.Drain(ctx, tc.d); err != nil {
				t.Fatal(err)
			}
			d := c5.expectClosed()
			if d == nil || d.ReasonCode != tc.code || d.Props.ServerReference != tc.d.ServerReference {
				t.Errorf("v5 client got %+v, want DISCONNECT %s naming %q", d, tc.code, tc.d.ServerReference)
			}
			if d := c3.expectClosed(); d != nil {
				t.Errorf("v3.1.1 client got %+v, want the connection closed", d)
			}
			if err := b.Ready(ctx); err == nil {
				t.Error("Ready after Drain: nil, want an error")
			}
			if err := b.Drain(ctx, tc.d); !errors.Is(err, broker.ErrServerClosed) {
				t.Errorf("second Drain: %v, want ErrServerClosed", err)
			}
		})
	}
}

func TestOpsClientsAndSessions(t *testing.T) {
	b := brokertest.Start(t, broker.Options{Logger: quietLogger(t), SysInterval: -1})
	alice := v5("alice")
	alice.Username, alice.HasUsername = "al", true
	alice.KeepAlive = 30
	ac, _ := connect(t, b.Addr, alice)
	ac.subscribe(1, packet.Subscription{Filter: "news/#", QoS: 1}, packet.Subscription{Filter: "$share/g/jobs/+", QoS: 0})
	bob := v5("bob")
	bob.CleanStart = false
	bob.Props.SessionExpiry, bob.Props.HasSessionExpiry = 3600, true
	bc, _ := connect(t, b.Addr, bob)
	bc.subscribe(1, packet.Subscription{Filter: "news/#", QoS: 1})
	bc.send(&packet.Disconnect{})
	bc.expectClosed()
	carol, _ := connect(t, b.Addr, v311("carol"))
	carol.subscribe(1, packet.Subscription{Filter: "$share/g/jobs/+"})
	eventually(t, "bob is offline", func() bool { s, ok := b.Session("bob"); return ok && !s.Online })
	pub, _ := connect(t, b.Addr, v311("pub"))
	pub.send(&packet.Publish{Topic: "news/today", QoS: 1, PacketID: 1, Payload: []byte("n")})
	expect[*packet.Puback](pub)
	expect[*packet.Publish](ac)

	clients := b.Clients(broker.ClientQuery{})
	var ids []string
	for _, c := range clients {
		ids = append(ids, c.ClientID)
	}
	if got := strings.Join(ids, " "); got != "alice carol pub" {
		t.Fatalf("clients %q, want alice carol pub", got)
	}
	a := clients[0]
	if a.Username != "al" || a.Version != packet.V5 || a.KeepAlive != 30*time.Second || a.Subscriptions != 2 ||
		!strings.HasPrefix(a.Address, "127.0.0.1:") || a.Listener != "test" || a.ConnectedAt.IsZero() || a.Traffic.Sent[1] != 1 {
		t.Errorf("alice: %+v", a)
	}
	for _, q := range []struct {
		q    broker.ClientQuery
		want int
	}{
		{broker.ClientQuery{Search: "al"}, 1},
		{broker.ClientQuery{Username: "al"}, 1},
		{broker.ClientQuery{Network: netip.MustParsePrefix("127.0.0.0/8")}, 3},
		{broker.ClientQuery{Network: netip.MustParsePrefix("10.0.0.0/8")}, 0},
	} {
		if got := len(b.Clients(q.q)); got != q.want {
			t.Errorf("Clients(%+v): %d, want %d", q.q, got, q.want)
		}
	}
	if _, ok := b.Client("bob"); ok {
		t.Error("Client(bob) found an offline client")
	}

	s, ok := b.Session("bob")
	if !ok || s.Online || s.Queued != 1 || s.Subscriptions != 1 || s.Expiry != time.Hour ||
		s.ExpiresAt.Sub(s.OfflineSince) != time.Hour || s.Version != packet.V5 {
		t.Errorf("bob's session: %+v", s)
	}
	if got := len(b.Sessions("")); got != 4 {
		t.Errorf("%d sessions, want 4", got)
	}

	for _, q := range []struct {
		q    broker.SubscriptionQuery
		want string
	}{
		{broker.SubscriptionQuery{ClientID: "alice"}, "alice $share/g/jobs/+, alice news/#"},
		{broker.SubscriptionQuery{Filter: "news/#"}, "alice news/#, bob news/#"},
		{broker.SubscriptionQuery{Topic: "jobs/1"}, "alice $share/g/jobs/+, carol $share/g/jobs/+"},
		{broker.SubscriptionQuery{Topic: "news/x"}, "alice news/#, bob news/#"},
		{broker.SubscriptionQuery{}, "alice $share/g/jobs/+, alice news/#, bob news/#, carol $share/g/jobs/+"},
	} {
		var got []string
		for _, s := range b.Subscriptions(q.q) {
			got = append(got, s.ClientID+" "+s.Filter)
		}
		if strings.Join(got, ", ") != q.want {
			t.Errorf("Subscriptions(%+v): %q, want %q", q.q, got, q.want)
		}
	}

	if !b.Kick("alice") {
		t.Fatal("Kick(alice) found no client")
	}
	if d := ac.expectClosed(); d == nil || d.ReasonCode != packet.AdministrativeAction {
		t.Errorf("kicked client got %+v, want DISCONNECT Administrative Action", d)
	}
	if b.Kick("bob") {
		t.Error("Kick(bob) kicked an offline client")
	}
	if !b.DeleteSession("bob") {
		t.Fatal("DeleteSession(bob) found no session")
	}
	if _, ok := b.Session("bob"); ok {
		t.Error("bob's session is still there")
	}
	if !b.DeleteSession("carol") {
		t.Fatal("DeleteSession(carol) found no session")
	}
	if d := carol.expectClosed(); d != nil {
		t.Errorf("v3.1.1 client got %+v, want the connection closed", d)
	}
	eventually(t, "carol's session ends", func() bool { _, ok := b.Session("carol"); return !ok })
	if got := b.Subscriptions(broker.SubscriptionQuery{Topic: "jobs/1"}); len(got) != 0 {
		t.Errorf("subscriptions left on jobs/1: %+v", got)
	}
}

func TestOpsPublishAndRetained(t *testing.T) {
	b := brokertest.Start(t, broker.Options{Logger: quietLogger(t), SysInterval: -1, Store: memstore.New(), MaxRetainedMessages: 2})
	sub, _ := connect(t, b.Addr, v5("sub"))
	sub.subscribe(1, packet.Subscription{Filter: "cfg/#", QoS: 1})
	ctx := context.Background()
	m := &broker.Message{Topic: "cfg/a", QoS: 1, Retain: true, Payload: []byte("on"),
		Props: &packet.Properties{ContentType: "text/plain"}}
	if n, err := b.Publish(ctx, m); err != nil || n != 1 {
		t.Fatalf("Publish: %d, %v; want 1 delivery", n, err)
	}
	got := expect[*packet.Publish](sub)
	if got.Topic != "cfg/a" || string(got.Payload) != "on" || got.Props.ContentType != "text/plain" {
		t.Errorf("subscriber got %+v", got)
	}
	sub.send(&packet.Puback{PacketID: got.PacketID})
	b.Publish(ctx, &broker.Message{Topic: "cfg/b", Retain: true, Payload: []byte("off")})
	expect[*packet.Publish](sub)
	for _, bad := range []*broker.Message{
		{Topic: "cfg/+"},
		{Topic: "cfg/c", QoS: 3},
		{Topic: "cfg/c", Retain: true, Payload: []byte("over the quota")},
	} {
		if _, err := b.Publish(ctx, bad); err == nil {
			t.Errorf("Publish(%+v) succeeded", bad)
		}
	}
	ms, err := b.Retained("cfg/#")
	if err != nil || len(ms) != 2 || ms[0].Topic != "cfg/a" || ms[1].Topic != "cfg/b" {
		t.Fatalf("Retained(cfg/#): %v, %v", ms, err)
	}
	if _, err := b.Retained("cfg/#/x"); err == nil {
		t.Error("Retained accepted an invalid filter")
	}
	if m, ok := b.RetainedMessage("cfg/b"); !ok || string(m.Payload) != "off" {
		t.Errorf("RetainedMessage(cfg/b): %v, %v", m, ok)
	}
	if n, err := b.DeleteRetained(ctx, "cfg/a"); n != 1 || err != nil {
		t.Errorf("DeleteRetained(cfg/a): %d, %v", n, err)
	}
	if n, err := b.DeleteRetained(ctx, "#"); n != 1 || err != nil {
		t.Errorf("DeleteRetained(#): %d, %v", n, err)
	}
	if st := b.Stats(); st.Retained != 0 || st.RetainedBytes != 0 {
		t.Errorf("after deleting all: %d retained of %d bytes", st.Retained, st.RetainedBytes)
	}
	sub.expectNothing(50 * time.Millisecond)
}

// logBuffer collects log output from many goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestOpsTraceLogsOneClientsPayloads: payloads reach the log only for the
// client traced, and only while it is.
func TestOpsTraceLogsOneClientsPayloads(t *testing.T) {
	var logs logBuffer
	b := brokertest.Start(t, broker.Options{SysInterval: -1,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	sub, _ := connect(t, b.Addr, v5("sub"))
	sub.subscribe(1, packet.Subscription{Filter: "t"})
	a, _ := connect(t, b.Addr, v311("a"))
	other, _ := connect(t, b.Addr, v311("other"))
	publish := func(c *client, payload string) {
		c.send(&packet.Publish{Topic: "t", Payload: []byte(payload)})
		expect[*packet.Publish](sub)
	}
	publish(a, "before-tracing")
	b.SetTrace("a")
	if b.Trace() != "a" {
		t.Errorf("Trace() = %q", b.Trace())
	}
	publish(a, "while-traced")
	publish(other, "never-traced")
	b.SetTrace("sub")
	publish(other, "to-the-traced-subscriber")
	b.SetTrace("")
	publish(a, "after-tracing")
	out := logs.String()
	for _, want := range []string{`"payload":"while-traced"`, `"payload":"to-the-traced-subscriber"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	for _, never := range []string{"before-tracing", "never-traced", "after-tracing"} {
		if strings.Contains(out, never) {
			t.Errorf("the log shows the payload %q of an untraced client", never)
		}
	}
}

// TestOpsDisconnectLogCarriesReason: the record of a client leaving says
// where it was, what it spoke and why it left.
func TestOpsDisconnectLogCarriesReason(t *testing.T) {
	var logs logBuffer
	b := brokertest.Start(t, broker.Options{SysInterval: -1,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	c, _ := connect(t, b.Addr, v5("leaver"))
	c.send(&packet.Disconnect{ReasonCode: packet.DisconnectWithWillMessage})
	c.expectClosed()
	eventually(t, "the disconnection is logged", func() bool { return strings.Contains(logs.String(), `"msg":"client disconnected"`) })
	for _, want := range []string{`"client":"leaver"`, `"remote":"127.0.0.1:`, `"version":"5.0"`, `"reason":"` + packet.DisconnectWithWillMessage.String() + `"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the disconnection record lacks %s:\n%s", want, logs.String())
		}
	}
}

func TestOpsReadyAndListeners(t *testing.T) {
	b := brokertest.Start(t, broker.Options{Logger: quietLogger(t), SysInterval: -1, Store: memstore.New()})
	eventually(t, "the broker is ready", func() bool { return b.Ready(context.Background()) == nil })
	if got := b.Listeners(); len(got) != 1 || got[0] != "test" {
		t.Errorf("listeners %q, want [test]", got)
	}
	idle, err := broker.New(broker.Options{Logger: quietLogger(t), SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Shutdown(context.Background())
	if err := idle.Ready(context.Background()); err == nil {
		t.Error("a broker with no listener says it is ready")
	}
}
