package loadgen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// Scenario is a shape of load, named as MQTT benchmarks name them.
type Scenario string

// The scenarios. Each message scenario runs publishers and subscribers
// in this process, so every message is accounted for at its receivers.
const (
	// Conn opens Clients connections at ConnectRate and holds them, idle
	// but for keep-alive, for Duration. With a SubTopic, each subscribes
	// to it once, as most idle clients of a real server have.
	Conn Scenario = "conn"
	// Pub runs Pubs publishers and no subscriber, for a broker whose
	// subscribers are elsewhere (another petrel bench sub, say).
	Pub Scenario = "pub"
	// Sub runs Subs subscribers for publishers elsewhere; loss is then
	// counted from gaps in the publishers' sequence numbers.
	Sub Scenario = "sub"
	// FanIn runs Pubs publishers (4 by default) on topics of their own and
	// Subs subscribers (1) to a wildcard filter that matches them all.
	FanIn Scenario = "fanin"
	// FanOut runs Pubs publishers (1) and Subs subscribers (16) on one topic.
	FanOut Scenario = "fanout"
	// P2P runs Clients pairs (8): publisher i to subscriber i, on a topic
	// of their own.
	P2P Scenario = "p2p"
	// Shared runs Pubs publishers (8) on topics of their own and Subs
	// subscribers (4) in one shared subscription that matches them all,
	// so each message reaches one member of the group.
	Shared Scenario = "shared"
)

// Scenarios lists every scenario, in the order a user meets them.
var Scenarios = []Scenario{Conn, Pub, Sub, FanIn, FanOut, P2P, Shared}

// Target is the server to load and how to reach it.
type Target struct {
	// Addr is the server's host:port.
	Addr string
	// TLS, when not nil, wraps each connection in TLS with this
	// configuration (its ServerName should be set).
	TLS *tls.Config
	// WebSocketPath, when not empty, carries MQTT over WebSocket to this
	// path (inside TLS when TLS is set).
	WebSocketPath string
	// SourceAddrs spreads connections over these local addresses, one
	// after the other: each has about 28,000 ephemeral ports towards one
	// server address. Empty lets the system choose.
	SourceAddrs []net.IP
	// Username is sent when not empty, Password when not nil.
	Username string
	Password []byte
}

// Transport names the target's transport: tcp, tls, ws or wss.
func (t *Target) Transport() string {
	switch {
	case t.WebSocketPath != "" && t.TLS != nil:
		return "wss"
	case t.WebSocketPath != "":
		return "ws"
	case t.TLS != nil:
		return "tls"
	}
	return "tcp"
}

// Config is one run. Zero counts and patterns take the scenario's
// defaults (see Scenario's constants), and Duration defaults to 10 s
// unless Count is set.
type Config struct {
	Target
	Scenario Scenario
	// Version is the protocol version; zero means 3.1.1.
	Version packet.Version

	// Clients is the number of connections (Conn) or pairs (P2P).
	Clients int
	// Pubs and Subs are the numbers of publishers and subscribers of the
	// other scenarios.
	Pubs, Subs int
	// Topic is the publishers' topic, with %i replaced by the publisher's
	// index. SubTopic is the subscribers' filter, with %i replaced by the
	// subscriber's index (Conn: the connection's); by default the scenario
	// derives it from Topic, and Conn subscribes to nothing.
	Topic, SubTopic string
	// SharedGroup names the shared subscription of Shared (default
	// "bench"), and makes Sub's subscribers share one too.
	SharedGroup string
	// Filters is how many filters each Conn connection subscribes to:
	// SubTopic with %j replaced by the filter's index, 0 to Filters-1.
	// Zero means one, SubTopic as it is.
	Filters int
	// Retained is how many retained messages Conn's connections publish
	// between them once connected, at QoS 1, to Topic with %i replaced by
	// the message's index (default retained/%i): state the server then
	// holds while the connections are held.
	Retained int
	// Ready, when not nil, is called once Conn's connections are open and
	// subscribed and their retained messages acknowledged.
	Ready func()

	// QoS lists the publishers' QoS levels, taken in turn: publisher i
	// publishes at QoS[i%len(QoS)]. Empty means 0.
	QoS []packet.QoS
	// SubQoS is the subscriptions' maximum QoS; nil means the highest of
	// QoS.
	SubQoS *packet.QoS
	// Size is the payload size in bytes, at least HeaderSize; zero means 64.
	Size int
	// Rate is the messages per second of each publisher; zero publishes as
	// fast as the in-flight window and the connection allow.
	Rate float64
	// Inflight is each QoS 1 and 2 publisher's window of unacknowledged
	// messages, capped by the server's Receive Maximum; zero means 64.
	Inflight int
	// Count is the messages each publisher sends (each subscriber
	// receives, in Sub); Duration is how long they publish (how long Conn
	// holds its connections). The run ends at whichever comes first;
	// neither means until the context ends.
	Count    int64
	Duration time.Duration
	// Drain is how long to wait after publishing for acknowledgements and
	// deliveries still under way; zero means 5 s.
	Drain time.Duration

	// Persistent asks for sessions that outlive their connections (Clean
	// Start and Clean Session 0), for a server that then has to store
	// them. Client identifiers are then better stable: see ClientIDPrefix.
	Persistent bool
	// KeepAlive is the connections' keep-alive; zero means 60 s.
	KeepAlive time.Duration
	// ConnectRate limits new connections per second; zero means as fast
	// as the server accepts them.
	ConnectRate float64
	// ClientIDPrefix starts every client identifier, followed by the
	// client's role and index; empty means "petrel-bench-<pid>-".
	ClientIDPrefix string

	// BrokerPID, when not zero, is the broker's process id on this host:
	// the report then gives its CPU time per delivered message and its
	// memory, read from /proc.
	BrokerPID int
	// Progress, when not nil, is called once a second from one goroutine
	// with the second that just ended. It must not block for long.
	Progress func(Sample)
}

