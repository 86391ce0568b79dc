package loadgen

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
)

// The WebSocket client is the few lines of RFC 6455 that MQTT needs:
// the upgrade, binary frames out (masked, one per write, so a coalesced
// write of many packets is one frame), and frames in, whatever their
// boundaries [MQTT-6.0.0-2]. It answers pings and ends at a close frame.

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsConn is MQTT over WebSocket on a connection.
type wsConn struct {
	net.Conn
	br *bufio.Reader

	// left is what remains of the frame being read.
	left int64
	mask [4]byte
	pos  int // of the mask, in the frame being read
	// masked says whether the frame being read is masked (servers should
	// not mask, but unmasking costs nothing).
	masked bool

	wmu  sync.Mutex
	wbuf []byte
}

// dialWebSocket upgrades nc to a WebSocket that carries MQTT.
func dialWebSocket(nc net.Conn, host, path string) (net.Conn, error) {
	var key [16]byte
	binary.LittleEndian.PutUint64(key[:], rand.Uint64())
	binary.LittleEndian.PutUint64(key[8:], rand.Uint64())
	k := base64.StdEncoding.EncodeToString(key[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + k +
		"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("WebSocket upgrade: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("WebSocket upgrade of %s refused: %s", path, resp.Status)
	}
	sum := sha1.Sum([]byte(k + wsGUID))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, errors.New("WebSocket upgrade: the server's Sec-WebSocket-Accept does not match the key")
	}
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); !strings.EqualFold(p, "mqtt") {
		return nil, fmt.Errorf("WebSocket upgrade: the server chose subprotocol %q, not mqtt [MQTT-6.0.0-4]", p)
	}
	return &wsConn{Conn: nc, br: br}, nil
}

// Write sends b as one masked binary frame.
func (c *wsConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeFrame(0x2, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *wsConn) writeFrame(op byte, b []byte) error {
	f := append(c.wbuf[:0], 0x80|op)
	switch n := len(b); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	// The runtime's generator is seeded unpredictably, which is all
	// masking asks of the key.
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
	f = append(f, mask[:]...)
	start := len(f)
	f = append(f, b...)
	maskBytes(f[start:], mask, 0)
	c.wbuf = f
	_, err := c.Conn.Write(f)
	return err
}

// maskBytes XORs b with the mask, starting at position pos of the mask,
// and returns the position after.
func maskBytes(b []byte, mask [4]byte, pos int) int {
	if len(b) >= 8 {
		var m [8]byte
		for i := range m {
			m[i] = mask[(pos+i)%4]
		}
		m64 := binary.LittleEndian.Uint64(m[:])
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^m64)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= mask[pos%4]
		pos++
	}
	return pos % 4
}

// Read returns the payload of binary frames as a stream.
func (c *wsConn) Read(p []byte) (int, error) {
	for c.left == 0 {
		if err := c.nextFrame(); err != nil {
			return 0, err
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	if c.masked {
		c.pos = maskBytes(p[:n], c.mask, c.pos)
	}
	c.left -= int64(n)
	return n, err
}

// nextFrame reads a frame header, and handles control frames whole.
func (c *wsConn) nextFrame() error {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return err
	}
	op := h[0] & 0x0F
	c.masked = h[1]&0x80 != 0
	n := int64(h[1] & 0x7F)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(c.br, l[:]); err != nil {
			return err
		}
		n = int64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(c.br, l[:]); err != nil {
			return err
		}
		n = int64(binary.BigEndian.Uint64(l[:]) & (1<<63 - 1))
	}
	c.pos = 0
	if c.masked {
		if _, err := io.ReadFull(c.br, c.mask[:]); err != nil {
			return err
		}
	}
	switch op {
	case 0x0, 0x2: // continuation, binary
		c.left = n
		return nil
	case 0x8: // close
		return io.EOF
	case 0x9, 0xA: // ping, pong
		if n > 125 {
			return errors.New("WebSocket: control frame longer than 125 bytes")
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(c.br, body); err != nil {
			return err
		}
		if op == 0xA {
			return nil
		}
		if c.masked {
			maskBytes(body, c.mask, 0)
		}
		c.wmu.Lock()
		defer c.wmu.Unlock()
		return c.writeFrame(0xA, body)
	}
	return fmt.Errorf("WebSocket: frame of opcode %d where MQTT needs binary frames [MQTT-6.0.0-1]", op)
}
