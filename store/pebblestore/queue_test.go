package pebblestore

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/petrelmq/petrel/broker"
)

// TestDeliveriesDoneWithinARoundAreNotWritten checks the queue's
// shortcut: a delivery queued, sent and acknowledged before its round is
// committed costs the log nothing, while one queued in an earlier round
// is deleted as usual, and what stays is loaded after a restart.
func TestDeliveriesDoneWithinARoundAreNotWritten(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := mustOpen(t, dir, Options{})
	defer func() { s.Close() }()
	const id = "sub"
	payload := bytes.Repeat([]byte("p"), 64<<10)
	enqueue := func(seq uint64) broker.Op {
		return broker.Op{Kind: broker.OpEnqueue, ClientID: id, Seq: seq, Delivery: broker.Delivery{
			Seq: seq, QoS: 1, Msg: &broker.Message{Topic: "t", Payload: payload, QoS: 1},
		}}
	}
	sent := func(seq uint64, pid uint16) broker.Op {
		return broker.Op{Kind: broker.OpSent, ClientID: id, Seq: seq, PacketID: pid, Phase: broker.AwaitPuback}
	}
	forget := func(seq uint64) broker.Op { return broker.Op{Kind: broker.OpForget, ClientID: id, Seq: seq} }
	walBytes := func() uint64 { return s.db.Metrics().WAL.BytesIn }
	barrier := func() {
		t.Helper()
		if err := applyWait(s); err != nil {
			t.Fatal(err)
		}
	}

	s.Apply([]broker.Op{{Kind: broker.OpSession, ClientID: id, Session: &broker.SessionRecord{ClientID: id, Version: 4}}}, nil)
	s.Apply([]broker.Op{enqueue(1)}, nil) // stays
	barrier()

	// An open group keeps the committer from taking the queue, so these
	// share one round: 2 is done within it, 3 stays, and 1 was written
	// in the round before.
	before := walBytes()
	s.BeginGroup()
	s.Apply([]broker.Op{enqueue(2)}, nil)
	s.Apply([]broker.Op{sent(2, 7)}, nil)
	s.Apply([]broker.Op{enqueue(3)}, nil)
	s.Apply([]broker.Op{forget(2)}, nil)
	s.Apply([]broker.Op{sent(1, 8)}, nil)
	s.EndGroup()
	barrier()
	if n := walBytes() - before; n < uint64(len(payload)) || n >= 2*uint64(len(payload)) {
		t.Fatalf("the round wrote %d bytes to the log; want one %d-byte payload (3's) and not 2's", n, len(payload))
	}

	before = walBytes()
	s.Apply([]broker.Op{forget(1)}, nil)
	barrier()
	if walBytes() == before {
		t.Fatal("forgetting a delivery stored in an earlier round wrote nothing")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, Options{})
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Sessions) != 1 {
		t.Fatalf("%d sessions loaded, want 1", len(snap.Sessions))
	}
	ss := snap.Sessions[0]
	if len(ss.Queued) != 1 || ss.Queued[0].Seq != 3 || len(ss.Inflight) != 0 {
		t.Fatalf("loaded queued %v and in flight %v; want only delivery 3 queued", ss.Queued, ss.Inflight)
	}
}
