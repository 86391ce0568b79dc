package loadgen

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/packet"
)

const (
	// flushBytes is how much a publisher batches before it writes, when
	// nothing else makes it write sooner.
	flushBytes = 32 << 10
	// stallAfter is how long a write may block before the publisher counts
	// itself held back by the server.
	stallAfter = time.Millisecond
)

// publisher is a client that publishes: one goroutine sends on a
// schedule, and the connection's reader takes the acknowledgements.
type publisher struct {
	*client
	index int
	topic string
	qos   packet.QoS
	// tmpl is the PUBLISH packet, encoded once; each message copies it and
	// patches the packet identifier at idOff and the payload header at
	// payOff.
	tmpl          []byte
	idOff, payOff int

	// The in-flight window: free packet identifiers, and for each one in
	// use the time its PUBLISH was stamped with, negated once a QoS 2
	// message's PUBREC has come, and zero when it is free.
	mu     sync.Mutex
	free   []uint16
	wait   bool
	wake   chan struct{}
	stamps []atomic.Int64

	sent        atomic.Int64 // messages written
	outstanding atomic.Int64 // QoS 1 and 2 messages not yet acknowledged
	refused     atomic.Int64 // acknowledged with a failure reason code
	acks        *Histogram   // PUBLISH to PUBACK or PUBCOMP; the reader's
	// finished is closed when publish returns.
	finished chan struct{}
}

func newPublisher(c *client, index int, topic string, qos packet.QoS) (*publisher, error) {
	cfg := &c.run.cfg
	if props := &c.connack.Props; props.HasMaximumQoS && packet.QoS(props.MaximumQoS) < qos {
		return nil, fmt.Errorf("the server accepts QoS %d at most, not %d", props.MaximumQoS, qos)
	}
	p := &publisher{client: c, index: index, topic: topic, qos: qos, wake: make(chan struct{}, 1), acks: NewHistogram(), finished: make(chan struct{})}
	msg := &packet.Publish{QoS: qos, Topic: topic, Payload: newPayload(cfg.Size, qos, c.run.id, index)}
	if qos > 0 {
		msg.PacketID = 1
		window := cfg.Inflight
		if m := c.connack.Props.ReceiveMaximum; m != 0 && cfg.Version == packet.V5 {
			window = min(window, int(m))
		}
		p.stamps = make([]atomic.Int64, window)
		for id := window; id >= 1; id-- {
			p.free = append(p.free, uint16(id))
		}
	}
	var err error
	if p.tmpl, err = msg.Encode(nil, cfg.Version); err != nil {
		return nil, fmt.Errorf("topic %q: %w", topic, err)
	}
	p.payOff = len(p.tmpl) - cfg.Size
	p.idOff = p.payOff - 2
	if cfg.Version == packet.V5 {
		p.idOff-- // the empty property list
	}
	return p, nil
}

// publish sends messages until the run stops publishing or count (if not
// zero) have been sent. Messages accumulate in a batch that is written
// when it is full or when the loop is about to wait: for the schedule or
// for the in-flight window.
//
// With a rate, messages carry the time they were sent, unless the server
// has held the publisher back (a full window, a blocked write) and it is
// behind its schedule: until it catches up they carry the time they were
// due, so the server's stall counts in their latency instead of vanishing
// from it (coordinated omission). The timer's own slack, often most of a
// millisecond, does not count.
func (p *publisher) publish(count uint32) {
	r := p.run
	defer close(p.finished)
	var (
		batch  = make([]byte, 0, flushBytes+len(p.tmpl))
		n      int64 // messages in batch
		ids    []uint16
		seq    uint32
		behind bool
		timer  = time.NewTimer(time.Hour)
	)
	defer timer.Stop()
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		start := time.Now()
		ok := p.send(batch)
		if time.Since(start) > stallAfter {
			behind = true
		}
		p.sent.Add(n)
		batch, n = batch[:0], 0
		return ok
	}
