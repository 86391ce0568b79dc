package session

import (
	"testing"
	"time"

	"github.com/petrelmq/petrel/packet"
)

// TestMessageSize checks that queue limits count every variable part of a
// message a client can make large, properties included.
func TestMessageSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *Message
		want int
	}{
		{"empty", &Message{}, 0},
		{"topic and payload", &Message{Topic: "a/b", Payload: make([]byte, 5)}, 8},
		{"nil properties", &Message{Topic: "t", Props: nil}, 1},
		{"properties", &Message{Topic: "t", Payload: []byte("xy"), Props: &packet.Properties{
			ContentType:     "text/plain",                                                            // 10
			ResponseTopic:   "reply/to",                                                              // 8
			CorrelationData: []byte{1, 2, 3},                                                         // 3
			User:            []packet.UserProperty{{Key: "k", Value: "vv"}, {Key: "key", Value: ""}}, // 3 + 3
		}}, 3 + 10 + 8 + 3 + 6},
	} {
		if got := tc.m.Size(); got != tc.want {
			t.Errorf("%s: Size %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestRemainingExpiry checks the interval sent on: whole seconds rounded
// up while the message lives (v5 [MQTT-3.3.2-6]), 0 once expired, and no
// property at all for a message without expiry.
func TestRemainingExpiry(t *testing.T) {
	m := Message{Expiry: epoch.Add(10 * time.Second)}
	for _, tc := range []struct {
		at      time.Duration
		want    uint32
		expired bool
	}{
		{0, 10, false},
		{time.Nanosecond, 10, false},
		{time.Second, 9, false},
		{9*time.Second + 999*time.Millisecond, 1, false},
		{10*time.Second - time.Nanosecond, 1, false},
		{10 * time.Second, 0, true},
		{time.Hour, 0, true},
		{-5 * time.Second, 15, false}, // a clock behind the publisher's
	} {
		now := epoch.Add(tc.at)
		got, ok := m.RemainingExpiry(now)
		if got != tc.want || !ok {
			t.Errorf("at +%v: RemainingExpiry %d %t, want %d true", tc.at, got, ok, tc.want)
		}
		if m.Expired(now) != tc.expired {
			t.Errorf("at +%v: Expired %t, want %t", tc.at, !tc.expired, tc.expired)
		}
	}
	var never Message
	if got, ok := never.RemainingExpiry(epoch); got != 0 || ok {
		t.Errorf("no expiry: RemainingExpiry %d %t, want 0 false", got, ok)
	}
	if never.Expired(epoch.Add(1000 * time.Hour)) {
		t.Error("a message without expiry expired")
	}
}
