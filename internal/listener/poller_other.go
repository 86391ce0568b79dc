//go:build !linux

package listener

import (
	"errors"
	"net"
)

// Poller is available on Linux only; elsewhere NewPoller fails and the
// broker reads each connection on a goroutine of its own.
type Poller struct{}

// NewPoller reports that there is no poller on this system.
func NewPoller() (*Poller, error) { return nil, errors.ErrUnsupported }

// Watch is never called: NewPoller fails.
func (p *Poller) Watch(int, func(int)) error { return errors.ErrUnsupported }

// Release is never called: NewPoller fails.
func (p *Poller) Release(int) {}

// Slots is 0: no callback runs.
func (p *Poller) Slots() int { return 0 }

// Rearm is never called: NewPoller fails.
func (p *Poller) Rearm(int) error { return errors.ErrUnsupported }

// Forget is never called: NewPoller fails.
func (p *Poller) Forget(int) {}

// Close is never called: NewPoller fails.
func (p *Poller) Close() error { return nil }

// FDConn exists on Linux only.
type FDConn struct{ net.Conn }

// Fd is never called: NewPoller fails.
func (c *FDConn) Fd() int { return -1 }

// Bare is never called: NewPoller fails.
func (p *Poller) Bare(*net.TCPConn) (*FDConn, error) { return nil, errors.ErrUnsupported }

// TryWrite is never called: there is no FDConn.
func (c *FDConn) TryWrite([]byte) (int, error) { return 0, errors.ErrUnsupported }
