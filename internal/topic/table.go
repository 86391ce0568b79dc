package topic

import (
	"hash/maphash"
	"math/bits"
)

// Patterns are found by a hash of their key computed level by level, so that
// Match hashes each level of a topic once and derives the hash of every
// prefix it probes, with '+' standing in for a level, by one mixing step.

var hashSeed = maphash.MakeSeed()

// rootHash is the hash of the root pattern, the key of no levels.
const rootHash = 0x9e3779b97f4a7c15

// plusHash stands in for the hash of a level in patterns that follow a '+'.
// No topic level is "+", so it cannot collide with one by construction.
var plusHash = levelHash("+")

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

var plusHash2 = levelHash2("+")

func levelHash2(level string) uint64 {
	return maphash.String(hashSeed2, level)
}

// keyHash2 is the second hash of a pattern key.
func keyHash2(key string) uint64 {
	h := uint64(rootHash2)
	for {
		level, rest, more := nextLevel(key)
		if level == "+" {
			h = extend(h, plusHash2)
		} else {
			h = extend(h, levelHash2(level))
		}
		if !more {
			return h
		}
		key = rest
	}
}

// extend returns the hash of a key one level longer than the one hashed by h.
// The final mix (MurmurHash3's fmix64) makes the result depend on the order
// of the levels, not only on their set.
func extend(h, level uint64) uint64 {
	h ^= level
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// slot is one entry of the pattern table. The pattern's hash sits inline so
// that a probe reads one cache line, and its lowest bits say what the pattern
// holds, so that Match probes below a '+' before the pattern itself arrives
// from memory and never reads a pattern that holds nothing for the topic.
type slot struct {
	h uint64
	p *pattern
}

const (
	hasPlus = 1 << iota // filters continue from the pattern with a '+'
	hasHere             // somebody subscribed to the key itself
	hasAll              // somebody subscribed to the key followed by "/#"

	flagBits = hasPlus | hasHere | hasAll
)

func sameHash(a, b uint64) bool { return (a^b)&^flagBits == 0 }

// table is an open-addressing hash table of patterns with linear probing,
// kept at most half full so that a probe for a missing key, the common case
// for the prefixes of a topic, usually ends in the first cache line.
type table struct {
	slots []slot
	shift uint // 64 - log2(len(slots)): the top bits of a hash pick its slot
	n     int
}

func (t *table) home(h uint64) uint64 { return h >> t.shift }

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
}
