package broker_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/store/memstore"
)

// startOn runs a broker with st on addr ("127.0.0.1:0" for any port) and
// returns its address and a function that shuts it down.
func startOn(t *testing.T, addr string, st broker.Store) (string, func()) {
	t.Helper()
	var l net.Listener
	var err error
	deadline := time.Now().Add(wait)
	for {
		// The previous broker's port may take a moment to free.
		if l, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv, err := broker.New(broker.Options{Store: st, SysInterval: -1, Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l, broker.Listener{AllowAnonymous: true}) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return l.Addr().String(), stop
}

// TestRestartKeepsStoredState restarts a broker on the same store and
// checks that retained messages, persistent sessions with their
// subscriptions, and the messages queued and in flight for them survive.
func TestRestartKeepsStoredState(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	addr, stop := startOn(t, "127.0.0.1:0", st)
	for _, v := range versions {
		k := "keep-" + v.String() + "/"
		pub, _ := connect(t, addr, conn(v, "keep-pub"))
		pub.subscribe(1, packet.Subscription{Filter: "gone/" + k})
		sub, _ := connect(t, addr, withWill(persistent(v, "keeper"), "gone/"+k, 0))
		sub.subscribe(1, packet.Subscription{Filter: k + "#", QoS: packet.ExactlyOnce})
		publish(pub, &packet.Publish{Topic: k + "inflight", QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("a")})
		// Received and not acknowledged: in flight when the broker stops.
		if got := expect[*packet.Publish](sub); got.Topic != k+"inflight" {
			t.Fatalf("got %s", got.Topic)
		}
		sub.nc.Close()
		expect[*packet.Publish](pub) // the will: the broker saw the close
		publish(pub, &packet.Publish{Topic: k + "retained", Retain: true, Payload: []byte("r")})
		publish(pub, &packet.Publish{Topic: k + "queued", QoS: packet.ExactlyOnce, PacketID: 2, Payload: []byte("q")})
	}
	stop()
	st.Reopen()
	addr, _ = startOn(t, "127.0.0.1:0", st)
	for _, v := range versions {
		k := "keep-" + v.String() + "/"
		sub, ack := connect(t, addr, persistent(v, "keeper"))
		if !ack.SessionPresent {
			t.Fatalf("%s: session lost in the restart", v)
		}
		// The in-flight message again with DUP, then the queued QoS 2 one;
		// the QoS 0 retained message was not kept for the offline session.
		first := expect[*packet.Publish](sub)
		if first.Topic != k+"inflight" || !first.Dup {
			t.Fatalf("%s: got %s dup=%v, want %sinflight resent", v, first.Topic, first.Dup, k)
		}
		ackPublish(sub, first)
		if got := expect[*packet.Publish](sub); got.Topic != k+"queued" || got.QoS != packet.ExactlyOnce {
			t.Fatalf("%s: got %s QoS %d, want %squeued at QoS 2", v, got.Topic, got.QoS, k)
		} else {
			ackPublish(sub, got)
		}
		sub.expectNothing(100 * time.Millisecond)
		late, _ := connect(t, addr, conn(v, "late"))
		late.subscribe(1, packet.Subscription{Filter: k + "retained"})
		if got := expect[*packet.Publish](late); !got.Retain || string(got.Payload) != "r" {
			t.Fatalf("%s: retained message lost in the restart: %+v", v, got)
		}
	}
}

// TestDisconnectEndingSessionForgetsIt: a v5 client that sets Session Expiry
// Interval 0 in DISCONNECT ends its session (v5 §3.14.2.2.2), so a restart
// must not bring it back.
func TestDisconnectEndingSessionForgetsIt(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	addr, stop := startOn(t, "127.0.0.1:0", st)
	c, _ := connect(t, addr, persistent(packet.V5, "short-lived"))
	c.subscribe(1, packet.Subscription{Filter: "s/#", QoS: packet.AtLeastOnce})
	d := &packet.Disconnect{}
	d.Props.SessionExpiry, d.Props.HasSessionExpiry = 0, true
	c.send(d)
	c.expectClosed()
	stop()
	st.Reopen()
	addr, _ = startOn(t, "127.0.0.1:0", st)
	if _, ack := connect(t, addr, persistent(packet.V5, "short-lived")); ack.SessionPresent {
		t.Fatal("a session ended by DISCONNECT came back after a restart")
	}
}

// TestSessionBecomingPersistentIsStored: a connection with an expiry takes
// over a session that had none; what the session already held must reach
// the store, or a restart loses it.
func TestSessionBecomingPersistentIsStored(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	addr, stop := startOn(t, "127.0.0.1:0", st)
	first, _ := connect(t, addr, &packet.Connect{Version: packet.V5, ClientID: "grows-5.0", CleanStart: true})
	first.subscribe(1, packet.Subscription{Filter: "grows/#", QoS: packet.AtLeastOnce})
	second, ack := connect(t, addr, persistent(packet.V5, "grows"))
	if !ack.SessionPresent {
		t.Fatal("takeover without Clean Start lost the session")
	}
	first.expectClosed()
	second.send(&packet.Disconnect{})
	second.expectClosed()
	stop()
	st.Reopen()
	addr, _ = startOn(t, "127.0.0.1:0", st)
	sub, ack := connect(t, addr, persistent(packet.V5, "grows"))
	if !ack.SessionPresent {
		t.Fatal("session lost in the restart")
	}
	pub, _ := connect(t, addr, v5("grows-pub"))
	publish(pub, &packet.Publish{Topic: "grows/x", QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("x")})
	if got := expect[*packet.Publish](sub); got.Topic != "grows/x" {
		t.Fatalf("got %s: the subscription made before the session became persistent was lost", got.Topic)
	}
}

// failingStore is a memstore that fails every batch with a queued delivery.
type failingStore struct{ *memstore.Store }

func (f failingStore) Apply(ops []broker.Op, done func(error)) {
	for _, op := range ops {
		if op.Kind == broker.OpEnqueue {
			if done != nil {
				done(errors.New("disk on fire"))
			}
			return
		}
	}
	f.Store.Apply(ops, done)
}

// TestStoreFailureWithholdsAcknowledgement: when a write a PUBACK depends
// on fails, the publisher is not acknowledged: it is disconnected, so it
// sends again, rather than told a message is safe that is not.
func TestStoreFailureWithholdsAcknowledgement(t *testing.T) {
	t.Parallel()
	addr, _ := startOn(t, "127.0.0.1:0", failingStore{memstore.New()})
	sub, _ := connect(t, addr, persistent(packet.V5, "fail-sub"))
	sub.subscribe(1, packet.Subscription{Filter: "fail", QoS: packet.AtLeastOnce})
	sub.send(&packet.Disconnect{})
	sub.expectClosed()
	pub, _ := connect(t, addr, v5("fail-pub"))
	pub.send(&packet.Publish{Topic: "fail", QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("x")})
	if d := pub.expectClosed(); d == nil || d.ReasonCode != packet.UnspecifiedError {
		t.Fatalf("got %+v, want DISCONNECT unspecified error and no PUBACK", d)
	}
}

// gatedStore is a memstore whose done callbacks wait until release, as a
// slow disk's would.
type gatedStore struct {
	*memstore.Store
	mu      sync.Mutex
	gated   bool
	pending []func()
}

func (g *gatedStore) Apply(ops []broker.Op, done func(error)) {
	g.Store.Apply(ops, nil)
	if done == nil {
		return
	}
	g.mu.Lock()
	if g.gated {
		g.pending = append(g.pending, func() { done(nil) })
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	done(nil)
}

func (g *gatedStore) gate() {
	g.mu.Lock()
	g.gated = true
	g.mu.Unlock()
}

func (g *gatedStore) release() {
	g.mu.Lock()
	pending := g.pending
	g.gated, g.pending = false, nil
	g.mu.Unlock()
	for _, f := range pending {
		f()
	}
}

// TestCleanStartDiscardIsDurableBeforeConnack: a Clean Start that ends a
// stored session is answered only once the store has the session gone,
// and nothing the client asks for meanwhile overtakes the CONNACK.
func TestCleanStartDiscardIsDurableBeforeConnack(t *testing.T) {
	t.Parallel()
	st := &gatedStore{Store: memstore.New()}
	addr, _ := startOn(t, "127.0.0.1:0", st)
	c, _ := connect(t, addr, persistent(packet.V5, "discarded"))
	c.send(&packet.Disconnect{})
	c.expectClosed()

	st.gate()
	clean := persistent(packet.V5, "discarded")
	clean.CleanStart = true
	c = dial(t, addr, packet.V5)
	c.send(clean)
	c.send(&packet.Pingreq{})
	c.expectNothing(200 * time.Millisecond)
	st.release()
	if ack := expect[*packet.Connack](c); ack.SessionPresent {
		t.Fatal("session present after Clean Start")
	}
	expect[*packet.Pingresp](c)
}
