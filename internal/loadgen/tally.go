package loadgen

import (
	"math/bits"

	"github.com/petrelmq/petrel/packet"
)

// seqSet is the set of one publisher's sequence numbers that a subscriber
// has received: a bitmap in pages of 64 Ki numbers, allocated as numbers
// arrive, so a million messages cost 128 KB.
type seqSet struct {
	pages          [][]uint64
	received       uint64 // deliveries, duplicates included
	minSeq, maxSeq uint32
	qos            packet.QoS // as published
}

const (
	pageShift = 16
	pageWords = 1 << pageShift / 64
)

// mark records seq and reports whether it had been received before.
func (s *seqSet) mark(seq uint32) (dup bool) {
	p := int(seq >> pageShift)
	if p >= len(s.pages) {
		s.pages = append(s.pages, make([][]uint64, p+1-len(s.pages))...)
	}
	if s.pages[p] == nil {
		s.pages[p] = make([]uint64, pageWords)
	}
	w, bit := &s.pages[p][seq%(1<<pageShift)/64], uint64(1)<<(seq%64)
	dup = *w&bit != 0
	*w |= bit
	if s.received == 0 || seq < s.minSeq {
		s.minSeq = seq
	}
	s.received++
	s.maxSeq = max(s.maxSeq, seq)
	return dup
}

// tally is what one subscriber connection received, by run and
// publisher. It belongs to the connection's reader goroutine until the
// run ends.
type tally struct {
	runs       []runTally // in the order they were first heard from
	received   uint64     // messages from load generators
	duplicates uint64     // of those, already received on this connection
}

// runTally is what one tally received from the publishers of one run.
type runTally struct {
	run  uint32
	pubs []*seqSet
}

// set is the record of publisher pub of run, nil if nothing came from it.
func (t *tally) set(run uint32, pub int) *seqSet {
	for _, r := range t.runs {
		if r.run == run {
			if pub < len(r.pubs) {
				return r.pubs[pub]
			}
			return nil
		}
	}
	return nil
}

// record accounts for one received payload and reports whether this
// connection had received it before.
func (t *tally) record(h header) (dup bool) {
	var r *runTally
	for i := range t.runs {
		if t.runs[i].run == h.run {
			r = &t.runs[i]
			break
		}
	}
	if r == nil {
		t.runs = append(t.runs, runTally{run: h.run})
		r = &t.runs[len(t.runs)-1]
	}
	if int(h.pub) >= len(r.pubs) {
		r.pubs = append(r.pubs, make([]*seqSet, int(h.pub)+1-len(r.pubs))...)
	}
	s := r.pubs[h.pub]
	if s == nil {
		s = &seqSet{qos: h.qos}
		r.pubs[h.pub] = s
	}
	t.received++
	if s.mark(h.seq) {
		t.duplicates++
		return true
	}
	return false
}

// groupCount is what a group of subscribers that together expect each
// message once (one subscriber, or the members of a shared subscription)
// received from one publisher.
type groupCount struct {
	received       uint64 // deliveries to any member
	unique         uint64 // distinct sequence numbers among them
	minSeq, maxSeq uint32
	qos            packet.QoS // as published
}

// countGroup combines the members' tallies for publisher pub of run: a
// message delivered to two members of a shared group is a duplicate as
// surely as one delivered twice to the same member.
func countGroup(members []*tally, run uint32, pub int) groupCount {
	var g groupCount
	var union [][]uint64
	for _, t := range members {
		s := t.set(run, pub)
		if s == nil {
			continue
		}
		if g.received == 0 || s.minSeq < g.minSeq {
			g.minSeq = s.minSeq
		}
		g.received += s.received
		g.maxSeq = max(g.maxSeq, s.maxSeq)
		g.qos = s.qos
		if len(s.pages) > len(union) {
			union = append(union, make([][]uint64, len(s.pages)-len(union))...)
		}
		for i, page := range s.pages {
			if page == nil {
				continue
			}
			if union[i] == nil {
				union[i] = make([]uint64, pageWords)
			}
			for j, w := range page {
				union[i][j] |= w
			}
		}
	}
	for _, page := range union {
		for _, w := range page {
			g.unique += uint64(bits.OnesCount64(w))
		}
	}
	return g
}
