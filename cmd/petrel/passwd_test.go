package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/petrelmq/petrel/auth"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// passwdOK runs petrel passwd with args and fails unless it succeeds
// silently.
func passwdOK(t *testing.T, args ...string) {
	t.Helper()
	r := petrel(t, "", append([]string{"passwd"}, args...)...)
	if r.status != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("petrel passwd %q: status %d, stdout %q, stderr %q; want 0 and no output", args, r.status, r.stdout, r.stderr)
	}
}

// logins reports, for each "user:password", whether the password file at
// path accepts it.
func logins(t *testing.T, path string, tries ...string) map[string]string {
	t.Helper()
	f, err := auth.OpenPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, try := range tries {
		user, pw, _ := strings.Cut(try, ":")
		err := f.Authenticate(context.Background(), &plugin.Client{ID: "c", Username: user, HasUsername: true},
			plugin.Credentials{Password: []byte(pw), HasPassword: true})
		got[try] = "accepted"
		if err != nil {
			got[try] = packet.CodeOf(err).String()
		}
	}
	return got
}

func wantLogins(t *testing.T, path string, want map[string]string) {
	t.Helper()
	var tries []string
	for k := range want {
		tries = append(tries, k)
	}
	got := logins(t, path, tries...)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s, want %s", k, got[k], w)
		}
	}
}

func userLine(t *testing.T, path, user string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, user+":") {
			return l
		}
	}
	return ""
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

const bad = "bad user name or password"

func TestPasswdRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")

	passwdOK(t, "-c", "-b", path, "alice", "first")
	if m := mode(t, path); m != 0o600 {
		t.Errorf("created with mode %v, want 0600", m)
	}
	passwdOK(t, "-b", path, "bob", "bobs password")
	wantLogins(t, path, map[string]string{"alice:first": "accepted", "bob:bobs password": "accepted", "alice:bobs password": bad})

	// An operator's comment and mode survive an update, and so do the
	// lines of users not touched.
	data, _ := os.ReadFile(path)
	os.WriteFile(path, append([]byte("# broker users\n"), data...), 0o600)
	os.Chmod(path, 0o640)
	bobLine := userLine(t, path, "bob")
	passwdOK(t, "-b", path, "alice", "second")
	wantLogins(t, path, map[string]string{"alice:second": "accepted", "alice:first": bad, "bob:bobs password": "accepted"})
	if m := mode(t, path); m != 0o640 {
		t.Errorf("after an update the mode is %v, want 0640 as before", m)
	}
	if got := userLine(t, path, "bob"); got != bobLine {
		t.Errorf("updating alice changed bob's line:\n%s\nto\n%s", bobLine, got)
	}
	data, _ = os.ReadFile(path)
	if !strings.HasPrefix(string(data), "# broker users\nalice:") || strings.Count(string(data), "alice:") != 1 {
		t.Errorf("alice was not changed in place:\n%s", data)
	}

	// The file serves SCRAM too.
	f, err := auth.OpenPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []auth.SCRAMMechanism{auth.SCRAMSHA256, auth.SCRAMSHA512} {
		if _, ok := f.SCRAMCredentials(m, "alice"); !ok {
			t.Errorf("no %s keys for alice", m)
		}
	}

	passwdOK(t, "-D", path, "bob")
	wantLogins(t, path, map[string]string{"alice:second": "accepted", "bob:bobs password": bad})
	r := petrel(t, "", "passwd", "-D", path, "bob")
	if r.status != 1 || !strings.Contains(r.stderr, `user "bob" is not in `+path) {
		t.Errorf("deleting a missing user: status %d, stderr %q; want 1 saying bob is not there", r.status, r.stderr)
	}

	// -c starts the file over.
	passwdOK(t, "-c", "-b", path, "carol", "c")
	wantLogins(t, path, map[string]string{"carol:c": "accepted", "alice:second": bad})
	if m := mode(t, path); m != 0o640 {
		t.Errorf("-c over an existing file changed its mode to %v, want 0640 as before", m)
	}
}

// TestPasswdMosquittoFile adds a user to a file mosquitto_passwd wrote:
// its users keep working beside the new one.
func TestPasswdMosquittoFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	mosquittoLine := "alice:$7$101$Q6bUV5C/jjy7WDwK$BvHjkHvN1IvBFXMgy2mplcWLDBK41ezf7SM7HzHpADJXB17DuXjVDe+spX/zaLw7ZVmp+Sm9e1XZs578m4AFEg=="
	os.WriteFile(path, []byte(mosquittoLine), 0o600) // no final newline, as some editors leave it
	passwdOK(t, "-b", path, "bob", "b")
	if got := userLine(t, path, "alice"); got != mosquittoLine {
		t.Errorf("alice's line became %q", got)
	}
	wantLogins(t, path, map[string]string{"alice:secret": "accepted", "bob:b": "accepted"})
}

func TestPasswdThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real")
	link := filepath.Join(dir, "link")
	passwdOK(t, "-c", "-b", target, "alice", "a")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	passwdOK(t, "-b", link, "bob", "b")
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi.Mode(), err)
	}
	wantLogins(t, target, map[string]string{"alice:a": "accepted", "bob:b": "accepted"})
}

func TestPasswdErrors(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "passwd")
	passwdOK(t, "-c", "-b", existing, "alice", "a")
	before, _ := os.ReadFile(existing)
	for _, tc := range []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"no arguments", nil, 2, "petrel passwd: want 2 arguments, FILE USER, got 0 (see petrel passwd --help)"},
		{"-b without password", []string{"-b", existing, "bob"}, 2, "want 3 arguments, FILE USER PASSWORD, got 2"},
		{"password without -b", []string{existing, "bob", "pw"}, 2, "a password on the command line needs -b"},
		{"-c with -D", []string{"-c", "-D", existing, "alice"}, 2, "-c and -D do not go together"},
		{"-D with -b", []string{"-D", "-b", existing, "alice", "a"}, 2, "-D takes no password, so no -b"},
		{"unknown flag", []string{"-U", existing}, 2, "unknown shorthand flag: 'U'"},
		{"missing file", []string{"-b", filepath.Join(dir, "absent"), "bob", "pw"}, 1, "absent does not exist: create it with -c"},
		{"colon in user name", []string{"-b", existing, "a:b", "pw"}, 1, `user "a:b": the user name contains ':'`},
		{"empty password", []string{"-b", existing, "bob", ""}, 1, "the password is empty"},
		{"not a terminal", []string{existing, "bob"}, 1, "standard input is not a terminal, so the password cannot be asked for unseen: run petrel passwd in a terminal, or give the password with -b"},
		{"directory", []string{"-b", dir, "bob", "pw"}, 1, "is not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := petrel(t, "piped, not typed\n", append([]string{"passwd"}, tc.args...)...)
			if r.status != tc.status || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("status %d, stderr %q; want %d and one line saying %q", r.status, r.stderr, tc.status, tc.want)
			}
		})
	}
	if after, _ := os.ReadFile(existing); string(after) != string(before) {
		t.Error("a failed command changed the file")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestPasswdHelp(t *testing.T) {
	r := petrel(t, "", "passwd", "--help")
	if r.status != 0 || !strings.Contains(r.stdout, "petrel passwd -D FILE USER") || !strings.Contains(r.stdout, "-b, --batch") {
		t.Errorf("status %d, help:\n%s", r.status, r.stdout)
	}
	r = petrel(t, "", "help")
	if !strings.Contains(r.stdout, "petrel passwd [-c] [-D] [-b] FILE USER [PASSWORD]") {
		t.Errorf("petrel help does not name passwd:\n%s", r.stdout)
	}
}
