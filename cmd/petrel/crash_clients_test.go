package main

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// The clients of the crash test: raw MQTT connections, so that the test
// decides exactly what is resent after a restart, with the session state
// a client keeps across its connections.

// crashConnect is the CONNECT of a client with a persistent session: a
// 5.0 session never expires, a 3.1.1 one has Clean Session 0. A 5.0
// client starts clean the first time only.
func crashConnect(id string, v packet.Version, first bool) *packet.Connect {
	c := &packet.Connect{Version: v, ClientID: id, KeepAlive: 60}
	if v == packet.V5 {
		c.CleanStart = first
		c.Props.SessionExpiry, c.Props.HasSessionExpiry = 0xFFFFFFFF, true
	}
	return c
}

// crashConn is one client connection, in raw packets so that the test
// decides exactly what is resent after a restart.
type crashConn struct {
	nc  net.Conn
	r   *packet.Reader
	w   *bufio.Writer
	v   packet.Version
	buf []byte
}

func crashDial(addr string, connect *packet.Connect) (*crashConn, *packet.Connack, error) {
	nc, err := net.DialTimeout("tcp", addr, crashDeadline)
	if err != nil {
		return nil, nil, err
	}
	c := &crashConn{nc: nc, r: packet.NewReader(nc, 16<<10), w: bufio.NewWriterSize(nc, 16<<10), v: connect.Version}
	c.r.Version = connect.Version
	got, err := func() (packet.Packet, error) {
		if err := c.send(connect); err != nil {
			return nil, err
		}
		return c.read()
	}()
	if ack, ok := got.(*packet.Connack); err == nil && ok && ack.ReasonCode == packet.Success {
		return c, ack, nil
	}
	nc.Close()
	if err == nil {
		err = fmt.Errorf("got %+v, want a CONNACK that accepts", got)
	}
	return nil, nil, fmt.Errorf("connect: %w", err)
}

// write queues p; flush or send puts it on the wire.
func (c *crashConn) write(p packet.Packet) error {
	var err error
	if c.buf, err = p.Encode(c.buf[:0], c.v); err != nil {
		return err
	}
	_, err = c.w.Write(c.buf)
	return err
}

func (c *crashConn) send(p packet.Packet) error {
	if err := c.write(p); err != nil {
		return err
	}
	return c.w.Flush()
}

// read returns the next packet, valid until the next read.
func (c *crashConn) read() (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(crashDeadline))
	return c.r.ReadPacket()
}

// crashKey names a message: its publisher and sequence number, which
// its payload carries.
type crashKey struct {
	pub int
	seq uint64
}

func crashPayload(pub int, seq uint64) []byte { return fmt.Appendf(nil, "%d %d", pub, seq) }

func parseCrashPayload(b []byte) (pub int, seq uint64, ok bool) {
	a, s, found := strings.Cut(string(b), " ")
	pub, err1 := strconv.Atoi(a)
	seq, err2 := strconv.ParseUint(s, 10, 64)
	return pub, seq, found && err1 == nil && err2 == nil
}

// crashPublisher publishes numbered messages at one QoS to its own topic,
// every crashRetainEvery-th of them retained to a topic of its own, and
// keeps across restarts what a client with a persistent session keeps:
// what awaits acknowledgement, and for the checks what was acknowledged.
type crashPublisher struct {
	index   int
	id      string
	version packet.Version
	qos     packet.QoS
	nextPID uint16
	sent    uint64 // the sequence number of the newest message
	// inflight awaits PUBACK, PUBREC or PUBCOMP, in the order first sent.
	inflight []*crashOut
	acked    map[uint64]bool // by PUBACK, or at QoS 2 by PUBREC
	// sentIn and ackedIn say in which rounds each message went out and
	// was acknowledged, for the report of a duplicate.
	sentIn  map[uint64][]int
	ackedIn map[uint64]int
	// retained lists the sequence number of every retained PUBLISH in the
	// order sent, resends included: a resent older message replaces a
	// newer one as the retained message, from any client.
	retained []uint64
	// retainedAcked is the index in retained of the newest acknowledged
	// one; -1 before any.
	retainedAcked int

	completed, resentPublish, resentPubrel int
}

