package listener

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// proxyConn is a connection whose PROXY protocol header named the
// client's address.
type proxyConn struct {
	net.Conn
	remote net.Addr
}

// RemoteAddr is the client's address as the proxy reported it.
func (c *proxyConn) RemoteAddr() net.Addr { return c.remote }

// NetConn is the connection from the proxy. The header was read from it
// exactly, nothing beyond, so its next byte is the client's first: a
// reader may use it directly (to poll its descriptor, say) and take the
// client's address from RemoteAddr.
func (c *proxyConn) NetConn() net.Conn { return c.Conn }

// The PROXY protocol's framing, from HAProxy's proxy-protocol.txt.
var proxyV2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

const (
	// proxyV1MaxLength is the longest version 1 header, CRLF included.
	proxyV1MaxLength = 107
	// proxyV1MinLength is the shortest, "PROXY UNKNOWN\r\n".
	proxyV1MinLength = 15
)

var errNoProxyHeader = errors.New("PROXY protocol: no header: the connection does not come from a proxy that sends one")

// readProxyHeader reads a PROXY protocol header, version 1 or 2, from c
// and returns c with the client's address. It reads the header and not
// a byte more. For a header that names no client (version 1 UNKNOWN, a
// version 2 LOCAL command such as a health check, or an address family
// other than IPv4 and IPv6) the connection keeps its own address.
func readProxyHeader(c net.Conn) (net.Conn, error) {
	buf := make([]byte, proxyV1MaxLength)
	if _, err := io.ReadFull(c, buf[:proxyV1MinLength]); err != nil {
		return nil, fmt.Errorf("PROXY protocol: read header: %w", err)
	}
	var remote net.Addr
	var err error
	switch {
	case bytes.HasPrefix(buf, proxyV2Signature):
		remote, err = readProxyV2(c, buf[:proxyV1MinLength])
	case bytes.HasPrefix(buf, []byte("PROXY ")):
		remote, err = readProxyV1(c, buf)
	default:
		return nil, errNoProxyHeader
	}
	if err != nil {
		return nil, err
	}
	if remote == nil {
		remote = c.RemoteAddr()
	}
	return &proxyConn{Conn: c, remote: remote}, nil
}

// readProxyV1 reads the rest of a version 1 header, one byte at a time
// so as not to read past its end: "PROXY TCP4 192.0.2.1 198.51.100.1
// 51234 1883\r\n".
func readProxyV1(c net.Conn, buf []byte) (net.Addr, error) {
	n := proxyV1MinLength
	for buf[n-1] != '\n' {
		if n == len(buf) {
			return nil, errors.New("PROXY protocol: version 1 header longer than 107 bytes")
		}
		if _, err := io.ReadFull(c, buf[n:n+1]); err != nil {
			return nil, fmt.Errorf("PROXY protocol: read header: %w", err)
		}
		n++
	}
	line, ok := strings.CutSuffix(string(buf[:n]), "\r\n")
	if !ok {
		return nil, errors.New("PROXY protocol: version 1 header does not end in CRLF")
	}
	f := strings.Split(line, " ")
	if f[1] == "UNKNOWN" {
		return nil, nil
	}
	if len(f) != 6 || f[1] != "TCP4" && f[1] != "TCP6" {
		return nil, fmt.Errorf("PROXY protocol: malformed version 1 header %q", line)
	}
	src, err := parseV1Address(f[1], f[2], f[4])
	if err != nil {
		return nil, fmt.Errorf("PROXY protocol: bad source in %q: %w", line, err)
	}
	if _, err := parseV1Address(f[1], f[3], f[5]); err != nil {
		return nil, fmt.Errorf("PROXY protocol: bad destination in %q: %w", line, err)
	}
	return net.TCPAddrFromAddrPort(src), nil
}

// parseV1Address parses an address and port of a version 1 header.
func parseV1Address(proto, addr, port string) (netip.AddrPort, error) {
	family := "IPv6"
	if proto == "TCP4" {
		family = "IPv4"
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Is4() != (proto == "TCP4") || ip.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("want an %s address, got %q", family, addr)
	}
	// Ports are decimal without leading zeros.
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || port != strconv.FormatUint(n, 10) {
		return netip.AddrPort{}, fmt.Errorf("want a port number, got %q", port)
	}
	return netip.AddrPortFrom(ip, uint16(n)), nil
}

// readProxyV2 reads the rest of a binary version 2 header, of which the
// first bytes are in head.
func readProxyV2(c net.Conn, head []byte) (net.Addr, error) {
	hdr := make([]byte, 16)
	copy(hdr, head)
	if _, err := io.ReadFull(c, hdr[len(head):]); err != nil {
		return nil, fmt.Errorf("PROXY protocol: read header: %w", err)
	}
	version, command := hdr[12]>>4, hdr[12]&0xF
	family, transport := hdr[13]>>4, hdr[13]&0xF
	if version != 2 {
		return nil, fmt.Errorf("PROXY protocol: version %d in a version 2 header", version)
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[14:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, fmt.Errorf("PROXY protocol: read header: %w", err)
	}
	const (
		local, proxy   = 0, 1
		inet, inet6    = 1, 2
		unspec, stream = 0, 1
	)
	switch command {
	case local:
		return nil, nil
	case proxy:
	default:
		return nil, fmt.Errorf("PROXY protocol: unknown command %d", command)
	}
	if transport != stream && transport != unspec {
		return nil, errors.New("PROXY protocol: the proxied connection is not a stream")
	}
	// Addresses (source, destination, then the two ports), then TLVs,
	// which nothing here needs.
	var ip netip.Addr
	var port []byte
	switch family {
	case inet:
		if len(body) < 12 {
			return nil, errors.New("PROXY protocol: version 2 header too short for IPv4 addresses")
		}
		ip, port = netip.AddrFrom4([4]byte(body[:4])), body[8:10]
	case inet6:
		if len(body) < 36 {
			return nil, errors.New("PROXY protocol: version 2 header too short for IPv6 addresses")
		}
		ip, port = netip.AddrFrom16([16]byte(body[:16])), body[32:34]
	default:
		return nil, nil
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(port))), nil
}
