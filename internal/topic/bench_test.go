package topic

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// workload is a subscription tree shaped like a fleet of devices: topics
// "f{factory}/s{site}/m{0,1}/x{0,1}/v{0,1}", ten subscriptions per site
// prefix, of which 80% name a topic exactly, 15% have a '+' and 5% a '#'.
// A few wildcard filters span every site of a factory.
type workload struct {
	tree         Tree
	topics       []string // exact filters that were subscribed: each matches at least once
	skewed       []string // topics drawn from topics with a Zipf distribution
	bytesPerSub  float64
	matchesPerOp float64
}

var (
	workloadsMu sync.Mutex
	workloads   = map[int]*workload{}
)

// loadWorkload builds the tree for a size once per process: a million
// subscriptions take seconds, and every benchmark round would repeat them.
func loadWorkload(subs int) *workload {
	workloadsMu.Lock()
	defer workloadsMu.Unlock()
	if w := workloads[subs]; w != nil {
		return w
	}
	w := buildWorkload(subs)
	workloads[subs] = w
	return w
}

func buildWorkload(subs int) *workload {
	rng := rand.New(rand.NewPCG(42, uint64(subs)))
	clients := make([]string, max(subs/5, 1))
	for i := range clients {
		clients[i] = "client-" + strconv.Itoa(i)
	}
	bit := func() int { return rng.IntN(2) }
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	w := &workload{}
	sites := max(subs/10, 1)
	for site := range sites {
		prefix := fmt.Sprintf("f%d/s%d", site%100, site)
		for k := range 10 {
			var filter string
			switch {
			case k < 8:
				filter = fmt.Sprintf("%s/m%d/x%d/v%d", prefix, bit(), bit(), bit())
				if k == 0 {
					w.topics = append(w.topics, filter)
				}
			case k == 8 || site%2 == 0:
				switch rng.IntN(100) {
				case 0:
					filter = fmt.Sprintf("f%d/+/m%d/x%d/v%d", site%100, bit(), bit(), bit())
				default:
					filter = [...]string{
						fmt.Sprintf("%s/+/x%d/v%d", prefix, bit(), bit()),
						fmt.Sprintf("%s/m%d/+/v%d", prefix, bit(), bit()),
						fmt.Sprintf("%s/m%d/x%d/+", prefix, bit(), bit()),
					}[rng.IntN(3)]
				}
			default:
				switch rng.IntN(1000) {
				case 0:
					filter = fmt.Sprintf("f%d/#", site%100)
				default:
					filter = [...]string{prefix + "/#", fmt.Sprintf("%s/m%d/#", prefix, bit())}[rng.IntN(2)]
				}
			}
			s := Subscription{ClientID: clients[rng.IntN(len(clients))], Filter: filter, QoS: byte(rng.IntN(3)), Identifier: uint32(k)}
			if _, err := w.tree.Subscribe(s); err != nil {
				panic(err)
			}
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	w.bytesPerSub = float64(after.HeapAlloc-before.HeapAlloc) / float64(w.tree.Len())
	rng.Shuffle(len(w.topics), func(i, j int) { w.topics[i], w.topics[j] = w.topics[j], w.topics[i] })

	zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(w.topics)-1))
	w.skewed = make([]string, 1<<16)
	for i := range w.skewed {
		w.skewed[i] = w.topics[zipf.Uint64()]
	}

	var r Result
	matched := 0
	for _, topic := range w.topics {
		w.tree.Match(topic, &r)
		matched += len(r.Subscriptions)
	}
	w.matchesPerOp = float64(matched) / float64(len(w.topics))
	return w
}

var benchSizes = []struct {
	name string
	subs int
}{{"1k", 1_000}, {"100k", 100_000}, {"1M", 1_000_000}}

// BenchmarkMatch reports the mean (ns/op) and, from individually timed
// matches, the median and 99th percentile, which include about 20-40 ns of
// clock reading. Topics are drawn uniformly from every site prefix, so at
// 100k and 1M nearly every node a match visits is a cache miss: this is the
// worst case for locality, not the typical broker.
func BenchmarkMatch(b *testing.B) {
	for _, size := range benchSizes {
		b.Run("subs="+size.name, func(b *testing.B) {
			benchmarkMatch(b, loadWorkload(size.subs), func(w *workload) []string { return w.topics })
		})
	}
}

