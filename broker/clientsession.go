package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/internal/session"
	"github.com/petrelmq/petrel/internal/topic"
	"github.com/petrelmq/petrel/packet"
)

// clientSession is a session as the broker holds it: the I/O-free state
// plus its connection, expiry and will timers. mu guards every field and is
// taken before a connection's output lock.
type clientSession struct {
	id  string
	srv *Server

	mu   sync.Mutex
	st   *session.State
	conn *conn // nil while the client is offline
	// expiry is how long the session outlives its connection; 0 means it
	// ends with it, and only a session with a non-zero expiry is stored.
	expiry      time.Duration
	expiryTimer *time.Timer
	// offlineSince is when the client went offline; zero while online.
	offlineSince time.Time
	// will is a will with a delay waiting for its time; nil for none.
	will *delayedWill
	// backlog holds retained messages owed to new subscriptions. They move
	// into the queue only while it has room, so a subscription to '#' over
	// a million retained messages is streamed within the client's flow
	// control instead of overflowing the queue.
	backlog []retainedBacklog
	// accounted is the queue size last added to the server's queued bytes.
	accounted int64
	// online mirrors conn != nil for readers that take no lock: the shared
	// subscription picker prefers online members.
	online  atomic.Bool
	version packet.Version
	// gone is set once the session has ended; deliveries to it are dropped.
	gone bool
	// overflowing is set when the queue overflows and cleared when it
	// empties, so each episode is logged once.
	overflowing bool
}

// delayedWill is a will with a delay (v5): its timer publishes it when the
// delay ends, unless the session ends first, which publishes it then, or
// resumes first, which cancels it.
type delayedWill struct {
	msg   *session.Message
	due   time.Time
	timer *time.Timer
}

// retainedBacklog is what is left of one subscription's retained messages.
type retainedBacklog struct {
	msgs []*session.Message
	qos  packet.QoS
	id   uint32
}

// drainBacklogLocked tops the queue up from the retained backlog while it
// has room. The caller holds cs.mu and the session is online.
func (cs *clientSession) drainBacklogLocked(now time.Time) {
	for len(cs.backlog) > 0 {
		b := &cs.backlog[0]
		for len(b.msgs) > 0 {
			m := b.msgs[0]
			if !cs.st.HasRoom(m.Size()) {
				return
			}
			b.msgs[0] = nil
			b.msgs = b.msgs[1:]
			if m.Expired(now) {
				continue
			}
			d := session.Delivery{Msg: m, QoS: min(m.QoS, b.qos), Retain: true}
			if b.id != 0 {
				d.SubscriptionIDs = []uint32{b.id}
			}
			cs.srv.enqueueLocked(cs, d)
		}
		cs.backlog[0] = retainedBacklog{}
		cs.backlog = cs.backlog[1:]
	}
}

// persistent reports whether the session outlives its connection, and so
// whether its changes go to the store. The caller holds cs.mu.
func (cs *clientSession) persistent() bool { return cs.expiry != 0 && cs.srv.store != nil }

// record is the session's stored record. The caller holds cs.mu.
func (cs *clientSession) record(disconnectedAt time.Time) Op {
	rec := &SessionRecord{
		ClientID: cs.id, Version: cs.version, Expiry: cs.expiry, DisconnectedAt: disconnectedAt,
	}
	if w := cs.will; w != nil {
		rec.Will, rec.WillDueAt = w.msg, w.due
	}
	if c := cs.conn; disconnectedAt.IsZero() && c != nil && c.will != nil {
		// Stored so that a crash, which ends the connection without a
		// DISCONNECT, still publishes it after the restart.
		rec.Will, rec.WillDelay = c.will.msg, c.will.delay
	}
	return Op{Kind: OpSession, ClientID: cs.id, Session: rec}
}

// fullState is every op that writes the session's subscriptions, queued
// and in-flight deliveries and inbound QoS 2 ids. The caller holds cs.mu.
func (cs *clientSession) fullState() []Op {
	var ops []Op
	for sub := range cs.st.Subscriptions.All() {
		ops = append(ops, Op{Kind: OpSubscribe, ClientID: cs.id, Sub: sub})
	}
	for _, f := range cs.st.Resend() {
		if f.Phase != session.AwaitPubcomp {
			ops = append(ops, Op{Kind: OpEnqueue, ClientID: cs.id, Delivery: f.Delivery, Seq: f.Seq})
		}
		ops = append(ops, Op{Kind: OpSent, ClientID: cs.id, Seq: f.Seq, PacketID: f.PacketID, Phase: f.Phase})
	}
	for _, d := range cs.st.QueuedDeliveries() {
		if d.QoS > packet.AtMostOnce {
			ops = append(ops, Op{Kind: OpEnqueue, ClientID: cs.id, Delivery: d, Seq: d.Seq})
		}
	}
	for _, pid := range cs.st.InboundQoS2IDs() {
		ops = append(ops, Op{Kind: OpReceived, ClientID: cs.id, PacketID: pid})
	}
	return ops
}

