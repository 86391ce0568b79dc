package loadgen

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindLater lets a socket bound to a source address take its port at
// connect(), when the server's address is known, rather than at bind():
// a port free towards every destination is a search that slows with
// each port in use, and limits one source address to about 28,000
// connections in all instead of that many to each server address.
func bindLater(_, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); cerr != nil {
		return cerr
	}
	return err
}
