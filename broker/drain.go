package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// DrainOptions say where Drain sends MQTT 5 clients.
type DrainOptions struct {
	// ServerReference, when set, names the server clients should use
	// instead (v5 §4.11): they get DISCONNECT Use Another Server (0x9C),
	// or Server Moved (0x9D) with Permanent. Without it they get Server
	// Shutting Down (0x8B).
	ServerReference string
	Permanent       bool
}

// readinessProbe is the topic of the write Ready makes: a name no client
// can publish, so deleting its retained message changes nothing.
const readinessProbe = "#readiness-probe"

// Ready reports why the server should not be sent clients, or nil: it is
// shutting down, no listener is accepting, or the store cannot write
// (Ready makes a small write and waits for it until ctx ends).
func (s *Server) Ready(ctx context.Context) error {
	if s.closing.Load() {
		return errors.New("the server is shutting down")
	}
	if len(s.Listeners()) == 0 {
		return errors.New("no listener is accepting connections")
	}
	if s.store == nil {
		return nil
	}
	if s.storeFailed.Load() {
		return errors.New("a store write failed, so nothing that needs the store is acknowledged")
	}
	done := make(chan error, 1)
	s.store.Apply([]Op{{Kind: OpUnretain, Topic: readinessProbe}}, func(err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("the store cannot write: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the store did not write in time: %w", ctx.Err())
	}
}

// Listeners returns the names of the listeners accepting connections, in
// order.
func (s *Server) Listeners() []string {
	s.mu.Lock()
	names := make([]string, 0, len(s.listeners))
	for _, name := range s.listeners {
		names = append(names, name)
	}
	s.mu.Unlock()
	slices.Sort(names)
	return names
}
