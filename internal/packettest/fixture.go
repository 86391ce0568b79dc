package packettest

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/petrelmq/petrel/packet"
)

// Fixture is one packet read from a fixture file.
type Fixture struct {
	// Name is the file's path below the fixtures directory, with forward
	// slashes and without ".txt": "v5/publish-qos1-props",
	// "invalid/v311/subscribe-bad-flags".
	Name string
	// Path is the file on disk.
	Path string
	// Version is the protocol version the packet is decoded with.
	Version packet.Version
	// Bytes is the whole packet, fixed header included.
	Bytes []byte
	// Invalid is set for a packet the receiver must refuse; Want is then
	// the reason code the decoder returns and Rule the normative statement
	// the packet breaks.
	Invalid bool
	Want    packet.ReasonCode
	Rule    string
}

var versionDirs = map[string]packet.Version{
	"v31":  packet.V31,
	"v311": packet.V311,
	"v5":   packet.V5,
}

// Load reads every fixture below dir, ordered by name. Files ending in
// ".golden" are skipped (they belong to the codec's tests); any other file
// that is not a fixture in a version directory is an error, so a misplaced
// or misnamed fixture cannot go unnoticed.
func Load(dir string) ([]Fixture, error) {
	var fixtures []Fixture
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".golden") {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parse(filepath.ToSlash(rel), text)
		if err != nil {
			return err
		}
		f.Path = path
		fixtures = append(fixtures, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load fixtures from %s: %w", dir, err)
	}
	if len(fixtures) == 0 {
		return nil, fmt.Errorf("load fixtures: no fixture in %s", dir)
	}
	return fixtures, nil
}

// parse reads one fixture. rel is its path below the fixtures directory,
// such as "v5/auth-continue.txt", from which it takes the name, the
// version and whether the packet is invalid.
func parse(rel string, text []byte) (Fixture, error) {
	f := Fixture{Name: strings.TrimSuffix(rel, ".txt")}
	parts := strings.Split(f.Name, "/")
	if parts[0] == "invalid" {
		f.Invalid = true
		parts = parts[1:]
	}
	v, ok := versionDirs[parts[0]]
	if !ok || len(parts) != 2 || !strings.HasSuffix(rel, ".txt") {
		return f, fmt.Errorf("%s: want a fixture named [invalid/]{v31,v311,v5}/NAME.txt", rel)
	}
	f.Version = v
	var hasWant bool
	sc := bufio.NewScanner(bytes.NewReader(text))
	for line := 1; sc.Scan(); line++ {
		code, comment, _ := strings.Cut(sc.Text(), "#")
		if strings.TrimSpace(code) == "" {
			key, value, _ := strings.Cut(strings.TrimSpace(comment), ":")
			value = strings.TrimSpace(value)
			switch key {
			case "want":
				c, err := strconv.ParseUint(value, 0, 8)
				if err != nil || hasWant || !packet.ReasonCode(c).IsError() {
					return f, fmt.Errorf("%s:%d: want a single \"# want: 0x80\" to 0xff", rel, line)
				}
				f.Want, hasWant = packet.ReasonCode(c), true
			case "rule":
				if f.Rule != "" || value == "" {
					return f, fmt.Errorf("%s:%d: want a single non-empty \"# rule:\"", rel, line)
				}
				f.Rule = value
			}
		}
		for _, tok := range strings.Fields(code) {
			b, err := hex.DecodeString(tok)
			if err != nil {
				return f, fmt.Errorf("%s:%d: %q is not hex bytes: %w", rel, line, tok, err)
			}
			f.Bytes = append(f.Bytes, b...)
		}
	}
	if err := sc.Err(); err != nil {
		return f, fmt.Errorf("%s: %w", rel, err)
	}
	switch {
	case len(f.Bytes) == 0:
		return f, fmt.Errorf("%s: no bytes", rel)
	case f.Invalid && (!hasWant || f.Rule == ""):
		return f, fmt.Errorf("%s: an invalid fixture needs \"# want:\" and \"# rule:\" lines", rel)
	case !f.Invalid && (hasWant || f.Rule != ""):
		return f, fmt.Errorf("%s: \"# want:\" and \"# rule:\" belong to fixtures under invalid/", rel)
	}
	return f, nil
}

// Dir returns the fixtures directory, packet/testdata/fixtures at the root
// of the module, found by walking up from the working directory to go.mod.
// Tests run in their package's directory, so Dir works from any package of
// the module.
func Dir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find fixtures: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "packet", "testdata", "fixtures"), nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("find fixtures: %w", err)
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("find fixtures: no go.mod above %s", wd)
		}
	}
}