// attach binds a connection to the session for id, creating or resetting it
// as Clean Start says. It returns the session, whether state was present,
// the connection it took the session from, if any, and whether it ended a
// stored session, which CONNACK must wait to be durable.
func (s *Server) attach(c *conn, id string, cleanStart bool, expiry time.Duration, limits session.Limits) (cs *clientSession, present bool, old *conn, ended bool) {
	s.sessionsMu.Lock()
	defer s.sessionsMu.Unlock()
	if existing, ok := s.sessions.load(id); ok {
		cs = existing
		cs.mu.Lock()
		old = cs.conn
		cs.stopTimers()
		if cleanStart {
			if cs.persistent() {
				s.apply(Op{Kind: OpEndSession, ClientID: id})
				ended = true
			}
			s.unsubscribeAll(cs)
			cs.st = session.New(limits)
			cs.backlog = nil
		} else {
			present = true
			cs.st.Limits = limits
		}
	} else {
		cs = &clientSession{id: id, srv: s, st: session.New(limits)}
		cs.mu.Lock()
		s.sessions.store(id, cs)
		s.stats.sessions.Add(1)
	}
	wasPersistent := cs.persistent()
	// Nothing goes to the client before its CONNACK, which login sends
	// and puts in front once it is ready: a message routed to the
	// session meanwhile waits behind it.
	c.hold()
	cs.conn = c
	cs.offlineSince = time.Time{}
	cs.online.Store(true)
	s.stats.connected.Add(1)
	cs.version = c.v
	cs.expiry = expiry
	switch {
	case cs.persistent():
		s.apply(cs.record(time.Time{}))
		if present && !wasPersistent {
			// The session outlived a connection that would not have kept
			// it: what it holds was never written, and must be now.
			s.apply(cs.fullState()...)
		}
	case wasPersistent:
		// A persistent session resumed as one that ends with its
		// connection: nothing of it may survive a restart.
		s.apply(Op{Kind: OpEndSession, ClientID: id})
		ended = true
	}
	c.sess = cs
	// What the session owes its client goes first, under the same lock
	// that made the session this connection's: a message routed to it a
	// moment later must not overtake the resends.
	cs.resume(c)
	cs.mu.Unlock()
	return cs, present, old, ended
}

func (cs *clientSession) stopTimers() {
	if cs.expiryTimer != nil {
		cs.expiryTimer.Stop()
		cs.expiryTimer = nil
	}
	if cs.will != nil {
		// v5 [MQTT-3.1.3-9]: a new connection before the Will Delay ends
		// means the will is not sent.
		cs.will.timer.Stop()
		cs.will = nil
	}
}

// resume sends what a resumed session owes its client: every in-flight
// message again, PUBLISH with DUP or PUBREL (v5 and v3.1.1
// [MQTT-4.4.0-1]), then what is queued. The caller holds cs.mu.
func (cs *clientSession) resume(c *conn) {
	now := time.Now()
	c.omu.Lock()
	for _, f := range cs.st.Resend() {
		if f.Phase == session.AwaitPubcomp {
			c.out, _ = (&packet.Pubrel{PacketID: f.PacketID}).Encode(c.out, c.v)
			continue
		}
		c.appendPublish(&f.Delivery, f.PacketID, true, now)
	}
	c.omu.Unlock()
	cs.pumpLocked(now, nil)
}

