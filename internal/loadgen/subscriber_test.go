package loadgen

import (
	"net"
	"testing"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// strictServer accepts one subscriber, then sends it n messages at QoS 1,
// each once the last is acknowledged, and expects the DISCONNECT only
// after the last acknowledgement. It returns its address and a channel
// that yields how long the messages took, closed early if the client
// broke the rules.
func strictServer(t *testing.T, n int) (string, <-chan time.Duration) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	took := make(chan time.Duration, 1)
	go func() {
		defer close(took)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := packet.NewReader(c, 512)
		r.Version = packet.V311
		r.ReadPacket() // CONNECT
		c.Write([]byte{byte(packet.CONNACK) << 4, 2, 0, 0})
		p, err := r.ReadPacket()
		sub, ok := p.(*packet.Subscribe)
		if err != nil || !ok {
			t.Errorf("the server read %v, %v; want SUBSCRIBE", p, err)
			return
		}
		c.Write([]byte{byte(packet.SUBACK) << 4, 3, byte(sub.PacketID >> 8), byte(sub.PacketID), 1})
		payload := newPayload(64, packet.AtLeastOnce, 1, 0)
		start := time.Now()
		for seq := range uint32(n) {
			stampPayload(payload, seq, time.Now().UnixNano())
			msg, _ := (&packet.Publish{QoS: packet.AtLeastOnce, PacketID: 1, Topic: "bench/0", Payload: payload}).Encode(nil, packet.V311)
			c.Write(msg)
			p, err := r.ReadPacket()
			if ack, ok := p.(*packet.Puback); err != nil || !ok || ack.PacketID != 1 {
				t.Errorf("after message %d the server read %v, %v; want PUBACK 1", seq, p, err)
				return
			}
		}
		took <- time.Since(start)
		if p, err := r.ReadPacket(); err != nil || p.Type() != packet.DISCONNECT {
			t.Errorf("after the last message the server read %v, %v; want DISCONNECT", p, err)
		}
	}()
	return l.Addr().String(), took
}

// TestStrictServer runs a subscriber for a count of messages against a
// server that sends each once the last is acknowledged: the run ends
// once they have all come, and acknowledges the last before it
// disconnects.
func TestStrictServer(t *testing.T) {
	const n = 200
	addr, took := strictServer(t, n)
	rep, err := Run(t.Context(), Config{Target: Target{Addr: addr}, Scenario: Sub, QoS: []packet.QoS{1}, Count: n, Duration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Received != n || rep.Lost != 0 || len(rep.Failures) > 0 {
		t.Fatalf("received %d, lost %d, failures %q; want all %d", rep.Received, rep.Lost, rep.Failures, n)
	}
	if _, ok := <-took; !ok {
		t.Fatal("the server saw the rules broken")
	}
}
