package broker

import (
	"log/slog"
	"time"

	"github.com/petrelmq/petrel/internal/session"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// Options configure a Server. The zero value gives a working single-node
// broker; each field documents its default.
type Options struct {
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger

	// Authenticator decides who may connect, after the listener's
	// anonymous rule: it checks every client that sends a user name (an
	// anonymous client is the listener's to admit or refuse); nil accepts
	// every client the listener lets in.
	Authenticator plugin.Authenticator
	// Authorizer decides what a client may publish, subscribe to and
	// receive; nil allows everything.
	Authorizer plugin.Authorizer
	// Store keeps retained messages and persistent sessions across
	// restarts; nil keeps them in memory only.
	Store Store
	// Fabric joins this broker to a cluster; nil is a single node.
	Fabric Fabric

	// ConnectTimeout closes a connection that sends no CONNECT in time.
	// Default 10 s.
	ConnectTimeout time.Duration
	// MaxKeepAlive caps the keep-alive a client may ask for; a v5 client
	// asking for more (or for none) is told the cap in Server Keep Alive.
	// 0 means no cap.
	MaxKeepAlive uint16
	// PersistentSessionExpiry is how long a 3.1/3.1.1 session with Clean
	// Session 0 outlives its connection. 0 means forever, as Mosquitto.
	PersistentSessionExpiry time.Duration
	// MaxSessionExpiry caps a v5 client's Session Expiry Interval; 0 means
	// no cap.
	MaxSessionExpiry time.Duration

	// ReceiveMaximum is how many QoS 1 and 2 PUBLISHes a client may have
	// unacknowledged towards the broker. Default 1024.
	ReceiveMaximum uint16
	// MaxInflight is how many QoS 1 and 2 messages the broker sends a
	// client before waiting for acknowledgements; it is lowered to the
	// client's Receive Maximum. Default 1024.
	MaxInflight int
	// MaxQueuedMessages and MaxQueuedBytes bound each session's outbound
	// queue, online or offline. Defaults 1000 messages and no byte limit.
	MaxQueuedMessages int
	MaxQueuedBytes    int
	// QueueOverflow says what a full queue does: drop the oldest message
	// (the default), drop the newest, or disconnect the client.
	QueueOverflow OverflowPolicy
	// QueueQoS0Offline keeps QoS 0 messages for offline sessions; by
	// default only QoS 1 and 2 messages wait for a client.
	QueueQoS0Offline bool

	// MaxPacketSize is the largest packet the broker accepts, announced to
	// v5 clients. Default 1 MiB.
	MaxPacketSize uint32
	// TopicAliasMaximum is how many topic aliases a v5 client may use
	// towards the broker. Default 64; a negative value disables them.
	TopicAliasMaximum int
	// MaximumQoS is the highest QoS the broker accepts. Default 2; set
	// MaximumQoSSet to announce 0 or 1.
	MaximumQoS    byte
	MaximumQoSSet bool
	// RetainDisabled turns retained messages off (Retain Available 0).
	RetainDisabled bool
	// WildcardSubscriptionsDisabled, SubscriptionIdentifiersDisabled and
	// SharedSubscriptionsDisabled turn those features off and say so in
	// CONNACK.
	WildcardSubscriptionsDisabled   bool
	SubscriptionIdentifiersDisabled bool
	SharedSubscriptionsDisabled     bool
	// ResponseInformation is sent to v5 clients that ask for it with
	// Request Response Information.
	ResponseInformation string
	// ServerReference, when set, is sent with DISCONNECT on shutdown
	// (Use Another Server) so v5 clients can move.
	ServerReference string
	// Redirect answers every v5 CONNECT with Use Another Server (0x9C), or
	// Server Moved (0x9D) when RedirectPermanent is set, naming
	// ServerReference; clients of earlier versions are told Server
	// Unavailable. It moves clients off a broker being retired.
	Redirect          bool
	RedirectPermanent bool
	// AllowDollarPublish lets clients publish to topics that begin with
	// '$', which are otherwise the broker's own.
	AllowDollarPublish bool
	// SharedStrategy chooses the member of a shared subscription group that
	// gets each message. Default RoundRobin.
	SharedStrategy SharedStrategy

	// EnhancedAuth holds the enhanced authentication methods (v5 §4.12)
	// by the name a client gives as Authentication Method, such as
	// "SCRAM-SHA-256". A client naming another method is refused with Bad
	// Authentication Method.
	EnhancedAuth map[string]plugin.EnhancedAuthenticator
	// AuthFailureDelay is how long a failed login waits before its
	// refusal, which slows password guessing down. Default 1 s; negative
	// means no delay.
	AuthFailureDelay time.Duration
	// AuthFailureLimit is how many failed logins one address may have in
	// a minute; past it, its further logins are refused with Connection
	// Rate Exceeded until the minute is over. Default 10; negative means no
	// limit.
	AuthFailureLimit int

	// MaxConnections caps the open connections of all listeners together;
	// 0 is no cap. Connections past it are refused with Server Busy.
	MaxConnections int
	// MaxConnectionRate is how many new connections a second one address
	// may open, with a burst of as many; 0 is no limit. Connections past
	// it are refused with Connection Rate Exceeded.
	MaxConnectionRate float64
	// FlapThreshold, FlapWindow and FlapBan detect flapping: a client id
	// that connects more than FlapThreshold times within FlapWindow is
	// banned for FlapBan. FlapThreshold 0 (the default) turns it off;
	// the window defaults to a minute and the ban to five.
	FlapThreshold int
	FlapWindow    time.Duration
	FlapBan       time.Duration
	// MaxPublishRate and MaxPublishByteRate limit what one client may
	// publish, in messages and in payload bytes a second; 0 is no limit.
	// A client above them is slowed down by not reading from it, so TCP
	// pushes back on it; nothing is dropped.
	MaxPublishRate     float64
	MaxPublishByteRate float64
	// MaxSubscriptionsPerClient caps one session's subscriptions; a
	// SUBSCRIBE past it gets Quota Exceeded. 0 is no cap.
	MaxSubscriptionsPerClient int
	// MaxTopicLevels caps the levels of topic names and filters; a longer
	// one is refused with Topic Name Invalid or Topic Filter Invalid. 0 is
	// no cap.
	MaxTopicLevels int
	// MaxRetainedMessages and MaxRetainedBytes cap the retained set; a
	// retained PUBLISH that would grow it past either is refused with
	// Quota Exceeded and not delivered. 0 is no cap.
	MaxRetainedMessages int
	MaxRetainedBytes    int64
	// MaxQueuedMemory caps the payload and topic bytes held in all
	// sessions' queues together. Past it, a message that would wait in a
	// queue is dropped (and counted) instead, so a crowd of slow or
	// offline clients cannot exhaust memory; a session whose policy is
	// Disconnect is disconnected. 0 is no cap.
	MaxQueuedMemory int64

	// GoroutinePerConnection reads every connection on a goroutine of its
	// own instead of through the epoll-based Poller, which on Linux serves
	// plain TCP connections with no goroutine or buffer while they are
	// idle. It exists to compare the two designs.
	GoroutinePerConnection bool

	// SysInterval is how often $SYS topics are updated; default 10 s, and
	// a negative value turns them off.
	SysInterval time.Duration
	// Version is reported on $SYS/broker/version.
	Version string
}

// OverflowPolicy says what a session's full queue does with one more
// message.
type OverflowPolicy = session.OverflowPolicy

// The overflow policies.
const (
	DropOldest = session.DropOldest // drop the oldest queued message (the default)
	DropNewest = session.DropNewest // drop the message that does not fit
	Disconnect = session.Disconnect // disconnect the slow consumer, keeping its session
)

// SharedStrategy picks one member of a shared subscription group.
type SharedStrategy byte

// The shared subscription strategies.
const (
	RoundRobin   SharedStrategy = iota // each member in turn
	Random                             // a member at random
	Sticky                             // the same member until it leaves
	HashClientID                       // by the publisher's client id
	HashTopic                          // by the topic name
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.ReceiveMaximum == 0 {
		o.ReceiveMaximum = 1024
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = 1024
	}
	if o.MaxQueuedMessages == 0 {
		o.MaxQueuedMessages = 1000
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = 1 << 20
	}
	if o.TopicAliasMaximum == 0 {
		o.TopicAliasMaximum = 64
	} else if o.TopicAliasMaximum < 0 {
		o.TopicAliasMaximum = 0
	}
	if !o.MaximumQoSSet {
		o.MaximumQoS = 2
	}
	if o.AuthFailureDelay == 0 {
		o.AuthFailureDelay = time.Second
	}
	if o.AuthFailureLimit == 0 {
		o.AuthFailureLimit = 10
	}
	if o.FlapWindow == 0 {
		o.FlapWindow = time.Minute
	}
	if o.FlapBan == 0 {
		o.FlapBan = 5 * time.Minute
	}
	if o.SysInterval == 0 {
		o.SysInterval = 10 * time.Second
	}
	if o.Version == "" {
		o.Version = "petrel"
	}
	return o
}

// Listener is how one listening socket admits clients.
type Listener struct {
	// Name identifies the listener in logs and to plugins.
	Name string
	// AllowAnonymous admits clients that send no user name.
	AllowAnonymous bool
	// Versions lists the protocol versions the listener accepts; empty
	// accepts 3.1, 3.1.1 and 5.0. A client of another version is refused
	// with Unsupported Protocol Version.
	Versions []packet.Version
	// MaxConnections caps the listener's open connections; 0 is no cap.
	// Connections past it are refused with Server Busy (v5) or Server
	// Unavailable (3.1.1).
	MaxConnections int
	// Identity takes the client's user name from its TLS client
	// certificate, as Mosquitto's use_identity_as_username and
	// use_subject_as_username do: a client whose connection carries a
	// verified certificate is then authenticated by it, whatever user name
	// and password it sends. NoIdentity (the default) leaves the user name
	// to CONNECT.
	Identity CertIdentity
	// Authenticator and Authorizer, when not nil, replace the Options'
	// ones for this listener's clients.
	Authenticator plugin.Authenticator
	Authorizer    plugin.Authorizer
}

// CertIdentity says which part of a TLS client certificate names the client.
type CertIdentity byte

// The certificate identities.
const (
	NoIdentity         CertIdentity = iota // the user name comes from CONNECT
	IdentityCommonName                     // the subject's Common Name
	IdentitySubject                        // the whole subject, as RFC 2253 text
)
