package client

import (
	"context"
	"net"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// Options configure a Client. The zero value, with Addr set, connects over
// TCP with MQTT 5.0, a server-assigned client identifier, a 60 s keep-alive
// and no reconnection.
type Options struct {
	// Addr is the server's host:port. It is used to dial when Dialer is
	// nil, and to name the server in errors.
	Addr string
	// Dialer opens the network connection: TLS, WebSocket or a test's
	// proxy plug in here. Nil dials Addr over TCP.
	Dialer func(ctx context.Context) (net.Conn, error)

	// Version is the protocol version; zero means 5.0.
	Version packet.Version
	// ClientID identifies the session. Empty asks the server to assign
	// one (5.0 reports it in the CONNACK, and reconnections reuse it).
	ClientID string
	// CleanStart discards any session the server holds for ClientID (Clean
	// Session before 5.0). Reconnections made by AutoReconnect at 5.0
	// never set it, so they resume the session; before 5.0 a clean
	// session cannot outlive its connection, so they keep this setting.
	CleanStart bool
	// KeepAlive is the longest the client stays silent: it sends PINGREQ
	// when idle and treats a server that does not answer within KeepAlive
	// as dead. Zero means 60 s; a negative value turns keep-alive off. The
	// wire carries whole seconds. A 5.0 server may impose its own.
	KeepAlive time.Duration
	// Username is sent when not empty, Password when not nil.
	Username string
	Password []byte
	// Will is published by the server if the connection ends without a
	// normal DISCONNECT. Its Props (5.0) carry the Will Delay Interval,
	// message expiry, content type and the like.
	Will *packet.Will

	// SessionExpiry (5.0) is how many seconds the server keeps the session
	// after the connection ends; 0xFFFFFFFF means for ever.
	SessionExpiry uint32
	// ReceiveMaximum (5.0) limits the QoS 1 and 2 messages the server sends
	// before the client acknowledges them; zero means 65,535.
	ReceiveMaximum uint16
	// Properties are further CONNECT properties (5.0): user properties,
	// Maximum Packet Size, Topic Alias Maximum, Request Problem
	// Information and so on. SessionExpiry and ReceiveMaximum, when set,
	// take precedence over the same properties here.
	Properties packet.Properties

	// ConnectTimeout bounds dialing and the CONNECT exchange, within any
	// deadline of the context passed to Dial. Zero means 30 s.
	ConnectTimeout time.Duration

	// OnMessage receives each incoming message, in order, on one goroutine
	// the Client owns. It may call Publish; the message is acknowledged
	// when it returns. When OnMessage is nil, messages arrive on
	// Messages() instead.
	OnMessage func(*packet.Publish)

	// AutoReconnect redials when a connection is lost, waiting
	// ReconnectDelay (zero means 1 s) before the second attempt and
	// doubling the wait after each failure up to MaxReconnectDelay (zero
	// means 30 s). Without it a lost connection ends the Client.
	AutoReconnect     bool
	ReconnectDelay    time.Duration
	MaxReconnectDelay time.Duration

	// OnConnect is called after every accepted CONNECT, reconnections
	// included, with the server's CONNACK. OnConnectionLost is called when
	// a connection ends other than by Disconnect, with the reason, and
	// before any reconnection. Both run on the Client's goroutines and
	// must not block.
	OnConnect        func(*packet.Connack)
	OnConnectionLost func(error)
}

const (
	defaultKeepAlive         = 60 * time.Second
	defaultConnectTimeout    = 30 * time.Second
	defaultReconnectDelay    = time.Second
	defaultMaxReconnectDelay = 30 * time.Second
	// inboxSize is how many received messages may wait for the handler
	// before the reader stops reading: enough to ride out a slow handler
	// without holding much memory per client.
	inboxSize = 256
)

func (o *Options) setDefaults() {
	if o.Version == 0 {
		o.Version = packet.V5
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = defaultKeepAlive
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = defaultConnectTimeout
	}
	if o.ReconnectDelay <= 0 {
		o.ReconnectDelay = defaultReconnectDelay
	}
	if o.MaxReconnectDelay <= 0 {
		o.MaxReconnectDelay = defaultMaxReconnectDelay
	}
}

// connectPacket is the CONNECT for a first connection or, with resume, for
// a reconnection that should find its session.
func (c *Client) connectPacket(resume bool) *packet.Connect {
	o := &c.opts
	p := &packet.Connect{
		Version:     o.Version,
		CleanStart:  o.CleanStart && (!resume || o.Version != packet.V5),
		ClientID:    c.clientID,
		Username:    o.Username,
		HasUsername: o.Username != "",
		Password:    o.Password,
		HasPassword: o.Password != nil,
		Will:        o.Will,
	}
	if o.KeepAlive > 0 {
		p.KeepAlive = uint16(min(max(o.KeepAlive/time.Second, 1), 65535))
	}
	if o.Version == packet.V5 {
		p.Props = o.Properties
		if o.SessionExpiry != 0 {
			p.Props.SessionExpiry, p.Props.HasSessionExpiry = o.SessionExpiry, true
		}
		if o.ReceiveMaximum != 0 {
			p.Props.ReceiveMaximum = o.ReceiveMaximum
		}
	}
	return p
}
