package loadgen

import (
	"encoding/binary"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// A message's payload starts with a header that lets a subscriber account
// for it exactly and time it:
//
//	0..1    magic "Pb", so messages from anyone else are told apart
//	2       the QoS it was published with
//	3       zero
//	4..7    the run's random identifier, so messages a persistent
//	        session kept from an earlier run are told apart
//	8..11   the publisher's index in its run
//	12..15  the publisher's sequence number, from 0
//	16..23  when it was sent: Unix nanoseconds, read as the run's start
//	        plus the monotonic time elapsed since, so clock steps during
//	        a run do not show as latency, and runs on one host compare
//
// The rest of the payload, up to the size asked for, is filler.
const (
	HeaderSize   = 24
	magic0       = 'P'
	magic1       = 'b'
	seqOffset    = 12
	stampOffset  = 16
	maxPublisher = 1 << 20 // bounds what a foreign payload can make us allocate
)

// header is a decoded payload header.
type header struct {
	qos   packet.QoS
	run   uint32
	pub   uint32
	seq   uint32
	stamp int64
}

// newPayload is a publisher's payload with its constant fields set.
func newPayload(size int, qos packet.QoS, run uint32, pub int) []byte {
	b := make([]byte, size)
	for i := HeaderSize; i < size; i++ {
		b[i] = 'a' + byte(i%26)
	}
	b[0], b[1], b[2] = magic0, magic1, byte(qos)
	binary.BigEndian.PutUint32(b[4:], run)
	binary.BigEndian.PutUint32(b[8:], uint32(pub))
	return b
}

// stampPayload writes the sequence number and send time into a payload.
func stampPayload(b []byte, seq uint32, stamp int64) {
	binary.BigEndian.PutUint32(b[seqOffset:], seq)
	binary.BigEndian.PutUint64(b[stampOffset:], uint64(stamp))
}

// parsePayload decodes a payload's header; ok is false for a message
// that did not come from a load generator.
func parsePayload(b []byte) (h header, ok bool) {
	if len(b) < HeaderSize || b[0] != magic0 || b[1] != magic1 || b[2] > 2 || b[3] != 0 {
		return h, false
	}
	h.qos = packet.QoS(b[2])
	h.run = binary.BigEndian.Uint32(b[4:])
	h.pub = binary.BigEndian.Uint32(b[8:])
	h.seq = binary.BigEndian.Uint32(b[seqOffset:])
	h.stamp = int64(binary.BigEndian.Uint64(b[stampOffset:]))
	return h, h.pub < maxPublisher
}

// clock reads time as Unix nanoseconds from a start and the monotonic
// clock, which is cheaper than formatting wall time and never steps.
type clock struct {
	start     time.Time
	startUnix int64
}

func newClock() clock {
	now := time.Now()
	return clock{start: now, startUnix: now.UnixNano()}
}

func (c clock) now() int64 { return c.startUnix + int64(time.Since(c.start)) }

// at is t in the clock's reckoning.
func (c clock) at(t time.Time) int64 { return c.startUnix + int64(t.Sub(c.start)) }