// detach ends the connection's hold on its session when it closes:
// it starts the session's expiry and the will's delay, or ends the
// session at once.
func (c *conn) detach() {
	s := c.srv
	cs := c.sess
	cs.mu.Lock()
	if cs.conn != c {
		// Taken over: the session lives on with the new connection. The
		// will goes out now unless it had a delay, which the new
		// connection cancels (v5 [MQTT-3.1.3-9]).
		cs.mu.Unlock()
		s.stats.connected.Add(-1)
		if c.will != nil && !c.normalClose && c.will.delay == 0 {
			s.publishWill(c.will.msg)
		}
		s.log.Info("client disconnected", "client", c.client.ID, "remote", c.remote(), "version", c.v.String(),
			"reason", packet.SessionTakenOver.String())
		return
	}
	now := time.Now()
	cs.conn = nil
	cs.offlineSince = now
	cs.online.Store(false)
	s.stats.connected.Add(-1)
	if !s.opts.QueueQoS0Offline {
		s.stats.dropped[dropOffline].Add(uint64(cs.st.DropQoS0()))
	}
	redistribute := cs.st.TakeUnacknowledged(func(d *session.Delivery) bool { return d.Shared == "" })
	if cs.persistent() {
		for _, d := range redistribute {
			s.apply(Op{Kind: OpForget, ClientID: cs.id, Seq: d.Seq})
		}
	}
	cs.accountLocked()
	var w *will
	if c.will != nil && !c.normalClose {
		w = c.will
	}
	endNow := cs.expiry == 0
	if !endNow {
		s.scheduleExpiry(cs, cs.expiry)
		if w != nil && w.delay > 0 {
			s.scheduleWill(cs, w.msg, now.Add(min(w.delay, cs.expiry)))
			w = nil
		}
		if cs.persistent() {
			s.apply(cs.record(now))
		}
	}
	cs.mu.Unlock()
	s.log.Info("client disconnected", "client", c.client.ID, "remote", c.remote(), "version", c.v.String(),
		"clean", c.normalClose, "reason", c.ops.endReasonText())
	if w != nil {
		s.publishWill(w.msg)
	}
	for i := range redistribute {
		s.redeliverShared(&redistribute[i], cs.id)
	}
	if endNow {
		s.endSession(cs)
	}
}

// scheduleExpiry ends the offline session after d. The caller holds cs.mu.
func (s *Server) scheduleExpiry(cs *clientSession, d time.Duration) {
	if d == neverExpires {
		return
	}
	cs.expiryTimer = time.AfterFunc(max(d, 0), func() { s.expire(cs) })
}

// scheduleWill publishes a delayed will at due unless the session resumes
// first. The caller holds cs.mu.
func (s *Server) scheduleWill(cs *clientSession, msg *session.Message, due time.Time) {
	w := &delayedWill{msg: msg, due: due}
	cs.will = w
	w.timer = time.AfterFunc(max(time.Until(due), 0), func() {
		cs.mu.Lock()
		// A timer that fired while the session resumed or ended finds
		// its will gone.
		mine := cs.will == w
		if mine {
			cs.will = nil
			if cs.persistent() {
				s.apply(cs.record(time.Now()))
			}
		}
		cs.mu.Unlock()
		if mine {
			s.publishWill(w.msg)
		}
	})
}

// expire ends a session whose expiry interval passed while it was offline.
func (s *Server) expire(cs *clientSession) {
	cs.mu.Lock()
	stale := cs.conn != nil || cs.expiryTimer == nil
	cs.expiryTimer = nil
	cs.mu.Unlock()
	if !stale {
		s.endSession(cs)
	}
}

// endSession removes a session: its subscriptions leave the tree and a
// pending will is published now ([MQTT-3.1.3-9]: the session ended first).
func (s *Server) endSession(cs *clientSession) {
	s.sessionsMu.Lock()
	cs.mu.Lock()
	if cs.conn != nil || cs.gone {
		cs.mu.Unlock()
		s.sessionsMu.Unlock()
		return
	}
	cs.gone = true
	s.stats.queuedBytes.Add(-cs.accounted)
	cs.accounted = 0
	var pending *session.Message
	if cs.will != nil {
		pending = cs.will.msg
	}
	cs.stopTimers()
	if cs.persistent() {
		s.apply(Op{Kind: OpEndSession, ClientID: cs.id})
	}
	s.unsubscribeAll(cs)
	s.sessions.delete(cs.id)
	s.stats.sessions.Add(-1)
	cs.mu.Unlock()
	s.sessionsMu.Unlock()
	if pending != nil {
		s.publishWill(pending)
	}
}

// unsubscribeAll removes every subscription of the session from the tree.
// The caller holds cs.mu.
func (s *Server) unsubscribeAll(cs *clientSession) {
	for sub := range cs.st.Subscriptions.All() {
		filter := sub.Filter
		share, f, _, _ := topic.ParseShared(filter)
		if s.tree.Unsubscribe(cs.id, share, f) {
			s.stats.subscriptions.Add(-1)
			s.interestChanged(share, f, false)
		}
	}
	cs.st.Subscriptions.Clear()
}

