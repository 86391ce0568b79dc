package auth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// outcome is what the client is told: "accepted", or the CONNACK reason.
func outcome(err error) string {
	if err == nil {
		return "accepted"
	}
	return packet.CodeOf(err).String()
}

var (
	accepted    = "accepted"
	badPassword = packet.BadUserNameOrPassword.String()
	notAuth     = packet.NotAuthorized.String()
)

// writeFile writes lines to a new file in a test directory.
func writeFile(t *testing.T, name string, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	writeTo(t, path, lines...)
	return path
}

// writeTo replaces the file at path with lines.
func writeTo(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func passwordLine(t *testing.T, user, password string) string {
	t.Helper()
	line, err := PasswordLine(user, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	return line
}

func user(name string) *plugin.Client {
	return &plugin.Client{ID: "client-" + name, Username: name, HasUsername: true, Version: packet.V5}
}

func password(p string) plugin.Credentials {
	return plugin.Credentials{Password: []byte(p), HasPassword: true}
}

func TestPasswordFileAuthenticate(t *testing.T) {
	path := writeFile(t, "passwd",
		"# users of the test broker",
		passwordLine(t, "alice", "correct horse"),
		"",
		passwordLine(t, "bob", "hunter2"),
	)
	f, err := OpenPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		client *plugin.Client
		cred   plugin.Credentials
		want   string
	}{
		{"right password", user("alice"), password("correct horse"), accepted},
		{"other user's password", user("alice"), password("hunter2"), badPassword},
		{"second user", user("bob"), password("hunter2"), accepted},
		{"wrong password", user("bob"), password("hunter3"), badPassword},
		{"unknown user", user("carol"), password("hunter2"), badPassword},
		{"no password", user("alice"), plugin.Credentials{}, badPassword},
		{"empty password", user("alice"), password(""), badPassword},
		{"no user name", &plugin.Client{ID: "anon"}, password("hunter2"), notAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.Authenticate(context.Background(), tc.client, tc.cred)
			if got := outcome(err); got != tc.want {
				t.Fatalf("got %s (%v), want %s", got, err, tc.want)
			}
			if err != nil && len(tc.cred.Password) > 0 && strings.Contains(err.Error(), string(tc.cred.Password)) {
				t.Errorf("the error %q reveals the password", err)
			}
		})
	}
}

// TestPasswordFileUnknownUserLooksLikeWrongPassword checks a client cannot
// tell from the refusal whether a user exists.
func TestPasswordFileUnknownUserLooksLikeWrongPassword(t *testing.T) {
	f, err := OpenPasswordFile(writeFile(t, "passwd", passwordLine(t, "alice", "pw")))
	if err != nil {
		t.Fatal(err)
	}
	wrong := f.Authenticate(context.Background(), user("alice"), password("nope"))
	unknown := f.Authenticate(context.Background(), user("mallory"), password("nope"))
	if outcome(wrong) != outcome(unknown) ||
		strings.ReplaceAll(wrong.Error(), "alice", "X") != strings.ReplaceAll(unknown.Error(), "mallory", "X") {
		t.Errorf("wrong password: %v; unknown user: %v; want the same answer", wrong, unknown)
	}
}

func TestPasswordFileReload(t *testing.T) {
	path := writeFile(t, "passwd", passwordLine(t, "alice", "old"))
	f, err := OpenPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.Authenticate(ctx, user("alice"), password("old")); err != nil {
		t.Fatal(err)
	}

	// A broken file is refused and the users in force stay.
	writeTo(t, path, passwordLine(t, "alice", "old"), "bob:plaintext")
	err = f.Reload()
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: ") {
		t.Fatalf("reload of a broken file: %v, want an error naming %s:2", err, path)
	}
	if got := outcome(f.Authenticate(ctx, user("alice"), password("old"))); got != accepted {
		t.Errorf("after a failed reload alice's password: %s, want still accepted", got)
	}

	// A good file replaces the users, and the remembered password goes.
	writeTo(t, path, passwordLine(t, "alice", "new"), passwordLine(t, "bob", "b"))
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, password, want string
	}{
		{"alice", "old", badPassword},
		{"alice", "new", accepted},
		{"bob", "b", accepted},
	} {
		if got := outcome(f.Authenticate(ctx, user(tc.user), password(tc.password))); got != tc.want {
			t.Errorf("after reload, %s with %q: %s, want %s", tc.user, tc.password, got, tc.want)
		}
	}
}

// TestPasswordFileRemembersAcceptedPasswords checks a reconnect with the
// same password does not pay for the hash again, and a wrong password in
// between neither passes nor makes the right one forgotten.
func TestPasswordFileRemembersAcceptedPasswords(t *testing.T) {
	f, err := OpenPasswordFile(writeFile(t, "passwd", passwordLine(t, "alice", "pw")))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	if err := f.Authenticate(ctx, user("alice"), password("pw")); err != nil {
		t.Fatal(err)
	}
	hashing := time.Since(start)
	if err := f.Authenticate(ctx, user("alice"), password("wrong")); outcome(err) != badPassword {
		t.Fatalf("wrong password after a right one: %v", err)
	}
	const reconnects = 20
	start = time.Now()
	for range reconnects {
		if err := f.Authenticate(ctx, user("alice"), password("pw")); err != nil {
			t.Fatal(err)
		}
	}
	if again := time.Since(start); again > hashing {
		t.Errorf("%d reconnects took %v, more than the one login that hashed (%v): the accepted password is not remembered", reconnects, again, hashing)
	}
}

