package storetest

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/packet"
)

// Opener makes an empty store for one test. reopen is called only after
// the suite has closed s, and returns a store over the same state, as a
// restart of the process would find it; the suite closes every store it
// is given.
type Opener func(t *testing.T) (s broker.Store, reopen func() broker.Store)

// Run runs the contract against the stores open makes, each test on a
// store of its own.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		run  func(*harness)
	}{
		{"RetainedMessages", testRetained},
		{"SessionRecords", testSessionRecords},
		{"Subscriptions", testSubscriptions},
		{"QueuedInSeqOrder", testQueued},
		{"Inflight", testInflight},
		{"InboundQoS2", testInboundQoS2},
		{"EndSession", testEndSession},
		{"LaterOpWins", testLaterOpWins},
		{"DoneCallbacksInOrderOnce", testDoneOrder},
		{"EmptyBatchIsABarrier", testBarrier},
		{"CloseFlushesPending", testCloseFlushes},
		{"ConcurrentApply", testConcurrent},
		{"UnknownOpFails", testUnknownOp},
		{"AfterClose", testAfterClose},
		{"RandomOpsMatchModel", testModel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, reopen := open(t)
			h := &harness{t: t, s: s, reopen: reopen}
			t.Cleanup(func() {
				if !h.closed {
					_ = h.s.Close()
				}
			})
			tt.run(h)
		})
	}
}

// wait bounds every wait for a done callback; a store that takes longer
// has lost one.
const wait = 10 * time.Second

type harness struct {
	t      *testing.T
	s      broker.Store
	reopen func() broker.Store
	closed bool
}

// apply applies one batch and waits for it to be durable.
func (h *harness) apply(ops ...broker.Op) {
	h.t.Helper()
	errc := make(chan error, 1)
	h.s.Apply(ops, func(err error) { errc <- err })
	if err := await(h.t, errc); err != nil {
		h.t.Fatalf("Apply: %v", err)
	}
}

func await(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(wait):
		t.Fatalf("done not called within %v", wait)
		return nil
	}
}

func (h *harness) close() {
	h.t.Helper()
	h.closed = true
	if err := h.s.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
}

// restart closes the store and opens it again.
func (h *harness) restart() {
	h.t.Helper()
	h.close()
	h.s = h.reopen()
	h.closed = false
}

func (h *harness) load() *broker.Snapshot {
	h.t.Helper()
	snap, err := h.s.Load()
	if err != nil {
		h.t.Fatalf("Load: %v", err)
	}
	return snap
}

// check compares the state with want, as loaded now and after a restart.
func (h *harness) check(want *broker.Snapshot) {
	h.t.Helper()
	if diff := cmp.Diff(want, h.load(), snapshotOrder); diff != "" {
		h.t.Fatalf("Load (-want +got):\n%s", diff)
	}
	h.restart()
	if diff := cmp.Diff(want, h.load(), snapshotOrder); diff != "" {
		h.t.Fatalf("Load after reopening (-want +got):\n%s", diff)
	}
}

// snapshotOrder compares snapshots where the contract leaves order open;
// queued deliveries and subscription identifiers keep theirs.
var snapshotOrder = cmp.Options{
	cmpopts.IgnoreUnexported(broker.Message{}), // the wire-form cache
	cmpopts.EquateEmpty(),
	cmpopts.SortSlices(func(a, b *broker.Message) bool { return a.Topic < b.Topic }),
	cmpopts.SortSlices(func(a, b broker.StoredSession) bool { return a.ClientID < b.ClientID }),
	cmpopts.SortSlices(func(a, b broker.Subscription) bool { return a.Filter < b.Filter }),
	cmpopts.SortSlices(func(a, b broker.Inflight) bool { return a.Seq < b.Seq }),
	cmpopts.SortSlices(func(a, b uint16) bool { return a < b }),
}

// t0 is a fixed instant with nanoseconds, in a zone other than UTC, so a
// store that truncates or mangles times shows it.
var t0 = time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))

