package topic

import (
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// Tree maps topic names to the subscriptions whose filters match them.
//
// Match may be called from any number of goroutines at once and never waits
// for Subscribe or Unsubscribe: the tree keeps two copies of its index, and
// writers change the copy no reader is using, publish it, wait for the
// readers of the other copy to leave, and change that one too (see the
// package documentation). Writers are serialised among themselves. The zero
// Tree is empty and ready to use; a Tree must not be copied.
type Tree struct {
	lr    leftRight[index]
	count atomic.Int64
}

// Subscribe adds s, or replaces the options of the subscription with the
// same client, share name and filter [MQTT-3.8.4-3]. existed reports a
// replacement, which Retain Handling 1 needs: retained messages are sent only
// for a new subscription. The filter and share name are validated as
// ParseShared would; the tree copies them, so they may alias a read buffer.
func (t *Tree) Subscribe(s Subscription) (existed bool, err error) {
	if err := ValidateFilter(s.Filter); err != nil {
		return false, err
	}
	if s.ShareName != "" {
		if err := validateShareName(s.ShareName); err != nil {
			return false, err
		}
	}
	// Strings and groups are made once, on the first copy, and shared by the
	// second: the change must leave both copies equal, and sharing halves
	// their memory.
	var (
		key, shareName string
		group          *Group
		first          = true
	)
	t.lr.write(func(ix *index) {
		p, h := ix.lookup(s.Filter)
		if p == nil {
			if key == "" {
				key = strings.Clone(s.Filter)
			}
			p, h = ix.insert(key)
		}
		was := p.live()
		if s.ShareName == "" {
			e := newEntry(s)
			if replaced := p.put(e); first {
				existed = replaced
			}
		} else {
			if first {
				_, old := p.group(s.ShareName)
				shareName = s.ShareName
				if old != nil {
					shareName = old.ShareName
				} else {
					shareName = strings.Clone(s.ShareName)
				}
				group, existed = joined(old, shareName, p.key, s)
			}
			p.setGroup(shareName, group)
		}
		ix.changed(p, h, was)
		first = false
	})
	if !existed {
		t.count.Add(1)
	}
	return existed, nil
}

// Unsubscribe removes the client's subscription to filter in the group
// shareName ("" for a non-shared subscription) and reports whether there was
// one. Removing a client's every subscription is a matter of calling it for
// each filter its session holds.
func (t *Tree) Unsubscribe(clientID, shareName, filter string) bool {
	// An invalid filter was never subscribed, and the index's walk assumes
	// validity: "a/#/b" would otherwise reach the set of "a/#".
	if ValidateFilter(filter) != nil {
		return false
	}
	// Reading the current copy under no writer's lock could race with a
	// writer that is about to change it, so even the "is it there" check
	// happens inside the write.
	var (
		found bool
		group *Group
		first = true
	)
	t.lr.write(func(ix *index) {
		p, h := ix.lookup(filter)
		if p == nil {
			return
		}
		was := p.live()
		if shareName == "" {
			if removed := p.remove(clientID); first {
				found = removed
			}
		} else {
			_, old := p.group(shareName)
			if old == nil {
				return
			}
			if first {
				group, found = left(old, clientID)
			}
			if found {
				p.setGroup(shareName, group)
			}
		}
		first = false
		ix.changed(p, h, was)
	})
	if found {
		t.count.Add(-1)
	}
	return found
}

// Match replaces r's contents with the subscriptions and shared groups whose
// filters match topic, a valid topic name. It allocates nothing once r's
// slices have grown to the sizes a workload needs, so a caller that keeps one
// Result per goroutine matches without garbage.
func (t *Tree) Match(topic string, r *Result) {
	clear(r.Subscriptions) // drop the previous match's strings for the collector
	r.Subscriptions = r.Subscriptions[:0]
	clear(r.Groups)
	r.Groups = r.Groups[:0]
	ix, token := t.lr.enter()
	ix.match(topic, r)
	t.lr.exit(token)
}

// Len returns the number of subscriptions, shared group members included.
func (t *Tree) Len() int {
	return int(t.count.Load())
}

// validateShareName applies the share name rules of a "$share/{ShareName}/"
// prefix.
func validateShareName(name string) error {
	if name == "" {
		return errShareNameEmpty // [MQTT-4.8.2-1]
	}
	if strings.ContainsAny(name, "/+#") {
		return errShareNameChars // [MQTT-4.8.2-2]
	}
	if strings.IndexByte(name, 0) >= 0 {
		return errFilterNUL // [MQTT-4.7.3-2]
	}
	if !utf8.ValidString(name) {
		return errFilterUTF8 // [MQTT-1.5.4-1]
	}
	return nil
}
