package topic

import (
	"slices"
	"testing"
	"unsafe"
)

func mustSubscribe(t testing.TB, tr *Tree, s Subscription) bool {
	t.Helper()
	existed, err := tr.Subscribe(s)
	if err != nil {
		t.Fatalf("Subscribe(%+v): %v", s, err)
	}
	return existed
}

// matchedFilters returns the filters of the non-shared subscriptions matching
// name, sorted.
func matchedFilters(tr *Tree, name string) []string {
	var r Result
	tr.Match(name, &r)
	var filters []string
	for _, s := range r.Subscriptions {
		filters = append(filters, s.Filter)
	}
	slices.Sort(filters)
	return filters
}

// checkMatches subscribes one client to every filter and checks, for each
// name, exactly which filters match it, against both the tree and the
// reference matcher.
func checkMatches(t *testing.T, filters []string, want map[string][]string) {
	t.Helper()
	var tr Tree
	for _, f := range filters {
		mustSubscribe(t, &tr, Subscription{ClientID: "c", Filter: f})
	}
	for name, w := range want {
		w = slices.Sorted(slices.Values(w))
		if got := matchedFilters(&tr, name); !slices.Equal(got, w) {
			t.Errorf("Match(%q) = %q, want %q", name, got, w)
		}
		for _, f := range filters {
			if refMatches(f, name) != slices.Contains(w, f) {
				t.Errorf("reference matcher disagrees on (%q, %q)", f, name)
			}
		}
	}
}

func TestMatchMultiLevelWildcard(t *testing.T) {
	for _, ref := range rule(v311and5, "MQTT-4.7.1-2") {
		t.Run(ref, func(t *testing.T) {
			// The examples of section 4.7.1.2, non-normative but exact.
			checkMatches(t, []string{"sport/tennis/player1/#", "sport/#", "#", "sport/tennis/#"}, map[string][]string{
				"sport/tennis/player1":                 {"sport/tennis/player1/#", "sport/#", "#", "sport/tennis/#"},
				"sport/tennis/player1/ranking":         {"sport/tennis/player1/#", "sport/#", "#", "sport/tennis/#"},
				"sport/tennis/player1/score/wimbledon": {"sport/tennis/player1/#", "sport/#", "#", "sport/tennis/#"},
				"sport":                                {"sport/#", "#"},
				"sport/":                               {"sport/#", "#"},
				"sport/tennis":                         {"sport/#", "#", "sport/tennis/#"},
				"sports":                               {"#"},
				"/sport":                               {"#"},
				"sport/tennis/player2/score/roland-garros": {"sport/#", "#", "sport/tennis/#"},
			})
		})
	}
}

func TestMatchSingleLevelWildcard(t *testing.T) {
	for _, ref := range rule(v311and5, "MQTT-4.7.1-3") {
		t.Run(ref, func(t *testing.T) {
			// The examples of section 4.7.1.3.
			checkMatches(t, []string{"sport/tennis/+", "sport/+", "+", "+/+", "/+", "+/tennis/#", "sport/+/player1"}, map[string][]string{
				"sport/tennis/player1":         {"sport/tennis/+", "+/tennis/#", "sport/+/player1"},
				"sport/tennis/player2":         {"sport/tennis/+", "+/tennis/#"},
				"sport/tennis/player1/ranking": {"+/tennis/#"},
				"sport/tennis":                 {"sport/+", "+/+", "+/tennis/#"},
				"sport":                        {"+"},
				"sport/":                       {"sport/+", "+/+"},
				"/finance":                     {"+/+", "/+"},
				"sport/squash/player1":         {"sport/+/player1"},
				"/":                            {"+/+", "/+"},
			})
		})
	}
}

func TestMatchDollarTopics(t *testing.T) {
	for _, ref := range rule(v311and5, "MQTT-4.7.2-1") {
		t.Run(ref, func(t *testing.T) {
			filters := []string{"#", "+/monitor/Clients", "$SYS/#", "$SYS/monitor/+", "+", "$SYS/monitor/Clients", "+/#"}
			checkMatches(t, filters, map[string][]string{
				"$SYS/monitor/Clients": {"$SYS/#", "$SYS/monitor/+", "$SYS/monitor/Clients"},
				"$SYS":                 {"$SYS/#"},
				"$x":                   nil,
				"SYS/monitor/Clients":  {"#", "+/monitor/Clients", "+/#"},
				"a/$SYS":               {"#", "+/#"},
			})
		})
	}
}