// message is a message with every stored field set.
func message(topic, payload string) *broker.Message {
	return &broker.Message{
		Topic: topic, Payload: []byte(payload), QoS: packet.ExactlyOnce, Retain: true,
		Props: &packet.Properties{
			PayloadFormat: 1, ContentType: "text/plain; charset=utf-8", ResponseTopic: "reply/" + topic,
			CorrelationData: []byte{0, 1, 0xff},
			User:            []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "again"}, {Key: "", Value: ""}},
		},
		Expiry:    t0.Add(time.Hour),
		Publisher: "publisher-" + topic,
	}
}

// plain is a message with only a topic and payload.
func plain(topic, payload string) *broker.Message {
	return &broker.Message{Topic: topic, Payload: []byte(payload)}
}

func delivery(seq uint64, m *broker.Message) broker.Delivery {
	return broker.Delivery{Msg: m, QoS: packet.AtLeastOnce, SubscriptionIDs: []uint32{7, 268435455}, Seq: seq}
}

func record(id string) *broker.SessionRecord {
	return &broker.SessionRecord{ClientID: id, Version: packet.V5, Expiry: time.Hour, DisconnectedAt: t0}
}

func retain(m *broker.Message) broker.Op { return broker.Op{Kind: broker.OpRetain, Msg: m} }
func unretain(topic string) broker.Op    { return broker.Op{Kind: broker.OpUnretain, Topic: topic} }
func session(r *broker.SessionRecord) broker.Op {
	return broker.Op{Kind: broker.OpSession, ClientID: r.ClientID, Session: r}
}
func endSession(id string) broker.Op { return broker.Op{Kind: broker.OpEndSession, ClientID: id} }
func subscribe(id string, sub broker.Subscription) broker.Op {
	return broker.Op{Kind: broker.OpSubscribe, ClientID: id, Sub: sub}
}
func unsubscribe(id, filter string) broker.Op {
	return broker.Op{Kind: broker.OpUnsubscribe, ClientID: id, Filter: filter}
}
func enqueue(id string, d broker.Delivery) broker.Op {
	return broker.Op{Kind: broker.OpEnqueue, ClientID: id, Delivery: d, Seq: d.Seq}
}
func sent(id string, seq uint64, pid uint16, phase broker.Phase) broker.Op {
	return broker.Op{Kind: broker.OpSent, ClientID: id, Seq: seq, PacketID: pid, Phase: phase}
}
func forget(id string, seq uint64) broker.Op {
	return broker.Op{Kind: broker.OpForget, ClientID: id, Seq: seq}
}
func received(id string, pid uint16) broker.Op {
	return broker.Op{Kind: broker.OpReceived, ClientID: id, PacketID: pid}
}
func released(id string, pid uint16) broker.Op {
	return broker.Op{Kind: broker.OpReleased, ClientID: id, PacketID: pid}
}

func testRetained(h *harness) {
	full := message("sensors/ü/temp", "21.5")
	h.apply(retain(full), retain(plain("a", "first")), retain(plain("a/b", "")), retain(plain("gone", "x")))
	later := plain("a", "second")
	h.apply(unretain("gone"), retain(later), unretain("never/retained"))
	h.check(&broker.Snapshot{Retained: []*broker.Message{full, later, plain("a/b", "")}})
	// The store keeps working after a restart, and a deleted topic can
	// come back.
	back := plain("gone", "back")
	h.apply(retain(back), unretain("a"))
	h.check(&broker.Snapshot{Retained: []*broker.Message{full, plain("a/b", ""), back}})
}

