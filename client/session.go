package client

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/petrelmq/petrel/packet"
)

// request is a packet awaiting the server's acknowledgement: a QoS 1 or 2
// PUBLISH, a SUBSCRIBE or an UNSUBSCRIBE.
type request struct {
	pkt      packet.Packet
	seq      uint64 // order of sending, kept when resending
	released bool   // a QoS 2 PUBLISH the server has PUBRECed: PUBREL was sent
	done     chan result
}

type result struct {
	ack packet.Packet // SUBACK or UNSUBACK
	err error
}

func (r *request) id() uint16 {
	switch p := r.pkt.(type) {
	case *packet.Publish:
		return p.PacketID
	case *packet.Subscribe:
		return p.PacketID
	case *packet.Unsubscribe:
		return p.PacketID
	}
	return 0
}

func (r *request) isPublish() bool {
	_, ok := r.pkt.(*packet.Publish)
	return ok
}

// complete ends r with res. c.mu must be held.
func (c *Client) complete(id uint16, r *request, res result) {
	delete(c.pending, id)
	if r.isPublish() {
		c.inflight--
		select {
		case c.slotFreed <- struct{}{}:
		default:
		}
	}
	r.done <- res
}

// acquire takes one of the in-flight slots the server's Receive Maximum
// allows, waiting for one to come free. A waiter woken by a freed slot
// passes the token on if more are free, so no waiter sleeps while a slot
// is free.
func (c *Client) acquire(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.finished || c.closing {
			c.mu.Unlock()
			return c.closedErr()
		}
		if c.inflight < c.quota {
			c.inflight++
			more := c.inflight < c.quota
			c.mu.Unlock()
			if more {
				select {
				case c.slotFreed <- struct{}{}:
				default:
				}
			}
			return nil
		}
		c.mu.Unlock()
		select {
		case <-c.slotFreed:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
		}
	}
}

// closedErr is what a call on a finished Client returns. c.mu must be held.
func (c *Client) closedErr() error {
	if c.err != nil {
		return c.err
	}
	return ErrClosed
}

// start assigns r a packet identifier, records it, and sends it if
// connected; while reconnecting it is sent on reconnection.
func (c *Client) start(r *request) error {
	c.mu.Lock()
	if c.finished || c.closing {
		c.mu.Unlock()
		return c.closedErr()
	}
	if len(c.pending) >= 65535 {
		c.mu.Unlock()
		return errors.New("all 65,535 packet identifiers are in use")
	}
	for {
		c.nextID++
		if _, used := c.pending[c.nextID]; c.nextID != 0 && !used {
			break
		}
	}
	switch p := r.pkt.(type) {
	case *packet.Publish:
		p.PacketID = c.nextID
	case *packet.Subscribe:
		p.PacketID = c.nextID
	case *packet.Unsubscribe:
		p.PacketID = c.nextID
	}
	cn := c.cur
	var err error
	if cn != nil {
		err = cn.enqueue(r.pkt)
		if errors.Is(err, ErrNotConnected) {
			// The connection has failed and its read loop is about to
			// notice: the request is resent on reconnection or failed
			// when the Client finishes.
			err = nil
		}
	} else {
		// Refuse now what could never be sent, rather than on reconnection.
		_, err = r.pkt.Encode(nil, c.opts.Version)
	}
	if err == nil {
		c.seq++
		r.seq = c.seq
		c.pending[c.nextID] = r
	}
	c.mu.Unlock()
	if err == nil && cn != nil {
		cn.flush()
	}
	return err
}

