package topic

import "strings"

// A match runs in two passes so that its cache misses overlap instead of
// queueing behind one another. The first reads only the pattern table: it
// probes every prefix of the topic from the root and, wherever a slot says
// its pattern has '+' children, every prefix below the '+'. The second reads
// the patterns whose slots say they hold subscribers for the topic, checks
// each one's filter against the topic (equal hashes are not proof of a
// match), and collects the subscribers.

// frontier is a point from which a match probes literal runs of the topic:
// the root, or a '+' standing for one level.
type frontier struct {
	h     uint64 // hash of the key up to depth
	depth int    // topic levels consumed
}

// candidate is a pattern whose slot hash equals that of a probed key and
// which holds subscribers for the topic: here, the filter equal to its key,
// only if the key is as deep as the topic.
type candidate struct {
	p     *pattern
	depth int
	here  bool
	all   bool
}

// matchScratch is the working memory of a match, kept in the Result so that
// matching allocates nothing once it has grown.
type matchScratch struct {
	ends       []int    // where each level of the topic ends
	hashes     []uint64 // each level's hash
	frontiers  []frontier
	candidates []candidate
	probes     []uint64 // the keys probed from one frontier
	heads      []slot   // their first slots, read ahead of their use
	keys       []string // the candidates' keys, read ahead of their use
}

// match adds every subscription whose filter matches the valid topic name to
// r.
func (ix *index) match(topic string, r *Result) {
	if topic == "" {
		return
	}
	m := &r.scratch
	m.ends, m.hashes = m.ends[:0], m.hashes[:0]
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
		if end == len(topic) {
			break
		}
		start = end + 1
	}
	m.frontiers = append(m.frontiers, frontier{h: rootHash})
	// [MQTT-4.7.2-1] A filter that begins with a wildcard must not match a
	// name that begins with '$', so the root's '#' and '+' are skipped.
	dollar := topic[0] == '$'
	if !dollar {
		r.add(&ix.root.all)
		if ix.root.plus > 0 {
			m.frontiers = append(m.frontiers, frontier{extend(rootHash, plusHash), 1})
		}
	}
	if ix.patterns.n == 0 {
		return
	}
	for k := 0; k < len(m.frontiers); k++ {
		ix.probe(m.frontiers[k], m)
	}
	m.keys = m.keys[:0]
	for _, c := range m.candidates {
		m.keys = append(m.keys, c.p.key)
	}
	for i, c := range m.candidates {
		if !covers(m.keys[i], topic, m.ends[:c.depth], dollar) {
			continue
		}
		if c.here {
			r.add(&c.p.here)
		}
		// '#' also matches the parent level: "sport/#" matches "sport".
		if c.all {
			r.add(&c.p.all)
		}
	}
}

// probe looks up every key from f down a literal run of the topic, adding
// the candidates it finds and the frontiers below their '+'.
func (ix *index) probe(f frontier, m *matchScratch) {
	levels := len(m.ends)
	first := max(f.depth, 1) // the root is not in the table
	m.probes = m.probes[:0]
	for h, depth := f.h, f.depth; ; {
		if depth >= first {
			m.probes = append(m.probes, h)
		}
		if depth == levels {
			break
		}
		h = extend(h, m.hashes[depth])
		depth++
	}
	t := &ix.patterns
	m.heads = m.heads[:0]
	for _, h := range m.probes {
		m.heads = append(m.heads, t.slots[t.home(h)])
	}
	mask := uint64(len(t.slots) - 1)
	for i, h := range m.probes {
		depth := first + i
		s, next := m.heads[i], t.home(h)
		for s.p != nil {
			if sameHash(s.h, h) {
				here := s.h&hasHere != 0 && depth == levels
				if all := s.h&hasAll != 0; here || all {
					m.candidates = append(m.candidates, candidate{s.p, depth, here, all})
				}
				if s.h&hasPlus != 0 && depth < levels {
					m.frontiers = append(m.frontiers, frontier{extend(h, plusHash), depth + 1})
				}
			}
			next = (next + 1) & mask
			s = t.slots[next]
		}
	}
}

// covers reports whether key, a filter without '#', matches the first
// len(ends) levels of topic, whose ends are given.
func covers(key, topic string, ends []int, dollar bool) bool {
	if dollar && key != "" && key[0] == '+' {
		return false // [MQTT-4.7.2-1]
	}
	// [MQTT-4.7.3-4] Levels are compared as bytes, without normalisation.
	if len(key) == ends[len(ends)-1] && key == topic[:len(key)] {
		return true
	}
	start := 0
	for i, end := range ends {
		level, rest, more := nextLevel(key)
		if level != "+" && level != topic[start:end] || more != (i < len(ends)-1) {
			return false
		}
		key, start = rest, end+1
	}
	return true
}