const (
	defaultSize     = 64
	defaultInflight = 64
	defaultDuration = 10 * time.Second
	defaultDrain    = 5 * time.Second
	defaultKeep     = 60 * time.Second
	defaultGroup    = "bench"
	// persistentExpiry is the Session Expiry Interval a 5.0 client asks
	// for when Persistent: long enough for a run, short enough that the
	// sessions of finished runs do not pile up on the server.
	persistentExpiry = 300
)

// scenarioDefaults are the counts and topic a scenario uses unless told
// otherwise.
type scenarioDefaults struct {
	clients, pubs, subs int
	topic               string
}

var defaults = map[Scenario]scenarioDefaults{
	Conn:   {clients: 1000},
	Pub:    {pubs: 1, topic: "bench/%i"},
	Sub:    {subs: 1},
	FanIn:  {pubs: 4, subs: 1, topic: "bench/%i"},
	FanOut: {pubs: 1, subs: 16, topic: "bench/fanout"},
	P2P:    {clients: 8, topic: "bench/%i"},
	Shared: {pubs: 8, subs: 4, topic: "bench/%i"},
}

// subTopic is the filter a scenario's subscribers use unless told: one
// that matches every publisher's topic for fanin and shared, the
// publishers' own topic for fanout and p2p, and everything under bench/
// for publishers elsewhere.
func subTopic(s Scenario, topic string) string {
	switch s {
	case Sub:
		return "bench/#"
	case FanIn, Shared:
		return strings.ReplaceAll(topic, "%i", "+")
	}
	return topic
}

// Check reports what Run would find wrong with the configuration,
// without running anything.
func (c Config) Check() error { return c.resolve() }

