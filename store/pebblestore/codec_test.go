package pebblestore

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/packet"
)

var equal = cmp.Options{cmpopts.IgnoreUnexported(broker.Message{}), cmpopts.EquateEmpty()}

func fullMessage() *broker.Message {
	return &broker.Message{
		Topic: "a/ü/\x00", Payload: bytes.Repeat([]byte{0, 0xff}, 300), QoS: packet.ExactlyOnce, Retain: true,
		Props: &packet.Properties{
			PayloadFormat: 1, ContentType: "application/json", ResponseTopic: "reply",
			CorrelationData: []byte{1, 2, 3},
			User:            []packet.UserProperty{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}},
		},
		Expiry:    time.Date(2262, 4, 12, 0, 0, 0, 999999999, time.UTC),
		Publisher: "pub",
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range []*broker.Message{
		fullMessage(),
		{Topic: "t"},
		{Topic: "t", Props: &packet.Properties{}},                         // properties present but empty stay present
		{Topic: "t", Expiry: time.Unix(-62135596800, 0).Add(1)},           // just after the zero time
		{Topic: "t", Expiry: time.Date(9999, 1, 1, 0, 0, 0, 1, time.UTC)}, // past what UnixNano holds
	} {
		got, err := decodeMessage(appendMessage(nil, m))
		if err != nil {
			t.Fatalf("decode %+v: %v", m, err)
		}
		if diff := cmp.Diff(m, got, equal); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

func TestDeliveryRoundTrip(t *testing.T) {
	for _, d := range []broker.Delivery{
		{Msg: fullMessage(), QoS: packet.AtLeastOnce, Retain: true, SubscriptionIDs: []uint32{1, math.MaxUint32}, Seq: math.MaxUint64, Shared: "$share/g/#"},
		{Msg: &broker.Message{Topic: "t"}, Seq: 1},
	} {
		got, err := decodeDelivery(appendDelivery(nil, &d), d.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, got, equal); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []broker.SessionRecord{
		{ClientID: "c", Version: packet.V5, Expiry: math.MaxInt64, DisconnectedAt: time.Now(), Will: fullMessage(), WillDueAt: time.Now().Add(time.Minute)},
		{ClientID: "c", Version: packet.V311, Expiry: time.Hour},
	} {
		got, err := decodeRecord(appendRecord(nil, &r), r.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, got, equal); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

func TestSubscriptionRoundTrip(t *testing.T) {
	for _, s := range []broker.Subscription{
		{Subscription: packet.Subscription{Filter: "a/#", QoS: packet.ExactlyOnce, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}, Identifier: 268435455},
		{Subscription: packet.Subscription{Filter: "b", RetainHandling: 1}},
	} {
		got, err := decodeSubscription(appendSubscription(nil, &s), s.Filter)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

// decodeAll runs every decoder over v: none may panic, whatever v is.
func decodeAll(v []byte) {
	_, _ = decodeMessage(v)
	_, _ = decodeDelivery(v, 1)
	_, _ = decodeRecord(v, "c")
	_, _ = decodeSubscription(v, "f")
	_, _, _ = decodeFlight(v)
}

// TestTruncatedValuesFail: every proper prefix of a value, and the value
// with a byte more, is an error rather than a quietly different value.
func TestTruncatedValuesFail(t *testing.T) {
	d := broker.Delivery{Msg: fullMessage(), QoS: 1, SubscriptionIDs: []uint32{300}, Seq: 1}
	r := broker.SessionRecord{ClientID: "c", Will: fullMessage()}
	s := broker.Subscription{Identifier: 300}
	for name, c := range map[string]struct {
		v      []byte
		decode func([]byte) error
	}{
		"message":      {appendMessage(nil, fullMessage()), func(v []byte) error { _, err := decodeMessage(v); return err }},
		"delivery":     {appendDelivery(nil, &d), func(v []byte) error { _, err := decodeDelivery(v, 1); return err }},
		"record":       {appendRecord(nil, &r), func(v []byte) error { _, err := decodeRecord(v, "c"); return err }},
		"subscription": {appendSubscription(nil, &s), func(v []byte) error { _, err := decodeSubscription(v, "f"); return err }},
		"flight":       {appendFlight(nil, 7, broker.AwaitPubrec), func(v []byte) error { _, _, err := decodeFlight(v); return err }},
	} {
		if err := c.decode(c.v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for n := range len(c.v) {
			if c.decode(c.v[:n]) == nil {
				t.Errorf("%s cut to %d of %d bytes decoded without error", name, n, len(c.v))
			}
		}
		if c.decode(append(slices.Clone(c.v), 0)) == nil {
			t.Errorf("%s with a trailing byte decoded without error", name)
		}
		bad := slices.Clone(c.v)
		bad[0] = valueVersion + 1
		if err := c.decode(bad); err == nil || !strings.Contains(err.Error(), "unknown") {
			t.Errorf("%s of a later encoding: %v, want an unknown-encoding error", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	d := broker.Delivery{Msg: fullMessage(), SubscriptionIDs: []uint32{1}}
	f.Add(appendDelivery(nil, &d))
	f.Add(appendMessage(nil, fullMessage()))
	f.Add(appendRecord(nil, &broker.SessionRecord{Will: fullMessage()}))
	f.Fuzz(func(t *testing.T, v []byte) { decodeAll(v) })
}

func TestSessionKeys(t *testing.T) {
	ids := []string{"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "a", "a\x00", "a\x00b", "a/", "a/b", "ab", "b", "\xff"}
	var keys [][]byte
	for _, id := range ids {
		k := sessionKey(nil, id)
		got, rest, err := parseSessionKey(append(slices.Clone(k), "rec"...))
		if err != nil || got != id || string(rest) != "rec" {
			t.Errorf("parseSessionKey(sessionKey(%q)) = %q, %q, %v", id, got, rest, err)
		}
		keys = append(keys, k)
	}
	for i, a := range ids {
		for j, b := range ids {
			// Order is kept, and one id's range holds no other id's key.
			if (a < b) != (bytes.Compare(keys[i], keys[j]) < 0) {
				t.Errorf("ids %q, %q sort differently as keys", a, b)
			}
			inRange := bytes.Compare(keys[j], keys[i]) >= 0 && bytes.Compare(keys[j], sessionEnd(nil, a)) < 0
			if inRange != (i == j) {
				t.Errorf("session range of %q holds %q: %v", a, b, inRange)
			}
		}
	}
	for _, bad := range []string{"s/", "s/a", "s/a\x00", "s/a\x00\x02"} {
		if _, _, err := parseSessionKey([]byte(bad)); err == nil {
			t.Errorf("parseSessionKey(%q) succeeded", bad)
		}
	}
}