loop:
	for !r.stopping.Load() && (count == 0 || seq < count) {
		stamp := r.clock.now()
		if r.cfg.Rate > 0 {
			due := r.pubStart + int64(float64(seq)*1e9/r.cfg.Rate)
			switch {
			case due > stamp:
				behind = false
				if !flush() || !r.sleep(timer, time.Duration(due-stamp)) {
					break loop
				}
				stamp = r.clock.now()
			case behind:
				stamp = due
			}
		}
		var id uint16
		if p.qos > 0 {
			if len(ids) == 0 {
				if ids = p.takeIDs(ids, false); len(ids) == 0 {
					if !flush() {
						break loop
					}
					if ids = p.takeIDs(ids, true); len(ids) == 0 {
						break loop
					}
					behind = true
				}
			}
			id, ids = ids[len(ids)-1], ids[:len(ids)-1]
			p.stamps[id-1].Store(stamp)
			p.outstanding.Add(1)
		}
		off := len(batch)
		batch = append(batch, p.tmpl...)
		if id != 0 {
			binary.BigEndian.PutUint16(batch[off+p.idOff:], id)
		}
		stampPayload(batch[off+p.payOff:], seq, stamp)
		seq++
		n++
		if len(batch) >= flushBytes && !flush() {
			break loop
		}
	}
	flush()
}

// takeIDs moves every free packet identifier to ids. With block, it waits
// for one to be freed, unless the run stops publishing.
func (p *publisher) takeIDs(ids []uint16, block bool) []uint16 {
	p.mu.Lock()
	for len(p.free) == 0 {
		if !block {
			p.mu.Unlock()
			return ids
		}
		p.wait = true
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-p.run.stop:
			return ids
		}
		p.mu.Lock()
	}
	ids = append(ids, p.free...)
	p.free = p.free[:0]
	p.mu.Unlock()
	return ids
}

// release returns acknowledged identifiers to the window.
func (p *publisher) release(ids []uint16) {
	p.mu.Lock()
	p.free = append(p.free, ids...)
	if p.wait {
		p.wait = false
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
	p.outstanding.Add(-int64(len(ids)))
}

// read takes the server's acknowledgements and answers PUBREC with
// PUBREL, until the connection ends.
func (p *publisher) read() {
	v := p.run.cfg.Version
	var freed []uint16
	var out []byte
	for {
		h, body, err := p.r.ReadFrame()
		if err != nil {
			p.readErr(err)
			return
		}
		switch h.Type {
		case packet.PUBACK, packet.PUBREC, packet.PUBCOMP:
			id, code, err := p.ack(h.Type, body, v)
			if err != nil {
				p.fail(err)
				return
			}
			switch {
			case h.Type == packet.PUBREC && !code.IsError():
				p.stamps[id-1].Store(-p.stamps[id-1].Load())
				out = append(out, byte(packet.PUBREL)<<4|0x2, 2, byte(id>>8), byte(id))
			default:
				stamp := p.stamps[id-1].Swap(0)
				p.acks.Record(time.Duration(p.run.clock.now() - max(stamp, -stamp)))
				if code.IsError() {
					p.refused.Add(1)
					p.run.failure(fmt.Errorf("%s: the server refused a message on %s: %v", p.id, p.topic, code))
				}
				freed = append(freed, id)
			}
		case packet.PINGRESP:
		case packet.DISCONNECT:
			p.readErr(serverDisconnect(v, body))
			return
		default:
			p.fail(fmt.Errorf("the server sent a publisher %s", h.Type))
			return
		}
		if p.r.Buffered() == 0 {
			if len(freed) > 0 {
				p.release(freed)
				freed = freed[:0]
			}
			if len(out) > 0 && !p.send(out) {
				return
			}
			out = out[:0]
		}
	}
}

// ack decodes an acknowledgement and checks it answers a message in
// flight, in the step of the QoS exchange it is at.
func (p *publisher) ack(t packet.Type, body []byte, v packet.Version) (uint16, packet.ReasonCode, error) {
	if len(body) < 2 {
		return 0, 0, fmt.Errorf("malformed %s", t)
	}
	id := binary.BigEndian.Uint16(body)
	code := packet.Success
	if v == packet.V5 && len(body) > 2 {
		code = packet.ReasonCode(body[2])
	}
	ok := false
	if id != 0 && int(id) <= len(p.stamps) {
		switch s := p.stamps[id-1].Load(); t {
		case packet.PUBACK:
			ok = p.qos == packet.AtLeastOnce && s > 0
		case packet.PUBREC:
			ok = p.qos == packet.ExactlyOnce && s > 0
		case packet.PUBCOMP:
			ok = s < 0
		}
	}
	if !ok {
		return 0, 0, fmt.Errorf("%s for packet identifier %d, which is not awaiting one", t, id)
	}
	return id, code, nil
}
