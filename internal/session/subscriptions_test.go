package session

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/petrelmq/petrel/packet"
)

// TestSubscriptionsAgainstMap drives Subscriptions across the size where it
// starts indexing, and back, checking it against a plain map.
func TestSubscriptionsAgainstMap(t *testing.T) {
	var s Subscriptions
	want := map[string]Subscription{}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 5000 {
		filter := fmt.Sprintf("f/%d", rng.IntN(3*indexAbove))
		if rng.IntN(3) == 0 {
			if got, had := s.Delete(filter), want[filter] != (Subscription{}); got != had {
				t.Fatalf("step %d: Delete(%q) = %v, want %v", step, filter, got, had)
			}
			delete(want, filter)
		} else {
			sub := Subscription{Subscription: packet.Subscription{Filter: filter, QoS: packet.QoS(rng.IntN(3))}, Identifier: uint32(step + 1)}
			s.Put(sub)
			want[filter] = sub
		}
		if s.Len() != len(want) {
			t.Fatalf("step %d: Len %d, want %d", step, s.Len(), len(want))
		}
		for f, w := range want {
			if got, ok := s.Get(f); !ok || got != w {
				t.Fatalf("step %d: Get(%q) = %+v %v, want %+v", step, f, got, ok, w)
			}
		}
	}
	got := map[string]Subscription{}
	for sub := range s.All() {
		got[sub.Filter] = sub
	}
	if !maps.Equal(got, want) {
		t.Fatalf("All yields %d subscriptions that differ from the %d expected", len(got), len(want))
	}
	s.Clear()
	if s.Len() != 0 {
		t.Fatal("Clear left subscriptions")
	}
}
