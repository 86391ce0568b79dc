package broker

import (
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/session"
	"github.com/petrelmq/petrel/internal/topic"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// handlePublish takes a PUBLISH from the client: topic alias, limits,
// authorisation, QoS 2 duplicate detection, then routing and the answer.
func (c *conn) handlePublish(p *packet.Publish) error {
	s := c.srv
	c.ops.received[p.QoS].Inc()
	lim := s.limits()
	if lim.MaxPublishRate > 0 || lim.MaxPublishByteRate > 0 {
		// After this PUBLISH is handled and acknowledged, the next read
		// waits until the client is back within its rates.
		defer c.throttle(len(p.Payload))
	}
	if c.v == packet.V5 && p.Props.TopicAlias != 0 {
		alias := p.Props.TopicAlias
		if int(alias) > s.opts.TopicAliasMaximum {
			// v5 [MQTT-3.3.2-9]
			return &packet.Error{Code: packet.TopicAliasInvalid, Reason: "Topic Alias above the maximum (v5 [MQTT-3.3.2-9])"}
		}
		if p.Topic == "" {
			t, ok := c.inAlias(alias)
			if !ok {
				return &packet.Error{Code: packet.ProtocolError, Reason: "Topic Alias not set by an earlier PUBLISH (v5 §3.3.2.3.4)"}
			}
			p.Topic = t
		} else {
			r := c.more()
			if r.inAliases == nil {
				r.inAliases = map[uint16]string{}
			}
			r.inAliases[alias] = strings.Clone(p.Topic)
		}
	}
	if byte(p.QoS) > s.opts.MaximumQoS {
		// v5 [MQTT-3.2.2-11]
		return &packet.Error{Code: packet.QoSNotSupported, Reason: "QoS above the server's Maximum QoS (v5 [MQTT-3.2.2-11])"}
	}
	if p.Retain && s.opts.RetainDisabled {
		// v5 [MQTT-3.2.2-14]
		return &packet.Error{Code: packet.RetainNotSupported, Reason: "RETAIN while Retain Available is 0 (v5 [MQTT-3.2.2-14])"}
	}
	cs := c.sess
	stored := false
	if p.QoS == packet.ExactlyOnce {
		if g, ok := s.store.(Grouper); ok {
			g.BeginGroup()
			defer g.EndGroup()
		}
		cs.mu.Lock()
		dup := cs.st.ReceiveQoS2(p.PacketID)
		tooMany := cs.st.InboundQoS2() > int(s.opts.ReceiveMaximum)
		if !dup && cs.persistent() {
			s.apply(Op{Kind: OpReceived, ClientID: cs.id, PacketID: p.PacketID})
			stored = true
		}
		cs.mu.Unlock()
		if tooMany {
			// v5 [MQTT-3.3.4-7]
			return &packet.Error{Code: packet.ReceiveMaximumExceeded, Reason: "more unacknowledged QoS 2 PUBLISHes than Receive Maximum (v5 [MQTT-3.3.4-7])"}
		}
		if dup {
			// v5 [MQTT-4.3.3-10]: the resent PUBLISH gets PUBREC again
			// and is not delivered twice.
			c.durable(cs.persistent(), &packet.Pubrec{PacketID: p.PacketID}, nil)
			return nil
		}
	}
	code := packet.Success
	var why string
	switch {
	case lim.MaxTopicLevels > 0 && strings.Count(p.Topic, "/") >= lim.MaxTopicLevels:
		code, why = packet.TopicNameInvalid, "topic name has more than "+strconv.Itoa(lim.MaxTopicLevels)+" levels"
	case !c.mayPublish(p.Topic):
		code, why = packet.NotAuthorized, "not authorized to publish to "+p.Topic
	case p.Retain && len(p.Payload) > 0 && !s.retainRoom(p):
		code, why = packet.QuotaExceeded, "the retained message store is full"
	default:
		now := time.Now()
		m := s.newMessage(p, c.client.ID, now)
		m.Received = sinceEpoch(now)
		n, routed := s.publish(m, c.batch())
		stored = stored || routed
		if n == 0 && c.v == packet.V5 {
			code = packet.NoMatchingSubscribers
		}
	}
	if code.IsError() {
		s.log.Info("publish refused", "client", c.client.ID, "username", c.client.Username, "topic", p.Topic,
			"qos", byte(p.QoS), "reason", code.String(), "detail", why)
	}
	if c.v != packet.V5 && code.IsError() {
		// v3.1.1 [MQTT-3.3.5-2]: a refused PUBLISH is acknowledged as
		// usual and discarded.
		code = packet.Success
	}
	if !c.problemInfo {
		why = ""
	}
	switch {
	case p.QoS != packet.AtMostOnce && !stored && code == packet.Success && why == "":
		ack := packet.PUBACK
		if p.QoS == packet.ExactlyOnce {
			ack = packet.PUBREC
		}
		c.sendAck(ack, p.PacketID)
	case p.QoS == packet.AtLeastOnce:
		ack := &packet.Puback{PacketID: p.PacketID, ReasonCode: code}
		ack.Props.ReasonString = why
		c.durable(stored, ack, nil)
	case p.QoS == packet.ExactlyOnce:
		if code.IsError() {
			// A failed PUBREC ends the exchange: no PUBREL will follow.
			cs.mu.Lock()
			if cs.st.Release(p.PacketID) && cs.persistent() {
				s.apply(Op{Kind: OpReleased, ClientID: cs.id, PacketID: p.PacketID})
			}
			cs.mu.Unlock()
		}
		ack := &packet.Pubrec{PacketID: p.PacketID, ReasonCode: code}
		ack.Props.ReasonString = why
		c.durable(stored, ack, nil)
	}
	return nil
}

func (c *conn) handlePubrel(pid uint16) {
	cs := c.sess
	cs.mu.Lock()
	found := cs.st.Release(pid)
	stored := found && cs.persistent()
	if stored {
		c.srv.apply(Op{Kind: OpReleased, ClientID: cs.id, PacketID: pid})
	}
	cs.mu.Unlock()
	if found && !stored {
		c.sendAck(packet.PUBCOMP, pid)
		return
	}
	comp := &packet.Pubcomp{PacketID: pid}
	if !found {
		comp.ReasonCode = packet.PacketIdentifierNotFound
	}
	// A PUBCOMP the store has not caught up with would leave the packet id
	// awaiting PUBREL after a restart, and the client's next message with
	// that id would be taken for a duplicate.
	c.durable(stored, comp, nil)
}

// newMessage makes the broker's own copy of a PUBLISH, whose fields alias
// a read buffer, in as few allocations as its content allows.
func (s *Server) newMessage(p *packet.Publish, publisher string, now time.Time) *session.Message {
	m := &session.Message{QoS: p.QoS, Retain: p.Retain, Publisher: publisher}
	m.Topic, m.Payload = p.CloneTopicPayload()
	pr := &p.Props
	if pr.PayloadFormat != 0 || pr.ContentType != "" || pr.ResponseTopic != "" || len(pr.CorrelationData) > 0 || len(pr.User) > 0 {
		m.Props = (&packet.Properties{
			PayloadFormat:   pr.PayloadFormat,
			ContentType:     pr.ContentType,
			ResponseTopic:   pr.ResponseTopic,
			CorrelationData: pr.CorrelationData,
			User:            pr.User,
		}).Clone()
	}
	if pr.HasMessageExpiry {
		m.Expiry = now.Add(time.Duration(pr.MessageExpiry) * time.Second)
	}
	return m
}

func (c *conn) handleSubscribe(p *packet.Subscribe) error {
	s := c.srv
	cs := c.sess
	var id uint32
	if len(p.Props.SubscriptionIdentifiers) > 0 {
		if s.opts.SubscriptionIdentifiersDisabled {
			return &packet.Error{Code: packet.SubscriptionIdentifiersNotSupported, Reason: "Subscription Identifiers are not supported (v5 §3.8.2.1.2)"}
		}
		id = p.Props.SubscriptionIdentifiers[0]
	}
	ack := &packet.Suback{PacketID: p.PacketID, ReasonCodes: make([]packet.ReasonCode, len(p.Subscriptions))}
	type retainedFor struct {
		filter string
		qos    packet.QoS
	}
	var sendRetained []retainedFor
	cs.mu.Lock()
	for i := range p.Subscriptions {
		sub := p.Subscriptions[i]
		sub.Filter = strings.Clone(sub.Filter)
		code, existed := s.subscribe(c, cs, sub, id)
		ack.ReasonCodes[i] = code
		if code.IsError() {
			if c.problemInfo && c.v == packet.V5 && ack.Props.ReasonString == "" {
				ack.Props.ReasonString = "subscription to " + sub.Filter + " refused: " + code.String()
			}
			continue
		}
		shared := strings.HasPrefix(sub.Filter, "$share/")
		if !shared && !s.opts.RetainDisabled && (sub.RetainHandling == packet.SendRetained ||
			sub.RetainHandling == packet.SendRetainedIfNew && !existed) {
			sendRetained = append(sendRetained, retainedFor{sub.Filter, packet.QoS(code)})
		}
	}
	persistent := cs.persistent()
	cs.mu.Unlock()
	var backlog []retainedBacklog
	for _, r := range sendRetained {
		if msgs := s.retained.Match(r.filter, nil); len(msgs) > 0 {
			backlog = append(backlog, retainedBacklog{msgs: msgs, qos: r.qos, id: id})
		}
	}
	// Retained messages follow the SUBACK, as clients expect, though the
	// specification would let them go first.
	c.durable(persistent, ack, func() {
		if len(backlog) == 0 {
			return
		}
		cs.mu.Lock()
		if cs.conn == c {
			cs.backlog = append(cs.backlog, backlog...)
			cs.pumpLocked(time.Now(), nil)
		}
		cs.mu.Unlock()
	})
	return nil
}

// subscribe adds one subscription and returns its SUBACK code and whether
// it replaced an existing one. The caller holds cs.mu.
func (s *Server) subscribe(c *conn, cs *clientSession, sub packet.Subscription, id uint32) (packet.ReasonCode, bool) {
	failed := packet.UnspecifiedError
	share, filter, shared, err := topic.ParseShared(sub.Filter)
	if err == nil {
		err = topic.ValidateFilter(filter)
	}
	switch {
	case err != nil:
		failed = packet.TopicFilterInvalid
	case shared && s.opts.SharedSubscriptionsDisabled:
		failed = packet.SharedSubscriptionsNotSupported
	case s.opts.WildcardSubscriptionsDisabled && strings.ContainsAny(filter, "+#"):
		failed = packet.WildcardSubscriptionsNotSupported
	case s.limits().MaxTopicLevels > 0 && strings.Count(filter, "/") >= s.limits().MaxTopicLevels:
		failed = packet.TopicFilterInvalid
	case c.lst.authz != nil && !c.lst.authz.Authorize(&c.client, plugin.Subscribe, filter):
		failed = packet.NotAuthorized
	case s.limits().MaxSubscriptionsPerClient > 0 && cs.st.Subscriptions.Len() >= s.limits().MaxSubscriptionsPerClient && !subscribed(cs, sub.Filter):
		failed = packet.QuotaExceeded
	default:
		granted := min(sub.QoS, packet.QoS(s.opts.MaximumQoS))
		existed, err := s.tree.Subscribe(topic.Subscription{
			ClientID: cs.id, ShareName: share, Filter: filter, QoS: byte(granted),
			NoLocal: sub.NoLocal, RetainAsPublished: sub.RetainAsPublished,
			RetainHandling: byte(sub.RetainHandling), Identifier: id,
		})
		if err != nil {
			failed = packet.TopicFilterInvalid
			break
		}
		if !existed {
			s.stats.subscriptions.Add(1)
			s.interestChanged(share, filter, true)
		}
		sub.QoS = granted
		stored := session.Subscription{Subscription: sub, Identifier: id}
		cs.st.Subscriptions.Put(stored)
		if cs.persistent() {
			s.apply(Op{Kind: OpSubscribe, ClientID: cs.id, Sub: stored})
		}
		return packet.ReasonCode(granted), existed
	}
	if c.v != packet.V5 {
		failed = packet.UnspecifiedError
	}
	s.log.Info("subscription refused", "client", cs.id, "filter", sub.Filter, "reason", failed.String())
	return failed, false
}

func (c *conn) handleUnsubscribe(p *packet.Unsubscribe) {
	s := c.srv
	cs := c.sess
	ack := &packet.Unsuback{PacketID: p.PacketID}
	var handOver []session.Delivery
	cs.mu.Lock()
	for _, f := range p.Filters {
		code := packet.NoSubscriptionExisted
		if share, filter, _, err := topic.ParseShared(f); err == nil && s.tree.Unsubscribe(cs.id, share, filter) {
			s.stats.subscriptions.Add(-1)
			s.interestChanged(share, filter, false)
			code = packet.Success
			if share != "" {
				// A member leaving its group hands on what it has not
				// acknowledged (v5 [MQTT-4.8.2-5]).
				left := cs.st.TakeUnacknowledged(func(d *session.Delivery) bool { return d.Shared != f })
				for _, d := range left {
					cs.forgetLocked(d.Seq)
				}
				handOver = append(handOver, left...)
			}
		}
		if cs.st.Subscriptions.Delete(f) {
			if cs.persistent() {
				s.apply(Op{Kind: OpUnsubscribe, ClientID: cs.id, Filter: strings.Clone(f)})
			}
		}
		if c.v == packet.V5 {
			ack.ReasonCodes = append(ack.ReasonCodes, code)
		}
	}
	stored := cs.persistent()
	cs.mu.Unlock()
	c.durable(stored, ack, nil)
	for i := range handOver {
		s.redeliverShared(&handOver[i], cs.id)
	}
}

// subscribed reports whether the session has a subscription to filter.
// The caller holds cs.mu.
func subscribed(cs *clientSession, filter string) bool {
	_, ok := cs.st.Subscriptions.Get(filter)
	return ok
}

// mayReceive asks the Authorizer whether the client may receive a message
// on the topic.
func (c *conn) mayReceive(topic string) bool {
	return c.lst.authz == nil || c.lst.authz.Authorize(&c.client, plugin.Receive, topic)
}

// retainRoom reports whether the retained set may take p, which replaces
// the topic's retained message if it has one, within MaxRetainedMessages
// and MaxRetainedBytes. Concurrent publishers may overshoot the limits by
// one message each.
func (s *Server) retainRoom(p *packet.Publish) bool {
	lim := s.limits()
	maxCount, maxBytes := int64(lim.MaxRetainedMessages), lim.MaxRetainedBytes
	if maxCount == 0 && maxBytes == 0 {
		return true
	}
	var old *session.Message
	if ms := s.retained.Match(p.Topic, nil); len(ms) > 0 {
		old = ms[0]
	}
	if old == nil && maxCount > 0 && s.stats.retained.Load() >= maxCount {
		return false
	}
	grow := int64(len(p.Topic) + len(p.Payload))
	if old != nil {
		grow -= int64(len(old.Topic) + len(old.Payload))
	}
	return maxBytes == 0 || grow <= 0 || s.stats.retainedBytes.Load()+grow <= maxBytes
}

// pubRate is a client's publishing budget: token buckets of messages and
// payload bytes, which may run into debt.
type pubRate struct {
	msgs, bytes float64
	last        time.Time
	// logged is set once the limit has been logged for this connection.
	logged bool
}

// throttle spends one message of size bytes from the client's budget and,
// if that leaves it in debt, sleeps until the debt is paid: the read loop
// stops reading, so TCP slows the client down and nothing is dropped.
func (c *conn) throttle(size int) {
	o := c.srv.limits()
	more := c.more()
	if more.rate == nil {
		more.rate = &pubRate{}
	}
	r := more.rate
	now := time.Now()
	if r.last.IsZero() {
		r.msgs, r.bytes = o.MaxPublishRate, o.MaxPublishByteRate
	} else {
		elapsed := now.Sub(r.last).Seconds()
		r.msgs = min(o.MaxPublishRate, r.msgs+elapsed*o.MaxPublishRate)
		r.bytes = min(o.MaxPublishByteRate, r.bytes+elapsed*o.MaxPublishByteRate)
	}
	r.last = now
	var wait float64
	if rate := o.MaxPublishRate; rate > 0 {
		r.msgs--
		wait = max(wait, -r.msgs/rate)
	}
	if rate := o.MaxPublishByteRate; rate > 0 {
		r.bytes -= float64(size)
		wait = max(wait, -r.bytes/rate)
	}
	if wait > 0 {
		c.srv.stats.throttled.Add(1)
		if !r.logged {
			r.logged = true
			c.srv.log.Info("publish rate limit reached; reading the client more slowly", "client", c.client.ID,
				"remote", c.remote(), "max_publish_rate", o.MaxPublishRate, "max_publish_bytes_rate", o.MaxPublishByteRate)
		}
		c.releaseSlot()
		time.Sleep(time.Duration(wait * float64(time.Second)))
	}
}
