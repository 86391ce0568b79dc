package pebblestore

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/petrelmq/petrel/broker"
)

// dirSize is the size of the files under dir: Pebble's write-ahead logs,
// and the rest (tables, manifest, options).
func dirSize(t *testing.T, dir string) (logs, rest int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if filepath.Ext(d.Name()) == ".log" {
			logs += info.Size()
		} else {
			rest += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return logs, rest
}

func random(r *rand.ChaCha8, n int) []byte {
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

// compact compacts the whole key space, as Pebble would in time on its own.
func (s *Store) compact() error {
	return s.db.Compact(context.Background(), []byte{0x00}, []byte{0xff}, true)
}

// TestEndedSessionsFreeTheirSpace checks that disk use follows live data:
// once the sessions that held most of it end and are compacted away, the
// directory shrinks to a small fraction of its peak.
func TestEndedSessionsFreeTheirSpace(t *testing.T) {
	if testing.Short() {
		t.Skip("writes some 40 MiB")
	}
	const (
		sessions   = 2000
		deliveries = 20
		payload    = 1 << 10
		keepEvery  = 100 // every keepEvery-th session stays
	)
	dir := filepath.Join(t.TempDir(), "data")
	s := mustOpen(t, dir, Options{Durability: None()})
	defer func() { s.Close() }()
	id := func(i int) string { return fmt.Sprintf("client-%04d", i) }
	errc := make(chan error, 1)
	failed := func(err error) {
		if err != nil {
			select {
			case errc <- err:
			default:
			}
		}
	}
	barrier := func() {
		t.Helper()
		if err := applyWait(s); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			t.Fatal(err)
		default:
		}
	}
	// Random payloads, which Pebble cannot compress away.
	rnd := rand.NewChaCha8([32]byte{})
	for i := range sessions {
		ops := []broker.Op{{Kind: broker.OpSession, ClientID: id(i), Session: &broker.SessionRecord{ClientID: id(i), Version: 5}}}
		for seq := range uint64(deliveries) {
			ops = append(ops, broker.Op{Kind: broker.OpEnqueue, ClientID: id(i), Seq: seq, Delivery: broker.Delivery{
				Seq: seq, QoS: 1, Msg: &broker.Message{Topic: "t/" + id(i), Payload: random(rnd, payload)},
			}})
		}
		s.Apply(ops, failed)
	}
	barrier()
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	peakLogs, peakRest := dirSize(t, dir)
	peak := peakLogs + peakRest
	const written = sessions * deliveries * payload
	if peak < written {
		t.Fatalf("%d bytes on disk after writing %d bytes of payload: the measure is wrong", peak, written)
	}

	var ops []broker.Op
	for i := range sessions {
		if i%keepEvery != 0 {
			ops = append(ops, broker.Op{Kind: broker.OpEndSession, ClientID: id(i)})
		}
	}
	s.Apply(ops, failed)
	barrier()
	if err := s.compact(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	logs, rest := dirSize(t, dir)
	const live = sessions / keepEvery * deliveries * payload
	t.Logf("payload written %d KiB, on disk at the peak %d KiB (logs %d KiB); live payload %d KiB, "+
		"on disk after ending sessions, compacting and closing: tables and manifest %d KiB (%.1f%% of the peak), logs %d KiB",
		written>>10, peak>>10, peakLogs>>10, live>>10, rest>>10, 100*float64(rest)/float64(peak), logs>>10)
	// What the ended sessions held is gone from the tables.
	if limit := peak / 20; rest > limit {
		t.Fatalf("tables and manifest take %d bytes after ending %d of %d sessions, want at most %d (peak %d)", rest, len(ops), sessions, limit, peak)
	}
	// The logs are bounded by Pebble's memtables, not by what was written:
	// it keeps the current one and MemTableStopWritesThreshold+1 for reuse,
	// each about a memtable and the batch that overflowed it.
	var o pebble.Options
	o.EnsureDefaults()
	if limit := int64(o.MemTableStopWritesThreshold+2) * (int64(o.MemTableSize) + 2<<20); logs > limit {
		t.Fatalf("write-ahead logs take %d bytes, want at most %d", logs, limit)
	}

	s = mustOpen(t, dir, Options{})
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Sessions) != sessions/keepEvery {
		t.Fatalf("%d sessions after reopening, want %d", len(snap.Sessions), sessions/keepEvery)
	}
	for _, ss := range snap.Sessions {
		if len(ss.Queued) != deliveries {
			t.Fatalf("session %s has %d queued deliveries, want %d", ss.ClientID, len(ss.Queued), deliveries)
		}
	}
}
