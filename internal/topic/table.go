package topic

import (
	"hash/maphash"
	"math/bits"
)

// Patterns are found by a hash of their key computed level by level, so that
// Match hashes each level of a topic once and derives the hash of every key
// it looks for, with '+' or '#' standing in for a level, by one mixing step.

var hashSeed = maphash.MakeSeed()

// rootHash is the hash of the key of no levels, from which every key's hash
// is extended.
const rootHash = 0x9e3779b97f4a7c15

// plusHash and hashHash stand in for the hash of a '+' and a '#' level. No
// topic level is "+" or "#", so they cannot collide with one by construction.
var (
	plusHash = levelHash("+")
	hashHash = levelHash("#")
)

func levelHash(level string) uint64 {
	return maphash.String(hashSeed, level)
}

// A second, independent hash of every key confirms a match: a probe that
// finds a pattern by the first hash accepts it only if the second agrees
// too. Comparing the key's bytes instead would cost one more cache miss in
// a row on every match; two independent hashes (61 and 64 bits) agreeing
// for different keys is a chance below 2^-120 per comparison.
var hashSeed2 = maphash.MakeSeed()

const rootHash2 = 0x2545f4914f6cdd1d

var (
	plusHash2 = levelHash2("+")
	hashHash2 = levelHash2("#")
)

func levelHash2(level string) uint64 {
	return maphash.String(hashSeed2, level)
}

// keyHashes returns both hashes of a pattern key, and calls marker, if not
// nil, with the hash and text of every prefix of key that a wildcard follows
// once an earlier level was a '+' already, and with whether that wildcard is
// a '#': the markers Match must find to look below a filter's first '+' (see
// index).
func keyHashes(key string, marker func(h uint64, prefix string, all bool)) (h, h2 uint64) {
	h, h2 = rootHash, rootHash2
	plus := false
	for start := 0; ; {
		level, rest, more := nextLevel(key[start:])
		if plus && marker != nil && (level == "+" || level == "#") {
			marker(h, key[:start-1], level == "#")
		}
		switch level {
		case "+":
			plus = true
			h, h2 = extend(h, plusHash), extend(h2, plusHash2)
		case "#":
			h, h2 = extend(h, hashHash), extend(h2, hashHash2)
		default:
			h, h2 = extend(h, levelHash(level)), extend(h2, levelHash2(level))
		}
		if !more {
			return h, h2
		}
		start = len(key) - len(rest)
	}
}

// extend returns the hash of a key one level longer than the one hashed by h.
// Level hashes are already uniform (maphash, with a seed of the process's
// own), so one multiply and fold suffices: it makes the result depend on the
// order of the levels, not only on their set, and spreads every bit into the
// top ones, which pick the slot. A match extends about twenty keys.
func extend(h, level uint64) uint64 {
	h ^= level
	h *= 0xff51afd7ed558ccd
	h ^= h >> 32
	return h
}

// slot is one entry of the pattern table. The pattern's hash sits inline so
// that a probe reads one cache line, and its lowest bits say what the pattern
// holds, so that Match looks below a marker before the pattern itself
// arrives from memory and never reads a pattern that holds nothing for the
// topic.
type slot struct {
	h uint64
	p *pattern
}

const (
	hasPlus = 1 << iota // the pattern is a marker: filters continue from it with a '+'
	hasAll              // the pattern is a marker: a filter continues from it with a '#'
	hasHere             // somebody subscribed to the pattern's key

	flagBits = hasPlus | hasAll | hasHere // the low bits of a slot's hash
)

func sameHash(a, b uint64) bool { return (a^b)&^flagBits == 0 }

