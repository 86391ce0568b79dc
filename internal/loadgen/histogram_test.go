package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactPercentile is the nearest-rank percentile of sorted values.
func exactPercentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// TestHistogramPercentiles compares the histogram with exact percentiles
// of a long-tailed distribution, like real latencies: each must be at or
// above the truth, by no more than a microsecond or 1%.
func TestHistogramPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := NewHistogram()
	var all []time.Duration
	for range 200_000 {
		// Log-normal around 50 µs, with a tail into seconds.
		d := time.Duration(math.Exp(rng.NormFloat64()*1.5+math.Log(50e3))) + time.Microsecond
		h.Record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, p := range []float64{0, 1, 10, 50, 90, 99, 99.9, 99.99, 100} {
		want := exactPercentile(all, p)
		got := h.Percentile(p)
		slack := max(time.Microsecond, want/100)
		if got < want || got > want+slack {
			t.Errorf("p%g = %v, exactly %v: want within [%v, %v]", p, got, want, want, want+slack)
		}
	}
	if h.Min() != all[0] || h.Max() != all[len(all)-1] || h.Count() != uint64(len(all)) {
		t.Errorf("min %v max %v count %d, want %v %v %d", h.Min(), h.Max(), h.Count(), all[0], all[len(all)-1], len(all))
	}
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	if mean := sum / time.Duration(len(all)); h.Mean()-mean > time.Microsecond || mean-h.Mean() > time.Microsecond {
		t.Errorf("mean %v, want %v", h.Mean(), mean)
	}
}

func TestHistogramSmallCounts(t *testing.T) {
	h := NewHistogram()
	if h.Percentile(50) != 0 || h.Mean() != 0 {
		t.Errorf("an empty histogram reports p50 %v, mean %v; want 0", h.Percentile(50), h.Mean())
	}
	for _, d := range []time.Duration{3 * time.Microsecond, 7 * time.Microsecond, 1 * time.Millisecond, 2 * time.Minute} {
		h.Record(d)
	}
	for p, want := range map[float64]time.Duration{25: 4 * time.Microsecond, 50: 8 * time.Microsecond, 100: 2 * time.Minute} {
		if got := h.Percentile(p); got != want {
			t.Errorf("p%g = %v, want %v", p, got, want)
		}
	}
	// Beyond HistogramMax, values share the last bucket, but the
	// maximum stays exact.
	if got := h.Percentile(99); got != 2*time.Minute {
		t.Errorf("p99 = %v, want the maximum, 2m", got)
	}
}

func TestHistogramBuckets(t *testing.T) {
	for i := range histogramBuckets - 1 {
		end := bucketEnd(i)
		if bucketOf(end-1) != i || bucketOf(end) != i+1 {
			t.Fatalf("bucket %d ends at %d µs, but %d µs is in bucket %d and %d µs in %d", i, end, end-1, bucketOf(end-1), end, bucketOf(end))
		}
		start := uint64(0)
		if i > 0 {
			start = bucketEnd(i - 1)
		}
		if width := end - start; start >= linearBuckets && float64(width)/float64(start) > 1.0/128 {
			t.Fatalf("bucket %d is %d µs wide at %d µs: more than 1/128", i, width, start)
		}
	}
	if got := bucketEnd(histogramBuckets - 1); got < uint64(HistogramMax/time.Microsecond) {
		t.Errorf("the last bucket ends at %d µs, before %v", got, HistogramMax)
	}
}

func TestHistogramMerge(t *testing.T) {
	a, b, both := NewHistogram(), NewHistogram(), NewHistogram()
	for i := range 1000 {
		d := time.Duration(i*i) * time.Microsecond
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		both.Record(d)
	}
	a.Merge(b)
	for _, p := range []float64{0, 50, 99, 100} {
		if a.Percentile(p) != both.Percentile(p) {
			t.Errorf("merged p%g = %v, want %v", p, a.Percentile(p), both.Percentile(p))
		}
	}
	if a.Count() != both.Count() || a.Min() != both.Min() || a.Max() != both.Max() || a.Mean() != both.Mean() {
		t.Errorf("merged count/min/max/mean %d %v %v %v, want %d %v %v %v", a.Count(), a.Min(), a.Max(), a.Mean(), both.Count(), both.Min(), both.Max(), both.Mean())
	}
}
