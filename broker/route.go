package broker

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/petrelmq/petrel/internal/session"
	"github.com/petrelmq/petrel/internal/topic"
	"github.com/petrelmq/petrel/packet"
)

var resultPool = sync.Pool{New: func() any { return new(topic.Result) }}

// publish stores a retained message and routes the message to its
// subscribers. It returns how many deliveries it made and whether it wrote
// to the store, in which case the publisher's acknowledgement waits for
// the write to be durable. b is the publishing callback's flush batch, if
// it has one.
func (s *Server) publish(m *session.Message, b *flushBatch) (n int, stored bool) {
	if m.Retain {
		if len(m.Payload) == 0 {
			// v5 [MQTT-3.3.1-6], v3.1.1 [MQTT-3.3.1-10]: an empty retained
			// message deletes the one stored, and is not itself stored.
			if old, ok := s.retained.Take(m.Topic); ok {
				s.stats.retained.Add(-1)
				s.stats.retainedBytes.Add(-retainedSize(old))
				s.apply(Op{Kind: OpUnretain, Topic: m.Topic})
			}
		} else {
			m.Shared = true // future subscribers will get it too
			old, replaced := s.retained.Swap(m.Topic, m)
			grow := retainedSize(m)
			if replaced {
				grow -= retainedSize(old)
			} else {
				s.stats.retained.Add(1)
			}
			s.stats.retainedBytes.Add(grow)
			s.apply(Op{Kind: OpRetain, Msg: m})
		}
		stored = s.store != nil
	}
	n, routed := s.route(m, b)
	if f := s.opts.Fabric; f != nil && !strings.HasPrefix(m.Topic, "$SYS/") {
		f.Publish(m)
	}
	return n, stored || routed
}

// retainedSize is what a retained message counts against
// MaxRetainedBytes: its topic and payload.
func retainedSize(m *session.Message) int64 { return int64(len(m.Topic) + len(m.Payload)) }

// publishWill publishes a will message.
func (s *Server) publishWill(m *session.Message) {
	s.log.Info("publishing will", "client", m.Publisher, "topic", m.Topic)
	s.publish(m, nil)
}

