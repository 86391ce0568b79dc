package storetest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/packet"
)

// SeedEnv, when set to a number, is the seed of the randomized model
// test, to replay a failure it reported.
const SeedEnv = "STORETEST_SEED"

// The randomized model test runs modelRounds rounds of up to
// modelBatches batches of up to modelOps operations each, and compares
// the store with the model after every round, before and after a
// restart, so state carries across restarts.
const (
	modelRounds  = 12
	modelBatches = 12
	modelOps     = 8
)

// model is what Load must return: the Store contract applied to maps.
type model struct {
	retained map[string]*broker.Message
	sessions map[string]*modelSession
}

type modelSession struct {
	rec      broker.SessionRecord
	subs     map[string]broker.Subscription
	queued   map[uint64]broker.Delivery
	inflight map[uint64]broker.Inflight
	inbound  map[uint16]bool
	nextSeq  uint64 // for the generator: the Seq of the next enqueue
}

func newModel() *model {
	return &model{retained: map[string]*broker.Message{}, sessions: map[string]*modelSession{}}
}

// apply is the contract for one operation. An operation that removes
// something from a session that does not exist changes nothing; the
// generator adds to a session only after its OpSession.
func (m *model) apply(op broker.Op) {
	ss := m.sessions[op.ClientID]
	switch op.Kind {
	case broker.OpRetain:
		m.retained[op.Msg.Topic] = op.Msg
	case broker.OpUnretain:
		delete(m.retained, op.Topic)
	case broker.OpSession:
		if ss == nil {
			ss = &modelSession{
				subs: map[string]broker.Subscription{}, queued: map[uint64]broker.Delivery{},
				inflight: map[uint64]broker.Inflight{}, inbound: map[uint16]bool{},
			}
			m.sessions[op.ClientID] = ss
		}
		ss.rec = *op.Session
	case broker.OpEndSession:
		delete(m.sessions, op.ClientID)
	case broker.OpSubscribe:
		ss.subs[op.Sub.Filter] = op.Sub
	case broker.OpUnsubscribe:
		if ss != nil {
			delete(ss.subs, op.Filter)
		}
	case broker.OpEnqueue:
		ss.queued[op.Seq] = op.Delivery
	case broker.OpSent:
		d, ok := ss.queued[op.Seq]
		if !ok {
			d = ss.inflight[op.Seq].Delivery
		}
		if op.Phase == broker.AwaitPubcomp {
			d = broker.Delivery{Seq: op.Seq} // delivered: only the Seq stays
		}
		delete(ss.queued, op.Seq)
		ss.inflight[op.Seq] = broker.Inflight{PacketID: op.PacketID, Phase: op.Phase, Delivery: d}
	case broker.OpForget:
		if ss != nil {
			delete(ss.queued, op.Seq)
			delete(ss.inflight, op.Seq)
		}
	case broker.OpReceived:
		ss.inbound[op.PacketID] = true
	case broker.OpReleased:
		if ss != nil {
			delete(ss.inbound, op.PacketID)
		}
	}
}

func (m *model) snapshot() *broker.Snapshot {
	snap := &broker.Snapshot{Retained: slices.Collect(maps.Values(m.retained))}
	for _, ss := range m.sessions {
		out := broker.StoredSession{
			SessionRecord: ss.rec,
			Subscriptions: slices.Collect(maps.Values(ss.subs)),
			Inflight:      slices.Collect(maps.Values(ss.inflight)),
			InboundQoS2:   slices.Collect(maps.Keys(ss.inbound)),
		}
		for _, seq := range slices.Sorted(maps.Keys(ss.queued)) {
			out.Queued = append(out.Queued, ss.queued[seq])
		}
		snap.Sessions = append(snap.Sessions, out)
	}
	return snap
}

// The small worlds the generator draws from, so that operations meet:
// client ids that share prefixes or hold what a store might use as a
// separator, topics, filters and packet ids.
var (
	modelClients = []string{"a", "a/", "ab", "a\x00", "b"}
	modelTopics  = []string{"t", "t/1", "t/2", "ü/x"}
	modelFilters = []string{"#", "t/+", "$share/g/t/#", "t/1"}
	modelPIDs    = []uint16{1, 2, 300, 65535}
)