func testSessionRecords(h *harness) {
	withWill := &broker.SessionRecord{
		ClientID: "with-will", Version: packet.V5, Expiry: 90 * time.Second, DisconnectedAt: t0,
		Will: message("will/with-will", "gone"), WillDueAt: t0.Add(30 * time.Second),
	}
	online := &broker.SessionRecord{ClientID: "online", Version: packet.V311, Expiry: time.Duration(math.MaxUint32) * time.Second,
		Will: message("will/online", "crashed"), WillDelay: 5 * time.Second}
	h.apply(session(withWill), session(&broker.SessionRecord{ClientID: "online", Version: packet.V31, Expiry: time.Second}))
	h.apply(session(online), session(&broker.SessionRecord{ClientID: "forever", Version: packet.V5, Expiry: math.MaxInt64}))
	h.check(&broker.Snapshot{Sessions: []broker.StoredSession{
		{SessionRecord: *withWill},
		{SessionRecord: *online},
		{SessionRecord: broker.SessionRecord{ClientID: "forever", Version: packet.V5, Expiry: math.MaxInt64}},
	}})
}

func testSubscriptions(h *harness) {
	id := "subscriber"
	full := broker.Subscription{Subscription: packet.Subscription{
		Filter: "a/+/c", QoS: packet.AtLeastOnce, NoLocal: true, RetainAsPublished: true, RetainHandling: 2,
	}, Identifier: 268435455}
	shared := broker.Subscription{Subscription: packet.Subscription{Filter: "$share/g/x/#", QoS: packet.ExactlyOnce}}
	replaced := broker.Subscription{Subscription: packet.Subscription{Filter: "#", QoS: packet.ExactlyOnce}, Identifier: 1}
	h.apply(session(record(id)), subscribe(id, full), subscribe(id, shared),
		subscribe(id, broker.Subscription{Subscription: packet.Subscription{Filter: "#"}}))
	h.apply(subscribe(id, replaced), subscribe(id, broker.Subscription{Subscription: packet.Subscription{Filter: "b"}}))
	h.apply(unsubscribe(id, "b"), unsubscribe(id, "never/subscribed"))
	h.check(&broker.Snapshot{Sessions: []broker.StoredSession{
		{SessionRecord: *record(id), Subscriptions: []broker.Subscription{full, shared, replaced}},
	}})
}

func testQueued(h *harness) {
	id := "offline"
	d3 := delivery(3, message("t/3", "three"))
	d1 := broker.Delivery{Msg: plain("t/1", "one"), QoS: packet.ExactlyOnce, Retain: true, Seq: 1, Shared: "$share/g/t/#"}
	// Seqs that sort wrongly as text or as little-endian bytes.
	d256 := delivery(256, plain("t/256", ""))
	dBig := delivery(1<<40+1, message("t/big", "big"))
	h.apply(session(record(id)), enqueue(id, d3))
	h.apply(enqueue(id, dBig), enqueue(id, d1))
	h.apply(enqueue(id, d256))
	h.check(&broker.Snapshot{Sessions: []broker.StoredSession{
		{SessionRecord: *record(id), Queued: []broker.Delivery{d1, d3, d256, dBig}},
	}})
}

func testInflight(h *harness) {
	id := "inflight"
	var ds []broker.Delivery
	var ops []broker.Op
	for seq := uint64(1); seq <= 6; seq++ {
		ds = append(ds, delivery(seq, message(fmt.Sprintf("t/%d", seq), "m")))
		ops = append(ops, enqueue(id, ds[seq-1]))
	}
	h.apply(append([]broker.Op{session(record(id))}, ops...)...)
	h.apply(sent(id, 1, 10, broker.AwaitPuback), sent(id, 2, 11, broker.AwaitPubrec), sent(id, 3, 12, broker.AwaitPubrec),
		sent(id, 4, 13, broker.AwaitPuback))
	// PUBREC for 3: PUBREL sent, the message itself is delivered.
	h.apply(sent(id, 3, 12, broker.AwaitPubcomp), forget(id, 4), forget(id, 5))
	want := broker.StoredSession{
		SessionRecord: *record(id),
		Queued:        []broker.Delivery{ds[5]},
		Inflight: []broker.Inflight{
			{PacketID: 10, Phase: broker.AwaitPuback, Delivery: ds[0]},
			{PacketID: 11, Phase: broker.AwaitPubrec, Delivery: ds[1]},
			{PacketID: 12, Phase: broker.AwaitPubcomp, Delivery: broker.Delivery{Seq: 3}},
		},
	}
	h.check(&broker.Snapshot{Sessions: []broker.StoredSession{want}})
	// After the restart: the resent QoS 2 message is received, the QoS 1
	// one acknowledged, and the PUBCOMP for 3 arrives.
	h.apply(sent(id, 2, 11, broker.AwaitPubcomp), forget(id, 1), forget(id, 3), sent(id, 6, 14, broker.AwaitPuback))
	want.Queued = nil
	want.Inflight = []broker.Inflight{
		{PacketID: 11, Phase: broker.AwaitPubcomp, Delivery: broker.Delivery{Seq: 2}},
		{PacketID: 14, Phase: broker.AwaitPuback, Delivery: ds[5]},
	}
	h.check(&broker.Snapshot{Sessions: []broker.StoredSession{want}})
}