// table is an open-addressing hash table of patterns with linear probing,
// kept at most half full so that a probe usually ends in its first cache
// line, and a Bloom filter of the keys it holds.
//
// The filter is what lets Match look for many keys that do not exist: four
// bits in one 64-bit word per key and a word per 16 slots, about 11 bits per
// key at the table's usual fill, where 1 in 100 missing keys gets past it.
// At a million subscriptions the table is tens of megabytes and every slot
// read a miss in every cache; the filter is a megabyte, read tens of times
// per match, and stays in the processor's caches. A deleted key's bits stay
// set until the filter is rebuilt, which happens when the table grows and
// once an eighth as many keys as it has slots were deleted: a few slot reads
// per deletion, for a filter that never holds more than 5 keys per 8 slots.
type table struct {
	slots []slot
	shift uint // 64 - log2(len(slots)): the top bits of a hash pick its slot
	n     int

	bloom      []uint64
	bloomShift uint // 64 - log2(len(bloom))
	stale      int  // keys deleted since the filter was built
}

func (t *table) home(h uint64) uint64 { return h >> t.shift }

// bloomBits returns the word of the filter that holds h's bits, and the bits.
// The key hash is mixed again so that the word does not follow its slot.
func (t *table) bloomBits(h uint64) (word uint64, mask uint64) {
	x := (h &^ flagBits) * 0x9fb21c651e98df25
	return x >> t.bloomShift, 1<<(x&63) | 1<<(x>>6&63) | 1<<(x>>12&63) | 1<<(x>>18&63)
}

// mayHave reports whether the table may hold a key hashed h: false is
// certain, true is right for about 99 in 100 missing keys.
func (t *table) mayHave(h uint64) bool {
	if t.n == 0 {
		return false
	}
	w, mask := t.bloomBits(h)
	return t.bloom[w]&mask == mask
}

// find returns the pattern with hash h and key, or nil.
func (t *table) find(h uint64, key string) *pattern {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.home(h); t.slots[i].p != nil; i = (i + 1) & mask {
		if s := &t.slots[i]; sameHash(s.h, h) && s.p.key == key {
			return s.p
		}
	}
	return nil
}

// position returns the index of p's slot; p must be in the table.
func (t *table) position(h uint64, p *pattern) uint64 {
	mask := uint64(len(t.slots) - 1)
	i := t.home(h)
	for t.slots[i].p != p {
		i = (i + 1) & mask
	}
	return i
}

func (t *table) insert(h uint64, p *pattern) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	t.put(slot{h &^ flagBits, p})
	t.n++
	w, mask := t.bloomBits(h)
	t.bloom[w] |= mask
}

func (t *table) put(s slot) {
	mask := uint64(len(t.slots) - 1)
	i := t.home(s.h)
	for t.slots[i].p != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

func (t *table) grow() {
	old := t.slots
	size := max(2*len(old), 16)
	t.slots = make([]slot, size)
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	for _, s := range old {
		if s.p != nil {
			t.put(s)
		}
	}
	t.rebuildBloom()
}

// rebuildBloom makes the filter anew from the keys in the table, one word
// per 16 slots.
func (t *table) rebuildBloom() {
	words := max(len(t.slots)/16, 1)
	if len(t.bloom) == words {
		clear(t.bloom)
	} else {
		t.bloom = make([]uint64, words)
		t.bloomShift = uint(64 - bits.TrailingZeros(uint(words)))
	}
	for _, s := range t.slots {
		if s.p != nil {
			w, mask := t.bloomBits(s.h)
			t.bloom[w] |= mask
		}
	}
	t.stale = 0
}

// setFlags records in the slot of p, hashed h, what p holds.
func (t *table) setFlags(h uint64, p *pattern, flags uint64) {
	s := &t.slots[t.position(h, p)]
	s.h = s.h&^flagBits | flags
}

// delete removes p, hashed h, shifting later members of its probe run back
// so that no tombstones accumulate under churn.
func (t *table) delete(h uint64, p *pattern) {
	mask := uint64(len(t.slots) - 1)
	hole := t.position(h, p)
	for i := (hole + 1) & mask; t.slots[i].p != nil; i = (i + 1) & mask {
		// The slot at i may fill the hole unless its home lies cyclically
		// in (hole, i], where it would no longer be found.
		if (i-t.home(t.slots[i].h))&mask >= (i-hole)&mask {
			t.slots[hole] = t.slots[i]
			hole = i
		}
	}
	t.slots[hole] = slot{}
	t.n--
	if t.stale++; t.stale > len(t.slots)/8 {
		t.rebuildBloom()
	}
}
