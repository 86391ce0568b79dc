//go:build !linux

package loadgen

import "syscall"

// bindLater is Linux's; elsewhere a bound socket takes its port at bind().
var bindLater func(network, address string, c syscall.RawConn) error