func testInboundQoS2(h *harness) {
	id := "publisher"
	h.apply(session(record(id)), received(id, 1), received(id, 65535), received(id, 300))
	h.apply(released(id, 300), released(id, 9), received(id, 256))
	h.check(&broker.Snapshot{Sessions: []broker.StoredSession{
		{SessionRecord: *record(id), InboundQoS2: []uint16{1, 256, 65535}},
	}})
}

// full gives client id a record, a subscription, a queued and an
// in-flight delivery and an inbound QoS 2 id, and returns what it stores.
func full(h *harness, id string) broker.StoredSession {
	sub := broker.Subscription{Subscription: packet.Subscription{Filter: id + "/#", QoS: packet.AtLeastOnce}, Identifier: 5}
	d1, d2 := delivery(1, message(id+"/1", "1")), delivery(2, plain(id+"/2", "2"))
	h.apply(session(record(id)), subscribe(id, sub), enqueue(id, d1), enqueue(id, d2),
		sent(id, 1, 1, broker.AwaitPuback), received(id, 7))
	return broker.StoredSession{
		SessionRecord: *record(id), Subscriptions: []broker.Subscription{sub},
		Queued:      []broker.Delivery{d2},
		Inflight:    []broker.Inflight{{PacketID: 1, Phase: broker.AwaitPuback, Delivery: d1}},
		InboundQoS2: []uint16{7},
	}
}

func testEndSession(h *harness) {
	// Ids that share a prefix with "a", or contain what a store might
	// use as a separator.
	var kept []broker.StoredSession
	for _, id := range []string{"a/", "a/b", "ab", "a\x00b", "a\x00", "b"} {
		kept = append(kept, full(h, id))
	}
	full(h, "a")
	r := message("a", "retained")
	h.apply(retain(r), endSession("a"), endSession("never-existed"))
	h.check(&broker.Snapshot{Retained: []*broker.Message{r}, Sessions: kept})

	// A session that ends and starts again in one batch keeps only what
	// came after the end: nothing of the old one comes back.
	fresh := record("a/")
	fresh.Version = packet.V311
	h.apply(endSession("a/"), session(fresh))
	kept[0] = broker.StoredSession{SessionRecord: *fresh}
	h.check(&broker.Snapshot{Retained: []*broker.Message{r}, Sessions: kept})
}

