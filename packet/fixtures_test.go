package packet_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/petrelmq/petrel/internal/packettest"
	"github.com/petrelmq/petrel/packet"
)

var update = flag.Bool("update", false, "rewrite the .golden files of the packet fixtures from what the decoder returns")

func loadFixtures(t *testing.T) []packettest.Fixture {
	t.Helper()
	dir, err := packettest.Dir()
	if err != nil {
		t.Fatal(err)
	}
	fixtures, err := packettest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fixtures
}

// TestFixtures decodes every valid fixture, compares the packet with its
// golden JSON, and encodes it again: the fixtures are written by hand from
// the specifications, so the encoder must reproduce them byte for byte.
func TestFixtures(t *testing.T) {
	for _, f := range loadFixtures(t) {
		if f.Invalid {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			p, n, err := packet.Decode(f.Bytes, f.Version)
			if err != nil {
				t.Fatalf("decode % x: %v", f.Bytes, err)
			}
			if n != len(f.Bytes) {
				t.Fatalf("decode took %d of the fixture's %d bytes", n, len(f.Bytes))
			}
			if c, ok := p.(*packet.Connect); ok && c.Version != f.Version {
				t.Errorf("CONNECT announces MQTT %s but the fixture is in the %s directory", c.Version, f.Version)
			}
			checkGolden(t, strings.TrimSuffix(f.Path, ".txt")+".golden", p)
			wire, err := p.Encode(nil, f.Version)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !bytes.Equal(wire, f.Bytes) {
				t.Errorf("encoding differs from the fixture\n got: % x\nwant: % x", wire, f.Bytes)
			}
		})
	}
}

// TestFixturesStream reads every valid fixture of a version from one stream,
// so the Reader must find each packet's end from its fixed header alone.
func TestFixturesStream(t *testing.T) {
	byVersion := map[packet.Version][]packettest.Fixture{}
	for _, f := range loadFixtures(t) {
		if !f.Invalid {
			byVersion[f.Version] = append(byVersion[f.Version], f)
		}
	}
	for v, fixtures := range byVersion {
		t.Run(v.String(), func(t *testing.T) {
			var stream bytes.Buffer
			for _, f := range fixtures {
				stream.Write(f.Bytes)
			}
			r := packet.NewReader(&stream, 16)
			r.Version = v
			for _, f := range fixtures {
				p, err := r.ReadPacket()
				if err != nil {
					t.Fatalf("%s: %v", f.Name, err)
				}
				wire, err := p.Encode(nil, v)
				if err != nil || !bytes.Equal(wire, f.Bytes) {
					t.Fatalf("%s: read back as % x (%v), want % x", f.Name, wire, err, f.Bytes)
				}
			}
			if _, err := r.ReadPacket(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the last fixture: got %v, want io.EOF", err)
			}
		})
	}
}

// TestInvalidFixtures checks that Decode and the Reader both refuse each
// invalid fixture with the reason code its "# want:" line names.
func TestInvalidFixtures(t *testing.T) {
	for _, f := range loadFixtures(t) {
		if !f.Invalid {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			_, _, err := packet.Decode(f.Bytes, f.Version)
			if !errors.Is(err, f.Want) {
				t.Errorf("Decode: got error %v, want reason code %#x (%s) for %s", err, byte(f.Want), f.Want, f.Rule)
			}
			r := packet.NewReader(bytes.NewReader(f.Bytes), 16)
			r.Version = f.Version
			if _, err := r.ReadPacket(); !errors.Is(err, f.Want) {
				t.Errorf("Reader: got error %v, want reason code %#x (%s) for %s", err, byte(f.Want), f.Want, f.Rule)
			}
		})
	}
}

// checkGolden compares a decoded packet with the golden file at path, or
// rewrites the file under -update.
func checkGolden(t *testing.T, path string, p packet.Packet) {
	t.Helper()
	got, err := goldenJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./packet -update to write it, then review it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("decoded packet differs from %s\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// goldenJSON is the packet marshalled by encoding/json, indented, with the
// members whose value is zero (false, 0, "", null, empty) left out: they
// are the Go zero values, so nothing is lost, and the file shows only what
// the packet carries. Byte slices appear in base64, as encoding/json writes
// them, except ReasonCodes: encoding/json would write a []ReasonCode in
// base64 too, since its elements are bytes, so it is written as the array
// of numbers it is (which json.Unmarshal reads back just the same).
func goldenJSON(p packet.Packet) ([]byte, error) {
	raw, err := json.Marshal(struct {
		Type   string
		Packet packet.Packet
	}{p.Type().String(), p})
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var compact bytes.Buffer
	if _, err := copyValue(&compact, dec); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact.Bytes(), "", "\t"); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// copyValue writes the next value of dec to w and reports whether it is a
// zero value.
func copyValue(w *bytes.Buffer, dec *json.Decoder) (zero bool, err error) {
	tok, err := dec.Token()
	if err != nil {
		return false, err
	}
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '[' {
			return copyArray(w, dec)
		}
		return copyObject(w, dec)
	case json.Number:
		w.WriteString(tok.String())
		return tok.String() == "0", nil
	case string:
		b, err := json.Marshal(tok)
		w.Write(b)
		return tok == "", err
	case bool:
		fmt.Fprint(w, tok)
		return !tok, nil
	case nil:
		w.WriteString("null")
		return true, nil
	}
	return false, fmt.Errorf("unexpected JSON token %v", tok)
}

func copyArray(w *bytes.Buffer, dec *json.Decoder) (zero bool, err error) {
	w.WriteByte('[')
	n := 0
	for dec.More() {
		if n > 0 {
			w.WriteByte(',')
		}
		if _, err := copyValue(w, dec); err != nil {
			return false, err
		}
		n++
	}
	w.WriteByte(']')
	_, err = dec.Token()
	return n == 0, err
}

func copyObject(w *bytes.Buffer, dec *json.Decoder) (zero bool, err error) {
	w.WriteByte('{')
	n := 0
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return false, err
		}
		var member bytes.Buffer
		name, _ := json.Marshal(key)
		member.Write(name)
		member.WriteByte(':')
		var zero bool
		if key == "ReasonCodes" {
			zero, err = copyReasonCodes(&member, dec)
		} else {
			zero, err = copyValue(&member, dec)
		}
		if err != nil {
			return false, err
		}
		if zero {
			continue
		}
		if n > 0 {
			w.WriteByte(',')
		}
		w.Write(member.Bytes())
		n++
	}
	w.WriteByte('}')
	_, err = dec.Token()
	return n == 0, err
}

// copyReasonCodes writes the base64 string encoding/json made of a
// []ReasonCode as an array of numbers.
func copyReasonCodes(w *bytes.Buffer, dec *json.Decoder) (zero bool, err error) {
	var codes []byte
	if err := dec.Decode(&codes); err != nil {
		return false, fmt.Errorf("ReasonCodes: %w", err)
	}
	nums := make([]int, len(codes))
	for i, c := range codes {
		nums[i] = int(c)
	}
	b, err := json.Marshal(nums)
	w.Write(b)
	return len(codes) == 0, err
}
