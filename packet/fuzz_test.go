package packet

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzMaxPacketSize bounds what a fuzzed Reader may accept, so the fuzzer
// can check the Reader never holds more than that.
const fuzzMaxPacketSize = 4096

func fuzzDecode(f *testing.F, v Version) {
	for _, p := range samplePackets(v) {
		wire, err := p.Encode(nil, v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b, v)
		checkReader(t, b, v)
	})
}

// checkDecode decodes b and, when that succeeds, checks that the packet
// encodes again and that the encoding decodes to the same packet.
func checkDecode(t *testing.T, b []byte, v Version) {
	p, n, err := Decode(b, v)
	if err != nil || n == 0 {
		return
	}
	if n > len(b) {
		t.Fatalf("Decode took %d bytes of %d", n, len(b))
	}
	pv := v
	if c, ok := p.(*Connect); ok {
		pv = c.Version
	}
	wire, err := p.Encode(nil, pv)
	if err != nil {
		t.Fatalf("decoded %#v but cannot encode it: %v", p, err)
	}
	q, m, err := Decode(wire, pv)
	if err != nil || m != len(wire) {
		t.Fatalf("re-encoded % x does not decode (%d bytes): %v", wire, m, err)
	}
	if diff := cmp.Diff(p, q, equateEmpty); diff != "" {
		t.Fatalf("decode-encode-decode changed the packet:\n%s", diff)
	}
}

// checkReader reads b as a stream and checks the Reader never buffers more
// than its maximum packet size.
func checkReader(t *testing.T, b []byte, v Version) {
	r := NewReader(bytes.NewReader(b), 512)
	r.MaxPacketSize = fuzzMaxPacketSize
	r.Version = v
	for {
		_, err := r.ReadPacket()
		if cap(r.buf) > fuzzMaxPacketSize {
			t.Fatalf("Reader holds %d bytes, more than the %d-byte maximum", cap(r.buf), fuzzMaxPacketSize)
		}
		if err != nil {
			return
		}
	}
}

func FuzzDecodeV31(f *testing.F)  { fuzzDecode(f, V31) }
func FuzzDecodeV311(f *testing.F) { fuzzDecode(f, V311) }
func FuzzDecodeV5(f *testing.F)   { fuzzDecode(f, V5) }
