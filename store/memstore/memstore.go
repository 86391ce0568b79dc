// Package memstore is a broker.Store that keeps everything in memory: for
// tests, for embedders that want restarts of a Server within one process to
// keep state, and for --no-persist. Every batch is "durable" as soon as it
// is applied.
//
// It imports the broker for the types of the Store contract and must not
// be imported by the broker.
package memstore

import (
	"errors"
	"maps"
	"slices"
	"sync"

	"github.com/petrelmq/petrel/broker"
)

// ErrClosed is returned by a Store used after Close.
var ErrClosed = errors.New("memstore: closed")

// Store is an in-memory broker.Store. The zero value is empty and ready.
type Store struct {
	mu       sync.Mutex
	closed   bool
	retained map[string]*broker.Message
	sessions map[string]*stored
}

type stored struct {
	rec      broker.SessionRecord
	subs     map[string]broker.Subscription
	queued   map[uint64]broker.Delivery
	inflight map[uint64]broker.Inflight
	inbound  map[uint16]struct{}
}

// New returns an empty Store.
func New() *Store { return &Store{} }

func (s *Store) session(id string) *stored {
	ss := s.sessions[id]
	if ss == nil {
		ss = &stored{
			rec:      broker.SessionRecord{ClientID: id},
			subs:     map[string]broker.Subscription{},
			queued:   map[uint64]broker.Delivery{},
			inflight: map[uint64]broker.Inflight{},
			inbound:  map[uint16]struct{}{},
		}
		s.sessions[id] = ss
	}
	return ss
}

// Apply applies ops at once and then calls done.
func (s *Store) Apply(ops []broker.Op, done func(error)) {
	err := s.apply(ops)
	if done != nil {
		done(err)
	}
}

func (s *Store) apply(ops []broker.Op) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.retained == nil {
		s.retained = map[string]*broker.Message{}
		s.sessions = map[string]*stored{}
	}
	for i := range ops {
		op := &ops[i]
		switch op.Kind {
		case broker.OpRetain:
			s.retained[op.Msg.Topic] = op.Msg
		case broker.OpUnretain:
			delete(s.retained, op.Topic)
		case broker.OpSession:
			s.session(op.ClientID).rec = *op.Session
		case broker.OpEndSession:
			delete(s.sessions, op.ClientID)
		case broker.OpSubscribe:
			s.session(op.ClientID).subs[op.Sub.Filter] = op.Sub
		case broker.OpUnsubscribe:
			// Removing from a session that does not exist changes
			// nothing: it must not bring an ended session back empty.
			if ss := s.sessions[op.ClientID]; ss != nil {
				delete(ss.subs, op.Filter)
			}
		case broker.OpEnqueue:
			s.session(op.ClientID).queued[op.Seq] = op.Delivery
		case broker.OpSent:
			ss := s.session(op.ClientID)
			d, ok := ss.queued[op.Seq]
			if !ok {
				d = ss.inflight[op.Seq].Delivery
			}
			if op.Phase == broker.AwaitPubcomp {
				d = broker.Delivery{Seq: op.Seq}
			}
			delete(ss.queued, op.Seq)
			ss.inflight[op.Seq] = broker.Inflight{PacketID: op.PacketID, Phase: op.Phase, Delivery: d}
		case broker.OpForget:
			if ss := s.sessions[op.ClientID]; ss != nil {
				delete(ss.queued, op.Seq)
				delete(ss.inflight, op.Seq)
			}
		case broker.OpReceived:
			s.session(op.ClientID).inbound[op.PacketID] = struct{}{}
		case broker.OpReleased:
			if ss := s.sessions[op.ClientID]; ss != nil {
				delete(ss.inbound, op.PacketID)
			}
		default:
			return errors.New("memstore: unknown operation")
		}
	}
	return nil
}

// Load returns a copy of everything stored, each session's deliveries in
// sequence order.
func (s *Store) Load() (*broker.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	snap := &broker.Snapshot{Retained: slices.Collect(maps.Values(s.retained))}
	for _, id := range slices.Sorted(maps.Keys(s.sessions)) {
		ss := s.sessions[id]
		out := broker.StoredSession{SessionRecord: ss.rec, Subscriptions: slices.Collect(maps.Values(ss.subs))}
		for _, seq := range slices.Sorted(maps.Keys(ss.queued)) {
			out.Queued = append(out.Queued, ss.queued[seq])
		}
		for _, seq := range slices.Sorted(maps.Keys(ss.inflight)) {
			out.Inflight = append(out.Inflight, ss.inflight[seq])
		}
		out.InboundQoS2 = slices.Sorted(maps.Keys(ss.inbound))
		snap.Sessions = append(snap.Sessions, out)
	}
	return snap, nil
}

// Close makes later calls fail; the state stays for a Reopen.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Reopen makes a closed Store usable again with its state, as a restart
// of the process would find a durable store.
func (s *Store) Reopen() {
	s.mu.Lock()
	s.closed = false
	s.mu.Unlock()
}
