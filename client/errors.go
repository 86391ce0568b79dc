package client

import (
	"errors"
	"fmt"

	"github.com/petrelmq/petrel/packet"
)

var (
	// ErrClosed is returned by calls on a Client after Disconnect, and by
	// calls Disconnect cut short.
	ErrClosed = errors.New("client closed")
	// ErrNotConnected is returned by a QoS 0 Publish while AutoReconnect is
	// redialing: such a message is not kept for later.
	ErrNotConnected = errors.New("not connected")
	// ErrKeepAliveTimeout means the server did not answer a PINGREQ within
	// the keep-alive interval, so the connection was presumed dead.
	ErrKeepAliveTimeout = errors.New("server did not answer PINGREQ within the keep-alive interval")
)

// ReasonError is a refusal from the server: a CONNACK, PUBACK, PUBREC or
// PUBCOMP with a reason code of 0x80 or above, or a DISCONNECT the server
// sent. errors.Is(err, packet.NotAuthorized) and the like work on it.
type ReasonError struct {
	Packet  packet.Type       // the packet that carried the code
	Code    packet.ReasonCode // the 5.0 reason code; before 5.0 the nearest one
	Version packet.Version    // the protocol version spoken
	// Reason is the server's Reason String (5.0), if it sent one.
	Reason string
	// ServerReference (5.0) names another server to use, with
	// UseAnotherServer or ServerMoved.
	ServerReference string
}

func (e *ReasonError) Error() string {
	var what string
	switch e.Packet {
	case packet.CONNACK:
		what = "server refused the connection"
	case packet.DISCONNECT:
		what = "server closed the connection"
	default:
		what = "server refused the message"
	}
	s := fmt.Sprintf("%s: %s (reason code 0x%02X)", what, e.Code, byte(e.Code))
	if e.Packet == packet.CONNACK && e.Version != packet.V5 {
		s = fmt.Sprintf("%s: %s (return code %d)", what, e.Code, e.WireCode())
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.ServerReference != "" {
		s += "; try " + e.ServerReference
	}
	return s
}

// Unwrap exposes the reason code to errors.Is and errors.As.
func (e *ReasonError) Unwrap() error { return e.Code }

// WireCode is the byte the server sent: the reason code, or before 5.0 the
// CONNACK return code.
func (e *ReasonError) WireCode() byte {
	if e.Packet != packet.CONNACK || e.Version == packet.V5 {
		return byte(e.Code)
	}
	// The return codes of 3.1.1 section 3.2.2.3, which the codec reads as
	// the 5.0 codes named here.
	switch e.Code {
	case packet.UnsupportedProtocolVersion:
		return 1
	case packet.ClientIdentifierNotValid:
		return 2
	case packet.BadUserNameOrPassword:
		return 4
	case packet.NotAuthorized:
		return 5
	}
	return 3
}

func refusal(t packet.Type, v packet.Version, code packet.ReasonCode, props *packet.Properties) *ReasonError {
	return &ReasonError{Packet: t, Code: code, Version: v, Reason: props.ReasonString, ServerReference: props.ServerReference}
}
