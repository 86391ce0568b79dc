package pebblestore

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/petrelmq/petrel/broker"
)

// BenchmarkApplyGroupCommit measures batches made durable per second when
// many writers each wait for their own small batch, as publishers wait
// for PUBACK, and how many fsyncs that took: with one writer every batch
// pays for a sync, with many they share them.
//
// On the 2-core development machine (fsync about 0.3 ms alone), sync:
// 1 writer 4,300 batches/s (about one fsync each); 16 writers 26,000/s at
// 8 batches per fsync; 256 writers 158,000/s at 105 per fsync.
// batch(10ms): 126,000/s with one writer to 244,000/s with 256, bound by
// CPU, not the disk.
func BenchmarkApplyGroupCommit(b *testing.B) {
	for _, d := range []Durability{Sync(), Batch(10 * time.Millisecond)} {
		for _, writers := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("%v/writers=%d", d, writers), func(b *testing.B) {
				s := mustOpen(b, b.TempDir(), Options{Durability: d})
				defer s.Close()
				var next atomic.Int64
				payload := make([]byte, 100)
				b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
				syncs := fsyncs(s)
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					id := fmt.Sprintf("client-%d", next.Add(1))
					done := make(chan error, 1)
					for seq := uint64(1); pb.Next(); seq++ {
						s.Apply([]broker.Op{{Kind: broker.OpEnqueue, ClientID: id, Seq: seq, Delivery: broker.Delivery{
							Seq: seq, QoS: 1, Msg: &broker.Message{Topic: "bench/topic", Payload: payload, QoS: 1},
						}}}, func(err error) { done <- err })
						if err := <-done; err != nil {
							b.Error(err)
							return
						}
					}
				})
				elapsed := time.Since(start).Seconds()
				synced := fsyncs(s) - syncs
				b.ReportMetric(float64(b.N)/elapsed, "batches/s")
				b.ReportMetric(float64(synced)/elapsed, "fsyncs/s")
				if synced > 0 {
					b.ReportMetric(float64(b.N)/float64(synced), "batches/fsync")
				}
			})
		}
	}
}

// BenchmarkLoadRetained measures recovery of retained messages: Load of a
// store holding 100,000 of them, each with a 64-byte payload. On the
// 2-core development machine it reads 1.1 million messages/s (90 ms), so
// the store's share of recovering 1M retained messages is about a second.
func BenchmarkLoadRetained(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	s := mustOpen(b, dir, Options{Durability: None()})
	payload := make([]byte, 64)
	for i := 0; i < n; i += 1000 {
		ops := make([]broker.Op, 0, 1000)
		for j := i; j < i+1000; j++ {
			ops = append(ops, broker.Op{Kind: broker.OpRetain, Msg: &broker.Message{
				Topic: fmt.Sprintf("site/%03d/device/%06d/state", j%1000, j), Payload: payload, QoS: 1, Retain: true,
			}})
		}
		s.Apply(ops, nil)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		s := mustOpen(b, dir, Options{})
		snap, err := s.Load()
		if err != nil {
			b.Fatal(err)
		}
		if len(snap.Retained) != n {
			b.Fatalf("Load: %d messages, want %d", len(snap.Retained), n)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// fsyncs is how many times Pebble has synced the store's log.
func fsyncs(s *Store) int64 {
	var m dto.Metric
	if err := s.db.Metrics().LogWriter.FsyncLatency.Write(&m); err != nil {
		panic(err)
	}
	return int64(m.GetHistogram().GetSampleCount())
}
