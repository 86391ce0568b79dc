package topic

import (
	"cmp"
	"slices"
	"strings"
)

// refMatches is the matching rules read straight off the spec, over split
// strings, with no attention to speed. Tree and Retained are checked against
// it.
func refMatches(filter, name string) bool {
	// [MQTT-4.7.2-1]
	if strings.HasPrefix(name, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f, n := strings.Split(filter, "/"), strings.Split(name, "/")
	for i, level := range f {
		if level == "#" {
			return true // the rest, including nothing: "sport/#" matches "sport"
		}
		if i >= len(n) || (level != "+" && level != n[i]) {
			return false
		}
	}
	return len(f) == len(n)
}

// refTree is a subscription list matched by refMatches.
type refTree struct {
	subs []Subscription
}

func (r *refTree) find(clientID, shareName, filter string) int {
	return slices.IndexFunc(r.subs, func(s Subscription) bool {
		return s.ClientID == clientID && s.ShareName == shareName && s.Filter == filter
	})
}

func (r *refTree) subscribe(s Subscription) (existed bool) {
	if i := r.find(s.ClientID, s.ShareName, s.Filter); i >= 0 {
		r.subs[i] = s
		return true
	}
	r.subs = append(r.subs, s)
	return false
}

func (r *refTree) unsubscribe(clientID, shareName, filter string) bool {
	i := r.find(clientID, shareName, filter)
	if i < 0 {
		return false
	}
	r.subs = slices.Delete(r.subs, i, i+1)
	return true
}

// match returns the matching non-shared subscriptions and, flattened, the
// members of matching groups, both in canonical order.
func (r *refTree) match(name string) (subs, members []Subscription) {
	for _, s := range r.subs {
		if !refMatches(s.Filter, name) {
			continue
		}
		if s.ShareName == "" {
			subs = append(subs, s)
		} else {
			members = append(members, s)
		}
	}
	sortSubscriptions(subs)
	sortSubscriptions(members)
	return subs, members
}

func sortSubscriptions(s []Subscription) {
	slices.SortFunc(s, func(a, b Subscription) int {
		return cmp.Or(
			strings.Compare(a.ShareName, b.ShareName),
			strings.Compare(a.Filter, b.Filter),
			strings.Compare(a.ClientID, b.ClientID),
		)
	})
}

// flatten returns a Result's subscriptions and group members in the order
// refTree.match uses, checking on the way that each group holds only its own
// members and appears once.
func flatten(r *Result) (subs, members []Subscription, ok bool) {
	subs = slices.Clone(r.Subscriptions)
	sortSubscriptions(subs)
	seen := map[[2]string]bool{}
	for _, g := range r.Groups {
		key := [2]string{g.ShareName, g.Filter}
		if seen[key] || len(g.Members) == 0 {
			return nil, nil, false
		}
		seen[key] = true
		for _, m := range g.Members {
			if m.ShareName != g.ShareName || m.Filter != g.Filter {
				return nil, nil, false
			}
			members = append(members, m)
		}
	}
	sortSubscriptions(members)
	return subs, members, true
}
