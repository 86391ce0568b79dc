package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// The histogram's buckets are log-linear, as in HdrHistogram with two
// significant digits: one bucket per microsecond below 256 µs, then 128
// buckets per power of two, so a bucket is never wider than 1/128 (0.8%)
// of the values it holds, up to the largest latency worth telling apart.
const (
	linearBuckets = 1 << 8
	subBuckets    = linearBuckets / 2
	// HistogramMax is the largest latency the buckets resolve; longer ones
	// share the last bucket, though Max still reports them exactly.
	HistogramMax = 60 * time.Second
)

var histogramBuckets = bucketOf(uint64(HistogramMax/time.Microsecond)) + 1

// Histogram counts durations for percentiles without keeping each one:
// a fixed 20 KB whatever the count. It is not safe for concurrent use;
// each reader goroutine keeps its own and they are merged at the end.
type Histogram struct {
	counts   []uint64
	n        uint64
	sum      float64 // nanoseconds, for the mean
	min, max time.Duration
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, histogramBuckets)}
}

// bucketOf is the bucket of a value in microseconds.
func bucketOf(us uint64) int {
	if us < linearBuckets {
		return int(us)
	}
	shift := bits.Len64(us) - 8
	top := us >> shift // in [128, 256)
	return linearBuckets + (shift-1)*subBuckets + int(top-subBuckets)
}

// bucketEnd is the first microsecond past bucket i.
func bucketEnd(i int) uint64 {
	if i < linearBuckets {
		return uint64(i) + 1
	}
	shift := (i-linearBuckets)/subBuckets + 1
	top := uint64(subBuckets + (i-linearBuckets)%subBuckets)
	return (top + 1) << shift
}

// Record counts one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	i := min(bucketOf(uint64(d/time.Microsecond)), len(h.counts)-1)
	h.counts[i]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += float64(d)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max are the shortest and longest durations recorded, exactly.
func (h *Histogram) Min() time.Duration { return h.min }

// Max is the longest duration recorded.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the average duration.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Percentile is the smallest duration that p percent of those recorded
// do not exceed (the nearest-rank definition), reported as the upper edge
// of its bucket: never less than the true value, and within 1 µs or 0.8%
// above it. Percentile(100) is Max.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank && i < len(h.counts)-1 {
			d := time.Duration(bucketEnd(i)) * time.Microsecond
			return min(max(d, h.min), h.max)
		}
	}
	return h.max
}
