package pebblestore

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/store/storetest"
)

func TestContract(t *testing.T) {
	for _, d := range []Durability{Sync(), Batch(5 * time.Millisecond), None()} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) (broker.Store, func() broker.Store) {
				dir := filepath.Join(t.TempDir(), "data")
				s := mustOpen(t, dir, Options{Durability: d})
				return s, func() broker.Store { return mustOpen(t, dir, Options{Durability: d}) }
			})
		})
	}
}

func mustOpen(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// openErr opens dir expecting a refusal that names the directory and
// says want.
func openErr(t *testing.T, dir, want string) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err == nil {
		s.Close()
		t.Fatalf("Open(%s) succeeded, want an error saying %q", dir, want)
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open: %v; want the directory and %q", err, want)
	}
}

func TestOpenCreatesTheDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	mustOpen(t, dir, Options{}).Close()
	if desc, err := pebble.Peek(dir, vfs.Default); err != nil || !desc.Exists {
		t.Fatalf("no database in %s: %v", dir, err)
	}
	// And opens it again.
	mustOpen(t, dir, Options{}).Close()
}

func TestOpenRefusesANewerFormat(t *testing.T) {
	dir := t.TempDir()
	mustOpen(t, dir, Options{}).Close()
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte(formatKey), binary.AppendUvarint(nil, formatVersion+1), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	openErr(t, dir, "newer Petrel")
}

func TestOpenRefusesAnUnknownFormat(t *testing.T) {
	dir := t.TempDir()
	mustOpen(t, dir, Options{}).Close()
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte(formatKey), []byte{0xff}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	openErr(t, dir, "unknown")
}

func TestOpenRefusesForeignData(t *testing.T) {
	t.Run("files", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		openErr(t, dir, "holds no Petrel store")
	})
	t.Run("another Pebble database", func(t *testing.T) {
		dir := t.TempDir()
		db, err := pebble.Open(dir, &pebble.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Set([]byte("theirs"), []byte("x"), pebble.Sync); err != nil {
			t.Fatal(err)
		}
		db.Close()
		openErr(t, dir, "not a Petrel store")
	})
	t.Run("a file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(dir, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		openErr(t, dir, "create data directory")
	})
}

func TestLoadRefusesUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	if err := s.db.Set([]byte("x/unknown"), nil, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Load: %v, want an error naming %s", err, dir)
	}
	s.Close()
}

func TestParseDurability(t *testing.T) {
	for _, d := range []Durability{Sync(), None(), Batch(10 * time.Millisecond), Batch(2 * time.Second)} {
		got, err := ParseDurability(d.String())
		if err != nil || got != d {
			t.Errorf("ParseDurability(%q) = %v, %v", d.String(), got, err)
		}
	}
	for _, s := range []string{"", "Sync", "batch", "batch()", "batch(0s)", "batch(-1s)", "batch(10)", "always"} {
		if _, err := ParseDurability(s); err == nil {
			t.Errorf("ParseDurability(%q) succeeded", s)
		}
	}
	if _, err := Open(t.TempDir(), Options{Durability: Batch(0)}); err == nil {
		t.Error("Open with a zero batch interval succeeded")
	}
}