func TestMatchWithoutNormalisation(t *testing.T) {
	for _, ref := range rule(v311and5, "MQTT-4.7.3-4") {
		t.Run(ref, func(t *testing.T) {
			composed, decomposed := "caf\u00e9", "cafe\u0301"
			checkMatches(t, []string{composed, "ACCOUNTS", composed + "/+", "a/b"}, map[string][]string{
				composed:          {composed},
				decomposed:        nil,
				"Accounts":        nil,
				"ACCOUNTS":        {"ACCOUNTS"},
				decomposed + "/x": nil,
				composed + "/x":   {composed + "/+"},
				"a/b/":            nil,
				"a//b":            nil,
				"a/b":             {"a/b"},
			})
		})
	}
}

func TestSubscribeReplacesOptions(t *testing.T) {
	for _, ref := range rule(v5only, "MQTT-3.8.4-3") {
		t.Run(ref, func(t *testing.T) {
			var tr Tree
			if mustSubscribe(t, &tr, Subscription{ClientID: "c", Filter: "a/+", QoS: 0, Identifier: 1}) {
				t.Fatal("first subscription reported as existing")
			}
			if !mustSubscribe(t, &tr, Subscription{ClientID: "c", Filter: "a/+", QoS: 2, NoLocal: true, RetainHandling: 1, Identifier: 7}) {
				t.Fatal("resubscription not reported as existing")
			}
			if tr.Len() != 1 {
				t.Fatalf("Len = %d after resubscribing, want 1", tr.Len())
			}
			var r Result
			tr.Match("a/b", &r)
			want := []Subscription{{ClientID: "c", Filter: "a/+", QoS: 2, NoLocal: true, RetainHandling: 1, Identifier: 7}}
			if !slices.Equal(r.Subscriptions, want) {
				t.Fatalf("Match = %+v, want %+v", r.Subscriptions, want)
			}
		})
	}
}

func TestOverlappingSubscriptions(t *testing.T) {
	var tr Tree
	mustSubscribe(t, &tr, Subscription{ClientID: "c", Filter: "a/+", QoS: 1, Identifier: 1})
	mustSubscribe(t, &tr, Subscription{ClientID: "c", Filter: "a/#", QoS: 2, Identifier: 2, RetainAsPublished: true})
	mustSubscribe(t, &tr, Subscription{ClientID: "c", Filter: "a/b", QoS: 0, Identifier: 2})
	mustSubscribe(t, &tr, Subscription{ClientID: "d", Filter: "a/b", QoS: 0})
	mustSubscribe(t, &tr, Subscription{ClientID: "e", Filter: "a/+", QoS: 1, NoLocal: true, Identifier: 9})
	var r Result
	tr.Match("a/b", &r)
	if len(r.Subscriptions) != 5 {
		t.Fatalf("Match returned %d subscriptions, want each of the 5: %+v", len(r.Subscriptions), r.Subscriptions)
	}

	t.Run("v3.1.1 [MQTT-3.3.5-1] and v5 [MQTT-3.3.4-2] [MQTT-3.3.4-4]", func(t *testing.T) {
		got := r.Deliveries("")
		want := []Delivery{
			{ClientID: "c", QoS: 2, RetainAsPublished: true, Identifiers: []uint32{1, 2}},
			{ClientID: "d", QoS: 0},
			{ClientID: "e", QoS: 1, Identifiers: []uint32{9}},
		}
		checkDeliveries(t, got, want)
	})
	t.Run("v5 [MQTT-3.8.3-3]", func(t *testing.T) {
		tr.Match("a/b", &r)
		checkDeliveries(t, r.Deliveries("e"), []Delivery{
			{ClientID: "c", QoS: 2, RetainAsPublished: true, Identifiers: []uint32{1, 2}},
			{ClientID: "d", QoS: 0},
		})
		mustSubscribe(t, &tr, Subscription{ClientID: "e", Filter: "a/b", QoS: 0, Identifier: 4})
		tr.Match("a/b", &r)
		checkDeliveries(t, r.Deliveries("e"), []Delivery{
			{ClientID: "c", QoS: 2, RetainAsPublished: true, Identifiers: []uint32{1, 2}},
			{ClientID: "d", QoS: 0},
			{ClientID: "e", QoS: 0, Identifiers: []uint32{4}},
		})
	})
}

