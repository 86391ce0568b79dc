package packet

import (
	"bytes"
	"errors"
	"testing"
)

// TestV31DupOnResentPackets: MQTT 3.1 (§3.6, §3.8, §3.10) sets DUP on a
// resent PUBREL, SUBSCRIBE or UNSUBSCRIBE; 3.1.1 and 5.0 forbid it
// (v3.1.1 [MQTT-2.2.2-1], v5 [MQTT-2.1.3-1]).
func TestV31DupOnResentPackets(t *testing.T) {
	for _, raw := range [][]byte{
		{0x6a, 0x02, 0x00, 0x05},                        // PUBREL, DUP
		{0x8a, 0x06, 0x00, 0x05, 0x00, 0x01, 'a', 0x01}, // SUBSCRIBE, DUP
		{0xaa, 0x05, 0x00, 0x05, 0x00, 0x01, 'a'},       // UNSUBSCRIBE, DUP
	} {
		if _, n, err := Decode(raw, V31); err != nil || n != len(raw) {
			t.Errorf("3.1 % x: %d bytes, %v; want accepted", raw, n, err)
		}
		r := NewReader(bytes.NewReader(raw), 64)
		r.Version = V31
		if _, err := r.ReadPacket(); err != nil {
			t.Errorf("3.1 Reader % x: %v; want accepted", raw, err)
		}
		for _, v := range []Version{V311, V5} {
			if _, _, err := Decode(raw, v); !errors.Is(err, MalformedPacket) {
				t.Errorf("%s % x: %v; want malformed", v, raw, err)
			}
		}
	}
}
