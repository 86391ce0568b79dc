package broker

import (
	"log/slog"
	"time"

	"github.com/petrelmq/petrel/internal/session"
	"github.com/petrelmq/petrel/plugin"
)

// Options configure a Server. The zero value gives a working single-node
// broker; each field documents its default.
type Options struct {
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger

	// Authenticator decides who may connect, after the listener's
	// anonymous rule; nil accepts every client the listener lets in.
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
}
