package topic

import "strings"

// index is one copy of the subscription tree. It is single-threaded: Tree
// wraps two of them in a leftRight.
//
// A filter is cut at its '+' levels into literal runs. Every filter prefix
// that ends a run is a pattern: the filter itself ("a/b/+/c" or, without its
// "/#", "a/#") and each prefix followed by a '+' ("a/b" and "a/b/+/c" in
// "a/b/+/c/+"). All patterns sit in one flat hash table, keyed by a hash
// computed level by level, so matching a topic needs no walk down a trie:
// every prefix of the topic is probed at once, independently, and a pattern
// with '+' children starts one more such round below the '+'. A match
// therefore waits for about as many cache misses in a row as its filters
// have '+' levels, plus two, however deep the topic.
type index struct {
	root     pattern // the key of no levels: "#" and filters that begin with '+'
	patterns table
}

// pattern is one filter prefix and the subscribers of the filters it ends.
type pattern struct {
	key string
	// h2 is the key's second hash, which confirms a probe's find.
	h2 uint64
	// wildFirst says the key begins with '+', which never matches a topic
	// that begins with '$' [MQTT-4.7.2-1].
	wildFirst bool
	// plus counts the filters with a '+' right after the key.
	plus int
	here subscribers // the filter that is the key
	// all holds the subscribers of the key followed by "/#", made when the
	// first subscribes: few filters end in '#', and an empty set inline
	// would cost every other pattern its size.
	all *subscribers
}

// flags returns what the pattern's slot says of it.
func (p *pattern) flags() uint64 {
	var f uint64
	if p.plus > 0 {
		f |= hasPlus
	}
	if p.here.filter != "" {
		f |= hasHere
	}
	if p.all != nil && p.all.filter != "" {
		f |= hasAll
	}
	return f
}

// plusParent is a pattern a filter continues from with a '+', and its hash.
type plusParent struct {
	p *pattern
	h uint64
}

// locate finds the pattern that holds a valid filter's subscribers, and which
// of its sets: all for a filter ending in '#'. It appends the filter's '+'
// parents to parents. If create is set, it makes the patterns it misses
// (cutting their strings from filter, which must be the tree's own copy);
// otherwise it returns a nil pattern for a missing one.
func (ix *index) locate(filter string, create bool, parents []plusParent) (p *pattern, h uint64, all bool, _ []plusParent) {
	p, h = &ix.root, uint64(rootHash)
	for start := 0; ; {
		end := strings.IndexByte(filter[start:], '/')
		more := end >= 0
		if more {
			end += start
		} else {
			end = len(filter)
		}
		switch level := filter[start:end]; level {
		case "#":
			return p, h, true, parents
		case "+":
			parents = append(parents, plusParent{p, h})
			h = extend(h, plusHash)
		default:
			h = extend(h, levelHash(level))
		}
		if more && !startsWildcard(filter[end+1:]) {
			start = end + 1
			continue // inside a literal run, which has no pattern
		}
		if p = ix.patterns.find(h, filter[:end]); p == nil {
			if !create {
				return nil, 0, false, parents
			}
			key := filter[:end]
			p = &pattern{key: key, h2: keyHash2(key), wildFirst: strings.HasPrefix(key, "+")}
			ix.patterns.insert(h, p)
		}
		if !more {
			return p, h, false, parents
		}
		start = end + 1
	}
}

func startsWildcard(s string) bool {
	return s != "" && (s[0] == '+' || s[0] == '#')
}

// set returns the pattern's set for the filter that is its key, or for
// the key followed by "/#"; nil if that one has never been made.
func (p *pattern) set(all bool) *subscribers {
	if all {
		return p.all
	}
	return &p.here
}

// lookup returns the subscriber set for a valid filter, or nil if nobody has
// subscribed to it.
func (ix *index) lookup(filter string) *subscribers {
	p, _, all, _ := ix.locate(filter, false, nil)
	if p == nil || p.set(all) == nil || p.set(all).filter == "" {
		return nil
	}
	return p.set(all)
}

// create returns the subscriber set for a valid filter, making it and its
// patterns if needed. key is the filter as the tree keeps it: a copy the
// caller made once, so that both copies of the index share its bytes.
func (ix *index) create(key string) *subscribers {
	p, h, all, parents := ix.locate(key, true, nil)
	if all && p.all == nil {
		p.all = &subscribers{}
	}
	s := p.set(all)
	if s.filter != "" {
		return s
	}
	s.filter = key
	ix.changed(p, h)
	for _, pp := range parents {
		pp.p.plus++
		ix.changed(pp.p, pp.h)
	}
	return s
}

// prune forgets filter once its subscriber set is empty, and drops the
// patterns nothing uses any more, so that a tree that churns does not grow.
func (ix *index) prune(filter string) {
	p, h, all, parents := ix.locate(filter, false, nil)
	if p == nil {
		return
	}
	if s := p.set(all); s == nil || s.filter == "" || !s.empty() {
		return
	}
	if all {
		p.all = nil
	} else {
		p.here.filter = ""
	}
	ix.changed(p, h)
	for i := len(parents) - 1; i >= 0; i-- {
		pp := parents[i]
		pp.p.plus--
		ix.changed(pp.p, pp.h)
	}
}

// changed brings p's slot up to date with p, or drops p if it holds nothing.
func (ix *index) changed(p *pattern, h uint64) {
	switch {
	case p == &ix.root:
	case p.flags() == 0:
		ix.patterns.delete(h, p)
	default:
		ix.patterns.setFlags(h, p, p.flags())
	}
}