// resolve fills in defaults and checks the configuration, with errors
// that name the setting to change.
func (c *Config) resolve() error {
	d, ok := defaults[c.Scenario]
	if !ok {
		return fmt.Errorf("unknown scenario %q; choose one of %s", c.Scenario, scenarioList())
	}
	if c.Addr == "" {
		return errors.New("no server address")
	}
	takesClients := d.clients > 0
	if takesClients && (c.Pubs != 0 || c.Subs != 0) {
		return fmt.Errorf("%s takes a number of clients, not of publishers and subscribers", c.Scenario)
	}
	if !takesClients && c.Clients != 0 {
		return fmt.Errorf("%s takes numbers of publishers and subscribers, not of clients", c.Scenario)
	}
	if d.pubs == 0 && c.Pubs != 0 {
		return fmt.Errorf("%s has no publishers", c.Scenario)
	}
	if d.subs == 0 && c.Subs != 0 {
		return fmt.Errorf("%s has no subscribers", c.Scenario)
	}
	if c.Clients < 0 || c.Pubs < 0 || c.Subs < 0 {
		return errors.New("the numbers of clients, publishers and subscribers cannot be negative")
	}
	c.Clients = or(c.Clients, d.clients)
	c.Pubs, c.Subs = or(c.Pubs, d.pubs), or(c.Subs, d.subs)
	if c.Scenario == P2P {
		c.Pubs, c.Subs = c.Clients, c.Clients
	}
	if c.Scenario != Conn && c.Pubs+c.Subs == 0 || c.Scenario == Conn && c.Clients == 0 {
		return errors.New("nothing to run: no clients")
	}
	if c.Topic == "" {
		c.Topic = d.topic
	}
	if c.Topic == "" && c.Retained > 0 {
		c.Topic = "retained/%i"
	}
	if c.SubTopic == "" && c.Scenario != Conn {
		c.SubTopic = subTopic(c.Scenario, c.Topic)
	}
	switch {
	case c.Scenario != Conn && (c.Filters != 0 || c.Retained != 0):
		return fmt.Errorf("%s takes no filters per connection or retained messages; conn does", c.Scenario)
	case c.Filters < 0 || c.Retained < 0:
		return errors.New("the numbers of filters and retained messages cannot be negative")
	case c.Filters > 1 && !strings.Contains(c.SubTopic, "%j"):
		return fmt.Errorf("%d filters per connection need %%j in the filter %q, or they would all be the same", c.Filters, c.SubTopic)
	case c.Filters > 0 && c.SubTopic == "":
		return errors.New("filters per connection need a filter: give one with %j in it")
	case c.Retained > 1 && !strings.Contains(c.Topic, "%i"):
		return fmt.Errorf("%d retained messages need %%i in the topic %q, or each would replace the last", c.Retained, c.Topic)
	case (c.Pubs > 0 || c.Retained > 0) && strings.ContainsAny(c.Topic, "+#"):
		return fmt.Errorf("topic %q: one cannot publish to a topic filter with wildcards", c.Topic)
	}
	c.Filters = or(c.Filters, 1)
	if c.Pubs > maxPublisher {
		return fmt.Errorf("%d publishers: at most %d", c.Pubs, maxPublisher)
	}
	if c.SharedGroup == "" && c.Scenario == Shared {
		c.SharedGroup = defaultGroup
	}
	if c.SharedGroup != "" && c.Scenario != Shared && c.Scenario != Sub {
		return fmt.Errorf("%s has no shared subscription; a shared group needs shared or sub", c.Scenario)
	}
	if strings.ContainsAny(c.SharedGroup, "/+#") {
		return fmt.Errorf("shared group %q: a group name cannot contain /, + or #", c.SharedGroup)
	}
	switch c.Version {
	case 0:
		c.Version = packet.V311
	case packet.V31, packet.V311, packet.V5:
	default:
		return fmt.Errorf("protocol version %d: use 3.1, 3.1.1 or 5", c.Version)
	}
	if len(c.QoS) == 0 {
		c.QoS = []packet.QoS{0}
	}
	var top packet.QoS
	for _, q := range c.QoS {
		if q > 2 {
			return fmt.Errorf("QoS %d: use 0, 1 or 2", q)
		}
		top = max(top, q)
	}
	if c.SubQoS == nil {
		c.SubQoS = &top
	} else if *c.SubQoS > 2 {
		return fmt.Errorf("subscription QoS %d: use 0, 1 or 2", *c.SubQoS)
	}
	c.Size = or(c.Size, defaultSize)
	if c.Size < HeaderSize {
		return fmt.Errorf("payload size %d: at least %d bytes, to carry a sequence number and a timestamp", c.Size, HeaderSize)
	}
	if c.Size > packet.MaxPacketSize-1024 {
		return fmt.Errorf("payload size %d: larger than an MQTT packet can carry", c.Size)
	}
	c.Inflight = or(c.Inflight, defaultInflight)
	if c.Inflight < 1 || c.Inflight > 65535 {
		return fmt.Errorf("in-flight window %d: use 1 to 65535", c.Inflight)
	}
	if c.Rate < 0 || c.ConnectRate < 0 || c.Count < 0 || c.Duration < 0 || c.Drain < 0 || c.KeepAlive < 0 {
		return errors.New("rates, counts and durations cannot be negative")
	}
	if c.Count > 1<<32-1 {
		return fmt.Errorf("count %d: at most %d messages per publisher", c.Count, uint32(1<<32-1))
	}
	if c.Count == 0 && c.Duration == 0 {
		c.Duration = defaultDuration
	}
	if c.Scenario == Conn && c.Count != 0 {
		return errors.New("conn sends no messages; give it a duration")
	}
	c.Drain = orDuration(c.Drain, defaultDrain)
	c.KeepAlive = orDuration(c.KeepAlive, defaultKeep)
	if c.KeepAlive > 65535*time.Second {
		return fmt.Errorf("keep-alive %s: at most 65535 s", c.KeepAlive)
	}
	return nil
}

func or(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func orDuration(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}

func scenarioList() string {
	names := make([]string, len(Scenarios))
	for i, s := range Scenarios {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// expand replaces %i in a topic pattern with i.
func expand(pattern string, i int) string {
	return strings.ReplaceAll(pattern, "%i", strconv.Itoa(i))
}

// matches reports whether topic name matches filter, with + and #.
func matches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false // [MQTT-4.7.2-1]
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return true
		}
		t, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		if !fmore || !tmore {
			return !fmore && !tmore || fmore && frest == "#"
		}
		filter, topic = frest, trest
	}
}
