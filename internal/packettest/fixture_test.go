package packettest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/petrelmq/petrel/packet"
)

func TestParse(t *testing.T) {
	text := `# PUBACK refused.
# want: 0x82
# rule: v5 [MQTT-2.2.1-3]
40 02     # fixed header
0000      # packet identifier 0, and a '#' in a comment is just text
`
	f, err := parse("invalid/v5/puback-id-zero.txt", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "invalid/v5/puback-id-zero" || f.Version != packet.V5 || !f.Invalid ||
		f.Want != packet.ProtocolError || f.Rule != "v5 [MQTT-2.2.1-3]" ||
		!bytes.Equal(f.Bytes, []byte{0x40, 0x02, 0x00, 0x00}) {
		t.Errorf("parse = %+v", f)
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct{ rel, text, why string }{
		{"v5/x.txt", "4", "odd number of hex digits"},
		{"v5/x.txt", "4g", "not hex"},
		{"v5/x.txt", "# only a comment\n", "no bytes"},
		{"v6/x.txt", "c0 00", "unknown version directory"},
		{"v5/x.bin", "c0 00", "not .txt"},
		{"v5/deeper/x.txt", "c0 00", "nested too deep"},
		{"v5/x.txt", "# want: 0x81\nc0 00", "want outside invalid/"},
		{"invalid/v5/x.txt", "# want: 0x81\nc0 00", "no rule"},
		{"invalid/v5/x.txt", "# rule: v5 [MQTT-1.5.5-1]\nc0 00", "no want"},
		{"invalid/v5/x.txt", "# want: 0x10\n# rule: r\nc0 00", "want is not an error code"},
		{"invalid/v5/x.txt", "# want: 0x81\n# want: 0x82\n# rule: r\nc0 00", "two wants"},
	} {
		if _, err := parse(tc.rel, []byte(tc.text)); err == nil {
			t.Errorf("%s %q parsed; want an error: %s", tc.rel, tc.text, tc.why)
		}
	}
}

// TestDir checks that the fixtures directory is found from this package,
// two levels below the module root, and that it holds every version.
func TestDir(t *testing.T) {
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	fixtures, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	type kind struct {
		v       packet.Version
		invalid bool
	}
	seen := map[kind]bool{}
	for _, f := range fixtures {
		if !strings.HasPrefix(f.Path, dir+string(filepath.Separator)) {
			t.Errorf("%s: path %s is outside %s", f.Name, f.Path, dir)
		}
		seen[kind{f.Version, f.Invalid}] = true
	}
	for _, v := range []packet.Version{packet.V31, packet.V311, packet.V5} {
		for _, invalid := range []bool{false, true} {
			if !seen[kind{v, invalid}] {
				t.Errorf("no fixture for MQTT %s with invalid=%t", v, invalid)
			}
		}
	}
}

func TestLoadRejectsStrayFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "v5"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "v5", "pingreq.text"), []byte("c0 00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load accepted a file not named .txt")
	}
}
