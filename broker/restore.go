package broker

import (
	"fmt"
	"time"

	"github.com/petrelmq/petrel/internal/session"
	"github.com/petrelmq/petrel/internal/topic"
)

// restore rebuilds retained messages and persistent sessions from the
// store at start-up. Time kept running while the broker was down: expiry
// timers continue from wall-clock time, so sessions and messages that
// expired meanwhile are purged, and wills whose delay passed are published.
func (s *Server) restore() error {
	start := time.Now()
	snap, err := s.store.Load()
	if err != nil {
		return fmt.Errorf("load stored state: %w", err)
	}
	now := time.Now()
	for _, m := range snap.Retained {
		if m.Expired(now) {
			s.apply(Op{Kind: OpUnretain, Topic: m.Topic})
			continue
		}
		s.retained.Set(m.Topic, m)
		s.stats.retained.Add(1)
		s.stats.retainedBytes.Add(retainedSize(m))
	}
	limits := session.Limits{
		MaxInflight:    s.opts.MaxInflight,
		MaxQueued:      s.opts.MaxQueuedMessages,
		MaxQueuedBytes: s.opts.MaxQueuedBytes,
		Overflow:       s.opts.QueueOverflow,
	}
	var expired []*clientSession
	type dueWill struct {
		cs  *clientSession
		msg *Message
		due time.Time
	}
	var wills []dueWill
	for i := range snap.Sessions {
		ss := &snap.Sessions[i]
		cs := &clientSession{id: ss.ClientID, srv: s, st: session.New(limits),
			version: ss.Version, expiry: ss.Expiry}
		cs.st.Restore(ss.Queued, ss.Inflight, ss.InboundQoS2)
		cs.accountLocked()
		for _, sub := range ss.Subscriptions {
			share, filter, _, err := topic.ParseShared(sub.Filter)
			if err != nil {
				return fmt.Errorf("restore session %q: subscription %q: %w", ss.ClientID, sub.Filter, err)
			}
			if _, err := s.tree.Subscribe(topic.Subscription{
				ClientID: cs.id, ShareName: share, Filter: filter, QoS: byte(sub.QoS),
				NoLocal: sub.NoLocal, RetainAsPublished: sub.RetainAsPublished,
				RetainHandling: byte(sub.RetainHandling), Identifier: sub.Identifier,
			}); err != nil {
				return fmt.Errorf("restore session %q: subscription %q: %w", ss.ClientID, sub.Filter, err)
			}
			cs.st.Subscriptions.Put(sub)
			s.stats.subscriptions.Add(1)
			s.interestChanged(share, filter, true)
		}
		s.sessions.store(cs.id, cs)
		s.stats.sessions.Add(1)
		// A session whose client was connected when the broker stopped
		// went offline then.
		offline := ss.DisconnectedAt
		if offline.IsZero() {
			offline = now
		}
		cs.offlineSince = offline
		switch {
		case ss.Will != nil && ss.DisconnectedAt.IsZero():
			// The connection ended in the broker's crash: abnormally.
			wills = append(wills, dueWill{cs, ss.Will, offline.Add(min(ss.WillDelay, cs.expiry))})
		case ss.Will != nil:
			wills = append(wills, dueWill{cs, ss.Will, ss.WillDueAt})
		}
		cs.mu.Lock()
		switch left := cs.expiry - now.Sub(offline); {
		case cs.expiry == neverExpires:
		case left > 0:
			s.scheduleExpiry(cs, left)
		default:
			expired = append(expired, cs)
		}
		cs.mu.Unlock()
	}
	// Wills go out once every session is back, so all their subscribers
	// can receive them; those of expired sessions go out as those end.
	for _, w := range wills {
		w.cs.mu.Lock()
		s.scheduleWill(w.cs, w.msg, w.due)
		w.cs.mu.Unlock()
	}
	for _, cs := range expired {
		s.endSession(cs)
	}
	s.log.Info("restored stored state", "retained", s.stats.retained.Load(), "sessions", s.stats.sessions.Load(),
		"expired_sessions", len(expired), "took", time.Since(start))
	return nil
}