// enqueueLocked queues a delivery and records it, applying the overflow
// policy. It reports whether the delivery went to the store and whether
// the client must be disconnected as a slow consumer. The caller holds
// cs.mu.
func (s *Server) enqueueLocked(cs *clientSession, d session.Delivery) (stored, overflow bool) {
	queued, dropped, result := cs.st.Enqueue(d)
	if result != session.Queued && !cs.overflowing {
		// Logged once per episode: a slow consumer overflows on every
		// message.
		cs.overflowing = true
		s.log.Warn("session queue full; applying the overflow policy", "client", cs.id,
			"queued", cs.st.Queued(), "queued_bytes", cs.st.QueuedBytes(), "policy", s.opts.QueueOverflow.String())
	}
	persist := cs.persistent()
	for _, old := range dropped {
		s.stats.dropped[dropQueueFull].Inc()
		if persist && old.QoS > packet.AtMostOnce {
			s.apply(Op{Kind: OpForget, ClientID: cs.id, Seq: old.Seq})
		}
	}
	switch result {
	case session.DroppedNewest:
		s.stats.dropped[dropQueueFull].Inc()
		return false, false
	case session.Overflowed:
		s.stats.dropped[dropQueueFull].Inc()
		return false, true
	}
	if persist && queued.QoS > packet.AtMostOnce {
		s.apply(Op{Kind: OpEnqueue, ClientID: cs.id, Delivery: queued, Seq: queued.Seq})
		return true, false
	}
	return false, false
}

// deliver queues a delivery for the session and, if its client is online,
// moves what the window allows onto the wire, now being the time, through
// flush batch b if not nil. It reports whether the delivery went to the
// store, which the publisher's acknowledgement then waits for.
func (s *Server) deliver(cs *clientSession, d session.Delivery, now time.Time, b *flushBatch) (stored bool) {
	cs.mu.Lock()
	if cs.gone || cs.conn == nil && d.QoS == packet.AtMostOnce && !s.opts.QueueQoS0Offline {
		cs.mu.Unlock()
		s.stats.dropped[dropOffline].Inc()
		return false
	}
	var slow *conn
	if m := s.limits().MaxQueuedMemory; m > 0 && (cs.conn == nil || cs.st.Queued() > 0) && s.stats.queuedBytes.Load() >= m {
		// The delivery would wait in a queue, and queues hold all the
		// memory they may.
		if s.opts.QueueOverflow == Disconnect {
			slow = cs.conn
		}
		cs.mu.Unlock()
		if s.stats.dropped[dropMemory].Add(1) == 1 {
			s.log.Warn("queued messages reached max_queued_memory; dropping messages for queues until it falls", "limit", m)
		}
		if slow != nil {
			go slow.disconnect(packet.QuotaExceeded, "", "the server's queue memory is full")
		}
		return false
	}
	stored, overflow := s.enqueueLocked(cs, d)
	if overflow {
		slow = cs.conn
	}
	if cs.conn != nil {
		cs.pumpLocked(now, b)
	} else {
		cs.accountLocked()
	}
	cs.mu.Unlock()
	if slow != nil {
		s.log.Warn("disconnecting a slow consumer: its queue is full", "client", cs.id)
		// Its socket is full by definition: writing the DISCONNECT may
		// wait, and the publisher must not.
		go slow.disconnect(packet.QuotaExceeded, "", "the session's queue is full")
	}
	return stored
}

// accountLocked brings the server's count of queued bytes up to date with
// the session's queue. The caller holds cs.mu. It touches the shared
// counter only when the queue changed size, which for a client that keeps
// up is never: its deliveries leave the queue under the same lock.
func (cs *clientSession) accountLocked() {
	n := int64(cs.st.QueuedBytes())
	if d := n - cs.accounted; d != 0 {
		cs.srv.stats.queuedBytes.Add(d)
		cs.accounted = n
	}
}

