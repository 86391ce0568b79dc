package topic

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// readerStripes spreads reader announcements over several cache lines so that
// concurrent publishers on different cores do not fight over one counter.
const readerStripes = 16

// stripe is one reader counter padded to its own cache line pair (adjacent-line
// prefetch makes 128 bytes the unit that actually bounces between cores).
type stripe struct {
	n atomic.Int64
	_ [120]byte
}

// leftRight holds two copies of a single-threaded structure T and lets readers
// use one while the writer changes the other. Readers never block; writers are
// serialised by mu and wait only for readers that were already reading the
// copy they are about to change.
//
// Invariant between writes: both copies hold the same state, and no reader is
// (or can begin) reading inst[1-current].
type leftRight[T any] struct {
	mu      sync.Mutex
	current atomic.Uint32
	inst    [2]T
	readers [2][readerStripes]stripe
}

// readToken identifies the copy and counter a reader announced itself on.
type readToken struct {
	side, stripe uint32
}

// enter returns the copy to read. The caller must call exit with the token
// once it no longer touches anything reachable from that copy.
func (lr *leftRight[T]) enter() (*T, readToken) {
	s := rand.Uint32() % readerStripes
	for {
		side := lr.current.Load()
		lr.readers[side][s].n.Add(1)
		// The announcement is only binding if the writer has not flipped in
		// between: a writer that flips after this load will wait for us, one
		// that flipped before it may already be changing this copy.
		if lr.current.Load() == side {
			return &lr.inst[side], readToken{side, s}
		}
		lr.readers[side][s].n.Add(-1)
	}
}

func (lr *leftRight[T]) exit(t readToken) {
	lr.readers[t.side][t.stripe].n.Add(-1)
}

// write applies change to both copies, one after the other. change must be
// deterministic: given equal copies it must leave equal copies. It runs with
// no reader on the copy it is given.
func (lr *leftRight[T]) write(change func(*T)) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	side := lr.current.Load()
	change(&lr.inst[1-side])
	lr.current.Store(1 - side)
	lr.drain(side)
	change(&lr.inst[side])
}

// drain waits until no reader announced on side is still reading. Readers
// that announce themselves afterwards see the flipped pointer and back out,
// so the wait is bounded by the longest read already in flight.
func (lr *leftRight[T]) drain(side uint32) {
	for i := range lr.readers[side] {
		for spins := 0; lr.readers[side][i].n.Load() != 0; spins++ {
			if spins < 64 {
				continue
			}
			runtime.Gosched()
		}
	}
}
