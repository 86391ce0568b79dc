package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/petrelmq/petrel/internal/topic"
	"github.com/petrelmq/petrel/packet"
)

// Kick disconnects the client with this id, with Administrative Action
// (0x98) for an MQTT 5 client, and reports whether it was connected. Its
// session stays, as its expiry says; its will is published, as for any
// connection the server ends.
func (s *Server) Kick(clientID string) bool {
	cs, ok := s.sessions.load(clientID)
	if !ok {
		return false
	}
	cs.mu.Lock()
	c := cs.conn
	cs.mu.Unlock()
	if c == nil {
		return false
	}
	s.log.Warn("disconnecting a client for an operator", "client", clientID, "remote", c.remote())
	c.disconnect(packet.AdministrativeAction, "", "disconnected by an operator")
	return true
}

// DeleteSession ends the session of this client id, online or offline,
// and reports whether there was one: its subscriptions and queued
// messages go, a pending will is published, and a connected client is
// disconnected with Administrative Action.
func (s *Server) DeleteSession(clientID string) bool {
	cs, ok := s.sessions.load(clientID)
	if !ok {
		return false
	}
	cs.mu.Lock()
	c := cs.conn
	if c != nil {
		// The session now ends with its connection, which ends now.
		if cs.persistent() {
			s.apply(Op{Kind: OpEndSession, ClientID: cs.id})
		}
		cs.expiry = 0
	}
	cs.mu.Unlock()
	s.log.Warn("deleting a session for an operator", "client", clientID, "online", c != nil)
	if c != nil {
		c.disconnect(packet.AdministrativeAction, "", "session deleted by an operator")
		return true
	}
	s.endSession(cs)
	return true
}

// ErrNotDurable is wrapped by the error of a change that was made but is
// not known to be durable: the store failed, or the context ended first.
var ErrNotDurable = errors.New("broker: the change was made, but is not known to be durable")

// Publish publishes m as the server itself (no client is its publisher)
// and returns how many sessions it was delivered to. It applies the rules
// clients meet, but for access control and the '$' prefix: a valid topic
// name, the maximum QoS, retained messages available and their quota. A
// retained message or a delivery to a persistent session is durable as
// the store promises before Publish returns, or ctx ends first and the
// error says so. The broker keeps m: do not change it afterwards.
func (s *Server) Publish(ctx context.Context, m *Message) (int, error) {
	if s.closing.Load() {
		return 0, ErrServerClosed
	}
	if err := topic.ValidateName(m.Topic); err != nil {
		return 0, err
	}
	switch {
	case byte(m.QoS) > s.opts.MaximumQoS:
		return 0, fmt.Errorf("QoS %d is above the server's maximum, %d", m.QoS, s.opts.MaximumQoS)
	case m.Retain && s.opts.RetainDisabled:
		return 0, errors.New("retained messages are not available")
	case m.Retain && len(m.Payload) > 0 && !s.retainRoom(&packet.Publish{Topic: m.Topic, Payload: m.Payload}):
		return 0, errors.New("the retained message store is full")
	}
	m.Publisher = ""
	m.Received = sinceEpoch(time.Now())
	n, stored := s.publish(m, nil)
	if stored {
		return n, s.sync(ctx)
	}
	return n, nil
}

// DeleteRetained deletes the retained messages whose topics match filter
// (a topic name matches only itself) and returns how many there were,
// once their deletion is durable or ctx ends.
func (s *Server) DeleteRetained(ctx context.Context, filter string) (int, error) {
	if s.closing.Load() {
		return 0, ErrServerClosed
	}
	ms, err := s.Retained(filter)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range ms {
		if old, ok := s.retained.Take(m.Topic); ok {
			s.stats.retained.Add(-1)
			s.stats.retainedBytes.Add(-retainedSize(old))
			s.apply(Op{Kind: OpUnretain, Topic: m.Topic})
			n++
		}
	}
	if n > 0 {
		s.log.Info("retained messages deleted by an operator", "filter", filter, "count", n)
		return n, s.sync(ctx)
	}
	return 0, nil
}

// sync waits until everything applied to the store so far is durable, or
// ctx ends.
func (s *Server) sync(ctx context.Context) error {
	if s.store == nil {
		return nil
	}
	done := make(chan error, 1)
	s.store.Apply(nil, func(err error) { done <- err })
	select {
	case err := <-done:
		if err == nil && s.storeFailed.Load() {
			err = errors.New("a store write failed")
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotDurable, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotDurable, ctx.Err())
	}
}
