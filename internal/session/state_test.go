package session

import (
	"testing"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// TestWindowAboveIDSpace gives a window larger than there are packet ids
// and fills every id: Next must then report no room instead of searching
// forever for a free id (v5 [MQTT-2.2.1-3]: ids in use are not reused).
func TestWindowAboveIDSpace(t *testing.T) {
	for _, maxInflight := range []int{65535, 65536, 100_000} {
		s := New(Limits{MaxInflight: maxInflight})
		msg := &Message{Topic: "t", QoS: packet.AtLeastOnce}
		inflight := make([]Inflight, 0, 65535)
		for pid := 1; pid <= 65535; pid++ {
			inflight = append(inflight, Inflight{PacketID: uint16(pid), Phase: AwaitPuback,
				Delivery: Delivery{Msg: msg, QoS: packet.AtLeastOnce, Seq: uint64(pid)}})
		}
		s.Restore(nil, inflight, nil)
		s.Enqueue(Delivery{Msg: msg, QoS: packet.AtLeastOnce})
		done := make(chan bool)
		go func() {
			_, _, _, ok := s.Next(epoch)
			done <- ok
		}()
		select {
		case ok := <-done:
			if ok {
				t.Errorf("MaxInflight %d: Next sent a message with all 65,535 ids in flight", maxInflight)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("MaxInflight %d: Next did not return with all 65,535 ids in flight", maxInflight)
		}
	}
}
