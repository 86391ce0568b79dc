package broker_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
)

// recordingFabric is a Fabric that remembers what the broker told it.
type recordingFabric struct {
	mu        sync.Mutex
	published []string
	interest  []string
	refuse    string
}

func (f *recordingFabric) Publish(m *broker.Message) {
	f.mu.Lock()
	f.published = append(f.published, m.Topic)
	f.mu.Unlock()
}

func (f *recordingFabric) Interest(share, filter string, add bool) {
	op := "-"
	if add {
		op = "+"
	}
	f.mu.Lock()
	f.interest = append(f.interest, op+share+"|"+filter)
	f.mu.Unlock()
}

func (f *recordingFabric) ClaimSession(_ context.Context, id string) error {
	if id == f.refuse {
		return errors.New("owned elsewhere")
	}
	return nil
}

func (f *recordingFabric) snapshot() (published, interest []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.published), slices.Clone(f.interest)
}

func TestFabricHearsPublishesInterestAndClaims(t *testing.T) {
	t.Parallel()
	f := &recordingFabric{refuse: "elsewhere"}
	b := brokertest.Start(t, broker.Options{Fabric: f, SysInterval: -1})
	a, _ := connect(t, b.Addr, v5("fa"))
	a.subscribe(1, packet.Subscription{Filter: "f/+"})
	c, _ := connect(t, b.Addr, v5("fc"))
	c.subscribe(1, packet.Subscription{Filter: "f/+"}, packet.Subscription{Filter: "$share/g/f/#"})
	pub, _ := connect(t, b.Addr, v5("fp"))
	publish(pub, &packet.Publish{Topic: "f/x", QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("1")})
	c.send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"f/+"}})
	expect[*packet.Publish](c) // through f/+
	expect[*packet.Publish](c) // through its shared group
	expect[*packet.Unsuback](c)
	a.send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"f/+"}})
	expect[*packet.Publish](a)
	expect[*packet.Unsuback](a)

	published, interest := f.snapshot()
	if !slices.Equal(published, []string{"f/x"}) {
		t.Fatalf("fabric got publishes %v, want [f/x]", published)
	}
	// Only the first subscriber and the last unsubscriber of a filter.
	if want := []string{"+|f/+", "+g|f/#", "-|f/+"}; !slices.Equal(interest, want) {
		t.Fatalf("fabric got interest %v, want %v", interest, want)
	}

	// A message from another node reaches local subscribers and is not
	// sent back out.
	b.DeliverRemote(&broker.Message{Topic: "f/remote", Payload: []byte("r")})
	if got := expect[*packet.Publish](c); got.Topic != "f/remote" {
		t.Fatalf("got %s, want f/remote", got.Topic)
	}
	if published, _ := f.snapshot(); len(published) != 1 {
		t.Fatalf("remote message forwarded again: %v", published)
	}

	// A session another node will not give up is refused.
	r := dial(t, b.Addr, packet.V5)
	r.send(v5("elsewhere"))
	if ack := expect[*packet.Connack](r); ack.ReasonCode != packet.ServerUnavailable {
		t.Fatalf("CONNACK %s, want server unavailable", ack.ReasonCode)
	}
	a.expectNothing(50 * time.Millisecond)
}
