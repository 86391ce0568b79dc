package auth

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mosquittoPasswd finds Debian's mosquitto_passwd (package mosquitto). It
// skips loudly when the tool is missing, since a quiet skip would read as
// a pass; with PETREL_REQUIRE_INTEROP=1 it fails instead.
func mosquittoPasswd(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		msg := "mosquitto_passwd is not installed (Debian package mosquitto; run .ci/install-interop)"
		if os.Getenv("PETREL_REQUIRE_INTEROP") == "1" {
			t.Fatal("INTEROP REQUIRED (PETREL_REQUIRE_INTEROP=1): " + msg)
		}
		t.Skip("INTEROP SKIPPED: " + msg)
	}
	return path
}

// TestMosquittoPasswordFile reads files that mosquitto_passwd wrote, in
// its default PBKDF2-SHA512 format ($7$) and its older SHA-512 one ($6$).
func TestMosquittoPasswordFile(t *testing.T) {
	tool := mosquittoPasswd(t)
	path := filepath.Join(t.TempDir(), "passwd")
	for _, args := range [][]string{
		{"-b", "-c", path, "alice", "correct horse"},
		{"-b", path, "bob", "pässwörd with spaces"},
		{"-H", "sha512", "-b", path, "carol", "old style"},
	} {
		if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %q: %v\n%s", args, err, out)
		}
	}
	data, _ := os.ReadFile(path)
	for _, prefix := range []string{"alice:$7$", "bob:$7$", "carol:$6$"} {
		if !strings.Contains(string(data), prefix) {
			t.Fatalf("mosquitto_passwd wrote no %q line:\n%s", prefix, data)
		}
	}
	f, err := OpenPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, password, want string
	}{
		{"alice", "correct horse", accepted},
		{"alice", "correct horse ", badPassword},
		{"bob", "pässwörd with spaces", accepted},
		{"bob", "passwort with spaces", badPassword},
		{"carol", "old style", accepted},
		{"carol", "old stylE", badPassword},
	} {
		err := f.Authenticate(context.Background(), user(tc.user), password(tc.password))
		if got := outcome(err); got != tc.want {
			t.Errorf("%s with %q: %s (%v), want %s", tc.user, tc.password, got, err, tc.want)
		}
	}
}
