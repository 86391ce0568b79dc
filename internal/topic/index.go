package topic

import "strings"

// index is one copy of the subscription tree. It is single-threaded: Tree
// wraps two of them in a leftRight.
//
// Filters without wildcards, most of them in practice, live in one map keyed
// by the whole filter, so their share of a match costs one hash lookup
// whatever the topic's depth. Only filters with '+' or '#' go into the trie,
// which keeps it small and its walks short.
type index struct {
	exact map[string]*subscribers
	root  node
}

// node is a trie level. '+' and '#' have fields of their own because every
// walk consults them.
type node struct {
	children[node]
	plus *node
	hash *subscribers // filters ending in '#' at this level
	here *subscribers // filters ending at this node
}

func (n *node) empty() bool {
	return n.children.len() == 0 && n.plus == nil && n.hash == nil && n.here == nil
}

func isWildcard(filter string) bool {
	return strings.ContainsAny(filter, "+#")
}

// nextLevel splits off the first level of s. more reports whether a '/'
// followed it, that is whether another level, possibly empty, remains.
func nextLevel(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// lookup returns the subscriber set for a valid filter, or nil.
func (ix *index) lookup(filter string) *subscribers {
	if !isWildcard(filter) {
		return ix.exact[filter]
	}
	n := &ix.root
	for rest, more := filter, true; more; {
		var level string
		level, rest, more = nextLevel(rest)
		switch {
		case level == "#":
			return n.hash
		case level == "+":
			n = n.plus
		default:
			n = n.get(level)
		}
		if n == nil {
			return nil
		}
	}
	return n.here
}

// create returns the subscriber set for a valid filter, making it and its
// path if needed. key is the filter as the tree keeps it: a copy the caller
// made once, so that both copies of the index share its bytes.
func (ix *index) create(key string) *subscribers {
	if !isWildcard(key) {
		if s := ix.exact[key]; s != nil {
			return s
		}
		if ix.exact == nil {
			ix.exact = make(map[string]*subscribers)
		}
		s := &subscribers{filter: key}
		ix.exact[key] = s
		return s
	}
	n := &ix.root
	for rest, more := key, true; more; {
		var level string
		level, rest, more = nextLevel(rest)
		switch {
		case level == "#":
			if n.hash == nil {
				n.hash = &subscribers{filter: key}
			}
			return n.hash
		case level == "+":
			if n.plus == nil {
				n.plus = &node{}
			}
			n = n.plus
		default:
			c := n.get(level)
			if c == nil {
				c = &node{}
				n.add(level, c)
			}
			n = c
		}
	}
	if n.here == nil {
		n.here = &subscribers{filter: key}
	}
	return n.here
}

// prune drops the subscriber set of filter if it has become empty, and any
// trie nodes left with nothing below them, so that a tree that churns does
// not grow.
func (ix *index) prune(filter string) {
	if !isWildcard(filter) {
		if s := ix.exact[filter]; s != nil && s.empty() {
			delete(ix.exact, filter)
		}
		return
	}
	type step struct {
		parent *node
		level  string
	}
	var path []step
	n := &ix.root
	for rest, more := filter, true; more; {
		var level string
		level, rest, more = nextLevel(rest)
		if level == "#" {
			if n.hash != nil && n.hash.empty() {
				n.hash = nil
			}
			break
		}
		path = append(path, step{n, level})
		if level == "+" {
			n = n.plus
		} else {
			n = n.get(level)
		}
		if n == nil {
			return
		}
		if !more && n.here != nil && n.here.empty() {
			n.here = nil
		}
	}
	for i := len(path) - 1; i >= 0; i-- {
		p := path[i]
		c := p.parent.plus
		if p.level != "+" {
			c = p.parent.get(p.level)
		}
		if !c.empty() {
			return
		}
		if p.level == "+" {
			p.parent.plus = nil
		} else {
			p.parent.remove(p.level)
		}
	}
}

// match adds every subscription whose filter matches the valid topic name to
// r.
func (ix *index) match(topic string, r *Result) {
	if s := ix.exact[topic]; s != nil {
		r.add(s)
	}
	if len(topic) == 0 {
		return
	}
	level, rest, more := nextLevel(topic)
	// [MQTT-4.7.2-1] A filter that begins with a wildcard must not match a
	// name that begins with '$', so the root's '#' and '+' are skipped.
	if topic[0] != '$' {
		if ix.root.hash != nil {
			r.add(ix.root.hash)
		}
		if ix.root.plus != nil {
			ix.root.plus.match(rest, more, r)
		}
	}
	// [MQTT-4.7.3-4] Levels are compared as bytes, without normalisation.
	if c := ix.root.get(level); c != nil {
		c.match(rest, more, r)
	}
}

// match continues below a level that matched. more reports whether rest holds
// another level.
func (n *node) match(rest string, more bool, r *Result) {
	// '#' also matches the parent level: "sport/#" matches "sport".
	if n.hash != nil {
		r.add(n.hash)
	}
	if !more {
		if n.here != nil {
			r.add(n.here)
		}
		return
	}
	level, rest, more := nextLevel(rest)
	if c := n.get(level); c != nil {
		c.match(rest, more, r)
	}
	if n.plus != nil {
		n.plus.match(rest, more, r)
	}
}