// pumpLocked moves deliveries from the session queue to the connection's
// output while the window and the output high-water mark allow, and has
// the output written, through flush batch b if not nil. The caller holds
// cs.mu.
func (cs *clientSession) pumpLocked(now time.Time, b *flushBatch) {
	c := cs.conn
	if c == nil {
		return
	}
	s := cs.srv
	persist := cs.persistent()
	c.omu.Lock()
	if c.closed {
		c.omu.Unlock()
		return
	}
	// exactlyOnce is set when a QoS 2 message to a persistent session
	// joins the output: it is held back until what the store records of
	// it is durable. Otherwise a crash could forget a message the client
	// had already received, acknowledged and released, and a resend by
	// its publisher would reach the client a second time.
	exactlyOnce := false
	for len(c.out) < outHighWater {
		cs.drainBacklogLocked(now)
		d, pid, expired, ok := cs.st.Next(now)
		for _, e := range expired {
			s.stats.dropped[dropExpired].Inc()
			if persist && e.QoS > packet.AtMostOnce {
				s.apply(Op{Kind: OpForget, ClientID: cs.id, Seq: e.Seq})
			}
		}
		if !ok {
			break
		}
		if !c.mayReceive(d.Msg.Topic) {
			// Read permission is asked at the last moment, so it holds for
			// queued and retained messages and after the rules change.
			s.log.Debug("delivery denied", "client", cs.id, "topic", d.Msg.Topic)
			if pid != 0 {
				cs.st.Discard(pid)
				if persist {
					s.apply(Op{Kind: OpForget, ClientID: cs.id, Seq: d.Seq})
				}
			}
			continue
		}
		if !c.appendPublish(&d, pid, false, now) && pid != 0 {
			// v5 [MQTT-3.1.2-25]: too large for the client; behave as if
			// it had been sent and acknowledged.
			cs.st.Discard(pid)
			if persist {
				s.apply(Op{Kind: OpForget, ClientID: cs.id, Seq: d.Seq})
			}
			continue
		}
		if persist && pid != 0 {
			phase := session.AwaitPuback
			if d.QoS == packet.ExactlyOnce {
				phase = session.AwaitPubrec
				exactlyOnce = true
			}
			s.apply(Op{Kind: OpSent, ClientID: cs.id, Seq: d.Seq, PacketID: pid, Phase: phase})
		}
	}
	if len(c.out) >= outHighWater {
		c.needPump = true
	}
	if exactlyOnce {
		c.holds++
	}
	c.kickLocked(b)
	c.omu.Unlock()
	if exactlyOnce {
		// The store may call back at once: c.omu is free by now.
		s.store.Apply(nil, func(err error) {
			if err != nil || s.storeFailed.Load() {
				s.log.Error("store write failed; closing the connection", "client", cs.id, "err", err)
				go c.abort()
				return
			}
			c.release(nil)
		})
	}
	cs.accountLocked()
	if cs.overflowing && cs.st.Queued() == 0 {
		cs.overflowing = false
		s.log.Info("session queue drained", "client", cs.id)
	}
}

// refill runs after a flush drained output the pump had left full.
func (cs *clientSession) refill(c *conn) {
	cs.mu.Lock()
	if cs.conn == c {
		cs.pumpLocked(time.Now(), nil)
	}
	cs.mu.Unlock()
}

// forgetLocked records that a delivery is done. The caller holds cs.mu.
func (cs *clientSession) forgetLocked(seq uint64) {
	if cs.persistent() {
		cs.srv.apply(Op{Kind: OpForget, ClientID: cs.id, Seq: seq})
	}
}

// puback and pubcomp take the time the acknowledgement was read.
func (cs *clientSession) puback(pid uint16, now time.Time) {
	cs.mu.Lock()
	if seq, ok := cs.st.Puback(pid); ok {
		cs.forgetLocked(seq)
		cs.pumpLocked(now, nil)
	}
	cs.mu.Unlock()
}

func (cs *clientSession) pubrec(c *conn, pid uint16, code packet.ReasonCode) {
	cs.mu.Lock()
	seq, sendPubrel, found, ended := cs.st.Pubrec(pid, code)
	switch {
	case ended:
		// A failure code ends the exchange and frees the window.
		cs.forgetLocked(seq)
		cs.pumpLocked(time.Now(), nil)
	case found && sendPubrel && cs.persistent():
		cs.srv.apply(Op{Kind: OpSent, ClientID: cs.id, Seq: seq, PacketID: pid, Phase: session.AwaitPubcomp})
	}
	stored := found && sendPubrel && cs.persistent()
	cs.mu.Unlock()
	if sendPubrel && found && !stored {
		c.sendAck(packet.PUBREL, pid)
		return
	}
	if sendPubrel {
		rel := &packet.Pubrel{PacketID: pid}
		if !found {
			rel.ReasonCode = packet.PacketIdentifierNotFound
		}
		// Once PUBREL is out the client may forget the message: that the
		// broker has it delivered must be durable first, or a restart
		// would send it again as new.
		c.durable(stored, rel, nil)
	}
}

func (cs *clientSession) pubcomp(pid uint16, now time.Time) {
	cs.mu.Lock()
	if seq, ok := cs.st.Pubcomp(pid); ok {
		cs.forgetLocked(seq)
		cs.pumpLocked(now, nil)
	}
	cs.mu.Unlock()
}
