package packet

import (
	"bufio"
	"errors"
	"io"
)

// Decode decodes the packet at the start of b for protocol version v. It
// returns the packet and the number of bytes it took; n == 0 with no error
// means b does not yet hold the whole packet. The packet aliases b.
//
// When the body breaks a rule, p is still returned as far as it was
// decoded, as ReadPacket does: a CONNECT with an unsupported protocol
// level carries that level, so the server can refuse it in that level's
// form.
func Decode(b []byte, v Version) (p Packet, n int, err error) {
	h, hn, err := parseFixedHeader(b, v)
	if err != nil || hn == 0 {
		return nil, 0, err
	}
	if len(b)-hn < h.Remaining {
		return nil, 0, nil
	}
	p = New(h.Type)
	if err := p.Decode(h.Flags, b[hn:hn+h.Remaining:hn+h.Remaining], v); err != nil {
		return p, 0, err
	}
	return p, hn + h.Remaining, nil
}

// growStep is how much a Reader's buffer grows at a time while a large
// packet arrives: memory follows the bytes received, not the length a peer
// announced.
const growStep = 64 << 10

// Reader reads packets from a stream. It reuses one buffer, so a packet or
// body it returns is valid only until the next read.
type Reader struct {
	br *bufio.Reader
	// MaxPacketSize is the largest packet accepted, counting the fixed
	// header; 0 means MaxPacketSize, the protocol's own limit. A larger
	// packet fails with PacketTooLarge before its body is read.
	MaxPacketSize int
	// Version is the protocol version used to decode; the server sets it
	// from the CONNECT.
	Version Version
	buf     []byte
}

// NewReader returns a Reader on r whose bufio buffer holds size bytes.
func NewReader(r io.Reader, size int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, size)}
}

// ReadFrame reads the next packet's fixed header and body without decoding
// the body. io.EOF means the stream ended cleanly between packets.
func (r *Reader) ReadFrame() (FixedHeader, []byte, error) {
	var hdr [5]byte
	var h FixedHeader
	for i := 0; ; i++ {
		c, err := r.br.ReadByte()
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return h, nil, err
		}
		hdr[i] = c
		if i == 0 {
			continue
		}
		var n int
		if h, n, err = parseFixedHeader(hdr[:i+1], r.Version); err != nil {
			return h, nil, err
		}
		if n > 0 {
			break
		}
	}
	limit := r.MaxPacketSize
	if limit <= 0 {
		limit = MaxPacketSize
	}
	if h.Size+h.Remaining > limit {
		return h, nil, errorf(PacketTooLarge, "%s of %d bytes exceeds the maximum packet size %d", h.Type, h.Size+h.Remaining, limit)
	}
	body, err := r.readBody(h.Remaining)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return h, body, err
}

func (r *Reader) readBody(n int) ([]byte, error) {
	if cap(r.buf) > growStep && n <= growStep {
		// Give back the memory a large packet took.
		r.buf = nil
	}
	if n <= cap(r.buf) || n <= growStep {
		if n > cap(r.buf) {
			r.buf = make([]byte, n)
		}
		r.buf = r.buf[:n]
		_, err := io.ReadFull(r.br, r.buf)
		return r.buf, err
	}
	r.buf = r.buf[:0]
	for len(r.buf) < n {
		step := min(n-len(r.buf), max(len(r.buf), growStep))
		start := len(r.buf)
		r.buf = append(r.buf, make([]byte, step)...)
		if _, err := io.ReadFull(r.br, r.buf[start:]); err != nil {
			return nil, err
		}
	}
	return r.buf, nil
}

// Buffered is the number of bytes read from the stream and not yet
// returned: a caller that finds none left knows the peer has paused, a
// good moment to flush what it owes.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// ReadPacket reads and decodes the next packet into a new value of its
// type. The packet aliases the Reader's buffer until the next read.
func (r *Reader) ReadPacket() (Packet, error) {
	h, body, err := r.ReadFrame()
	if err != nil {
		return nil, err
	}
	p := New(h.Type)
	if err := p.Decode(h.Flags, body, r.Version); err != nil {
		return p, err
	}
	return p, nil
}