// BenchmarkMatchSkewed draws topics with a Zipf distribution (s = 1.1), as
// when some devices publish far more than others: the busy part of the tree
// stays in cache.
func BenchmarkMatchSkewed(b *testing.B) {
	for _, size := range benchSizes {
		b.Run("subs="+size.name, func(b *testing.B) {
			benchmarkMatch(b, loadWorkload(size.subs), func(w *workload) []string { return w.skewed })
		})
	}
}

func benchmarkMatch(b *testing.B, w *workload, pick func(*workload) []string) {
	topics := pick(w)
	var r Result
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w.tree.Match(topics[i%len(topics)], &r)
	}
	b.StopTimer()
	p50, p99 := matchLatency(&w.tree, topics, &r)
	b.ReportMetric(p50, "p50-ns")
	b.ReportMetric(p99, "p99-ns")
	b.ReportMetric(w.matchesPerOp, "subs/match")
	b.ReportMetric(w.bytesPerSub, "heap-B/sub")
}

// matchLatency times single matches. Each topic is first copied into one
// reused buffer, as the broker matches a topic it has just decoded from the
// connection's read buffer: the topic's bytes are in cache, the tree's are
// not.
func matchLatency(tree *Tree, topics []string, r *Result) (p50, p99 float64) {
	const samples = 50_000
	durations := make([]time.Duration, samples)
	buf := make([]byte, 0, 256)
	for i := range durations {
		buf = append(buf[:0], topics[(i*7919)%len(topics)]...)
		topic := unsafe.String(unsafe.SliceData(buf), len(buf))
		start := time.Now()
		tree.Match(topic, r)
		durations[i] = time.Since(start)
	}
	slices.Sort(durations)
	return float64(durations[samples/2]), float64(durations[samples*99/100])
}

// BenchmarkMatchParallel shows that matchers do not serialise on each other.
func BenchmarkMatchParallel(b *testing.B) {
	w := loadWorkload(100_000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var r Result
		for i := 0; pb.Next(); i++ {
			w.tree.Match(w.topics[i%len(w.topics)], &r)
		}
	})
}

// BenchmarkMatchDuringSubscribe measures matching while another goroutine
// subscribes and unsubscribes as fast as it can.
func BenchmarkMatchDuringSubscribe(b *testing.B) {
	w := loadWorkload(100_000)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			filter := w.topics[i%len(w.topics)]
			w.tree.Subscribe(Subscription{ClientID: "churn", Filter: filter})
			w.tree.Unsubscribe("churn", "", filter)
		}
	}()
	var r Result
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w.tree.Match(w.topics[i%len(w.topics)], &r)
	}
	b.StopTimer()
	close(stop)
	<-done
}

func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	w := loadWorkload(100_000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		filter := w.topics[i%len(w.topics)]
		w.tree.Subscribe(Subscription{ClientID: "bench", Filter: filter})
		w.tree.Unsubscribe("bench", "", filter)
	}
}

func BenchmarkDeliveries(b *testing.B) {
	var tr Tree
	for i := range 20 {
		c := "client-" + strconv.Itoa(i%8)
		tr.Subscribe(Subscription{ClientID: c, Filter: "a/b/c/d/e", QoS: byte(i % 3), Identifier: uint32(i)})
		tr.Subscribe(Subscription{ClientID: c, Filter: "a/+/c/#", Identifier: uint32(100 + i)})
	}
	var r Result
	b.ReportAllocs()
	for b.Loop() {
		tr.Match("a/b/c/d/e", &r)
		r.Deliveries("client-1")
	}
}

func BenchmarkValidateName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if ValidateName("f42/s4242/m1/x0/v1") != nil {
			b.Fatal("valid name rejected")
		}
	}
}

var (
	retainedOnce sync.Once
	retainedSet  Retained[string]
)

// BenchmarkRetainedMatch matches filters against 100k retained topics; each
// filter reaches a handful of them.
func BenchmarkRetainedMatch(b *testing.B) {
	retainedOnce.Do(func() {
		for site := range 12_500 {
			for m := range 2 {
				for x := range 2 {
					for v := range 2 {
						topic := fmt.Sprintf("f%d/s%d/m%d/x%d/v%d", site%100, site, m, x, v)
						retainedSet.Set(topic, topic)
					}
				}
			}
		}
	})
	filters := []string{"f7/s4207/#", "f7/s4207/+/x1/+", "f9/+/m0/x0/v0", "f3/s1003/m1/x0/v1"}
	var buf []string
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = retainedSet.Match(filters[i%len(filters)], buf[:0])
	}
}
