package broker

import (
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"github.com/petrelmq/petrel/packet"
)

// SetTrace logs every packet to and from the client with this id, at the
// Info level and payloads included, from its next packet on (and from its
// login, if it is not connected); "" stops tracing. Only one client is
// traced at a time. Without tracing no log record carries a payload.
func (s *Server) SetTrace(clientID string) {
	s.ops.trace.Store(&clientID)
	s.mu.Lock()
	for c := s.conns; c != nil; c = c.next {
		if c.loggedIn.Load() {
			c.ops.traced.Store(clientID != "" && c.client.ID == clientID)
		}
	}
	s.mu.Unlock()
	if clientID == "" {
		s.log.Info("packet tracing off")
		return
	}
	s.log.Info("tracing the packets of a client", "client", clientID)
}

// Trace returns the client id whose packets are traced, "" for none.
func (s *Server) Trace() string {
	if id := s.ops.trace.Load(); id != nil {
		return *id
	}
	return ""
}

// traceLogin starts tracing a client that just logged in, if it is the
// one traced.
func (s *Server) traceLogin(c *conn) {
	if id := s.ops.trace.Load(); id != nil && *id != "" && *id == c.client.ID {
		c.ops.traced.Store(true)
	}
}

// tracePayload is at most this much of a payload.
const tracePayload = 1024

// payloadAttrs show a payload as text when it is UTF-8, else in base64,
// cut to tracePayload bytes.
func payloadAttrs(b []byte) []any {
	shown := b[:min(len(b), tracePayload)]
	attrs := []any{"payload_bytes", len(b)}
	if utf8.Valid(shown) {
		return append(attrs, "payload", string(shown))
	}
	return append(attrs, "payload_base64", base64.StdEncoding.EncodeToString(shown))
}

// traceReceived logs a packet from a traced client.
func (c *conn) traceReceived(h packet.FixedHeader, body []byte) {
	attrs := []any{"client", c.client.ID, "remote", c.remote(), "packet", h.Type.String(), "bytes", h.Size + len(body)}
	if h.Type == packet.PUBLISH {
		var p packet.Publish
		if err := p.Decode(h.Flags, body, c.v); err == nil {
			attrs = append(attrs, "topic", p.Topic, "qos", byte(p.QoS), "retain", p.Retain, "dup", p.Dup, "packet_id", p.PacketID)
			attrs = append(attrs, payloadAttrs(p.Payload)...)
		}
	}
	c.srv.log.Info("trace: received", attrs...)
}

// traceSent logs a packet other than PUBLISH sent to a traced client.
func (c *conn) traceSent(p packet.Packet) {
	c.srv.log.Info("trace: sent", "client", c.client.ID, "remote", c.remote(), "packet", p.Type().String(),
		"detail", fmt.Sprintf("%+v", p))
}

// traceDelivery logs a PUBLISH sent to a traced client.
func (c *conn) traceDelivery(d *Delivery, dup bool) {
	m := d.Msg
	attrs := []any{"client", c.client.ID, "remote", c.remote(), "packet", packet.PUBLISH.String(),
		"topic", m.Topic, "qos", byte(d.QoS), "retain", d.Retain, "dup", dup, "publisher", m.Publisher}
	c.srv.log.Info("trace: sent", append(attrs, payloadAttrs(m.Payload)...)...)
}
