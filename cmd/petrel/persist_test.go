package main

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// mqttConn is a bare MQTT 5 connection for the persistence test.
type mqttConn struct {
	t  *testing.T
	nc net.Conn
	r  *packet.Reader
}

func dialMQTT(t *testing.T, addr string, p *packet.Connect) (*mqttConn, *packet.Connack) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, deadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &mqttConn{t: t, nc: nc, r: packet.NewReader(nc, 4096)}
	c.r.Version = packet.V5
	c.send(p)
	ack, ok := c.next().(*packet.Connack)
	if !ok || ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %+v", ack)
	}
	return c, ack
}

func (c *mqttConn) send(p packet.Packet) {
	c.t.Helper()
	b, err := p.Encode(nil, packet.V5)
	if err == nil {
		_, err = c.nc.Write(b)
	}
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *mqttConn) next() packet.Packet {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(deadline))
	p, err := c.r.ReadPacket()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	q, err := packet.Clone(p, packet.V5)
	if err != nil {
		c.t.Fatal(err)
	}
	return q
}

// onlyAddress waits for the process's one listener and returns its address.
func onlyAddress(t *testing.T, p *process) string {
	t.Helper()
	for _, addr := range p.listening(t, 1) {
		return addr
	}
	t.Fatal("no listener")
	return ""
}

func keeper() *packet.Connect {
	p := &packet.Connect{Version: packet.V5, ClientID: "keeper"}
	p.Props.SessionExpiry, p.Props.HasSessionExpiry = 300, true
	return p
}

// TestKillNineLosesNothingAcknowledged runs the real binary with its
// default store, acknowledges messages for an offline persistent session
// and a retained message, kills the process with SIGKILL, and checks a new
// process on the same data directory delivers all of them.
func TestKillNineLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	p := start(t, "--listen", "127.0.0.1:0", "--data-dir", dir)
	addr := onlyAddress(t, p)

	sub, _ := dialMQTT(t, addr, keeper())
	sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "k/#", QoS: packet.AtLeastOnce}}})
	if _, ok := sub.next().(*packet.Suback); !ok {
		t.Fatal("no SUBACK")
	}
	sub.send(&packet.Disconnect{})

	const n = 50
	pub, _ := dialMQTT(t, addr, &packet.Connect{Version: packet.V5, ClientID: "pub", CleanStart: true})
	pub.send(&packet.Publish{Topic: "k/r", Retain: true, QoS: packet.AtLeastOnce, PacketID: 1, Payload: []byte("kept")})
	for i := range n {
		pub.send(&packet.Publish{Topic: "k/q", QoS: packet.AtLeastOnce, PacketID: uint16(i + 2), Payload: []byte(fmt.Sprint(i))})
	}
	for range n + 1 {
		if _, ok := pub.next().(*packet.Puback); !ok {
			t.Fatal("want PUBACK")
		}
	}
	// Every message is acknowledged: the process dies without a chance
	// to write anything more.
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done

	p = start(t, "--listen", "127.0.0.1:0", "--data-dir", dir)
	addr = onlyAddress(t, p)
	sub, ack := dialMQTT(t, addr, keeper())
	if !ack.SessionPresent {
		t.Fatal("the persistent session did not survive kill -9")
	}
	want := []string{"kept"}
	for i := range n {
		want = append(want, fmt.Sprint(i))
	}
	for _, w := range want {
		got, ok := sub.next().(*packet.Publish)
		if !ok || string(got.Payload) != w {
			t.Fatalf("got %+v, want payload %q", got, w)
		}
		sub.send(&packet.Puback{PacketID: got.PacketID})
	}
	late, _ := dialMQTT(t, addr, &packet.Connect{Version: packet.V5, ClientID: "late", CleanStart: true})
	late.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "k/r"}}})
	late.next()
	if got, ok := late.next().(*packet.Publish); !ok || !got.Retain || string(got.Payload) != "kept" {
		t.Fatalf("retained message after kill -9: %+v", got)
	}
}

// TestKillNinePublishesTheWillOfALiveClient: a crash ends every connection
// without DISCONNECT, so after the restart a persistent client's will goes
// out as if its connection had dropped.
func TestKillNinePublishesTheWillOfALiveClient(t *testing.T) {
	dir := t.TempDir()
	p := start(t, "--listen", "127.0.0.1:0", "--data-dir", dir)
	addr := onlyAddress(t, p)
	w := keeper()
	w.ClientID = "willer"
	w.Will = &packet.Will{Topic: "w/gone", Payload: []byte("willer crashed out"), QoS: packet.AtLeastOnce, Retain: true}
	c, _ := dialMQTT(t, addr, w)
	// CONNACK does not wait for the session record to reach the disk; a
	// SUBACK does, and everything written before it: only then is the
	// will surely stored.
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "w/x", QoS: packet.AtLeastOnce}}})
	if _, ok := c.next().(*packet.Suback); !ok {
		t.Fatal("no SUBACK")
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done

	p = start(t, "--listen", "127.0.0.1:0", "--data-dir", dir)
	addr = onlyAddress(t, p)
	watch, _ := dialMQTT(t, addr, &packet.Connect{Version: packet.V5, ClientID: "watch", CleanStart: true})
	watch.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "w/gone"}}})
	watch.next()
	if got, ok := watch.next().(*packet.Publish); !ok || string(got.Payload) != "willer crashed out" {
		t.Fatalf("got %+v, want the retained will of the client the crash disconnected", got)
	}
}
