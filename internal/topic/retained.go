package topic

import (
	"strings"
	"sync/atomic"
)

// Retained indexes retained messages by topic name so that a new
// subscription finds the ones its filter matches by walking only the trie
// branches the filter can reach, never the whole set.
//
// V is what the broker keeps per topic, typically a pointer to the retained
// message: both copies of the index (see the package documentation) hold a
// V, so a large struct would be stored twice.
//
// Match may run on any number of goroutines and never waits for Set or
// Delete; writers are serialised and wait only for matches already reading
// the copy they change. A Match over a large part of the set therefore
// delays writers for as long as it takes to collect its results. The zero
// Retained is empty and ready to use; a Retained must not be copied.
type Retained[V any] struct {
	lr    leftRight[retainedNode[V]]
	count atomic.Int64
}

// retainedNode is a topic level; the root is the level above the first.
type retainedNode[V any] struct {
	children[retainedNode[V]]
	value V
	set   bool
}

// Set stores v as the retained message of topic, a valid topic name, and
// reports whether it replaced one. Deleting on an empty payload
// [MQTT-3.3.1-6] is the caller's decision: Set stores what it is given. The
// tree copies topic, so it may alias a read buffer.
func (r *Retained[V]) Set(topic string, v V) (replaced bool) {
	_, replaced = r.Swap(topic, v)
	return replaced
}

// Swap is Set that also returns the value it replaced.
func (r *Retained[V]) Swap(topic string, v V) (old V, replaced bool) {
	var key string
	first := true
	r.lr.write(func(root *retainedNode[V]) {
		n := root
		for start := 0; ; {
			end := strings.IndexByte(topic[start:], '/')
			last := end < 0
			if last {
				end = len(topic)
			} else {
				end += start
			}
			c := n.get(topic[start:end])
			if c == nil {
				if key == "" {
					key = strings.Clone(topic)
				}
				// Levels are cut from the one copy both indexes share.
				c = &retainedNode[V]{}
				n.add(key[start:end], c)
			}
			n = c
			if last {
				break
			}
			start = end + 1
		}
		if first {
			old, replaced = n.value, n.set
			first = false
		}
		n.value, n.set = v, true
	})
	if !replaced {
		r.count.Add(1)
	}
	return old, replaced
}

// Delete removes the retained message of topic and reports whether there was
// one.
func (r *Retained[V]) Delete(topic string) bool {
	_, found := r.Take(topic)
	return found
}

// Take is Delete that also returns the value it removed.
func (r *Retained[V]) Take(topic string) (old V, found bool) {
	first := true
	r.lr.write(func(root *retainedNode[V]) {
		type step struct {
			parent *retainedNode[V]
			level  string
		}
		var path []step
		n := root
		for rest, more := topic, true; more && n != nil; {
			var level string
			level, rest, more = nextLevel(rest)
			path = append(path, step{n, level})
			n = n.get(level)
		}
		if n == nil || !n.set {
			return
		}
		if first {
			old, found = n.value, true
			first = false
		}
		var zero V
		n.value, n.set = zero, false
		// Drop the levels left with nothing below them, so that a churning
		// set of topics does not grow the trie.
		for i := len(path) - 1; i >= 0; i-- {
			c := path[i].parent.get(path[i].level)
			if c.set || c.children.len() > 0 {
				return
			}
			path[i].parent.remove(path[i].level)
		}
	})
	if found {
		r.count.Add(-1)
	}
	return old, found
}

// Match appends to into the retained values whose topics match filter, a
// valid topic filter, and returns the extended slice. Order is unspecified.
// With into large enough it allocates nothing.
func (r *Retained[V]) Match(filter string, into []V) []V {
	root, token := r.lr.enter()
	defer r.lr.exit(token)
	level, rest, more := nextLevel(filter)
	switch level {
	case "#", "+":
		for l, c := range root.all() {
			// [MQTT-4.7.2-1] A filter that begins with a wildcard must not
			// match a topic that begins with '$'.
			if strings.HasPrefix(l, "$") {
				continue
			}
			if level == "#" {
				into = c.appendAll(into)
			} else {
				into = c.match(rest, more, into)
			}
		}
	default:
		// [MQTT-4.7.3-4] Levels are compared as bytes.
		if c := root.get(level); c != nil {
			into = c.match(rest, more, into)
		}
	}
	return into
}

// match continues below a level the filter matched. more reports whether
// rest holds another filter level.
func (n *retainedNode[V]) match(rest string, more bool, into []V) []V {
	if !more {
		if n.set {
			into = append(into, n.value)
		}
		return into
	}
	level, rest, more := nextLevel(rest)
	switch level {
	case "#":
		// '#' matches the parent level too: "sport/#" matches "sport".
		return n.appendAll(into)
	case "+":
		for _, c := range n.all() {
			into = c.match(rest, more, into)
		}
	default:
		if c := n.get(level); c != nil {
			into = c.match(rest, more, into)
		}
	}
	return into
}

func (n *retainedNode[V]) appendAll(into []V) []V {
	if n.set {
		into = append(into, n.value)
	}
	for _, c := range n.all() {
		into = c.appendAll(into)
	}
	return into
}

// Len returns the number of retained messages.
func (r *Retained[V]) Len() int {
	return int(r.count.Load())
}

// nextLevel splits off the first level of s. more reports whether a '/'
// followed it, that is whether another level, possibly empty, remains.
func nextLevel(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}
