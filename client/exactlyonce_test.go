package client_test

import (
	"net"
	"testing"
	"time"

	"github.com/petrelmq/petrel/client"
	"github.com/petrelmq/petrel/packet"
)

// scriptedServer accepts one connection, answers CONNECT with CONNACK,
// and hands the test the packet reader and a write function.
func scriptedServer(t *testing.T) (addr string, conn <-chan func() (*packet.Reader, func(packet.Packet))) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan func() (*packet.Reader, func(packet.Packet)), 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		t.Cleanup(func() { nc.Close() })
		nc.SetDeadline(time.Now().Add(waitTimeout))
		r := packet.NewReader(nc, 1024)
		r.Version = packet.V5
		write := func(p packet.Packet) {
			b, err := p.Encode(nil, packet.V5)
			if err == nil {
				_, err = nc.Write(b)
			}
			if err != nil {
				t.Errorf("server write %s: %v", p.Type(), err)
			}
		}
		if _, err := r.ReadPacket(); err != nil {
			t.Errorf("server read CONNECT: %v", err)
			return
		}
		write(&packet.Connack{})
		ch <- func() (*packet.Reader, func(packet.Packet)) { return r, write }
	}()
	return l.Addr().String(), ch
}

// expect reads the next packet and checks its type, identifier and code.
func expect(t *testing.T, r *packet.Reader, want packet.Packet) {
	t.Helper()
	got, err := r.ReadPacket()
	if err != nil {
		t.Fatalf("server read: %v, want %s", err, want.Type())
	}
	if got.Type() != want.Type() {
		t.Fatalf("server got %s, want %s", got.Type(), want.Type())
	}
	g, _ := packet.Clone(got, packet.V5)
	gb, _ := g.Encode(nil, packet.V5)
	wb, _ := want.Encode(nil, packet.V5)
	if string(gb) != string(wb) {
		t.Fatalf("server got %+v, want %+v", g, want)
	}
}

// TestQoS2ExactlyOnce has the server send a QoS 2 message again before
// releasing it, as it does when it missed the PUBREC: the client
// acknowledges both but delivers the message once. A PUBREL for an
// identifier the client does not know is answered with Packet Identifier
// not found.
func TestQoS2ExactlyOnce(t *testing.T) {
	addr, conn := scriptedServer(t)
	c := dial(t, client.Options{Addr: addr, ClientID: "eo", KeepAlive: -1})
	r, write := (<-conn)()
	msg := &packet.Publish{Topic: "eo", QoS: 2, PacketID: 7, Payload: []byte("once")}
	write(msg)
	// Acknowledged once delivered, not before.
	if m := next(t, c.Messages()); string(m.Payload) != "once" {
		t.Fatalf("got %q", m.Payload)
	}
	expect(t, r, &packet.Pubrec{PacketID: 7})
	msg.Dup = true
	write(msg)
	expect(t, r, &packet.Pubrec{PacketID: 7})
	write(&packet.Pubrel{PacketID: 7})
	expect(t, r, &packet.Pubcomp{PacketID: 7})
	write(&packet.Pubrel{PacketID: 7})
	expect(t, r, &packet.Pubcomp{PacketID: 7, ReasonCode: packet.PacketIdentifierNotFound})
	// Released, the identifier is free for a new message.
	msg.Dup, msg.Payload = false, []byte("again")
	write(msg)
	if m := next(t, c.Messages()); string(m.Payload) != "again" {
		t.Fatalf("got %q, want the second message", m.Payload)
	}
	expect(t, r, &packet.Pubrec{PacketID: 7})
}
