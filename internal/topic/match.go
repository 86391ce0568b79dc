package topic

import (
	"strings"
	"unsafe"
)

// A match looks for every key that could match the topic at once, so that
// its cache misses overlap instead of queueing behind one another. From the
// root it looks for the topic itself and for each prefix followed by '#';
// from a '+' in place of each level in turn (a frontier) it looks for every
// continuation of the topic below the '+'; '#' and '+' only at the depths
// where some filter has them (index.plusFirst, index.hashAfter). Those are the keys of every
// filter with at most one wildcard after its literal start, and of the
// markers of the rest. The slot of each key that passes the Bloom filter is
// prefetched as soon as it passes, so that its miss overlaps the hashing of
// the keys after it; the slots are then read, a marker's slot adding a
// frontier below its '+' or a probe of its '#' for one more round, and the
// patterns whose slots say they hold subscriptions are prefetched. Last,
// those patterns are read, each find confirmed with the key's second hash
// (see hashSeed2), and their subscriptions collected.

// frontier is a key that ends in a '+' standing for one topic level, or the
// root.
type frontier struct {
	h, h2 uint64
	depth int // topic levels consumed, the '+' included
}

// probe is a key that passed the Bloom filter: a frontier's key extended by
// the topic's levels up to depth, followed by '#' if all is set.
type probe struct {
	h     uint64
	front int32 // its frontier in matchScratch.frontiers
	depth int32
	all   bool
}

// candidate is a pattern whose slot hash equals that of a probed key and
// which holds subscriptions that match the topic.
type candidate struct {
	p     *pattern
	probe int32
}

// matchScratch is the working memory of a match, kept in the Result so that
// matching allocates nothing once it has grown.
type matchScratch struct {
	hashes     []uint64 // each level's hash
	hashes2    []uint64 // each level's second hash
	frontiers  []frontier
	probes     []probe
	read       int // probes whose slots were read
	candidates []candidate
}

// match adds every subscription whose filter matches the valid topic name to
// r.
func (ix *index) match(topic string, r *Result) {
	t := &ix.patterns
	if topic == "" || t.n == 0 {
		return
	}
	m := &r.scratch
	m.hashes, m.hashes2 = m.hashes[:0], m.hashes2[:0]
	for start := 0; ; {
		end := strings.IndexByte(topic[start:], '/')
		if end < 0 {
			end = len(topic)
		} else {
			end += start
		}
		m.hashes = append(m.hashes, levelHash(topic[start:end]))
		m.hashes2 = append(m.hashes2, levelHash2(topic[start:end]))
		if end == len(topic) {
			break
		}
		start = end + 1
	}
	levels := len(m.hashes)
	m.frontiers, m.probes, m.read, m.candidates = m.frontiers[:0], m.probes[:0], 0, m.candidates[:0]
	m.frontiers = append(m.frontiers, frontier{h: rootHash, h2: rootHash2})

	// [MQTT-4.7.2-1] A filter that begins with a wildcard must not match a
	// name that begins with '$': no "#", and no '+' for the first level.
	dollar := topic[0] == '$'
	h, h2 := uint64(rootHash), uint64(rootHash2)
	for d := 0; ; d++ {
		if (d > 0 || !dollar) && uses(ix.hashAfter, d) {
			t.consider(m, extend(h, hashHash), 0, d, true)
		}
		if d == levels {
			t.consider(m, h, 0, d, false)
			break
		}
		if (d > 0 || !dollar) && uses(ix.plusFirst, d) {
			m.frontiers = append(m.frontiers, frontier{extend(h, plusHash), extend(h2, plusHash2), d + 1})
		}
		h, h2 = extend(h, m.hashes[d]), extend(h2, m.hashes2[d])
	}
	// Frontiers are searched a generation at a time: every key below every
	// frontier known so far is looked for together, and the markers found
	// make the next generation.
	for lo := 1; ; {
		hi := len(m.frontiers)
		for i := lo; i < hi; i++ {
			f := m.frontiers[i]
			h := f.h
			for d := f.depth; ; d++ {
				t.consider(m, h, i, d, false)
				if d == levels {
					break
				}
				h = extend(h, m.hashes[d])
			}
		}
		ix.readSlots(m, levels)
		if len(m.frontiers) == hi && m.read == len(m.probes) {
			break
		}
		lo = hi
	}
	for _, c := range m.candidates {
		if c.p.h2 == m.hash2(int(c.probe)) {
			r.add(c.p)
		}
	}
}

// consider records the key hashed h, below frontier front, if the Bloom
// filter lets it pass, and starts loading its slot.
func (t *table) consider(m *matchScratch, h uint64, front, depth int, all bool) {
	if t.mayHave(h) {
		prefetch(unsafe.Pointer(&t.slots[t.home(h)]))
		m.probes = append(m.probes, probe{h, int32(front), int32(depth), all})
	}
}

// hash2 computes the second hash of the probed key, needed only for finds.
func (m *matchScratch) hash2(i int) uint64 {
	k := m.probes[i]
	f := m.frontiers[k.front]
	h2 := f.h2
	for d := f.depth; d < int(k.depth); d++ {
		h2 = extend(h2, m.hashes2[d])
	}
	if k.all {
		h2 = extend(h2, hashHash2)
	}
	return h2
}

// readSlots reads the slots of the probes not read yet, adding candidates,
// the frontiers below markers' '+' and the probes of their '#'.
func (ix *index) readSlots(m *matchScratch, levels int) {
	t := &ix.patterns
	mask := uint64(len(t.slots) - 1)
	for i := m.read; i < len(m.probes); i++ {
		k := m.probes[i]
		for j := t.home(k.h); t.slots[j].p != nil; j = (j + 1) & mask {
			s := t.slots[j]
			if !sameHash(s.h, k.h) {
				continue
			}
			if s.h&hasHere != 0 && (k.all || int(k.depth) == levels) {
				prefetch(unsafe.Pointer(s.p))
				m.candidates = append(m.candidates, candidate{s.p, int32(i)})
			}
			if k.all {
				continue
			}
			if s.h&hasAll != 0 {
				t.consider(m, extend(k.h, hashHash), int(k.front), int(k.depth), true)
			}
			if s.h&hasPlus != 0 && int(k.depth) < levels {
				m.frontiers = append(m.frontiers, frontier{extend(k.h, plusHash), extend(m.hash2(i), plusHash2), int(k.depth) + 1})
			}
		}
	}
	m.read = len(m.probes)
}
