package broker

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/topic"
	"github.com/petrelmq/petrel/packet"
)

// NeverExpires is the expiry of a session that outlives every
// disconnection.
const NeverExpires = neverExpires

// ClientInfo describes a connected client.
type ClientInfo struct {
	ClientID    string
	Username    string
	HasUsername bool
	// Address is the client's host:port, or a Unix socket's path.
	Address  string
	Listener string
	Version  packet.Version
	// KeepAlive is the keep-alive in force, 0 for none.
	KeepAlive   time.Duration
	ConnectedAt time.Time
	// SessionExpiry is how long the session outlives the connection:
	// 0 when it ends with it, NeverExpires when it never ends.
	SessionExpiry time.Duration
	Subscriptions int
	// Queued and QueuedBytes are the messages waiting in the session's
	// queue; Inflight the deliveries sent and not acknowledged.
	Queued      int
	QueuedBytes int
	Inflight    int
	// Traffic is what the connection has carried.
	Traffic Traffic
}

// ClientQuery selects clients; its zero value selects every one.
type ClientQuery struct {
	// Search keeps clients whose id or user name contains it.
	Search string
	// Username keeps the clients logged in with this user name.
	Username string
	// Network keeps the clients whose address it contains.
	Network netip.Prefix
}

func (q *ClientQuery) matches(c *conn) bool {
	cl := &c.client
	switch {
	case q.Search != "" && !strings.Contains(cl.ID, q.Search) && !strings.Contains(cl.Username, q.Search):
		return false
	case q.Username != "" && (!cl.HasUsername || cl.Username != q.Username):
		return false
	case q.Network.IsValid() && !q.Network.Contains(addrOf(cl.RemoteAddr)):
		return false
	}
	return true
}