// crashOut is a message awaiting acknowledgement.
type crashOut struct {
	pid   uint16
	seq   uint64
	write int // the index in retained of its latest send, if retained
	// released: PUBREC came and PUBREL went, so the PUBLISH is never
	// sent again (v5 §4.3.3).
	released bool
}

// crashAck is an acknowledgement a publisher received.
type crashAck struct {
	kind packet.Type
	pid  uint16
	code packet.ReasonCode
}

func (p *crashPublisher) retainedTopic() string { return fmt.Sprintf("retained/p%d", p.index) }

// run connects, resends in order what awaits acknowledgement, PUBREL for
// those PUBREC'd, PUBLISH with DUP for the others ([MQTT-4.4.0-1]), and
// then, with publish, starts a new message every crashPace while fewer
// than crashWindow are unacknowledged; without publish it disconnects once
// nothing awaits acknowledgement, and reports it is done. Otherwise it
// returns when the connection ends.
func (p *crashPublisher) run(r *crashRun, addr string, round int, publish bool) (done bool) {
	c, connack, err := crashDial(addr, crashConnect(p.id, p.version, false))
	if err != nil {
		r.connectionEnded(p.id, round, err)
		return false
	}
	defer c.nc.Close()
	if !connack.SessionPresent {
		r.problem("session", "%s: round %d: the broker lost the persistent session", p.id, round)
	}
	for _, o := range p.inflight {
		if o.released {
			p.resentPubrel++
			err = c.write(&packet.Pubrel{PacketID: o.pid})
		} else {
			p.resentPublish++
			err = p.publish(c, round, o, true)
		}
		if err != nil {
			break
		}
	}
	acks := make(chan crashAck, crashWindow)
	readErr := make(chan error, 1)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			got, err := c.read()
			var a crashAck
			switch got := got.(type) {
			case *packet.Puback:
				a = crashAck{packet.PUBACK, got.PacketID, got.ReasonCode}
			case *packet.Pubrec:
				a = crashAck{packet.PUBREC, got.PacketID, got.ReasonCode}
			case *packet.Pubcomp:
				a = crashAck{packet.PUBCOMP, got.PacketID, got.ReasonCode}
			default:
				if err == nil {
					err = fmt.Errorf("unexpected %+v", got)
				}
			}
			if err != nil {
				readErr <- err
				return
			}
			select {
			case acks <- a:
			case <-quit:
				return
			}
		}
	}()
	tick := time.NewTicker(crashPace)
	defer tick.Stop()
	for err == nil {
		if err = c.w.Flush(); err != nil {
			break
		}
		if !publish && len(p.inflight) == 0 {
			c.send(&packet.Disconnect{})
			return true
		}
		select {
		case a := <-acks:
			err = p.acknowledge(r, c, round, a)
		case <-tick.C:
			if publish && len(p.inflight) < crashWindow {
				err = p.next(c, round)
			}
		case err = <-readErr:
			// The acknowledgements read before the error count, even
			// if the PUBRELs they call for can no longer go out.
			for len(acks) > 0 {
				p.acknowledge(r, c, round, <-acks)
			}
		}
	}
	r.connectionEnded(p.id, round, err)
	return false
}

// next publishes a new message.
func (p *crashPublisher) next(c *crashConn, round int) error {
	p.sent++
	o := &crashOut{pid: p.allocatePID(), seq: p.sent}
	p.inflight = append(p.inflight, o)
	return p.publish(c, round, o, false)
}

func (p *crashPublisher) allocatePID() uint16 {
	for {
		p.nextPID++
		if p.nextPID != 0 && !slices.ContainsFunc(p.inflight, func(o *crashOut) bool { return o.pid == p.nextPID }) {
			return p.nextPID
		}
	}
}

