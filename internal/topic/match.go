package topic

import "strings"

// A match runs in two passes so that its cache misses overlap instead of
// queueing behind one another. The first reads only the pattern table: it
// probes every prefix of the topic from the root and, wherever a slot says
// its pattern has '+' children, every prefix below the '+'. The second reads
// the patterns whose slots say they hold subscribers for the topic, confirms
// each find with the key's second hash (see hashSeed2), and collects the
// subscribers.

// frontier is a point from which a match probes literal runs of the topic:
// the root, or a '+' standing for one level.
type frontier struct {
	h, h2 uint64 // both hashes of the key up to depth
	depth int    // topic levels consumed
}

// candidate is a pattern whose slot hash equals that of a probed key and
// which holds subscribers for the topic: here, the filter equal to its key,
// only if the key is as deep as the topic.
type candidate struct {
	p     *pattern
	h2    uint64 // the probed key's second hash, which p's must equal
	depth int
	here  bool
	all   bool
}

// matchScratch is the working memory of a match, kept in the Result so that
// matching allocates nothing once it has grown.
type matchScratch struct {
	ends       []int    // where each level of the topic ends
	hashes     []uint64 // each level's hash
	hashes2    []uint64 // each level's second hash
	frontiers  []frontier
	candidates []candidate
	probes     []frontier // the keys probed from one frontier
	heads      []slot     // their first slots, read ahead of their use
}

// match adds every subscription whose filter matches the valid topic name to
// r.
func (ix *index) match(topic string, r *Result) {
	if topic == "" {
		return
	}
	m := &r.scratch
	m.ends, m.hashes, m.hashes2 = m.ends[:0], m.hashes[:0], m.hashes2[:0]
	m.frontiers, m.candidates = m.frontiers[:0], m.candidates[:0]
	for start := 0; ; {
		end := strings.IndexByte(topic[start:], '/')
		if end < 0 {
			end = len(topic)
		} else {
			end += start
		}
		m.ends = append(m.ends, end)
		m.hashes = append(m.hashes, levelHash(topic[start:end]))
		m.hashes2 = append(m.hashes2, levelHash2(topic[start:end]))
		if end == len(topic) {
			break
		}
		start = end + 1
	}
	m.frontiers = append(m.frontiers, frontier{h: rootHash, h2: rootHash2})
	// [MQTT-4.7.2-1] A filter that begins with a wildcard must not match a
	// name that begins with '$', so the root's '#' and '+' are skipped.
	dollar := topic[0] == '$'
	if !dollar {
		if ix.root.all != nil {
			r.add(ix.root.all)
		}
		if ix.root.plus > 0 {
			m.frontiers = append(m.frontiers, frontier{extend(rootHash, plusHash), extend(rootHash2, plusHash2), 1})
		}
	}
	if ix.patterns.n == 0 {
		return
	}
	// Frontiers are probed a generation at a time: every probe of every
	// frontier known so far is issued together, so their misses overlap,
	// and the frontiers they find make the next generation.
	for lo := 0; lo < len(m.frontiers); {
		hi := len(m.frontiers)
		ix.probe(m.frontiers[lo:hi], m)
		lo = hi
	}
	for _, c := range m.candidates {
		if c.p.h2 != c.h2 || dollar && c.p.wildFirst {
			continue
		}
		if c.here {
			r.add(&c.p.here)
		}
		// '#' also matches the parent level: "sport/#" matches "sport".
		if c.all {
			r.add(c.p.all)
		}
	}
}

// probe looks up every key from each of fs down a literal run of the
// topic, adding the candidates it finds and the frontiers below their '+'.
func (ix *index) probe(fs []frontier, m *matchScratch) {
	levels := len(m.ends)
	m.probes = m.probes[:0]
	for _, f := range fs {
		first := max(f.depth, 1) // the root is not in the table
		for k := f; ; {
			if k.depth >= first {
				m.probes = append(m.probes, k)
			}
			if k.depth == levels {
				break
			}
			k = frontier{extend(k.h, m.hashes[k.depth]), extend(k.h2, m.hashes2[k.depth]), k.depth + 1}
		}
	}
	t := &ix.patterns
	m.heads = m.heads[:0]
	for _, k := range m.probes {
		m.heads = append(m.heads, t.slots[t.home(k.h)])
	}
	mask := uint64(len(t.slots) - 1)
	for i, k := range m.probes {
		s, next := m.heads[i], t.home(k.h)
		for s.p != nil {
			if sameHash(s.h, k.h) {
				here := s.h&hasHere != 0 && k.depth == levels
				if all := s.h&hasAll != 0; here || all {
					m.candidates = append(m.candidates, candidate{s.p, k.h2, k.depth, here, all})
				}
				if s.h&hasPlus != 0 && k.depth < levels {
					m.frontiers = append(m.frontiers, frontier{extend(k.h, plusHash), extend(k.h2, plusHash2), k.depth + 1})
				}
			}
			next = (next + 1) & mask
			s = t.slots[next]
		}
	}
}
