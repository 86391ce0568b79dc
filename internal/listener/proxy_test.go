package listener

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// proxyV2 builds a version 2 header: command 1 (PROXY) or 0 (LOCAL),
// the source and destination, and a TLV of the kind proxies add.
func proxyV2(command byte, src, dst netip.AddrPort) []byte {
	family := byte(0x11) // IPv4, stream
	if src.Addr().Is6() {
		family = 0x21
	}
	var body []byte
	body = append(body, src.Addr().AsSlice()...)
	body = append(body, dst.Addr().AsSlice()...)
	body = binary.BigEndian.AppendUint16(body, src.Port())
	body = binary.BigEndian.AppendUint16(body, dst.Port())
	body = append(body, 0x02, 0x00, 0x0b) // PP2_TYPE_AUTHORITY
	body = append(body, "example.com"...)
	h := append([]byte(nil), proxyV2Signature...)
	h = append(h, 0x20|command, family)
	h = binary.BigEndian.AppendUint16(h, uint16(len(body)))
	return append(h, body...)
}

func TestProxyProtocol(t *testing.T) {
	dst := netip.MustParseAddrPort("198.51.100.1:1883")
	for _, tc := range []struct {
		name   string
		header []byte
		want   string // the client address the listener reports; "" for the connection's own
	}{
		{"v1 TCP4", []byte("PROXY TCP4 192.0.2.1 198.51.100.1 51234 1883\r\n"), "192.0.2.1:51234"},
		{"v1 TCP6", []byte("PROXY TCP6 2001:db8::1 2001:db8::2 51234 1883\r\n"), "[2001:db8::1]:51234"},
		{"v1 UNKNOWN", []byte("PROXY UNKNOWN\r\n"), ""},
		{"v1 UNKNOWN with addresses", []byte("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"), ""},
		{"v1 longest", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			"[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
		{"v2 IPv4", proxyV2(1, netip.MustParseAddrPort("192.0.2.1:51234"), dst), "192.0.2.1:51234"},
		{"v2 IPv6", proxyV2(1, netip.MustParseAddrPort("[2001:db8::1]:51234"), netip.MustParseAddrPort("[2001:db8::2]:1883")), "[2001:db8::1]:51234"},
		{"v2 LOCAL", proxyV2(0, netip.MustParseAddrPort("192.0.2.1:51234"), dst), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := Wrap(listenTCP(t), Config{ProxyProtocol: true, Logger: testLogger(t)})
			accepted := serveRaw(t, l)
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The client's first bytes come in the same segment as the
			// header, as they often do behind a proxy.
			c.Write(append(append([]byte(nil), tc.header...), "\x10hello"...))
			sc := nextConn(t, accepted)
			want := tc.want
			if want == "" {
				want = c.LocalAddr().String()
			}
			if got := sc.RemoteAddr().String(); got != want {
				t.Errorf("RemoteAddr = %s, want %s", got, want)
			}
			// Nothing past the header was consumed: the connection
			// underneath reads the client's first byte next.
			under := sc
			if pc, ok := sc.(interface{ NetConn() net.Conn }); ok {
				under = pc.NetConn()
			}
			under.SetReadDeadline(time.Now().Add(wait))
			got := make([]byte, 6)
			if _, err := io.ReadFull(under, got); err != nil || string(got) != "\x10hello" {
				t.Errorf("after the header read %q, %v; want the client's bytes", got, err)
			}
		})
	}
}

// TestProxyProtocolRefused checks a connection with a malformed or missing
// header is closed, and only that one: the listener goes on.
func TestProxyProtocolRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []byte
	}{
		{"MQTT without a header", []byte("\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04test")},
		{"HTTP", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"v1 bad protocol", []byte("PROXY UDP4 192.0.2.1 198.51.100.1 51234 1883\r\n")},
		{"v1 IPv6 address in TCP4", []byte("PROXY TCP4 2001:db8::1 198.51.100.1 51234 1883\r\n")},
		{"v1 port with leading zero", []byte("PROXY TCP4 192.0.2.1 198.51.100.1 051234 1883\r\n")},
		{"v1 port out of range", []byte("PROXY TCP4 192.0.2.1 198.51.100.1 65536 1883\r\n")},
		{"v1 bad destination", []byte("PROXY TCP4 192.0.2.1 198.51.100 51234 1883\r\n")},
		{"v1 missing field", []byte("PROXY TCP4 192.0.2.1 198.51.100.1 51234\r\n")},
		{"v1 LF without CR", []byte("PROXY TCP4 192.0.2.1 198.51.100.1 51234 1883\n")},
		{"v1 too long", append([]byte("PROXY UNKNOWN "), make([]byte, 200)...)},
		{"v2 version 1", append(append([]byte(nil), proxyV2Signature...), 0x11, 0x11, 0, 0)},
		{"v2 unknown command", append(append([]byte(nil), proxyV2Signature...), 0x22, 0x11, 0, 0)},
		{"v2 too short for IPv4", append(append([]byte(nil), proxyV2Signature...), 0x21, 0x11, 0, 4, 1, 2, 3, 4)},
		{"v2 datagram", append(append([]byte(nil), proxyV2Signature...), 0x21, 0x12, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2)},
		{"stalls in the header", []byte("PROXY TCP4 192.0.2.1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := Wrap(listenTCP(t), Config{ProxyProtocol: true, HandshakeTimeout: 500 * time.Millisecond, Logger: testLogger(t)})
			accepted := serveRaw(t, l)
			bad, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer bad.Close()
			bad.Write(tc.header)
			if !closedByPeer(bad) {
				t.Error("connection with a bad header not closed")
			}
			good, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer good.Close()
			good.Write([]byte("PROXY TCP4 192.0.2.7 198.51.100.1 4000 1883\r\n"))
			if got := nextConn(t, accepted).RemoteAddr().String(); got != "192.0.2.7:4000" {
				t.Errorf("next accepted connection is from %s, want the good one from 192.0.2.7:4000", got)
			}
		})
	}
}

// TestProxyProtocolThenTLS sends the PROXY header and then the TLS
// handshake, as a TCP load balancer in front of a TLS listener does.
func TestProxyProtocolThenTLS(t *testing.T) {
	p := newPKI(t)
	files := p.withCA(t)
	files.RequireCertificate = true
	l := Wrap(listenTCP(t), Config{ProxyProtocol: true, TLS: mustLoad(t, files), Logger: testLogger(t)})
	accepted := serveEcho(t, l)

	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write(proxyV2(1, netip.MustParseAddrPort("203.0.113.9:40000"), netip.MustParseAddrPort("198.51.100.1:8883")))
	alice := p.ca.Client(t, "alice")
	c := tls.Client(raw, &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{alice.TLS}})
	if err := roundTrip(c, "ping"); err != nil {
		t.Fatal(err)
	}
	sc := nextConn(t, accepted).(*tls.Conn)
	if got := sc.RemoteAddr().String(); got != "203.0.113.9:40000" {
		t.Errorf("RemoteAddr = %s, want the proxied 203.0.113.9:40000", got)
	}
	if name, _ := CommonName(sc.ConnectionState()); name != "alice" {
		t.Errorf("CommonName = %q, want alice", name)
	}
}

// serveRaw hands the test each accepted connection, reading nothing.
func serveRaw(t *testing.T, l net.Listener) <-chan net.Conn {
	t.Helper()
	accepted := make(chan net.Conn, 16)
	go func() {
		defer close(accepted)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range accepted {
			c.Close()
		}
	})
	return accepted
}
