package broker

import (
	"sync/atomic"
	"time"
)

// Limits are the protection limits: what one client, one address or all
// of them together may do. Options sets them at start and SetLimits while
// the server runs; each field means what the Options field of the same
// name says, zero values included, and applies from the next operation it
// governs: a connection already open is not closed by a lower
// MaxConnections, a retained set already above MaxRetainedMessages is not
// pruned.
type Limits struct {
	MaxConnections            int
	MaxConnectionRate         float64
	FlapThreshold             int
	FlapWindow                time.Duration
	FlapBan                   time.Duration
	MaxPublishRate            float64
	MaxPublishByteRate        float64
	MaxSubscriptionsPerClient int
	MaxTopicLevels            int
	MaxRetainedMessages       int
	MaxRetainedBytes          int64
	MaxQueuedMemory           int64
	AuthFailureDelay          time.Duration
	AuthFailureLimit          int
}

// serverOps is the state operators change while the server runs.
type serverOps struct {
	// limits is read on every operation a limit governs and replaced
	// whole, so readers take no lock and see one consistent set.
	limits atomic.Pointer[Limits]
	// trace is the client id whose packets are logged; "" or nil for none.
	trace atomic.Pointer[string]
}

// Limits are the protection limits o sets, as written: zero fields take
// their defaults when the server applies them.
func (o Options) Limits() Limits {
	return Limits{
		MaxConnections:            o.MaxConnections,
		MaxConnectionRate:         o.MaxConnectionRate,
		FlapThreshold:             o.FlapThreshold,
		FlapWindow:                o.FlapWindow,
		FlapBan:                   o.FlapBan,
		MaxPublishRate:            o.MaxPublishRate,
		MaxPublishByteRate:        o.MaxPublishByteRate,
		MaxSubscriptionsPerClient: o.MaxSubscriptionsPerClient,
		MaxTopicLevels:            o.MaxTopicLevels,
		MaxRetainedMessages:       o.MaxRetainedMessages,
		MaxRetainedBytes:          o.MaxRetainedBytes,
		MaxQueuedMemory:           o.MaxQueuedMemory,
		AuthFailureDelay:          o.AuthFailureDelay,
		AuthFailureLimit:          o.AuthFailureLimit,
	}
}

// limits are the limits in force.
func (s *Server) limits() *Limits { return s.ops.limits.Load() }

// Limits returns the limits in force, with defaults filled in.
func (s *Server) Limits() Limits { return *s.limits() }

// SetLimits replaces the limits in force. Zero values take the defaults
// the Options fields document.
func (s *Server) SetLimits(l Limits) {
	o := Options{
		MaxConnections:            l.MaxConnections,
		MaxConnectionRate:         l.MaxConnectionRate,
		FlapThreshold:             l.FlapThreshold,
		FlapWindow:                l.FlapWindow,
		FlapBan:                   l.FlapBan,
		MaxPublishRate:            l.MaxPublishRate,
		MaxPublishByteRate:        l.MaxPublishByteRate,
		MaxSubscriptionsPerClient: l.MaxSubscriptionsPerClient,
		MaxTopicLevels:            l.MaxTopicLevels,
		MaxRetainedMessages:       l.MaxRetainedMessages,
		MaxRetainedBytes:          l.MaxRetainedBytes,
		MaxQueuedMemory:           l.MaxQueuedMemory,
		AuthFailureDelay:          l.AuthFailureDelay,
		AuthFailureLimit:          l.AuthFailureLimit,
	}
	withDefaults := o.withDefaults().Limits()
	s.ops.limits.Store(&withDefaults)
}
