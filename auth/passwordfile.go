package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// PasswordFile is an Authenticator over a password file: a client is
// accepted when it sends the user name of a line of the file and a
// password that matches the line's hash. The format is PasswordLine's;
// files written by mosquitto_passwd are read as they are.
//
// Hashes are slow to check on purpose, so PasswordFile remembers, per
// user, a keyed digest of the last password that matched, and accepts
// that password again without hashing: a storm of reconnects costs no
// more CPU than one login per user. Reload forgets these. At most
// GOMAXPROCS hashes are computed at once; other logins wait their turn.
//
// It is also a SCRAMCredentialSource, so one file serves both plain
// passwords and SCRAM. Authenticate, SCRAMCredentials and Reload are safe
// for concurrent use.
type PasswordFile struct {
	path  string
	table atomic.Pointer[passwordTable]
	key   digestKey
	slots chan struct{} // one token per hash being computed
}

// passwordTable is one reading of the file; Reload replaces it whole.
type passwordTable struct {
	users map[string]*passwordUser
	decoy passwordHash
}

type passwordUser struct {
	hash     passwordHash
	scram    map[SCRAMMechanism]SCRAMCredentials
	verified atomic.Pointer[[sha256.Size]byte] // digest of the password that last matched
}

// OpenPasswordFile reads the password file at path.
func OpenPasswordFile(path string) (*PasswordFile, error) {
	f := &PasswordFile{path: path, key: newDigestKey(), slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload reads the file again and, if it is valid, puts it in force at
// once for new logins; if it is not, the error says where, and the users
// read before stay in force.
func (f *PasswordFile) Reload() error {
	t, err := readPasswordFile(f.path)
	if err != nil {
		return err
	}
	f.table.Store(t)
	return nil
}

// Path is the file's path, as given to OpenPasswordFile.
func (f *PasswordFile) Path() string { return f.path }

func readPasswordFile(path string) (*passwordTable, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("password file: %w", err)
	}
	t := &passwordTable{users: map[string]*passwordUser{}}
	lines := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, u, err := parsePasswordLine(line)
		if err == nil && lines[name] != 0 {
			err = fmt.Errorf("user %q is already on line %d", name, lines[name])
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		lines[name] = n
		t.users[name] = u
		if t.decoy == nil {
			t.decoy = u.hash.decoy()
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.decoy == nil {
		t.decoy = defaultDecoy
	}
	return t, nil
}

func parsePasswordLine(line string) (string, *passwordUser, error) {
	fields := strings.Split(line, ":")
	if len(fields) < 2 {
		return "", nil, errors.New("want user:hash, got a line without ':'")
	}
	name := fields[0]
	if err := checkUsername(name); err != nil {
		return "", nil, err
	}
	h, err := parsePasswordHash(fields[1])
	if err != nil {
		return "", nil, fmt.Errorf("user %q: %w", name, err)
	}
	u := &passwordUser{hash: h}
	for _, field := range fields[2:] {
		m, cred, err := parseSCRAMField(field)
		if err != nil {
			return "", nil, fmt.Errorf("user %q: %w", name, err)
		}
		if _, dup := u.scram[m]; dup {
			return "", nil, fmt.Errorf("user %q: two %s fields", name, m)
		}
		if u.scram == nil {
			u.scram = map[SCRAMMechanism]SCRAMCredentials{}
		}
		u.scram[m] = cred
	}
	return name, u, nil
}

// Authenticate accepts a client whose user name is in the file and whose
// password matches that user's hash. It refuses with Bad User Name or
// Password a client that sends no password, an unknown user name, or a
// wrong password (the last two alike, so a client cannot tell which), and
// with Not Authorized a client that sends no user name. When ctx ends
// while the login waits for a free hashing slot, it refuses with Server
// Busy.
func (f *PasswordFile) Authenticate(ctx context.Context, c *plugin.Client, cred plugin.Credentials) error {
	if !c.HasUsername {
		return refuse(packet.NotAuthorized, "password file: the client sent no user name")
	}
	if !cred.HasPassword {
		return refuse(packet.BadUserNameOrPassword, "password file: user %q sent no password", c.Username)
	}
	t := f.table.Load()
	u := t.users[c.Username]
	d := f.key.digest(cred.Password)
	if u != nil {
		if v := u.verified.Load(); v != nil && subtle.ConstantTimeCompare(v[:], d[:]) == 1 {
			return nil
		}
	}
	select {
	case f.slots <- struct{}{}:
	case <-ctx.Done():
		return refuse(packet.ServerBusy, "password file: too many logins are being checked at once; try again later")
	}
	var ok bool
	if u != nil {
		ok = u.hash.verify(cred.Password)
	} else {
		t.decoy.verify(cred.Password)
	}
	<-f.slots
	if !ok {
		return refuse(packet.BadUserNameOrPassword, "password file: unknown user %q or wrong password", c.Username)
	}
	u.verified.Store(&d)
	return nil
}

// SCRAMCredentials returns the user's keys for mechanism m, if the user's
// line has them.
func (f *PasswordFile) SCRAMCredentials(m SCRAMMechanism, username string) (SCRAMCredentials, bool) {
	u := f.table.Load().users[username]
	if u == nil {
		return SCRAMCredentials{}, false
	}
	c, ok := u.scram[m]
	return c, ok
}
