package broker

import (
	"errors"
	"sync"
	"time"

	"github.com/petrelmq/petrel/internal/session"
	"github.com/petrelmq/petrel/packet"
)

// Message is an application message as the broker keeps it: immutable and
// shared by every session it is delivered to.
type Message = session.Message

// Delivery is a message on its way to one session.
type Delivery = session.Delivery

// Subscription is one of a session's subscriptions.
type Subscription = session.Subscription

// Inflight is a delivery sent and not yet acknowledged.
type Inflight = session.Inflight

// Phase is where an in-flight QoS 1 or 2 delivery stands.
type Phase = session.Phase

// The phases of an in-flight delivery.
const (
	AwaitPuback  = session.AwaitPuback  // QoS 1 PUBLISH sent
	AwaitPubrec  = session.AwaitPubrec  // QoS 2 PUBLISH sent
	AwaitPubcomp = session.AwaitPubcomp // QoS 2 PUBREL sent; the message is delivered
)

// Store keeps what must survive a restart: retained messages, and for
// persistent sessions their records, subscriptions, queued and in-flight
// deliveries and inbound QoS 2 packet ids. Options.Store nil keeps all of
// it in memory only.
//
// Concurrency contract: the broker calls Apply from many goroutines, often
// while holding a session's lock, so Apply must not block on I/O; it
// queues the batch. Batches become durable in the order Apply was called,
// and done callbacks (done may be nil) run in that order, exactly once
// each, possibly before Apply returns and possibly on another goroutine.
// A Store may run them one after another on one goroutine, so the broker
// keeps them short: they queue a packet and return. The broker sends an
// acknowledgement (PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK) only from
// done, so an acknowledged change is durable as far as the Store promises.
//
// A Store that cannot write for lack of space fails the batch with an
// error wrapping ErrStoreFull and keeps working: the broker refuses what
// needed the write (Quota Exceeded to a v5 publisher, a disconnect for
// earlier versions) and carries on, and writes succeed again once there is
// room. Any other failed write is taken to leave the store unreliable:
// from then on nothing that needs it is acknowledged.
//
// Apply does not keep ops after it returns.
//
// Load is called once, by New, before the server serves anyone.
type Store interface {
	Apply(ops []Op, done func(error))
	Load() (*Snapshot, error)
	Close() error
}

// OpKind names a change to stored state.
type OpKind byte

// The kinds of change a Store applies.
const (
	OpRetain      OpKind = iota + 1 // store Msg as the retained message of Msg.Topic
	OpUnretain                      // delete the retained message of Topic
	OpSession                       // create or update the session record
	OpEndSession                    // delete the session of ClientID and everything it holds
	OpSubscribe                     // add or replace Sub for ClientID
	OpUnsubscribe                   // remove the subscription to Filter
	OpEnqueue                       // queue Delivery for ClientID
	OpSent                          // Delivery Seq is in flight with PacketID in Phase
	OpForget                        // Delivery Seq is done: acknowledged, dropped or expired
	OpReceived                      // inbound QoS 2 PacketID awaits PUBREL
	OpReleased                      // inbound QoS 2 PacketID was released
)

// Op is one change. Which fields matter depends on Kind.
type Op struct {
	Kind     OpKind
	ClientID string
	Topic    string
	Filter   string
	Msg      *Message
	Session  *SessionRecord
	Sub      Subscription
	Delivery Delivery
	Seq      uint64
	PacketID uint16
	Phase    Phase
}

// SessionRecord is what a session is apart from its subscriptions and
// messages.
type SessionRecord struct {
	ClientID string
	Version  packet.Version
	// Expiry is how long the session outlives its connection.
	Expiry time.Duration
	// DisconnectedAt is when its client went offline; zero while online.
	DisconnectedAt time.Time
	// Will is the will waiting for the Will Delay, if any, and when it is
	// due. For a client online when the record was written, it is the
	// connection's will, WillDueAt is zero and WillDelay says how long it
	// waits once the connection ends: a crash ends it.
	Will      *Message
	WillDueAt time.Time
	WillDelay time.Duration
}

// Snapshot is the stored state, as Load returns it.
type Snapshot struct {
	Retained []*Message
	Sessions []StoredSession
}

// StoredSession is one persistent session as stored.
type StoredSession struct {
	SessionRecord
	Subscriptions []Subscription
	Queued        []Delivery // in Seq order
	Inflight      []Inflight
	InboundQoS2   []uint16
}

// apply hands ops to the store, if there is one. The caller may hold a
// session lock: Apply does not block. A failure is remembered, so that
// every acknowledgement waiting behind it is withheld (see durable).
func (s *Server) apply(ops ...Op) {
	if s.store == nil || len(ops) == 0 {
		return
	}
	// Through a pooled slice: handing ops itself to the interface would
	// move every caller's operations to the heap.
	p := opsPool.Get().(*[]Op)
	*p = append((*p)[:0], ops...)
	s.store.Apply(*p, s.noteStoreFailure)
	clear(*p)
	opsPool.Put(p)
}

var opsPool = sync.Pool{New: func() any { return new([]Op) }}

