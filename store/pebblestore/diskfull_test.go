package pebblestore

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
)

// fillingFS is the operating system's file system with a free-space
// figure the test sets: a disk that fills up and empties on command.
type fillingFS struct {
	vfs.FS
	avail atomic.Uint64
}

func newFillingFS() *fillingFS {
	f := &fillingFS{FS: vfs.Default}
	f.avail.Store(1 << 40)
	return f
}

func (f *fillingFS) GetDiskUsage(path string) (vfs.DiskUsage, error) {
	u, err := f.FS.GetDiskUsage(path)
	u.AvailBytes = f.avail.Load()
	return u, err
}

func (f *fillingFS) fill()  { f.avail.Store(1 << 20) }
func (f *fillingFS) empty() { f.avail.Store(1 << 40) }

func applyWait(s *Store, ops ...broker.Op) error {
	done := make(chan error, 1)
	s.Apply(ops, func(err error) { done <- err })
	return <-done
}

func TestFullDiskRefusesWritesAndRecovers(t *testing.T) {
	fs := newFillingFS()
	dir := filepath.Join(t.TempDir(), "data")
	s := mustOpen(t, dir, Options{FS: fs})
	retain := func(topic string) broker.Op {
		return broker.Op{Kind: broker.OpRetain, Msg: &broker.Message{Topic: topic, Payload: []byte(topic)}}
	}
	if err := applyWait(s, retain("before")); err != nil {
		t.Fatal(err)
	}
	fs.fill()
	err := applyWait(s, retain("while-full"))
	if !errors.Is(err, broker.ErrStoreFull) || !errors.Is(err, ErrDiskFull) {
		t.Fatalf("write on a full disk: %v, want one wrapping broker.ErrStoreFull", err)
	}
	// A barrier writes nothing, so it is not refused.
	if err := applyWait(s); err != nil {
		t.Fatalf("barrier on a full disk: %v", err)
	}
	fs.empty()
	if err := applyWait(s, retain("after")); err != nil {
		t.Fatalf("write once there is room again: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, Options{FS: fs})
	defer s.Close()
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range snap.Retained {
		got = append(got, m.Topic)
	}
	if len(got) != 2 || got[0] != "after" || got[1] != "before" {
		t.Fatalf("stored retained topics %v, want [after before]: nothing refused, nothing lost", got)
	}
}

// connected connects and fails the test unless the broker accepts.
func connected(t *testing.T, addr string, p *packet.Connect) *brokertest.Conn {
	t.Helper()
	c, code := brokertest.Connect(t, addr, p)
	if code != packet.Success {
		t.Fatalf("%s: CONNACK %s", p.ClientID, code)
	}
	return c
}

func persistent(id string, v packet.Version) *packet.Connect {
	p := &packet.Connect{Version: v, ClientID: id}
	if v == packet.V5 {
		p.Props.SessionExpiry, p.Props.HasSessionExpiry = 3600, true
	}
	return p
}

// TestFullDiskRefusesPublishes runs a broker on a store whose disk fills:
// publishes that need the store are refused, Quota Exceeded (0x97) to a
// v5 client and a disconnect to a 3.1.1 one, never acknowledged; once the
// disk has room they are accepted again, and after a restart the offline
// subscriber gets exactly the acknowledged messages.
func TestFullDiskRefusesPublishes(t *testing.T) {
	fs := newFillingFS()
	dir := filepath.Join(t.TempDir(), "data")
	b := brokertest.Start(t, broker.Options{Store: mustOpen(t, dir, Options{FS: fs}), SysInterval: -1})

	sub := connected(t, b.Addr, persistent("offline", packet.V5))
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "disk/#", QoS: packet.ExactlyOnce}}})
	if _, ok := sub.Next(brokertest.Wait).(*packet.Suback); !ok {
		t.Fatal("no SUBACK")
	}
	sub.Send(&packet.Disconnect{})

	pub := connected(t, b.Addr, &packet.Connect{Version: packet.V5, ClientID: "pub5", CleanStart: true})
	publish := func(topic string, qos packet.QoS, pid uint16) packet.ReasonCode {
		pub.Send(&packet.Publish{Topic: topic, QoS: qos, PacketID: pid, Payload: []byte(topic)})
		switch a := pub.Next(brokertest.Wait).(type) {
		case *packet.Puback:
			return a.ReasonCode
		case *packet.Pubrec:
			if !a.ReasonCode.IsError() {
				pub.Send(&packet.Pubrel{PacketID: pid})
				if _, ok := pub.Next(brokertest.Wait).(*packet.Pubcomp); !ok {
					t.Fatal("no PUBCOMP")
				}
			}
			return a.ReasonCode
		default:
			t.Fatalf("got %v, want an acknowledgement", a)
		}
		return 0
	}
	if code := publish("disk/1", packet.AtLeastOnce, 1); code.IsError() {
		t.Fatalf("PUBACK %s before the disk filled", code)
	}
	fs.fill()
	if code := publish("disk/2", packet.AtLeastOnce, 2); code != packet.QuotaExceeded {
		t.Fatalf("QoS 1 on a full disk: PUBACK %s, want quota exceeded", code)
	}
	if code := publish("disk/3", packet.ExactlyOnce, 3); code != packet.QuotaExceeded {
		t.Fatalf("QoS 2 on a full disk: PUBREC %s, want quota exceeded", code)
	}
	old := connected(t, b.Addr, &packet.Connect{Version: packet.V311, ClientID: "pub311", CleanStart: true})
	old.Send(&packet.Publish{Topic: "disk/4", QoS: packet.AtLeastOnce, PacketID: 4, Payload: []byte("disk/4")})
	if p := old.Next(brokertest.Wait); p != nil {
		t.Fatalf("3.1.1 publisher on a full disk got %s, want the connection closed unacknowledged", p.Type())
	}
	fs.empty()
	if code := publish("disk/5", packet.ExactlyOnce, 5); code.IsError() {
		t.Fatalf("PUBREC %s once the disk has room", code)
	}

	if err := b.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	b = brokertest.Start(t, broker.Options{Store: mustOpen(t, dir, Options{FS: fs}), SysInterval: -1})
	sub = brokertest.Dial(t, b.Addr, packet.V5)
	sub.Send(persistent("offline", packet.V5))
	if ack, ok := sub.Next(brokertest.Wait).(*packet.Connack); !ok || !ack.SessionPresent {
		t.Fatalf("CONNACK %+v: session lost", ack)
	}
	for _, want := range []string{"disk/1", "disk/5"} {
		m, ok := sub.Next(brokertest.Wait).(*packet.Publish)
		if !ok || m.Topic != want {
			t.Fatalf("got %+v, want %s: exactly the acknowledged messages", m, want)
		}
		if m.QoS == packet.AtLeastOnce {
			sub.Send(&packet.Puback{PacketID: m.PacketID})
		} else {
			sub.Send(&packet.Pubrec{PacketID: m.PacketID})
			sub.Next(brokertest.Wait)
			sub.Send(&packet.Pubcomp{PacketID: m.PacketID})
		}
	}
	sub.Send(&packet.Pingreq{})
	if _, ok := sub.Next(brokertest.Wait).(*packet.Pingresp); !ok {
		t.Fatal("a refused message was delivered after the restart")
	}
}
