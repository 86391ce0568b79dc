package topic

// index is one copy of the subscription tree. It is single-threaded: Tree
// wraps two of them in a leftRight.
//
// Every subscribed filter is a pattern in one flat hash table, keyed by a
// hash computed level by level with '+' and '#' hashed as levels of their
// own, and holds its subscriptions itself. Nothing is stored per level, so
// matching a topic needs no walk down a trie: Match computes the hash of
// every key that could match the topic with at most one '+' (the topic
// itself, each of its prefixes followed by '#', and the topic and its
// prefixes with any one level replaced by '+'), asks the table's Bloom
// filter, which stays in cache, about each, and reads the slots of the few
// that pass, all at once. A filter with a wildcard after its first '+' also
// leaves a marker: its prefix before that wildcard, whose slot tells Match to
// look below it with one more round. A match therefore waits for two cache
// misses in a row (slot, then pattern), plus one per wildcard after a
// filter's first '+', however deep the topic and however many filters.
type index struct {
	patterns table
	// plusFirst[d] counts the filters whose first '+' is the level at
	// index d, and hashAfter[d] the filters without a '+' that end in '#'
	// after d levels: Match looks below a '+', or for a '#', only at the
	// depths some filter uses, so a tree of exact filters costs a match
	// one key, not a score of them.
	plusFirst, hashAfter []int32
}

// pattern is one key of the table: a filter and its subscriptions, a marker,
// or both. Objects of its size are 128-byte aligned by the allocator, and
// the fields a match reads for a filter with one subscriber fill the first
// 64 bytes, one cache line.
type pattern struct {
	// h2 is the key's second hash, which confirms a probe's find.
	h2 uint64
	// key is the filter, or for a marker its prefix; both copies of the
	// index share its bytes.
	key   string
	n     int32 // subscriptions: first[:min(n, inline)], then rare.more
	plus  int32 // filters that continue from a marker with a '+'
	rare  *rareParts
	first [inline]entry
	all   int32 // filters that continue from a marker with a '#'
}

// flags returns what the pattern's slot says of it.
func (p *pattern) flags() uint64 {
	var f uint64
	if p.plus > 0 {
		f |= hasPlus
	}
	if p.all > 0 {
		f |= hasAll
	}
	if p.live() {
		f |= hasHere
	}
	return f
}

// lookup returns the pattern of a valid filter and its hash; the pattern is
// nil if the index has none.
func (ix *index) lookup(filter string) (*pattern, uint64) {
	h, _ := keyHashes(filter, nil)
	return ix.patterns.find(h, filter), h
}

// insert makes the pattern of a valid filter the index lacks. key is the
// filter as the tree keeps it: a copy the caller made once, so that both
// copies of the index share its bytes.
func (ix *index) insert(key string) (*pattern, uint64) {
	h, h2 := keyHashes(key, nil)
	p := &pattern{key: key, h2: h2}
	ix.patterns.insert(h, p)
	return p, h
}

// changed brings the table up to date once p's subscriptions changed; was
// says whether p held any before. A filter that gains its first subscription
// counts at its markers, one that loses its last no longer does, and a
// pattern left holding nothing is dropped, so that a tree that churns does
// not grow.
func (ix *index) changed(p *pattern, h uint64, was bool) {
	if live := p.live(); live != was {
		delta := int32(-1)
		if live {
			delta = 1
		}
		ix.countShape(p.key, delta)
		keyHashes(p.key, func(mh uint64, prefix string, all bool) {
			m := ix.patterns.find(mh, prefix)
			if m == nil {
				m, mh = ix.insert(prefix)
			}
			if all {
				m.all += delta
			} else {
				m.plus += delta
			}
			ix.refresh(m, mh)
		})
	}
	ix.refresh(p, h)
}

// refresh brings p's slot up to date with p, or drops p if it holds nothing.
func (ix *index) refresh(p *pattern, h uint64) {
	if f := p.flags(); f == 0 {
		ix.patterns.delete(h, p)
	} else {
		ix.patterns.setFlags(h, p, f)
	}
}

// countShape adds delta to the depth counts of a filter (see index).
func (ix *index) countShape(filter string, delta int32) {
	for d := 0; ; d++ {
		level, rest, more := nextLevel(filter)
		switch level {
		case "+":
			ix.plusFirst = addAt(ix.plusFirst, d, delta)
			return
		case "#":
			ix.hashAfter = addAt(ix.hashAfter, d, delta)
			return
		}
		if !more {
			return
		}
		filter = rest
	}
}

// addAt adds delta to counts[d], growing counts as needed.
func addAt(counts []int32, d int, delta int32) []int32 {
	for len(counts) <= d {
		counts = append(counts, 0)
	}
	counts[d] += delta
	return counts
}

// uses reports whether counts, plusFirst or hashAfter, has filters at d.
func uses(counts []int32, d int) bool {
	return d < len(counts) && counts[d] > 0
}