// generator makes random operations that the broker could send: it adds
// to a session only after its OpSession, and moves a delivery only along
// its phases, so that what Load returns is fully decided by the contract.
// It also removes what does not exist, which must change nothing.
type generator struct {
	r *rand.Rand
	m *model
	n int // makes payloads unique
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func (g *generator) message(topic string) *broker.Message {
	g.n++
	if g.r.IntN(2) == 0 {
		return plain(topic, strconv.Itoa(g.n))
	}
	m := message(topic, strconv.Itoa(g.n))
	m.QoS = packet.QoS(g.r.IntN(3))
	m.Retain = g.r.IntN(2) == 0
	return m
}

func (g *generator) record(id string) *broker.SessionRecord {
	rec := &broker.SessionRecord{
		ClientID: id,
		Version:  pick(g.r, []packet.Version{packet.V31, packet.V311, packet.V5}),
		Expiry:   time.Duration(g.r.IntN(3)) * time.Hour,
	}
	if g.r.IntN(2) == 0 {
		rec.DisconnectedAt = t0.Add(time.Duration(g.r.IntN(1000)) * time.Millisecond)
	}
	if g.r.IntN(3) == 0 {
		rec.Will = g.message("will/" + id)
		if rec.DisconnectedAt.IsZero() {
			rec.WillDelay = time.Duration(g.r.IntN(60)) * time.Second
		} else {
			rec.WillDueAt = t0.Add(time.Minute)
		}
	}
	return rec
}

func (g *generator) delivery(seq uint64) broker.Delivery {
	d := broker.Delivery{Msg: g.message(pick(g.r, modelTopics)), QoS: packet.QoS(g.r.IntN(3)), Retain: g.r.IntN(2) == 0, Seq: seq}
	if g.r.IntN(2) == 0 {
		d.SubscriptionIDs = []uint32{uint32(g.r.IntN(10) + 1)}
	}
	if g.r.IntN(4) == 0 {
		d.Shared = "$share/g/t/#"
	}
	return d
}

// live is a client with a session, or "" if there is none.
func (g *generator) live() string {
	var ids []string
	for _, id := range modelClients {
		if g.m.sessions[id] != nil {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	return pick(g.r, ids)
}

// op returns the next operation and applies it to the model.
func (g *generator) op() broker.Op {
	op := g.choose()
	fresh := op.Kind == broker.OpSession && g.m.sessions[op.ClientID] == nil
	g.m.apply(op)
	if fresh {
		// A new session may reuse the Seqs of an ended one.
		g.m.sessions[op.ClientID].nextSeq = uint64(g.r.IntN(3) + 1)
	}
	return op
}

func (g *generator) choose() broker.Op {
	r := g.r
	id := g.live()
	anyID := pick(r, modelClients)
	switch k := r.IntN(20); {
	case k < 2:
		return retain(g.message(pick(r, modelTopics)))
	case k < 3:
		return unretain(pick(r, append(modelTopics, "never")))
	case k < 4 || id == "":
		return session(g.record(anyID))
	case k < 5:
		return endSession(anyID)
	case k < 7:
		sub := broker.Subscription{Subscription: packet.Subscription{
			Filter: pick(r, modelFilters), QoS: packet.QoS(r.IntN(3)), NoLocal: r.IntN(2) == 0,
			RetainAsPublished: r.IntN(2) == 0, RetainHandling: packet.RetainHandling(r.IntN(3)),
		}, Identifier: uint32(r.IntN(3))}
		return subscribe(id, sub)
	case k < 8:
		return unsubscribe(anyID, pick(r, modelFilters))
	case k < 12:
		ss := g.m.sessions[id]
		seq := ss.nextSeq
		ss.nextSeq += uint64(r.IntN(2) + 1) // sometimes a gap, as when a delivery is dropped
		return enqueue(id, g.delivery(seq))
	case k < 15:
		if op, ok := g.sent(id); ok {
			return op
		}
		return forget(anyID, uint64(r.IntN(4)))
	case k < 17:
		ss := g.m.sessions[id]
		seqs := slices.Sorted(maps.Keys(ss.queued))
		seqs = append(seqs, slices.Sorted(maps.Keys(ss.inflight))...)
		if len(seqs) == 0 || r.IntN(5) == 0 {
			return forget(anyID, uint64(r.IntN(4)))
		}
		return forget(id, pick(r, seqs))
	case k < 19:
		return received(id, pick(r, modelPIDs))
	default:
		return released(anyID, pick(r, modelPIDs))
	}
}

// sent moves one of id's deliveries a phase on: a queued one out as QoS
// 1 or 2, a QoS 2 one to PUBREL sent; or sends one in flight again.
func (g *generator) sent(id string) (broker.Op, bool) {
	ss := g.m.sessions[id]
	var seqs []uint64
	for seq := range ss.queued {
		seqs = append(seqs, seq)
	}
	for seq, f := range ss.inflight {
		if f.Phase != broker.AwaitPubcomp {
			seqs = append(seqs, seq)
		}
	}
	if len(seqs) == 0 {
		return broker.Op{}, false
	}
	slices.Sort(seqs) // map order would make the run depend on more than the seed
	seq := pick(g.r, seqs)
	pid := pick(g.r, modelPIDs)
	if f, ok := ss.inflight[seq]; ok {
		if f.Phase == broker.AwaitPubrec && g.r.IntN(2) == 0 {
			return sent(id, seq, f.PacketID, broker.AwaitPubcomp), true
		}
		return sent(id, seq, pid, f.Phase), true // resent after a reconnect
	}
	return sent(id, seq, pid, pick(g.r, []broker.Phase{broker.AwaitPuback, broker.AwaitPubrec})), true
}

func describe(op broker.Op) string {
	switch op.Kind {
	case broker.OpRetain:
		return fmt.Sprintf("retain %q=%q", op.Msg.Topic, op.Msg.Payload)
	case broker.OpUnretain:
		return fmt.Sprintf("unretain %q", op.Topic)
	case broker.OpSession:
		return fmt.Sprintf("session %q", op.ClientID)
	case broker.OpEndSession:
		return fmt.Sprintf("end %q", op.ClientID)
	case broker.OpSubscribe:
		return fmt.Sprintf("subscribe %q %q", op.ClientID, op.Sub.Filter)
	case broker.OpUnsubscribe:
		return fmt.Sprintf("unsubscribe %q %q", op.ClientID, op.Filter)
	case broker.OpEnqueue:
		return fmt.Sprintf("enqueue %q seq %d", op.ClientID, op.Seq)
	case broker.OpSent:
		return fmt.Sprintf("sent %q seq %d pid %d phase %d", op.ClientID, op.Seq, op.PacketID, op.Phase)
	case broker.OpForget:
		return fmt.Sprintf("forget %q seq %d", op.ClientID, op.Seq)
	case broker.OpReceived:
		return fmt.Sprintf("received %q pid %d", op.ClientID, op.PacketID)
	case broker.OpReleased:
		return fmt.Sprintf("released %q pid %d", op.ClientID, op.PacketID)
	}
	return fmt.Sprintf("op %d", op.Kind)
}

// testModel applies random batches and compares what Load returns, before
// and after a restart, with the model. The seed is logged; SeedEnv
// replays it.
func testModel(h *harness) {
	seed := rand.Uint64()
	if s := os.Getenv(SeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			h.t.Fatalf("%s=%q: %v", SeedEnv, s, err)
		}
	}
	h.t.Logf("seed %d (%s=%d replays it)", seed, SeedEnv, seed)
	g := &generator{r: rand.New(rand.NewPCG(seed, seed)), m: newModel()}
	var failed atomic.Int64
	var log []string // the batches of the current round, for a failure
	for round := range modelRounds {
		log = log[:0]
		for range g.r.IntN(modelBatches) + 1 {
			ops := make([]broker.Op, g.r.IntN(modelOps+1)) // an empty batch is a barrier
			names := make([]string, len(ops))
			for i := range ops {
				ops[i] = g.op()
				names[i] = describe(ops[i])
			}
			log = append(log, "["+strings.Join(names, ", ")+"]")
			// Mostly without waiting, so batches queue behind each other.
			var done func(error)
			if g.r.IntN(3) == 0 {
				done = func(err error) {
					if err != nil {
						failed.Add(1)
					}
				}
			}
			h.s.Apply(ops, done)
		}
		h.apply()
		if n := failed.Load(); n > 0 {
			h.t.Fatalf("seed %d round %d: %d batches failed", seed, round, n)
		}
		want := g.m.snapshot()
		if diff := cmp.Diff(want, h.load(), snapshotOrder); diff != "" {
			h.t.Fatalf("seed %d round %d: Load (-want +got):\n%s\nbatches of the round:\n%s", seed, round, diff, strings.Join(log, "\n"))
		}
		h.restart()
		if diff := cmp.Diff(want, h.load(), snapshotOrder); diff != "" {
			h.t.Fatalf("seed %d round %d: Load after reopening (-want +got):\n%s\nbatches of the round:\n%s", seed, round, diff, strings.Join(log, "\n"))
		}
	}
}