// route delivers a message to every matching subscription. A client whose
// subscriptions overlap gets one copy per distinct (No Local, Retain As
// Published) pair: at the highest QoS of those subscriptions and with all
// their identifiers (v3.1.1 [MQTT-3.3.5-1], v5 §3.3.4). Subscriptions that
// agree on those options (always, before 5.0) therefore yield one copy.
// A shared group gives the message to one member. stored reports whether
// a delivery went to the store.
func (s *Server) route(m *session.Message, b *flushBatch) (n int, stored bool) {
	r := resultPool.Get().(*topic.Result)
	defer resultPool.Put(r)
	s.tree.Match(m.Topic, r)
	now := time.Now() // once for every delivery: the clock is not free
	subs := r.Subscriptions
	if !m.Shared && len(subs)+len(r.Groups) > 1 {
		// Before any delivery makes the message visible to other
		// goroutines.
		m.Shared = true
	}
	slices.SortFunc(subs, func(a, b topic.Subscription) int {
		return cmp.Or(strings.Compare(a.ClientID, b.ClientID),
			cmpBool(a.NoLocal, b.NoLocal), cmpBool(a.RetainAsPublished, b.RetainAsPublished))
	})
	for i := 0; i < len(subs); {
		first := subs[i]
		d := session.Delivery{Msg: m}
		j := i
		for ; j < len(subs) && subs[j].ClientID == first.ClientID && subs[j].NoLocal == first.NoLocal &&
			subs[j].RetainAsPublished == first.RetainAsPublished; j++ {
			d.QoS = max(d.QoS, packet.QoS(subs[j].QoS))
			if id := subs[j].Identifier; id != 0 && !slices.Contains(d.SubscriptionIDs, id) {
				d.SubscriptionIDs = append(d.SubscriptionIDs, id)
			}
		}
		i = j
		// v5 [MQTT-3.8.3-3]: No Local keeps a client's own messages from it.
		if first.NoLocal && first.ClientID == m.Publisher {
			continue
		}
		d.QoS = min(d.QoS, m.QoS)
		// v3.1.1 [MQTT-3.3.1-9], v5 [MQTT-3.3.1-12]: RETAIN is cleared on
		// forwarded messages unless Retain As Published asks to keep it.
		d.Retain = m.Retain && first.RetainAsPublished
		if ok, st := s.deliverTo(first.ClientID, d, now, b); ok {
			n++
			stored = stored || st
		}
	}
	for _, g := range r.Groups {
		member := s.shared.pick(s, &g, m)
		if member == nil {
			continue
		}
		d := session.Delivery{Msg: m, QoS: min(m.QoS, packet.QoS(member.QoS)),
			Shared: "$share/" + g.ShareName + "/" + g.Filter}
		if member.Identifier != 0 {
			d.SubscriptionIDs = []uint32{member.Identifier}
		}
		if ok, st := s.deliverTo(member.ClientID, d, now, b); ok {
			n++
			stored = stored || st
		}
	}
	clear(r.Subscriptions)
	clear(r.Groups)
	return n, stored
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// deliverTo hands a delivery to a client's session, if it still exists,
// and reports whether the delivery went to the store. Whether the client
// may receive the topic is asked when the message goes out, so a queued
// message meets the rules in force then.
func (s *Server) deliverTo(clientID string, d session.Delivery, now time.Time, b *flushBatch) (ok, stored bool) {
	cs, ok := s.sessions.load(clientID)
	if !ok {
		return false, false
	}
	return true, s.deliver(cs, d, now, b)
}

// redeliverShared gives a shared delivery that a leaving member never
// acknowledged to another member of its group (v5 [MQTT-4.8.2-5]).
func (s *Server) redeliverShared(d *session.Delivery, leaving string) {
	share, filter, _, _ := topic.ParseShared(d.Shared)
	r := resultPool.Get().(*topic.Result)
	defer resultPool.Put(r)
	s.tree.Match(d.Msg.Topic, r)
	var member *topic.Subscription
	for i := range r.Groups {
		if g := &r.Groups[i]; g.ShareName == share && g.Filter == filter {
			member = s.shared.pickExcept(s, g, d.Msg, leaving)
		}
	}
	clear(r.Subscriptions)
	clear(r.Groups)
	if member == nil {
		s.stats.dropped[dropNoMember].Inc()
		return
	}
	d.QoS = min(d.Msg.QoS, packet.QoS(member.QoS))
	d.SubscriptionIDs = nil
	if member.Identifier != 0 {
		d.SubscriptionIDs = []uint32{member.Identifier}
	}
	s.deliverTo(member.ClientID, *d, time.Now(), nil)
}

// appendPublish encodes a delivery as a PUBLISH for this client into its
// output. It reports false, writing nothing, when the packet would exceed
// the client's Maximum Packet Size. The caller holds c.omu and the
// session lock.
//
// Where subscribers' wire forms agree, which is always before MQTT 5 and
// in 5.0 without subscription identifiers, expiry or topic aliases, the
// message is encoded once and each subscriber's copy only patches its
// packet identifier.
func (c *conn) appendPublish(d *session.Delivery, pid uint16, dup bool, now time.Time) bool {
	m := d.Msg
	v5 := c.v == packet.V5
	if m.Shared && !dup && (!v5 || len(d.SubscriptionIDs) == 0 && m.Expiry.IsZero() && c.aliasMax == 0) {
		f := m.Wire(v5, d.QoS, d.Retain)
		var err error
		if f == nil {
			if f, err = encodeShared(m, d.QoS, d.Retain, c.v); err == nil {
				m.SetWire(v5, d.QoS, d.Retain, f)
			}
		}
		if err == nil && (c.maxPacketSize == 0 || len(f.Bytes) <= int(c.maxPacketSize)) {
			start := len(c.out)
			c.out = append(c.outBuf(), f.Bytes...)
			if pid != 0 {
				c.out[start+f.PacketIDAt] = byte(pid >> 8)
				c.out[start+f.PacketIDAt+1] = byte(pid)
			}
			c.countSent(d, dup, now)
			return true
		}
		c.srv.stats.dropped[dropTooLarge].Inc()
		return false
	}
	p := &packet.Publish{Dup: dup, QoS: d.QoS, Retain: d.Retain, Topic: m.Topic, PacketID: pid, Payload: m.Payload}
	if v5 {
		if m.Props != nil {
			p.Props = *m.Props
		}
		p.Props.SubscriptionIdentifiers = d.SubscriptionIDs
		if left, ok := m.RemainingExpiry(now); ok {
			p.Props.MessageExpiry, p.Props.HasMessageExpiry = left, true
		}
	}
	newAlias := v5 && c.applyAlias(p)
	start := len(c.out)
	var err error
	c.out, err = p.Encode(c.outBuf(), c.v)
	if err != nil || c.maxPacketSize > 0 && len(c.out)-start > int(c.maxPacketSize) {
		c.out = c.out[:start]
		if newAlias {
			delete(c.outAliases, m.Topic)
		}
		c.srv.stats.dropped[dropTooLarge].Inc()
		return false
	}
	c.countSent(d, dup, now)
	return true
}

// encodeShared makes the form of a message that every subscriber with the
// same wire version, QoS and RETAIN flag shares.
func encodeShared(m *session.Message, qos packet.QoS, retain bool, v packet.Version) (*session.WireForm, error) {
	p := &packet.Publish{QoS: qos, Retain: retain, Topic: m.Topic, Payload: m.Payload}
	if qos > packet.AtMostOnce {
		p.PacketID = 1
	}
	// Room for the fixed header, packet id and properties' framing, so
	// that encoding allocates once.
	size := len(m.Topic) + len(m.Payload) + 16
	if v == packet.V5 && m.Props != nil {
		p.Props = *m.Props
		size += 32 + m.Size() - len(m.Topic) - len(m.Payload)
	}
	b, err := p.Encode(make([]byte, 0, size), v)
	if err != nil {
		return nil, err
	}
	h, n, err := packet.ParseFixedHeader(b)
	if err != nil || n == 0 {
		return nil, fmt.Errorf("encoded PUBLISH has no fixed header (%d bytes): %w", h.Size, err)
	}
	return &session.WireForm{Bytes: b, PacketIDAt: n + 2 + len(m.Topic)}, nil
}

// applyAlias uses an outbound topic alias when the client allows them:
// the first PUBLISH on a topic sets the alias, later ones send it alone.
// It reports whether it set a new alias.
func (c *conn) applyAlias(p *packet.Publish) bool {
	if c.aliasMax == 0 {
		return false
	}
	if a, ok := c.outAliases[p.Topic]; ok {
		p.Props.TopicAlias = a
		p.Topic = ""
		return false
	}
	if len(c.outAliases) >= int(c.aliasMax) {
		return false
	}
	if c.outAliases == nil {
		c.outAliases = map[string]uint16{}
	}
	a := uint16(len(c.outAliases) + 1)
	c.outAliases[p.Topic] = a
	p.Props.TopicAlias = a
	return true
}