// await waits for r's acknowledgement. When ctx ends first the exchange
// goes on without the caller: the packet cannot be taken back.
func (c *Client) await(ctx context.Context, r *request) (result, error) {
	select {
	case res := <-r.done:
		return res, res.err
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
}

// Publish sends p and returns when its QoS exchange is complete: at once
// for QoS 0 (once written), on PUBACK for QoS 1, on PUBCOMP for QoS 2. A
// refusal (reason code 0x80 or above, 5.0) is a *ReasonError. Publish
// copies what it keeps of p, and sets the packet identifier and DUP
// itself. At QoS 1 and 2 it first waits for a slot within the server's
// Receive Maximum.
func (c *Client) Publish(ctx context.Context, p *packet.Publish) error {
	if err := c.checkPublish(p); err != nil {
		return err
	}
	if p.QoS == packet.AtMostOnce {
		q := *p
		q.Dup, q.PacketID = false, 0
		c.mu.Lock()
		cn := c.cur
		if c.finished || c.closing {
			c.mu.Unlock()
			return c.closedErr()
		}
		c.mu.Unlock()
		if cn == nil {
			return ErrNotConnected
		}
		return cn.send(&q)
	}
	if err := c.acquire(ctx); err != nil {
		return err
	}
	q := p.Clone()
	q.Dup = false
	r := &request{pkt: q, done: make(chan result, 1)}
	if err := c.start(r); err != nil {
		c.mu.Lock()
		c.inflight--
		c.mu.Unlock()
		return err
	}
	_, err := c.await(ctx, r)
	return err
}

// checkPublish refuses what the server said it would not accept, and
// topics no server accepts, before they cost the connection.
func (c *Client) checkPublish(p *packet.Publish) error {
	if p.Topic == "" && p.Props.TopicAlias == 0 || strings.ContainsAny(p.Topic, "+#") {
		return fmt.Errorf("%w: %q is not a topic name one can publish to", packet.TopicNameInvalid, p.Topic)
	}
	if p.QoS > packet.ExactlyOnce {
		return fmt.Errorf("%w: QoS %d", packet.QoSNotSupported, p.QoS)
	}
	c.mu.Lock()
	ack := c.connack
	c.mu.Unlock()
	if ack == nil {
		return nil
	}
	if ack.Props.HasMaximumQoS && p.QoS > packet.QoS(ack.Props.MaximumQoS) {
		// v5 [MQTT-3.2.2-11]
		return fmt.Errorf("%w: the server accepts QoS %d at most", packet.QoSNotSupported, ack.Props.MaximumQoS)
	}
	if p.Retain && ack.Props.HasRetainAvailable && ack.Props.RetainAvailable == 0 {
		// v5 [MQTT-3.2.2-14]
		return fmt.Errorf("%w: the server does not keep retained messages", packet.RetainNotSupported)
	}
	return nil
}

// Subscribe sends one SUBSCRIBE with subs and returns the SUBACK's reason
// codes, one per subscription: the granted QoS, or a code of 0x80 or
// above for a filter the server refused (before 5.0 every refusal reads
// as UnspecifiedError).
func (c *Client) Subscribe(ctx context.Context, subs ...packet.Subscription) ([]packet.ReasonCode, error) {
	r := &request{pkt: &packet.Subscribe{Subscriptions: append([]packet.Subscription(nil), subs...)}, done: make(chan result, 1)}
	if err := c.start(r); err != nil {
		return nil, err
	}
	res, err := c.await(ctx, r)
	if err != nil {
		return nil, err
	}
	return res.ack.(*packet.Suback).ReasonCodes, nil
}

// Unsubscribe sends one UNSUBSCRIBE with filters. At 5.0 it returns the
// UNSUBACK's reason codes, one per filter; before 5.0 the UNSUBACK carries
// none.
func (c *Client) Unsubscribe(ctx context.Context, filters ...string) ([]packet.ReasonCode, error) {
	r := &request{pkt: &packet.Unsubscribe{Filters: append([]string(nil), filters...)}, done: make(chan result, 1)}
	if err := c.start(r); err != nil {
		return nil, err
	}
	res, err := c.await(ctx, r)
	if err != nil {
		return nil, err
	}
	return res.ack.(*packet.Unsuback).ReasonCodes, nil
}

// inbound is a received PUBLISH on its way to the handler, with the
// acknowledgement to send once it has been delivered.
type inbound struct {
	cn  *conn
	msg *packet.Publish // nil for a QoS 2 duplicate, acknowledged but not delivered
	ack packet.Packet   // PUBACK, PUBREC, or nil for QoS 0
}

// readLoop reads cn until it fails.
func (c *Client) readLoop(cn *conn) {
	defer c.producers.Done()
	defer close(cn.readerDone)
	aliases := make(map[uint16]string)
	var err error
	for {
		var p packet.Packet
		if p, err = cn.r.ReadPacket(); err != nil {
			break
		}
		if err = c.handle(cn, p, aliases); err != nil {
			break
		}
	}
	c.lost(cn, err)
}

// handle acts on one packet from the server.
func (c *Client) handle(cn *conn, p packet.Packet, aliases map[uint16]string) error {
	switch p := p.(type) {
	case *packet.Publish:
		return c.receive(cn, p, aliases)
	case *packet.Puback:
		return c.acknowledged(cn, packet.PUBACK, p)
	case *packet.Pubrec:
		return c.acknowledged(cn, packet.PUBREC, (*packet.Puback)(p))
	case *packet.Pubcomp:
		return c.acknowledged(cn, packet.PUBCOMP, (*packet.Puback)(p))
	case *packet.Pubrel:
		c.mu.Lock()
		known := c.inboundQoS2[p.PacketID]
		delete(c.inboundQoS2, p.PacketID)
		c.mu.Unlock()
		comp := &packet.Pubcomp{PacketID: p.PacketID}
		if !known && cn.v == packet.V5 {
			comp.ReasonCode = packet.PacketIdentifierNotFound
		}
		return cn.send(comp)
	case *packet.Suback, *packet.Unsuback:
		return c.acknowledged(cn, p.Type(), p)
	case *packet.Pingresp:
		cn.pong()
		return nil
	case *packet.Disconnect:
		d := refusal(packet.DISCONNECT, cn.v, p.ReasonCode, &p.Props)
		d.Reason = strings.Clone(d.Reason)
		d.ServerReference = strings.Clone(d.ServerReference)
		return d
	}
	return fmt.Errorf("%w: unexpected %s from the server", packet.ProtocolError, p.Type())
}

// acknowledged matches an acknowledgement to its request.
func (c *Client) acknowledged(cn *conn, t packet.Type, p packet.Packet) error {
	c.mu.Lock()
	// A PUBREL is enqueued under c.mu, so it cannot overtake a resend, and
	// written once c.mu is released.
	pubrel, err := c.matchAck(cn, t, p)
	c.mu.Unlock()
	if pubrel {
		cn.flush()
	}
	return err
}

// matchAck completes or advances the request an acknowledgement answers,
// and reports whether it enqueued a PUBREL. c.mu must be held.
func (c *Client) matchAck(cn *conn, t packet.Type, p packet.Packet) (pubrel bool, err error) {
	var id uint16
	var code packet.ReasonCode
	var props *packet.Properties
	switch a := p.(type) {
	case *packet.Puback:
		id, code, props = a.PacketID, a.ReasonCode, &a.Props
	case *packet.Suback:
		id = a.PacketID
	case *packet.Unsuback:
		id = a.PacketID
	}
	r := c.pending[id]
	if r == nil {
		// A late acknowledgement of something completed when the session
		// was found missing; nothing waits for it.
		return false, nil
	}
	pub, _ := r.pkt.(*packet.Publish)
	switch {
	case t == packet.SUBACK || t == packet.UNSUBACK:
		if r.pkt.Type()+1 != t {
			return false, fmt.Errorf("%w: %s for packet identifier %d, which is a %s", packet.ProtocolError, t, id, r.pkt.Type())
		}
		ack, err := packet.Clone(p, cn.v)
		c.complete(id, r, result{ack: ack, err: err})
	case pub == nil:
		return false, fmt.Errorf("%w: %s for packet identifier %d, which is a %s", packet.ProtocolError, t, id, r.pkt.Type())
	case code.IsError():
		// v5 section 4.3.3: a PUBREC with an error ends the exchange too.
		c.complete(id, r, result{err: refusal(t, cn.v, code, props.Clone())})
	case t == packet.PUBACK && pub.QoS == packet.AtLeastOnce,
		t == packet.PUBCOMP && pub.QoS == packet.ExactlyOnce && r.released:
		c.complete(id, r, result{})
	case t == packet.PUBREC && pub.QoS == packet.ExactlyOnce:
		// A repeated PUBREC, after a resent PUBLISH, is answered again.
		r.released = true
		return true, cn.enqueue(&packet.Pubrel{PacketID: id})
	default:
		return false, fmt.Errorf("%w: %s for a QoS %d PUBLISH", packet.ProtocolError, t, pub.QoS)
	}
	return false, nil
}

// receive queues an incoming PUBLISH for delivery.
func (c *Client) receive(cn *conn, p *packet.Publish, aliases map[uint16]string) error {
	m := p.Clone()
	if a := p.Props.TopicAlias; a != 0 {
		if p.Topic != "" {
			aliases[a] = m.Topic
		} else if m.Topic = aliases[a]; m.Topic == "" {
			return fmt.Errorf("%w: Topic Alias %d was never set (v5 [MQTT-3.3.2-7])", packet.ProtocolError, a)
		}
	}
	in := inbound{cn: cn, msg: m}
	switch p.QoS {
	case packet.AtLeastOnce:
		in.ack = &packet.Puback{PacketID: p.PacketID}
	case packet.ExactlyOnce:
		in.ack = &packet.Pubrec{PacketID: p.PacketID}
		c.mu.Lock()
		if c.inboundQoS2[p.PacketID] {
			// Delivered already; the PUBREC was lost. v5 [MQTT-4.3.3-9].
			in.msg = nil
		}
		c.inboundQoS2[p.PacketID] = true
		c.mu.Unlock()
	}
	c.inbox <- in
	return nil
}

// deliver hands messages to the application in order and acknowledges
// each afterwards, in the order received [MQTT-4.6.0-2], [MQTT-4.6.0-3].
func (c *Client) deliver() {
	for in := range c.inbox {
		if in.msg != nil {
			if c.opts.OnMessage != nil {
				c.opts.OnMessage(in.msg)
			} else {
				select {
				case c.messages <- in.msg:
				case <-c.stopped:
					continue
				}
			}
		}
		if in.ack == nil {
			continue
		}
		c.mu.Lock()
		// An acknowledgement belongs to its connection: after a
		// reconnection the server sends the message again.
		current := c.cur == in.cn
		c.mu.Unlock()
		if current {
			in.cn.send(in.ack)
		}
	}
	if c.messages != nil {
		close(c.messages)
	}
}