// TestPasswordFileBusy checks a login that cannot get a hashing slot
// before its deadline is told the server is busy, not that its password
// is wrong.
func TestPasswordFileBusy(t *testing.T) {
	f, err := OpenPasswordFile(writeFile(t, "passwd", passwordLine(t, "alice", "pw")))
	if err != nil {
		t.Fatal(err)
	}
	for range cap(f.slots) {
		f.slots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err = f.Authenticate(ctx, user("alice"), password("pw"))
	if got := outcome(err); got != packet.ServerBusy.String() {
		t.Errorf("got %s (%v), want server busy", got, err)
	}
}

func TestPasswordFileConcurrentReload(t *testing.T) {
	path := writeFile(t, "passwd", passwordLine(t, "alice", "pw"), passwordLine(t, "bob", "pw"))
	f, err := OpenPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := []string{"alice", "bob"}[i%2]
			for range 5 {
				if err := f.Authenticate(context.Background(), user(name), password("pw")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for range 5 {
		if err := f.Reload(); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}

func TestPasswordFileErrors(t *testing.T) {
	argon := passwordLine(t, "alice", "pw")
	hash := strings.SplitN(argon, ":", 3)[1]
	for _, tc := range []struct {
		line, want string
	}{
		{"alice", "want user:hash"},
		{":" + hash, "the user name is empty"},
		{"alice:secret", "does not begin with $"},
		{"alice:$2y$10$abcdefghijklmnopqrstuv", "unknown password hash scheme $2y$"},
		{"alice:$7$many$c2FsdA==$" + strings.Repeat("A", 88), "iterations must be a number"},
		{"alice:$7$101$c2FsdA==", "$7$iterations$salt$hash"},
		{"alice:$6$c2FsdA==$c2hvcnQ=", "is not base64 of at least 16 bytes"},
		{"alice:$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43), "want v=19"},
		{"alice:$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43), "parameters"},
		{"alice:$argon2id$v=19$t=2,m=19456,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43), "parameters"},
		{"alice:" + hash + ":$scram-sha-1$i=4096$c2FsdA$AAAA$AAAA", "unknown field $scram-sha-1$"},
		{"alice:" + hash + ":$scram-sha-256$i=1$c2FsdA$AAAA$AAAA", "32-byte keys"},
		{"alice:" + hash + ":$scram-sha-256$4096$c2FsdA$AAAA$AAAA", "i=N"},
		{"alice:" + hash + ":extra", "must be a $scram-sha-256$ or $scram-sha-512$ field"},
		{"al\tice:" + hash, "control character"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			path := writeFile(t, "passwd", "# first line", tc.line)
			_, err := OpenPasswordFile(path)
			if err == nil || !strings.HasPrefix(err.Error(), path+":2: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error at %s:2 saying %q", err, path, tc.want)
			}
		})
	}
	t.Run("duplicate user", func(t *testing.T) {
		path := writeFile(t, "passwd", argon, passwordLine(t, "bob", "x"), argon)
		_, err := OpenPasswordFile(path)
		if want := path + `:3: user "alice" is already on line 1`; err == nil || err.Error() != want {
			t.Fatalf("got %v, want %s", err, want)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "absent")
		_, err := OpenPasswordFile(path)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Fatalf("got %v, want a not-exist error naming %s", err, path)
		}
	})
}

func TestPasswordLineRefuses(t *testing.T) {
	for _, tc := range []struct {
		user, password, want string
	}{
		{"", "pw", "the user name is empty"},
		{"a:b", "pw", "contains ':'"},
		{"#admin", "pw", "begins with '#'"},
		{"line\nbreak", "pw", "control character"},
		{"alice", "", "the password is empty"},
		{"\xff", "pw", "not UTF-8"},
	} {
		if _, err := PasswordLine(tc.user, []byte(tc.password)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("PasswordLine(%q, %q): %v, want an error saying %q", tc.user, tc.password, err, tc.want)
		}
	}
}

// TestPasswordLineFields checks the line a user gets holds the argon2id
// hash and a key set for each SCRAM mechanism, in the documented order.
func TestPasswordLineFields(t *testing.T) {
	line := passwordLine(t, "alice", "pw")
	fields := strings.Split(line, ":")
	want := []string{"alice", "$argon2id$v=19$m=19456,t=2,p=1$", "$scram-sha-256$i=4096$", "$scram-sha-512$i=4096$"}
	if len(fields) != len(want) {
		t.Fatalf("line %q has %d fields, want %d", line, len(fields), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(fields[i], w) {
			t.Errorf("field %d is %q, want it to begin %q", i, fields[i], w)
		}
	}
	if again := passwordLine(t, "alice", "pw"); again == line {
		t.Error("two lines for the same password are equal: the salts are not random")
	}
}

func ExampleOpenPasswordFile() {
	dir, err := os.MkdirTemp("", "petrel-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	line, err := PasswordLine("alice", []byte("correct horse battery staple"))
	if err != nil {
		fmt.Println(err)
		return
	}
	path := filepath.Join(dir, "passwd")
	if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil {
		fmt.Println(err)
		return
	}

	f, err := OpenPasswordFile(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	alice := &plugin.Client{ID: "sensor-1", Username: "alice", HasUsername: true}
	fmt.Println(f.Authenticate(context.Background(), alice, plugin.Credentials{Password: []byte("correct horse battery staple"), HasPassword: true}))
	fmt.Println(f.Authenticate(context.Background(), alice, plugin.Credentials{Password: []byte("Tr0ub4dor&3"), HasPassword: true}))
	// Output:
	// <nil>
	// password file: unknown user "alice" or wrong password
}