func (p *crashPublisher) publish(c *crashConn, round int, o *crashOut, dup bool) error {
	p.sentIn[o.seq] = append(p.sentIn[o.seq], round)
	m := &packet.Publish{Topic: fmt.Sprintf("crash/p%d", p.index), QoS: p.qos, PacketID: o.pid, Dup: dup, Payload: crashPayload(p.index, o.seq)}
	if o.seq%crashRetainEvery == 0 {
		m.Topic, m.Retain = p.retainedTopic(), true
		o.write = len(p.retained)
		p.retained = append(p.retained, o.seq)
	}
	return c.write(m)
}

// acknowledge takes a PUBACK, PUBREC or PUBCOMP.
func (p *crashPublisher) acknowledge(r *crashRun, c *crashConn, round int, a crashAck) error {
	i := slices.IndexFunc(p.inflight, func(o *crashOut) bool { return o.pid == a.pid })
	if i < 0 {
		r.problem("protocol", "%s: round %d: %v for packet id %d, which awaits nothing", p.id, round, a.kind, a.pid)
		return nil
	}
	o := p.inflight[i]
	switch {
	case a.kind == packet.PUBACK && p.qos == packet.AtLeastOnce, a.kind == packet.PUBREC && p.qos == packet.ExactlyOnce && !o.released:
		if a.code.IsError() {
			r.problem("refused", "%s: round %d: #%d refused with %v", p.id, round, o.seq, a.code)
			p.inflight = slices.Delete(p.inflight, i, i+1)
			return nil
		}
		p.acked[o.seq] = true
		p.ackedIn[o.seq] = round
		if o.seq%crashRetainEvery == 0 {
			p.retainedAcked = max(p.retainedAcked, o.write)
		}
		if p.qos == packet.AtLeastOnce {
			p.inflight = slices.Delete(p.inflight, i, i+1)
			return nil
		}
		o.released = true
		return c.write(&packet.Pubrel{PacketID: o.pid})
	case a.kind == packet.PUBCOMP && o.released:
		// Packet Identifier Not Found is fine: the broker had released
		// the id, and the PUBCOMP was lost with the connection.
		p.completed++
		p.inflight = slices.Delete(p.inflight, i, i+1)
	default:
		r.problem("protocol", "%s: round %d: unexpected %v for #%d (packet id %d)", p.id, round, a.kind, o.seq, o.pid)
	}
	return nil
}

// crashSubscriber is a persistent session subscribed at QoS 2 to every
// publisher's topic. It acknowledges what it receives and, for the
// checks, records what reached the application.
type crashSubscriber struct {
	id      string
	version packet.Version
	// alwaysOnline connects in every round; the others in a random half
	// of them, their messages queueing for them meanwhile.
	alwaysOnline bool

	mu sync.Mutex
	// awaitingPubrel holds the QoS 2 packet ids PUBREC'd and not yet
	// released. It is the client's own session state, so it outlives
	// connections: a PUBLISH with one of these ids is the broker's resend
	// of a message already delivered, PUBREC'd again and not delivered
	// again (v5 [MQTT-4.3.3-10], v3.1.1 [MQTT-4.3.3-2]).
	awaitingPubrel map[uint16]crashKey
	got            map[crashKey]*crashDelivery // the first delivery of each
	twice          []crashTwice                // QoS 2 messages delivered again
	inUse          map[crashKey]uint16         // sent under a packet id awaiting PUBREL
	lastFirst      map[int]uint64              // by publisher, the newest message delivered
	deliveries     int
	duplicates     int // at QoS 1
	absorbed       int // QoS 2 resends not delivered again
}

// crashDelivery is how a message reached a subscriber.
type crashDelivery struct {
	round    int
	pid      uint16
	dup      bool
	released int // the round of the PUBREL for a QoS 2 delivery; 0 before
}

// crashTwice is a QoS 2 message delivered twice.
type crashTwice struct {
	key          crashKey
	first, again crashDelivery
}

