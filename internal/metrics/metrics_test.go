package metrics

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	h := NewHistogram(time.Millisecond, 10*time.Millisecond)
	for i, d := range []time.Duration{0, time.Millisecond, time.Millisecond + 1, 10 * time.Millisecond, time.Second} {
		h.Observe(uint(i), d)
	}
	s := h.Snapshot()
	if want := []uint64{2, 2, 1}; !slices.Equal(s.Counts, want) {
		t.Errorf("counts %v, want %v: a bound belongs to its own bucket", s.Counts, want)
	}
	if want := 1012*time.Millisecond + 1; s.Sum != want {
		t.Errorf("sum %s, want %s", s.Sum, want)
	}
	if s.Count() != 5 {
		t.Errorf("count %d, want 5", s.Count())
	}
}

// TestHistogramConcurrent observes from many goroutines with the same and
// different hints: nothing is lost.
func TestHistogramConcurrent(t *testing.T) {
	h := NewHistogram(LatencyBounds...)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Observe(uint(g%3), time.Duration(i)*time.Millisecond)
			}
		})
	}
	wg.Wait()
	if n := h.Snapshot().Count(); n != 8000 {
		t.Errorf("count %d, want 8000", n)
	}
}

func TestHistogramBoundsChecked(t *testing.T) {
	for _, bounds := range [][]time.Duration{nil, {2, 1}, {1, 1}, make([]time.Duration, 25)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHistogram(%v) did not panic", bounds)
				}
			}()
			NewHistogram(bounds...)
		}()
	}
}

// TestLocalReadWhileWritten reads a Local while its one writer adds to it:
// the race detector is satisfied and the reader sees a count that only
// grows.
func TestLocalReadWhileWritten(t *testing.T) {
	var c Local
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100000 {
			c.Inc()
		}
	}()
	var last uint64
	for {
		select {
		case <-done:
			if c.Load() != 100000 {
				t.Fatalf("count %d, want 100000", c.Load())
			}
			return
		default:
		}
		n := c.Load()
		if n < last {
			t.Fatalf("count went back from %d to %d", last, n)
		}
		last = n
	}
}

func TestCounterAndGauge(t *testing.T) {
	var c Counter
	var g Gauge
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				c.Inc()
				g.Add(2)
				g.Add(-1)
			}
		})
	}
	wg.Wait()
	if c.Load() != 400 || g.Load() != 400 {
		t.Errorf("counter %d, gauge %d, want 400 and 400", c.Load(), g.Load())
	}
	g.Set(-3)
	if g.Load() != -3 {
		t.Errorf("gauge %d after Set(-3)", g.Load())
	}
}

func TestNoAllocations(t *testing.T) {
	h := NewHistogram(LatencyBounds...)
	var l Local
	if n := testing.AllocsPerRun(100, func() {
		h.Observe(7, 3*time.Millisecond)
		l.Inc()
	}); n != 0 {
		t.Errorf("%v allocations per observation, want 0", n)
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := NewHistogram(LatencyBounds...)
	b.RunParallel(func(pb *testing.PB) {
		var i uint
		for pb.Next() {
			i++
			h.Observe(i, time.Duration(i)*time.Microsecond)
		}
	})
}

func BenchmarkLocalInc(b *testing.B) {
	var l Local
	for b.Loop() {
		l.Inc()
	}
}