func checkDeliveries(t *testing.T, got, want []Delivery) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Deliveries = %+v, want %+v", got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		slices.Sort(g.Identifiers)
		if g.ClientID != w.ClientID || g.QoS != w.QoS || g.RetainAsPublished != w.RetainAsPublished || !slices.Equal(g.Identifiers, w.Identifiers) {
			t.Errorf("Deliveries[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestSharedGroups(t *testing.T) {
	var tr Tree
	mustSubscribe(t, &tr, Subscription{ClientID: "w1", ShareName: "workers", Filter: "jobs/+", QoS: 1})
	mustSubscribe(t, &tr, Subscription{ClientID: "w2", ShareName: "workers", Filter: "jobs/+", QoS: 2})
	mustSubscribe(t, &tr, Subscription{ClientID: "w1", ShareName: "audit", Filter: "jobs/+"})
	mustSubscribe(t, &tr, Subscription{ClientID: "w1", ShareName: "workers", Filter: "jobs/#"})
	mustSubscribe(t, &tr, Subscription{ClientID: "w1", Filter: "jobs/+"})
	if tr.Len() != 5 {
		t.Fatalf("Len = %d, want 5", tr.Len())
	}

	var r Result
	tr.Match("jobs/build", &r)
	if len(r.Subscriptions) != 1 || r.Subscriptions[0].ClientID != "w1" || r.Subscriptions[0].ShareName != "" {
		t.Fatalf("non-shared subscriptions = %+v, want w1's alone", r.Subscriptions)
	}
	groups := map[[2]string][]string{}
	for _, g := range r.Groups {
		for _, m := range g.Members {
			groups[[2]string{g.ShareName, g.Filter}] = append(groups[[2]string{g.ShareName, g.Filter}], m.ClientID)
		}
	}
	want := map[[2]string][]string{
		{"workers", "jobs/+"}: {"w1", "w2"},
		{"audit", "jobs/+"}:   {"w1"},
		{"workers", "jobs/#"}: {"w1"},
	}
	if len(groups) != len(want) {
		t.Fatalf("groups = %v, want %v", groups, want)
	}
	for k, w := range want {
		if g := slices.Sorted(slices.Values(groups[k])); !slices.Equal(g, w) {
			t.Errorf("group %v = %v, want %v", k, g, w)
		}
	}

	// A Group already handed out is a snapshot: later joins and leaves make
	// a new member list.
	var held Group
	for _, g := range r.Groups {
		if g.ShareName == "workers" && g.Filter == "jobs/+" {
			held = g
		}
	}
	before := slices.Clone(held.Members)
	mustSubscribe(t, &tr, Subscription{ClientID: "w3", ShareName: "workers", Filter: "jobs/+"})
	tr.Unsubscribe("w1", "workers", "jobs/+")
	if !slices.Equal(held.Members, before) {
		t.Fatalf("group handed out changed from %+v to %+v", before, held.Members)
	}

	if !mustSubscribe(t, &tr, Subscription{ClientID: "w2", ShareName: "workers", Filter: "jobs/+", QoS: 0}) {
		t.Fatal("rejoining a group with new options not reported as existing")
	}
	if tr.Unsubscribe("w1", "workers", "jobs/+") {
		t.Fatal("second Unsubscribe of the same group membership succeeded")
	}
	if tr.Unsubscribe("w1", "workers", "jobs/#/x") {
		t.Fatal("Unsubscribe with an invalid filter removed a subscription")
	}
	if tr.Unsubscribe("w1", "nobody", "jobs/+") {
		t.Fatal("Unsubscribe from a group that does not exist succeeded")
	}
}

func TestSubscribeRejectsInvalid(t *testing.T) {
	var tr Tree
	for _, s := range []Subscription{
		{ClientID: "c", Filter: "a/#/b"},
		{ClientID: "c", Filter: ""},
		{ClientID: "c", ShareName: "g+", Filter: "a"},
		{ClientID: "c", ShareName: "g/h", Filter: "a"},
	} {
		if _, err := tr.Subscribe(s); err == nil {
			t.Errorf("Subscribe(%+v) succeeded", s)
		}
	}
	if tr.Len() != 0 {
		t.Fatalf("Len = %d after rejected subscriptions", tr.Len())
	}
}

func TestUnsubscribePrunes(t *testing.T) {
	var tr Tree
	filters := []string{"a", "a/b", "a/+", "a/+/c", "a/#", "#", "+", "+/+/#", "/", "a/b/c/d/e/f/g", "x/y"}
	for i := range 40 {
		for _, f := range filters {
			mustSubscribe(t, &tr, Subscription{ClientID: string(rune('A' + i)), Filter: f})
			mustSubscribe(t, &tr, Subscription{ClientID: string(rune('A' + i)), ShareName: "g", Filter: f})
		}
	}
	if want := 40 * len(filters) * 2; tr.Len() != want {
		t.Fatalf("Len = %d, want %d", tr.Len(), want)
	}
	for i := range 40 {
		for _, f := range filters {
			if !tr.Unsubscribe(string(rune('A'+i)), "", f) || !tr.Unsubscribe(string(rune('A'+i)), "g", f) {
				t.Fatalf("Unsubscribe %d %q failed", i, f)
			}
		}
	}
	if tr.Len() != 0 {
		t.Fatalf("Len = %d after unsubscribing everything", tr.Len())
	}
	for side := range tr.lr.inst {
		ix := &tr.lr.inst[side]
		if ix.patterns.n != 0 {
			t.Errorf("copy %d not empty after unsubscribing everything: %d patterns", side, ix.patterns.n)
		}
		for d := range max(len(ix.plusFirst), len(ix.hashAfter)) {
			if uses(ix.plusFirst, d) || uses(ix.hashAfter, d) {
				t.Errorf("copy %d still counts filters at depth %d: %v, %v", side, d, ix.plusFirst, ix.hashAfter)
			}
		}
	}
	if tr.Unsubscribe("A", "", "a/b") {
		t.Fatal("Unsubscribe on an empty tree succeeded")
	}
}

func TestManyChildrenAndSubscribers(t *testing.T) {
	// Enough children and subscribers to switch nodes to maps and sets to
	// client indexes, and back.
	var tr Tree
	ref := &refTree{}
	for i := range 100 {
		for _, f := range []string{"a/+/" + itoa(i), "a/" + itoa(i) + "/#", "b"} {
			s := Subscription{ClientID: "c" + itoa(i), Filter: f, QoS: byte(i % 3)}
			mustSubscribe(t, &tr, s)
			ref.subscribe(s)
		}
	}
	for i := 0; i < 100; i += 2 {
		tr.Unsubscribe("c"+itoa(i), "", "b")
		ref.unsubscribe("c"+itoa(i), "", "b")
		tr.Unsubscribe("c"+itoa(i), "", "a/"+itoa(i)+"/#")
		ref.unsubscribe("c"+itoa(i), "", "a/"+itoa(i)+"/#")
	}
	var r Result
	for _, name := range []string{"b", "a/7/7", "a/8/8", "a/7", "a/8/9/10"} {
		tr.Match(name, &r)
		got, _, _ := flatten(&r)
		want, _ := ref.match(name)
		if !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %+v, want %+v", name, got, want)
		}
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestMatchDoesNotAllocate(t *testing.T) {
	var tr Tree
	for i := range 50 {
		mustSubscribe(t, &tr, Subscription{ClientID: "c" + itoa(i), Filter: "a/b/c"})
		mustSubscribe(t, &tr, Subscription{ClientID: "c" + itoa(i), Filter: "a/+/c", Identifier: uint32(i)})
		mustSubscribe(t, &tr, Subscription{ClientID: "c" + itoa(i), ShareName: "g", Filter: "a/#"})
	}
	var r Result
	tr.Match("a/b/c", &r)
	r.Deliveries("c1")
	allocs := testing.AllocsPerRun(100, func() {
		tr.Match("a/b/c", &r)
		if len(r.Subscriptions) != 100 || len(r.Groups) != 1 {
			t.Fatalf("matched %d subscriptions and %d groups", len(r.Subscriptions), len(r.Groups))
		}
		r.Deliveries("c1")
	})
	if allocs != 0 {
		t.Fatalf("Match and Deliveries allocate %v times per call with a warm Result", allocs)
	}
}

// TestChurnKeepsBloomFilterUseful: the Bloom filter cannot forget a key, so
// the table rebuilds it as keys are deleted; a tree that has seen many
// filters come and go must still keep keys it never held away from memory,
// or every match would pay a cache miss per key it looks for.
func TestChurnKeepsBloomFilterUseful(t *testing.T) {
	var tr Tree
	const n = 20_000
	for i := range n {
		mustSubscribe(t, &tr, Subscription{ClientID: "c", Filter: "churn/" + itoa(i) + "/+/x"})
	}
	for i := range n {
		tr.Unsubscribe("c", "", "churn/"+itoa(i)+"/+/x")
		// One at a time, as clients come and go: the table keeps its size.
		for range 4 {
			mustSubscribe(t, &tr, Subscription{ClientID: "d", Filter: "one/" + itoa(i)})
			tr.Unsubscribe("d", "", "one/"+itoa(i))
		}
	}
	mustSubscribe(t, &tr, Subscription{ClientID: "c", Filter: "kept/+/x"})
	for side := range tr.lr.inst {
		table := &tr.lr.inst[side].patterns
		passed := 0
		for i := range n {
			if h, _ := keyHashes("never/"+itoa(i)+"/+/x", nil); table.mayHave(h) {
				passed++
			}
		}
		if passed > n/100 {
			t.Errorf("copy %d: %d of %d keys never subscribed pass the Bloom filter", side, passed, n)
		}
		if h, _ := keyHashes("kept/+/x", nil); !table.mayHave(h) {
			t.Errorf("copy %d: the Bloom filter lost a key the table holds", side)
		}
	}
	var r Result
	tr.Match("kept/a/x", &r)
	if len(r.Subscriptions) != 1 {
		t.Fatalf("Match after churn = %v", r.Subscriptions)
	}
}

// TestPatternLayout guards what match's speed rests on: a pattern is a
// 128-byte allocation, which Go aligns to 128 bytes, and what a match reads
// of a filter with one subscriber lies in its first 64 bytes, one cache line.
func TestPatternLayout(t *testing.T) {
	var p pattern
	if size := unsafe.Sizeof(p); size <= 112 || size > 128 {
		t.Errorf("pattern is %d bytes; the 128-byte size class holds 113 to 128", size)
	}
	if end := unsafe.Offsetof(p.first) + unsafe.Sizeof(p.first[0]); end > 64 || unsafe.Offsetof(p.rare) >= 64 {
		t.Errorf("a pattern's first subscription ends at byte %d and rare sits at %d, past its first cache line", end, unsafe.Offsetof(p.rare))
	}
}

// TestMatchLooksOnlyWhereFiltersHaveWildcards: a match follows a '+' in
// place of a level only at the depths where some filter has its first '+',
// so a tree of exact filters costs each match one key.
func TestMatchLooksOnlyWhereFiltersHaveWildcards(t *testing.T) {
	var tr Tree
	mustSubscribe(t, &tr, Subscription{ClientID: "c", Filter: "a/b/c/d"})
	var r Result
	tr.Match("a/b/c/d", &r)
	if got := len(r.scratch.frontiers); got != 1 {
		t.Errorf("exact filters only: the match followed %d frontiers, want only the root", got)
	}
	mustSubscribe(t, &tr, Subscription{ClientID: "c", Filter: "a/+/c/#"})
	tr.Match("a/b/c/d", &r)
	if got := len(r.scratch.frontiers); got != 2 || len(r.Subscriptions) != 2 {
		t.Errorf("with a/+/c/#: %d frontiers and %d subscriptions, want 2 and 2", got, len(r.Subscriptions))
	}
	tr.Unsubscribe("c", "", "a/+/c/#")
	tr.Match("a/b/c/d", &r)
	if got := len(r.scratch.frontiers); got != 1 {
		t.Errorf("after unsubscribing a/+/c/#: %d frontiers, want 1", got)
	}
}