func testLaterOpWins(h *harness) {
	id := "c"
	d1, d2 := delivery(1, plain("t/1", "1")), delivery(2, plain("t/2", "2"))
	f, g := broker.Subscription{Subscription: packet.Subscription{Filter: "f"}}, broker.Subscription{Subscription: packet.Subscription{Filter: "g"}}
	y := plain("y", "y")
	h.apply(session(record(id)),
		enqueue(id, d1), forget(id, 1), enqueue(id, d2),
		retain(plain("x", "x")), unretain("x"), unretain("y"), retain(y),
		subscribe(id, f), unsubscribe(id, "f"), subscribe(id, g),
		received(id, 1), released(id, 1), received(id, 2),
		endSession("gone"), session(record("gone")), subscribe("gone", f), endSession("gone"),
	)
	// Batches applied back to back without waiting are applied in order.
	last := plain("z", "second")
	errc := make(chan error, 1)
	h.s.Apply([]broker.Op{retain(plain("z", "first"))}, nil)
	h.s.Apply([]broker.Op{retain(last), unretain("w")}, nil)
	h.s.Apply([]broker.Op{retain(plain("w", "w")), unretain("w")}, func(err error) { errc <- err })
	if err := await(h.t, errc); err != nil {
		h.t.Fatal(err)
	}
	h.check(&broker.Snapshot{
		Retained: []*broker.Message{y, last},
		Sessions: []broker.StoredSession{{
			SessionRecord: *record(id), Subscriptions: []broker.Subscription{g},
			Queued: []broker.Delivery{d2}, InboundQoS2: []uint16{2},
		}},
	})
}

// recorder notes the order done callbacks run in.
type recorder struct {
	mu    sync.Mutex
	calls []int
	errs  []error
}

func (r *recorder) done(i int) func(error) {
	return func(err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls = append(r.calls, i)
		if err != nil {
			r.errs = append(r.errs, err)
		}
	}
}

func (r *recorder) snapshot() ([]int, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls), slices.Clone(r.errs)
}

func testDoneOrder(h *harness) {
	var r recorder
	var want []int
	for i := range 300 {
		switch i % 4 {
		case 0:
			h.s.Apply(nil, r.done(i)) // an empty batch: a barrier
			want = append(want, i)
		case 1:
			h.s.Apply([]broker.Op{retain(plain(fmt.Sprintf("nil-done/%d", i), ""))}, nil)
		default:
			h.s.Apply([]broker.Op{retain(plain(fmt.Sprintf("t/%d", i%7), fmt.Sprint(i)))}, r.done(i))
			want = append(want, i)
		}
	}
	h.apply() // every done above runs before this one's
	calls, errs := r.snapshot()
	if len(errs) > 0 {
		h.t.Fatalf("done called with errors: %v", errs)
	}
	if !slices.Equal(calls, want) {
		h.t.Fatalf("done callbacks ran in order %v, want %v", calls, want)
	}
	h.close()
	// Closing must not call any of them again.
	if calls, _ := r.snapshot(); len(calls) != len(want) {
		h.t.Fatalf("%d done calls after Close, want %d", len(calls), len(want))
	}
}

func testBarrier(h *harness) {
	var ops []broker.Op
	for i := range 50 {
		op := retain(plain(fmt.Sprintf("t/%d", i), "x"))
		h.s.Apply([]broker.Op{op}, nil)
		ops = append(ops, op)
	}
	errc := make(chan error, 1)
	h.s.Apply(nil, func(err error) { errc <- err })
	if err := await(h.t, errc); err != nil {
		h.t.Fatal(err)
	}
	// Everything applied before the barrier is in place when it is done,
	// without a restart.
	if got := len(h.load().Retained); got != len(ops) {
		h.t.Fatalf("%d retained messages after the barrier, want %d", got, len(ops))
	}
}

func testCloseFlushes(h *harness) {
	var r recorder
	var want []*broker.Message
	for i := range 100 {
		m := plain(fmt.Sprintf("t/%d", i), "x")
		h.s.Apply([]broker.Op{retain(m)}, r.done(i))
		want = append(want, m)
	}
	h.close()
	calls, errs := r.snapshot()
	if len(calls) != len(want) || len(errs) > 0 {
		h.t.Fatalf("after Close: %d done calls with errors %v, want %d without", len(calls), errs, len(want))
	}
	h.s, h.closed = h.reopen(), false
	if diff := cmp.Diff(&broker.Snapshot{Retained: want}, h.load(), snapshotOrder); diff != "" {
		h.t.Fatalf("Load after Close and reopen (-want +got):\n%s", diff)
	}
}

