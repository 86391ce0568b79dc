package listener

import (
	"errors"
	"net/netip"
)

// ErrWouldBlock is what FDConn.Read returns when no data is waiting: the
// caller hands the descriptor back to the Poller instead of waiting.
var ErrWouldBlock = errors.New("listener: no data waiting")

// Addr is a TCP address that costs no more than a netip.AddrPort.
type Addr netip.AddrPort

// Network implements net.Addr.
func (Addr) Network() string { return "tcp" }

// String implements net.Addr: host:port.
func (a Addr) String() string { return netip.AddrPort(a).String() }

// AddrPort is the address as a netip.AddrPort.
func (a Addr) AddrPort() netip.AddrPort { return netip.AddrPort(a) }
