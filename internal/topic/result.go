package topic

import (
	"slices"
	"strings"
)

// Result receives a match. Keep one per goroutine and pass it to every
// Match: its slices are reused, so steady-state matching allocates nothing.
type Result struct {
	// Subscriptions holds every matching non-shared subscription, one per
	// (client, filter): a client whose subscriptions overlap appears once
	// for each, with that subscription's options and identifier. Order is
	// unspecified.
	Subscriptions []Subscription
	// Groups holds every shared group with a matching filter, one per
	// (share name, filter).
	Groups []Group

	deliveries  []Delivery
	identifiers []uint32
	scratch     matchScratch
}

func (r *Result) add(p *pattern) {
	for i := range min(int(p.n), inline) {
		r.Subscriptions = append(r.Subscriptions, p.first[i].subscription(p.key))
	}
	if p.rare == nil {
		return
	}
	for i := range p.rare.more {
		r.Subscriptions = append(r.Subscriptions, p.rare.more[i].subscription(p.key))
	}
	for _, g := range p.rare.groups {
		r.Groups = append(r.Groups, *g)
	}
}

// Delivery is what a client receives when the broker sends one copy of a
// message per client, however many of its subscriptions matched.
type Delivery struct {
	ClientID string
	// QoS is the highest QoS granted by the client's matching subscriptions
	// (v3.1.1 [MQTT-3.3.5-1], v5 [MQTT-3.3.4-2]); the broker still lowers it
	// to the message's own QoS.
	QoS byte
	// RetainAsPublished is set if any matching subscription asked for it:
	// keeping the RETAIN flag for one subscription and clearing it for
	// another is impossible in a single copy, and keeping it loses nothing
	// the client asked for.
	RetainAsPublished bool
	// Identifiers holds the distinct non-zero Subscription Identifiers of the
	// matching subscriptions, in no particular order (v5 [MQTT-3.3.4-4]).
	// It aliases the Result and is valid until its next use.
	Identifiers []uint32
}

// Deliveries folds Subscriptions into one Delivery per client, for MQTT 3.1.1
// and for a v5 broker that sends a single copy per client. A subscription
// with NoLocal set does not count when its client is publisherID, the client
// that published the message [MQTT-3.8.3-3]; a client left with no
// subscription gets no Delivery. Pass "" when the message has no publishing
// client (a will on behalf of a gone client still names it; $SYS does not).
//
// Deliveries sorts Subscriptions by client and reuses the Result's storage,
// so the returned slice is valid until the Result's next Match or
// Deliveries. Shared groups are not folded: the member the broker picks gets
// its own copy.
func (r *Result) Deliveries(publisherID string) []Delivery {
	subs := r.Subscriptions
	slices.SortFunc(subs, func(a, b Subscription) int {
		return strings.Compare(a.ClientID, b.ClientID)
	})
	clear(r.deliveries)
	r.deliveries = r.deliveries[:0]
	r.identifiers = r.identifiers[:0]
	for i := 0; i < len(subs); {
		j := i
		d := Delivery{ClientID: subs[i].ClientID}
		start := len(r.identifiers)
		counted := false
		for ; j < len(subs) && subs[j].ClientID == d.ClientID; j++ {
			s := &subs[j]
			if s.NoLocal && s.ClientID == publisherID {
				continue // [MQTT-3.8.3-3]
			}
			counted = true
			d.QoS = max(d.QoS, s.QoS)
			d.RetainAsPublished = d.RetainAsPublished || s.RetainAsPublished
			if s.Identifier != 0 && !slices.Contains(r.identifiers[start:], s.Identifier) {
				r.identifiers = append(r.identifiers, s.Identifier)
			}
		}
		if counted {
			// Earlier Identifiers may point at an array that a later append
			// outgrew; their elements are never written again, so they stay
			// right.
			d.Identifiers = r.identifiers[start:len(r.identifiers):len(r.identifiers)]
			r.deliveries = append(r.deliveries, d)
		}
		i = j
	}
	return r.deliveries
}