func testConcurrent(h *harness) {
	const writers, batches = 8, 100
	var wg sync.WaitGroup
	want := make([]broker.StoredSession, writers)
	lastRetained := make([]string, writers)
	for w := range writers {
		id := fmt.Sprintf("writer-%d", w)
		h.s.Apply([]broker.Op{session(record(id))}, nil)
		want[w].SessionRecord = *record(id)
		lastRetained[w] = fmt.Sprintf("%d/%d", w, batches-1)
		wg.Go(func() {
			var r recorder
			for i := range batches {
				seq := uint64(i + 1)
				d := delivery(seq, plain(fmt.Sprintf("%s/%d", id, seq), "x"))
				ops := []broker.Op{enqueue(id, d), received(id, uint16(seq)), retain(plain("contended", fmt.Sprintf("%d/%d", w, i)))}
				if i%2 == 1 {
					// The previous delivery goes out while this one queues.
					ops = append(ops, sent(id, seq-1, uint16(seq-1), broker.AwaitPuback))
				}
				h.s.Apply(ops, r.done(i))
			}
			errc := make(chan error, 1)
			h.s.Apply(nil, func(err error) { errc <- err })
			select {
			case err := <-errc:
				if err != nil {
					h.t.Error(err)
				}
			case <-time.After(wait):
				h.t.Errorf("%s: barrier not done within %v", id, wait)
			}
			inOrder := make([]int, batches)
			for i := range inOrder {
				inOrder[i] = i
			}
			calls, errs := r.snapshot()
			if len(errs) > 0 || !slices.Equal(calls, inOrder) {
				h.t.Errorf("%s: done calls %v with errors %v, want 0..%d in order", id, calls, errs, batches-1)
			}
		})
		for i := range batches {
			seq := uint64(i + 1)
			d := delivery(seq, plain(fmt.Sprintf("%s/%d", id, seq), "x"))
			if i%2 == 0 && i+1 < batches {
				want[w].Inflight = append(want[w].Inflight, broker.Inflight{PacketID: uint16(seq), Phase: broker.AwaitPuback, Delivery: d})
			} else {
				want[w].Queued = append(want[w].Queued, d)
			}
			want[w].InboundQoS2 = append(want[w].InboundQoS2, uint16(seq))
		}
	}
	wg.Wait()
	if h.t.Failed() {
		return
	}
	h.restart()
	got := h.load()
	// The retained message written by every writer is the last one of
	// some writer: no batch was reordered past a later one.
	if len(got.Retained) != 1 || !slices.Contains(lastRetained, string(got.Retained[0].Payload)) {
		h.t.Fatalf("contended retained message: got %v, want one of %v", got.Retained, lastRetained)
	}
	got.Retained = nil
	if diff := cmp.Diff(&broker.Snapshot{Sessions: want}, got, snapshotOrder); diff != "" {
		h.t.Fatalf("Load (-want +got):\n%s", diff)
	}
}

func testUnknownOp(h *harness) {
	errc := make(chan error, 1)
	h.s.Apply([]broker.Op{{Kind: 0}}, func(err error) { errc <- err })
	if err := await(h.t, errc); err == nil {
		h.t.Fatal("Apply of an unknown operation succeeded")
	}
	m := plain("after", "x")
	h.apply(retain(m))
	h.check(&broker.Snapshot{Retained: []*broker.Message{m}})
}

func testAfterClose(h *harness) {
	h.close()
	errc := make(chan error, 2)
	h.s.Apply([]broker.Op{retain(plain("late", "x"))}, func(err error) { errc <- err })
	if err := await(h.t, errc); err == nil {
		h.t.Fatal("Apply after Close succeeded")
	}
	if _, err := h.s.Load(); err == nil {
		h.t.Fatal("Load after Close succeeded")
	}
	select {
	case <-errc:
		h.t.Fatal("done called twice")
	case <-time.After(10 * time.Millisecond):
	}
}
