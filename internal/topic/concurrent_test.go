package topic

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLeftRightReadsAreConsistent checks the primitive on its own: every
// write keeps two fields equal and increasing, so a reader that ever sees
// them differ, or go backwards, read a copy while it was being written.
func TestLeftRightReadsAreConsistent(t *testing.T) {
	type pair struct{ a, b int }
	var lr leftRight[pair]
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				lr.write(func(p *pair) {
					p.a++
					p.b++
				})
			}
		})
	}
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			last := 0
			for i := 0; !stop.Load(); i++ {
				p, tok := lr.enter()
				a := p.a
				if i%8 == 0 {
					runtime.Gosched() // widen the window a writer must not enter
				}
				b := p.b
				lr.exit(tok)
				if a != b || a < last {
					errs <- fmt.Errorf("read a=%d b=%d after a=%d", a, b, last)
					return
				}
				last = a
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if p, tok := lr.enter(); p.a == 0 {
		t.Fatal("no write happened")
	} else {
		lr.exit(tok)
	}
}

// TestConcurrentSubscribeUnsubscribeMatch runs writers and matchers together
// and checks what must hold whatever the interleaving: a subscription that
// stays subscribed throughout is always matched, a writer sees its own
// subscription as soon as Subscribe returns and stops seeing it once
// Unsubscribe returns, and nothing that does not match comes back.
func TestConcurrentSubscribeUnsubscribeMatch(t *testing.T) {
	filters := []string{"a/b/c", "a/+/c", "a/#", "+/b/+", "#", "a/b/+", "x/y", "+/+/+", "$SYS/#", "a/b/c/#"}
	names := []string{"a/b/c", "a/x/c", "a/b", "x/y", "q/b/r", "$SYS/load", "a/b/c/d", "a"}
	var tr Tree
	var stable []Subscription
	for i, f := range filters {
		s := Subscription{ClientID: fmt.Sprintf("stable%d", i), Filter: f, QoS: byte(i % 3), Identifier: uint32(i + 1)}
		mustSubscribe(t, &tr, s)
		stable = append(stable, s)
		g := Subscription{ClientID: s.ClientID, ShareName: "stable", Filter: f}
		mustSubscribe(t, &tr, g)
		stable = append(stable, g)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
		stop.Store(true)
	}
	const writers = 3
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			var r Result
			for n := 0; !stop.Load(); n++ {
				s := Subscription{
					ClientID:  fmt.Sprintf("churn%d-%d", w, n%7),
					Filter:    filters[rng.IntN(len(filters))],
					QoS:       byte(rng.IntN(3)),
					ShareName: []string{"", "", "g", "stable"}[rng.IntN(4)],
				}
				if _, err := tr.Subscribe(s); err != nil {
					report(err)
					return
				}
				name := names[rng.IntN(len(names))]
				tr.Match(name, &r)
				if found(&r, s) != refMatches(s.Filter, name) {
					report(fmt.Errorf("writer's own %+v: found=%v on %q right after Subscribe", s, found(&r, s), name))
					return
				}
				if !tr.Unsubscribe(s.ClientID, s.ShareName, s.Filter) {
					report(fmt.Errorf("Unsubscribe of %+v found nothing", s))
					return
				}
				tr.Match(name, &r)
				if found(&r, s) {
					report(fmt.Errorf("writer's own %+v still matched on %q after Unsubscribe", s, name))
					return
				}
			}
		})
	}
	var matches atomic.Int64
	for m := range 3 {
		wg.Go(func() {
			var r Result
			for i := 0; !stop.Load(); i++ {
				name := names[(i+m)%len(names)]
				tr.Match(name, &r)
				matches.Add(1)
				for _, s := range stable {
					if refMatches(s.Filter, name) && !found(&r, s) {
						report(fmt.Errorf("stable %+v missing from Match(%q)", s, name))
						return
					}
				}
				for _, s := range r.Subscriptions {
					if !refMatches(s.Filter, name) {
						report(fmt.Errorf("Match(%q) returned %+v", name, s))
						return
					}
				}
				if _, _, ok := flatten(&r); !ok {
					report(fmt.Errorf("Match(%q) returned malformed groups %+v", name, r.Groups))
					return
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if tr.Len() != len(stable) {
		t.Errorf("Len = %d after churn, want the %d stable subscriptions", tr.Len(), len(stable))
	}
	if matches.Load() == 0 {
		t.Error("no Match ran")
	}
}

// found reports whether r holds s, as a subscription or a group member.
func found(r *Result, s Subscription) bool {
	if s.ShareName == "" {
		for _, got := range r.Subscriptions {
			if got.ClientID == s.ClientID && got.Filter == s.Filter {
				return true
			}
		}
		return false
	}
	for _, g := range r.Groups {
		if g.ShareName != s.ShareName || g.Filter != s.Filter {
			continue
		}
		for _, m := range g.Members {
			if m.ClientID == s.ClientID {
				return true
			}
		}
	}
	return false
}