// run connects, resuming the session, and acknowledges what comes until
// the connection ends.
func (s *crashSubscriber) run(r *crashRun, addr string, round int) {
	c, connack, err := crashDial(addr, crashConnect(s.id, s.version, false))
	if err != nil {
		r.connectionEnded(s.id, round, err)
		return
	}
	defer c.nc.Close()
	if !connack.SessionPresent {
		r.problem("session", "%s: round %d: the broker lost the persistent session", s.id, round)
	}
	for {
		got, err := c.read()
		if err == nil {
			err = s.receive(r, c, round, got)
		}
		if err == nil && c.r.Buffered() == 0 {
			err = c.w.Flush()
		}
		if err != nil {
			r.connectionEnded(s.id, round, err)
			return
		}
	}
}

func (s *crashSubscriber) receive(r *crashRun, c *crashConn, round int, got packet.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch got := got.(type) {
	case *packet.Publish:
		pub, seq, ok := parseCrashPayload(got.Payload)
		k := crashKey{pub, seq}
		if !ok || pub < 0 || pub >= len(r.pubs) || got.Topic != fmt.Sprintf("crash/p%d", pub) || got.QoS != r.pubs[pub].qos {
			// Acknowledged, so that it does not come back, but not
			// delivered.
			r.problem("garbage", "%s: round %d: unexpected %+v", s.id, round, got)
			k = crashKey{pub: -1}
		}
		d := &crashDelivery{round: round, pid: got.PacketID, dup: got.Dup}
		switch got.QoS {
		case packet.AtLeastOnce:
			if k.pub >= 0 {
				s.deliver(r, k, d, false)
			}
			return c.write(&packet.Puback{PacketID: got.PacketID})
		case packet.ExactlyOnce:
			if held, ok := s.awaitingPubrel[got.PacketID]; !ok {
				s.awaitingPubrel[got.PacketID] = k
				if k.pub >= 0 {
					s.deliver(r, k, d, true)
				}
			} else {
				s.absorbed++
				if held != k {
					s.inUse[k] = got.PacketID
					r.problem("packet id in use", "%s: round %d: the broker sent p%d #%d as packet id %d, which still awaits PUBREL for p%d #%d",
						s.id, round, pub, seq, got.PacketID, held.pub, held.seq)
				}
			}
			return c.write(&packet.Pubrec{PacketID: got.PacketID})
		}
	case *packet.Pubrel:
		comp := &packet.Pubcomp{PacketID: got.PacketID}
		if k, ok := s.awaitingPubrel[got.PacketID]; !ok {
			// The PUBCOMP went out before the broker was killed.
			comp.ReasonCode = packet.PacketIdentifierNotFound
		} else if d := s.got[k]; d != nil && d.pid == got.PacketID && d.released == 0 {
			d.released = round
		}
		delete(s.awaitingPubrel, got.PacketID)
		return c.write(comp)
	case *packet.Disconnect:
		return fmt.Errorf("DISCONNECT: %v", got.ReasonCode)
	default:
		r.problem("protocol", "%s: round %d: unexpected %+v", s.id, round, got)
	}
	return nil
}

// deliver hands a message to the application: the checks.
func (s *crashSubscriber) deliver(r *crashRun, k crashKey, d *crashDelivery, exactlyOnce bool) {
	s.deliveries++
	if first := s.got[k]; first != nil {
		if exactlyOnce {
			s.twice = append(s.twice, crashTwice{k, *first, *d})
		} else {
			s.duplicates++
		}
		return
	}
	s.got[k] = d
	if last := s.lastFirst[k.pub]; k.seq < last {
		kind := "order"
		if s.inUse[k] != 0 {
			// The broker sent it in order, under a packet id the client
			// had to take for a resend.
			kind = "order (sent before under a packet id in use)"
		}
		r.problem(kind, "%s: round %d: p%d #%d first delivered after #%d", s.id, d.round, k.pub, k.seq, last)
	}
	s.lastFirst[k.pub] = max(s.lastFirst[k.pub], k.seq)
}

// missing counts the acknowledged messages the subscriber has not had.
// The publishers are not running.
func (s *crashSubscriber) missing(pubs []*crashPublisher) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range pubs {
		for seq := range p.acked {
			if seq%crashRetainEvery != 0 && s.got[crashKey{p.index, seq}] == nil {
				n++
			}
		}
	}
	return n
}
