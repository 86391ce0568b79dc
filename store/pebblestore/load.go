package pebblestore

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/petrelmq/petrel/broker"
)

// Load reads everything stored, in one pass in key order, after
// everything applied before it is written.
func (s *Store) Load() (*broker.Snapshot, error) {
	errc := make(chan error, 1)
	s.Apply(nil, func(err error) { errc <- err })
	if err := <-errc; err != nil {
		return nil, err
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return nil, fmt.Errorf("pebblestore: load %s: %w", s.dir, err)
	}
	var l loader
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			err = l.add(it.Key(), v)
		}
		if err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("pebblestore: load %s: key %q: %w", s.dir, it.Key(), err)
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("pebblestore: load %s: %w", s.dir, err)
	}
	l.endSession()
	return &l.snap, nil
}

// loader builds a snapshot from keys in order. A session's keys are
// contiguous, and its flight keys sort before its queued ones, so one
// session is assembled at a time.
type loader struct {
	snap    broker.Snapshot
	cur     *broker.StoredSession
	flights map[uint64]flight
}

type flight struct {
	pid   uint16
	phase broker.Phase
}

func (l *loader) add(key, v []byte) error {
	switch {
	case bytes.HasPrefix(key, []byte(metaPrefix)):
		return nil
	case bytes.HasPrefix(key, []byte(retainedPrefix)):
		m, err := decodeMessage(v)
		l.snap.Retained = append(l.snap.Retained, m)
		return err
	case bytes.HasPrefix(key, []byte(sessionPrefix)):
		id, rest, err := parseSessionKey(key)
		if err != nil {
			return err
		}
		if l.cur == nil || l.cur.ClientID != id {
			l.endSession()
			l.cur = &broker.StoredSession{SessionRecord: broker.SessionRecord{ClientID: id}}
		}
		return l.addSession(rest, v)
	}
	return errors.New("unknown key; the store was written by another program or version")
}

func (l *loader) addSession(rest, v []byte) error {
	cur := l.cur
	switch {
	case string(rest) == recordSuffix:
		rec, err := decodeRecord(v, cur.ClientID)
		cur.SessionRecord = rec
		return err
	case bytes.HasPrefix(rest, []byte(subPrefix)):
		sub, err := decodeSubscription(v, string(rest[len(subPrefix):]))
		cur.Subscriptions = append(cur.Subscriptions, sub)
		return err
	case bytes.HasPrefix(rest, []byte(flightPrefix)) && len(rest) == len(flightPrefix)+8:
		pid, phase, err := decodeFlight(v)
		if l.flights == nil {
			l.flights = map[uint64]flight{}
		}
		l.flights[binary.BigEndian.Uint64(rest[len(flightPrefix):])] = flight{pid, phase}
		return err
	case bytes.HasPrefix(rest, []byte(queuedPrefix)) && len(rest) == len(queuedPrefix)+8:
		seq := binary.BigEndian.Uint64(rest[len(queuedPrefix):])
		d, err := decodeDelivery(v, seq)
		if f, ok := l.flights[seq]; ok {
			delete(l.flights, seq)
			cur.Inflight = append(cur.Inflight, broker.Inflight{PacketID: f.pid, Phase: f.phase, Delivery: d})
		} else {
			cur.Queued = append(cur.Queued, d)
		}
		return err
	case bytes.HasPrefix(rest, []byte(inboundPrefix)) && len(rest) == len(inboundPrefix)+2:
		cur.InboundQoS2 = append(cur.InboundQoS2, binary.BigEndian.Uint16(rest[len(inboundPrefix):]))
		return nil
	}
	return errors.New("unknown session key; the store was written by another program or version")
}

// endSession adds the session being assembled to the snapshot.
func (l *loader) endSession() {
	cur := l.cur
	if cur == nil {
		return
	}
	for seq, f := range l.flights {
		// A flight without a queued message is one whose PUBREL was
		// sent: there is nothing left to resend but the PUBREL. In any
		// other phase the message was never stored (the session became
		// persistent after it was queued), and a resend is impossible.
		if f.phase == broker.AwaitPubcomp {
			cur.Inflight = append(cur.Inflight, broker.Inflight{PacketID: f.pid, Phase: f.phase, Delivery: broker.Delivery{Seq: seq}})
		}
	}
	clear(l.flights)
	slices.SortFunc(cur.Inflight, func(a, b broker.Inflight) int { return cmp.Compare(a.Seq, b.Seq) })
	l.snap.Sessions = append(l.snap.Sessions, *cur)
	l.cur = nil
}