// Grouper is what a Store implements when it commits writes in groups
// (see pebblestore): between BeginGroup and EndGroup, the batches the
// broker applies are committed together or not at all. The broker groups
// what one QoS 2 PUBLISH changes, its packet id and every copy it routes,
// so that after a crash either the client's resend is recognised and all
// copies are there, or neither and the resend is routed afresh: exactly
// once either way. Groups are short and never nested, and nothing inside
// one waits for the store.
type Grouper interface {
	BeginGroup()
	EndGroup()
}

// ErrStoreFull is what a Store's error wraps when it refuses a write for
// lack of space.
var ErrStoreFull = errors.New("the store is full")

// noteStoreFailure is the done callback of writes that no acknowledgement
// waits on directly.
func (s *Server) noteStoreFailure(err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrStoreFull):
		s.storeRefused.Add(1)
	case s.storeFailed.CompareAndSwap(false, true):
		s.log.Error("store write failed; from now on nothing is acknowledged that needs the store", "err", err)
	}
}

// durable sends ack to the client once everything applied so far is
// durable: at once when stored is false, else after an empty batch that
// the Store's ordering places behind them; then, if not nil, runs after
// it. If the store fails, the client is disconnected unacknowledged, so it
// sends again. The caller holds no session lock: with a Store that calls
// done at once, then runs on the caller's goroutine.
func (c *conn) durable(stored bool, ack packet.Packet, then func()) {
	s := c.srv
	if !stored || s.store == nil {
		c.send(ack)
		if then != nil {
			then()
		}
		return
	}
	mark := c.refusedMark
	start := time.Now()
	s.store.Apply(nil, func(err error) {
		s.stats.storeSync.Observe(uint(c.ops.shard), time.Since(start))
		// Done callbacks run in Apply order, so a failed write before
		// this barrier has already set storeFailed, or counted a refusal
		// since this packet's handling began (another client's refusal
		// counts too: refusing when unsure only makes a client resend).
		switch {
		case errors.Is(err, ErrStoreFull) || err == nil && s.storeRefused.Load() != mark:
			c.refuseForSpace(ack)
		case err != nil || s.storeFailed.Load():
			s.log.Error("store write failed; disconnecting the client unacknowledged", "client", c.client.ID, "err", err)
			// Off the store's callback goroutine: the DISCONNECT write may wait.
			go c.disconnect(packet.UnspecifiedError, "", "the server could not store the message")
		default:
			c.send(ack)
			if then != nil {
				then()
			}
		}
	})
}

// sendAck sends the PUBACK, PUBREC, PUBREL or PUBCOMP of packet id pid
// that succeeds and says nothing more, for which no store write waits:
// four bytes, the same at every version (v5 §3.4.2.1: a Success with no
// properties leaves out the Reason Code), written without making the
// packet, which would cost an allocation per acknowledgement.
func (c *conn) sendAck(t packet.Type, pid uint16) {
	if c.ops.traced.Load() {
		c.send(ackPacket(t, pid))
		return
	}
	first := byte(t) << 4
	if t == packet.PUBREL {
		first |= 0x02 // [MQTT-3.6.1-1]
	}
	c.omu.Lock()
	defer c.omu.Unlock()
	if c.closed {
		return
	}
	c.out = append(c.outBuf(), first, 2, byte(pid>>8), byte(pid))
	c.ops.packetsOut.Inc()
	c.kickLocked(nil)
}

// ackPacket is the packet sendAck writes, for a traced connection.
func ackPacket(t packet.Type, pid uint16) packet.Packet {
	switch t {
	case packet.PUBACK:
		return &packet.Puback{PacketID: pid}
	case packet.PUBREC:
		return &packet.Pubrec{PacketID: pid}
	case packet.PUBREL:
		return &packet.Pubrel{PacketID: pid}
	}
	return &packet.Pubcomp{PacketID: pid}
}

// refuseForSpace answers a packet whose writes the store refused for lack
// of space: a v5 publisher gets its PUBACK or PUBREC with Quota Exceeded,
// anyone else is disconnected unacknowledged, so it sends again later.
func (c *conn) refuseForSpace(ack packet.Packet) {
	s := c.srv
	s.stats.refusedStoreFull.Add(1)
	const why = "the server's disk is full"
	if c.v == packet.V5 {
		switch a := ack.(type) {
		case *packet.Puback:
			a.ReasonCode, a.Props.ReasonString = packet.QuotaExceeded, c.reason(why)
			c.send(a)
			return
		case *packet.Pubrec:
			// A failed PUBREC ends the exchange: no PUBREL follows.
			cs := c.sess
			cs.mu.Lock()
			if cs.st.Release(a.PacketID) && cs.persistent() {
				s.apply(Op{Kind: OpReleased, ClientID: cs.id, PacketID: a.PacketID})
			}
			cs.mu.Unlock()
			a.ReasonCode, a.Props.ReasonString = packet.QuotaExceeded, c.reason(why)
			c.send(a)
			return
		}
	}
	s.log.Warn("store full; disconnecting the client unacknowledged", "client", c.client.ID, "packet", ack.Type().String())
	go c.disconnect(packet.QuotaExceeded, "", why)
}

// reason is why, if the client accepts Reason Strings on acknowledgements.
func (c *conn) reason(why string) string {
	if c.problemInfo {
		return why
	}
	return ""
}
