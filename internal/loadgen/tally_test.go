package loadgen

import (
	"testing"

	"github.com/petrelmq/petrel/packet"
)

func deliver(t *tally, pub int, seqs ...uint32) {
	for _, s := range seqs {
		t.record(header{qos: packet.AtLeastOnce, run: 7, pub: uint32(pub), seq: s})
	}
}

// TestTallyDuplicates injects a duplicate delivery and checks it is
// counted, on one connection and across the members of a shared group.
func TestTallyDuplicates(t *testing.T) {
	var one tally
	deliver(&one, 0, 0, 1, 2, 3, 3, 4)
	if one.received != 6 || one.duplicates != 1 {
		t.Errorf("one subscriber: received %d, duplicates %d; want 6 and 1", one.received, one.duplicates)
	}
	if g := countGroup([]*tally{&one}, 7, 0); g.received != 6 || g.unique != 5 || g.qos != packet.AtLeastOnce {
		t.Errorf("group of one: %+v; want 6 received, 5 unique, QoS 1", g)
	}

	// A shared group: each message should reach one member; 5 reached two.
	var a, b tally
	deliver(&a, 0, 0, 2, 4, 5)
	deliver(&b, 0, 1, 3, 5)
	g := countGroup([]*tally{&a, &b}, 7, 0)
	if g.received != 7 || g.unique != 6 || g.minSeq != 0 || g.maxSeq != 5 {
		t.Errorf("shared group: %+v; want 7 received, 6 unique, sequence 0 to 5", g)
	}
	if a.duplicates+b.duplicates != 0 {
		t.Errorf("no member received anything twice, but they count %d duplicates", a.duplicates+b.duplicates)
	}
}

func TestTallyGapsAndRuns(t *testing.T) {
	var s tally
	// Far apart sequence numbers land on different pages.
	deliver(&s, 3, 10, 11, 1<<20, 1<<20+1)
	s.record(header{run: 8, pub: 3, seq: 0})
	g := countGroup([]*tally{&s}, 7, 3)
	if g.unique != 4 || g.minSeq != 10 || g.maxSeq != 1<<20+1 {
		t.Errorf("run 7 publisher 3: %+v; want 4 unique from 10 to %d", g, 1<<20+1)
	}
	if g := countGroup([]*tally{&s}, 8, 3); g.unique != 1 {
		t.Errorf("run 8 publisher 3: %+v; want its own one message", g)
	}
	if g := countGroup([]*tally{&s}, 7, 2); g.received != 0 {
		t.Errorf("publisher 2 sent nothing, but the group counts %+v", g)
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	b := newPayload(64, packet.ExactlyOnce, 0xdeadbeef, 12345)
	stampPayload(b, 77, 1_700_000_000_123_456_789)
	h, ok := parsePayload(b)
	want := header{qos: packet.ExactlyOnce, run: 0xdeadbeef, pub: 12345, seq: 77, stamp: 1_700_000_000_123_456_789}
	if !ok || h != want {
		t.Errorf("parsed %+v, %t; want %+v", h, ok, want)
	}
	for _, foreign := range [][]byte{[]byte("21.5"), make([]byte, 64)} {
		if _, ok := parsePayload(foreign); ok {
			t.Errorf("%q parsed as a load generator's payload", foreign)
		}
	}
}

func TestMatches(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"bench/+", "bench/1", true},
		{"bench/+", "bench/1/x", false},
		{"bench/#", "bench", true},
		{"bench/#", "bench/1/x", true},
		{"#", "$SYS/x", false},
		{"+/1", "bench/1", true},
		{"bench/1", "bench/1", true},
		{"bench/1", "bench/10", false},
		{"bench", "bench/1", false},
	} {
		if got := matches(c.filter, c.topic); got != c.want {
			t.Errorf("matches(%q, %q) = %t, want %t", c.filter, c.topic, got, c.want)
		}
	}
}
