package metrics

import (
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"
)

// maxBuckets bounds a Histogram's buckets, so each shard is one fixed
// array.
const maxBuckets = 24

// Histogram counts durations into buckets with fixed upper bounds. Its
// counts are spread over shards chosen by the caller (a connection's
// number, say), so writers on different cores rarely touch the same cache
// line; a snapshot sums them.
type Histogram struct {
	bounds []time.Duration
	mask   uint
	shards []histogramShard
}

type histogramShard struct {
	// counts[i] counts durations up to bounds[i]; the last, the rest.
	counts [maxBuckets + 1]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
	// Keeps the next shard's counts off this shard's last cache line.
	_ [64]byte
}

// NewHistogram returns a histogram with buckets up to each of bounds,
// which must increase (at most 24 of them), and one for longer durations.
func NewHistogram(bounds ...time.Duration) *Histogram {
	if len(bounds) == 0 || len(bounds) > maxBuckets {
		panic("metrics: a histogram needs 1 to 24 bucket bounds")
	}
	for i := 1; i < len(bounds); i++ {
		if bounds[i] <= bounds[i-1] {
			panic("metrics: histogram bounds must increase")
		}
	}
	// A few shards per core: enough that the cores' writers seldom meet.
	n := 1 << bits.Len(uint(4*runtime.GOMAXPROCS(0)-1))
	n = min(n, 64)
	return &Histogram{bounds: bounds, mask: uint(n - 1), shards: make([]histogramShard, n)}
}

// LatencyBounds are bucket bounds for latencies from 100 µs to 10 s, in
// the 1, 2.5, 5 steps Prometheus users expect.
var LatencyBounds = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Observe counts d in the shard that hint picks. Writers with different
// hints seldom share a shard.
func (h *Histogram) Observe(hint uint, d time.Duration) {
	sh := &h.shards[hint&h.mask]
	i := 0
	for i < len(h.bounds) && d > h.bounds[i] {
		i++
	}
	sh.counts[i].Add(1)
	sh.sum.Add(int64(d))
}

// HistogramSnapshot is a histogram's counts at one moment.
type HistogramSnapshot struct {
	// Bounds are the buckets' upper bounds; Counts has one more entry,
	// for durations above the last bound. Counts are per bucket, not
	// cumulative.
	Bounds []time.Duration
	Counts []uint64
	// Sum is the total of every duration observed.
	Sum time.Duration
}

// Count is how many durations were observed.
func (s HistogramSnapshot) Count() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Snapshot sums the shards. Observations made meanwhile may be counted in
// Counts and not yet in Sum, or the reverse.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Bounds: h.bounds, Counts: make([]uint64, len(h.bounds)+1)}
	for i := range h.shards {
		sh := &h.shards[i]
		for j := range s.Counts {
			s.Counts[j] += sh.counts[j].Load()
		}
		s.Sum += time.Duration(sh.sum.Load())
	}
	return s
}
