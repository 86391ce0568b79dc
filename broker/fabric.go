package broker

import (
	"context"
	"sync"
)

// Fabric joins brokers into a cluster. The broker tells it which topic
// filters this node has subscribers for, hands it every message published
// here so it can reach other nodes with interest, and asks it before
// taking a client's session so one client id is live on one node at a
// time. Messages from other nodes come back through Server.DeliverRemote.
// Options.Fabric nil is a single node: nothing leaves it.
//
// Concurrency contract: Publish is called on the publishing client's
// goroutine for every message, and Interest from SUBSCRIBE, UNSUBSCRIBE
// and session handling, possibly with a session lock held: neither may
// block (queue and return). ClaimSession is called from CONNECT before the
// session is attached and may block until ctx ends, in which case the
// CONNECT is refused as Server Unavailable.
type Fabric interface {
	// Publish forwards a message published on this node.
	Publish(m *Message)
	// Interest reports that this node gained (add) or lost its first or
	// last subscription to filter, in shared group share ("" for none).
	Interest(share, filter string, add bool)
	// ClaimSession makes this node the owner of clientID's session,
	// taking it over from another node if need be.
	ClaimSession(ctx context.Context, clientID string) error
}

type interestKey struct{ share, filter string }

// interest counts this node's subscriptions per (share, filter) so the
// Fabric hears only of the first and the last.
type interest struct {
	mu     sync.Mutex
	counts map[interestKey]int
}

// interestChanged records one subscription added or removed and tells the
// Fabric when the count for that filter starts or stops.
func (s *Server) interestChanged(share, filter string, add bool) {
	if s.opts.Fabric == nil {
		return
	}
	k := interestKey{share, filter}
	s.interest.mu.Lock()
	if s.interest.counts == nil {
		s.interest.counts = map[interestKey]int{}
	}
	n := s.interest.counts[k]
	if add {
		n++
	} else {
		n--
	}
	if n <= 0 {
		delete(s.interest.counts, k)
	} else {
		s.interest.counts[k] = n
	}
	edge := add && n == 1 || !add && n == 0
	s.interest.mu.Unlock()
	if edge {
		s.opts.Fabric.Interest(share, filter, add)
	}
}

// DeliverRemote delivers a message that another node's Fabric forwarded to
// this node's subscribers, without forwarding it again. Retained messages
// are the Fabric's to replicate on their own path.
func (s *Server) DeliverRemote(m *Message) {
	s.route(m, nil)
}
