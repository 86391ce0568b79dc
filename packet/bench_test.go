package packet

import (
	"testing"
)

func benchName(p Packet, v Version) string { return p.Type().String() + "/v" + v.String() }

// hotPackets are the kinds the allocation guarantees cover: everything but
// CONNECT, whose will is a pointer it allocates once.
func hotPackets(v Version) []Packet {
	var ps []Packet
	for _, p := range samplePackets(v) {
		if p.Type() != CONNECT {
			ps = append(ps, p)
		}
	}
	return ps
}

func BenchmarkDecode(b *testing.B) {
	for _, v := range []Version{V311, V5} {
		for _, p := range samplePackets(v) {
			wire, err := p.Encode(nil, v)
			if err != nil {
				b.Fatal(err)
			}
			h, n, _ := ParseFixedHeader(wire)
			body := wire[n:]
			into := New(h.Type)
			b.Run(benchName(p, v), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(wire)))
				for b.Loop() {
					if err := into.Decode(h.Flags, body, v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, v := range []Version{V311, V5} {
		for _, p := range samplePackets(v) {
			buf := make([]byte, 0, 1024)
			b.Run(benchName(p, v), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if buf, err = p.Encode(buf[:0], v); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(len(buf)))
			})
		}
	}
}

// TestZeroAllocations holds the codec to its promise: decoding into a
// reused value and encoding into a buffer with room allocate nothing.
func TestZeroAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own; allocation counts need a normal build")
	}
	for _, v := range []Version{V31, V311, V5} {
		for _, p := range hotPackets(v) {
			wire, err := p.Encode(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			h, n, _ := ParseFixedHeader(wire)
			into := New(h.Type)
			if err := into.Decode(h.Flags, wire[n:], v); err != nil {
				t.Fatal(err)
			}
			if a := testing.AllocsPerRun(100, func() { _ = into.Decode(h.Flags, wire[n:], v) }); a != 0 {
				t.Errorf("%s: decoding into a reused value makes %.0f allocations, want 0", benchName(p, v), a)
			}
			buf := make([]byte, 0, 1024)
			if a := testing.AllocsPerRun(100, func() { buf, _ = p.Encode(buf[:0], v) }); a != 0 {
				t.Errorf("%s: encoding into a buffer with room makes %.0f allocations, want 0", benchName(p, v), a)
			}
		}
	}
}