// Clients returns the connected clients q selects, by client id.
func (s *Server) Clients(q ClientQuery) []ClientInfo {
	var conns []*conn
	s.mu.Lock()
	for c := s.conns; c != nil; c = c.next {
		// A client's fields are written before it is logged in and read
		// only after.
		if c.loggedIn.Load() && q.matches(c) {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	out := make([]ClientInfo, 0, len(conns))
	for _, c := range conns {
		if ci, ok := c.info(); ok {
			out = append(out, ci)
		}
	}
	slices.SortFunc(out, func(a, b ClientInfo) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out
}

// Client returns the connected client with this id.
func (s *Server) Client(clientID string) (ClientInfo, bool) {
	cs, ok := s.sessions.load(clientID)
	if !ok {
		return ClientInfo{}, false
	}
	cs.mu.Lock()
	c := cs.conn
	cs.mu.Unlock()
	if c == nil || !c.loggedIn.Load() {
		return ClientInfo{}, false
	}
	return c.info()
}

// info describes the connection, unless it is no longer its session's:
// taken over, or over.
func (c *conn) info() (ClientInfo, bool) {
	cs := c.sess
	ci := ClientInfo{
		ClientID:    c.client.ID,
		Username:    c.client.Username,
		HasUsername: c.client.HasUsername,
		Address:     c.remote(),
		Listener:    c.lst.cfg.Name,
		Version:     c.v,
		KeepAlive:   time.Duration(c.keepAlive) * time.Second,
		ConnectedAt: time.Unix(0, c.ops.connectedAt),
	}
	c.ops.addTo(&ci.Traffic)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.conn != c {
		return ClientInfo{}, false
	}
	ci.SessionExpiry = cs.expiry
	ci.Subscriptions = cs.st.Subscriptions.Len()
	ci.Queued, ci.QueuedBytes, ci.Inflight = cs.st.Queued(), cs.st.QueuedBytes(), cs.st.InflightCount()
	return ci, true
}

// SessionInfo describes a session, online or offline.
type SessionInfo struct {
	ClientID string
	Online   bool
	// Version is the protocol version of the client's last connection.
	Version packet.Version
	// Expiry is how long the session outlives its connection: 0 when it
	// ends with it, NeverExpires when it never ends.
	Expiry time.Duration
	// OfflineSince is when the client went offline, and ExpiresAt when
	// the session ends unless it reconnects; both zero while online, and
	// ExpiresAt zero for a session that never expires.
	OfflineSince  time.Time
	ExpiresAt     time.Time
	Subscriptions int
	Queued        int
	QueuedBytes   int
	Inflight      int
	// WillPending is set while a will waits for its delay to pass.
	WillPending bool
}

// Sessions returns the sessions whose client id contains search (every
// session for ""), by client id.
func (s *Server) Sessions(search string) []SessionInfo {
	var out []SessionInfo
	s.eachSession(func(cs *clientSession) {
		if strings.Contains(cs.id, search) {
			if si, ok := cs.info(); ok {
				out = append(out, si)
			}
		}
	})
	slices.SortFunc(out, func(a, b SessionInfo) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out
}

// Session returns the session of this client id.
func (s *Server) Session(clientID string) (SessionInfo, bool) {
	cs, ok := s.sessions.load(clientID)
	if !ok {
		return SessionInfo{}, false
	}
	return cs.info()
}

func (cs *clientSession) info() (SessionInfo, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.gone {
		return SessionInfo{}, false
	}
	si := SessionInfo{
		ClientID:      cs.id,
		Online:        cs.conn != nil,
		Version:       cs.version,
		Expiry:        cs.expiry,
		Subscriptions: cs.st.Subscriptions.Len(),
		Queued:        cs.st.Queued(),
		QueuedBytes:   cs.st.QueuedBytes(),
		Inflight:      cs.st.InflightCount(),
		WillPending:   cs.will != nil,
	}
	if !si.Online {
		si.OfflineSince = cs.offlineSince
		if cs.expiry != neverExpires {
			si.ExpiresAt = cs.offlineSince.Add(cs.expiry)
		}
	}
	return si, true
}

// SubscriptionInfo is one session's subscription.
type SubscriptionInfo struct {
	ClientID string
	Subscription
}

// SubscriptionQuery selects subscriptions; its zero value selects every
// one.
type SubscriptionQuery struct {
	// ClientID keeps one session's subscriptions.
	ClientID string
	// Filter keeps the subscriptions to this filter, as subscribed,
	// "$share/{group}/" included.
	Filter string
	// Topic keeps the subscriptions a message on this topic name would
	// reach: a shared group's every member.
	Topic string
}

// Subscriptions returns the subscriptions q selects, by client id and
// filter.
func (s *Server) Subscriptions(q SubscriptionQuery) []SubscriptionInfo {
	var out []SubscriptionInfo
	collect := func(cs *clientSession, keep func(Subscription) bool) {
		cs.mu.Lock()
		if !cs.gone {
			for sub := range cs.st.Subscriptions.All() {
				if (q.Filter == "" || sub.Filter == q.Filter) && (keep == nil || keep(sub)) {
					out = append(out, SubscriptionInfo{ClientID: cs.id, Subscription: sub})
				}
			}
		}
		cs.mu.Unlock()
	}
	switch {
	case q.ClientID != "":
		if cs, ok := s.sessions.load(q.ClientID); ok {
			collect(cs, nil)
		}
	case q.Topic != "":
		if topic.ValidateName(q.Topic) != nil {
			return nil
		}
		// The tree says which clients' filters match; their sessions say
		// how they subscribed.
		var r topic.Result
		s.tree.Match(q.Topic, &r)
		filters := map[string][]string{}
		for _, sub := range r.Subscriptions {
			filters[sub.ClientID] = append(filters[sub.ClientID], sub.Filter)
		}
		for _, g := range r.Groups {
			for _, m := range g.Members {
				filters[m.ClientID] = append(filters[m.ClientID], "$share/"+g.ShareName+"/"+g.Filter)
			}
		}
		for id, fs := range filters {
			if cs, ok := s.sessions.load(id); ok {
				collect(cs, func(sub Subscription) bool { return slices.Contains(fs, sub.Filter) })
			}
		}
	default:
		s.eachSession(func(cs *clientSession) { collect(cs, nil) })
	}
	slices.SortFunc(out, func(a, b SubscriptionInfo) int {
		return cmp.Or(strings.Compare(a.ClientID, b.ClientID), strings.Compare(a.Filter, b.Filter))
	})
	return out
}

// Retained returns the retained messages whose topics match filter, by
// topic. As for a subscriber, a filter that begins with a wildcard does
// not match topics that begin with '$'.
func (s *Server) Retained(filter string) ([]*Message, error) {
	if err := topic.ValidateFilter(filter); err != nil {
		return nil, err
	}
	ms := s.retained.Match(filter, nil)
	slices.SortFunc(ms, func(a, b *Message) int { return strings.Compare(a.Topic, b.Topic) })
	return ms, nil
}

// RetainedMessage returns the retained message of a topic name.
func (s *Server) RetainedMessage(topicName string) (*Message, bool) {
	if topic.ValidateName(topicName) != nil {
		return nil, false
	}
	ms := s.retained.Match(topicName, nil)
	if len(ms) == 0 {
		return nil, false
	}
	return ms[0], true
}
