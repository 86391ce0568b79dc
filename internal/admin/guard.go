package admin

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/petrelmq/petrel/plugin"
)

// Guard decides who may use the API.
type Guard struct {
	// Keys are the API keys accepted as bearer tokens; nil for none.
	Keys *Keys
	// Passwords checks the user name and password of HTTP Basic
	// credentials, for the Users named; nil for none.
	Passwords plugin.Authenticator
	Users     []string
	// Open admits requests without credentials. Only an API on loopback
	// should be open, as MQTT listeners admit anonymous clients there.
	Open bool
}

// errUnauthenticated is a request without usable credentials.
var errUnauthenticated = errors.New("authentication required: send an API key as a bearer token, or an API user's name and password with HTTP Basic")

// check returns who made the request, or the status and error to refuse
// it with.
func (g *Guard) check(r *http.Request) (string, int, error) {
	h := r.Header.Get("Authorization")
	switch {
	case h == "" && g.Open:
		return "anonymous", 0, nil
	case strings.HasPrefix(h, "Bearer "):
		if g.Keys == nil {
			return "", http.StatusUnauthorized, errors.New("API keys are not configured")
		}
		name, ok := g.Keys.find(strings.TrimPrefix(h, "Bearer "))
		if !ok {
			return "", http.StatusUnauthorized, errors.New("unknown API key")
		}
		return "key " + name, 0, nil
	case strings.HasPrefix(h, "Basic "):
		user, password, _ := r.BasicAuth()
		if g.Passwords == nil || !slices.Contains(g.Users, user) {
			// The same answer as a wrong password, so the list of API
			// users cannot be probed.
			return "", http.StatusUnauthorized, errors.New("wrong user name or password")
		}
		cl := &plugin.Client{ID: "admin-api", Username: user, HasUsername: true, Listener: "admin"}
		if err := g.Passwords.Authenticate(r.Context(), cl, plugin.Credentials{Password: []byte(password), HasPassword: true}); err != nil {
			return "", http.StatusUnauthorized, errors.New("wrong user name or password")
		}
		return "user " + user, 0, nil
	}
	return "", http.StatusUnauthorized, errUnauthenticated
}

// Keys is a file of API keys, one a line as name:key; blank lines and
// lines that begin with # are ignored. Only the keys' SHA-256 digests are
// kept.
type Keys struct {
	path string
	mu   sync.RWMutex
	keys map[[sha256.Size]byte]string
}

// OpenKeys reads a file of API keys.
func OpenKeys(path string) (*Keys, error) {
	k := &Keys{path: path}
	if err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// Path is the file's name.
func (k *Keys) Path() string { return k.path }

// Reload reads the file again; if it fails to load, the keys in use stay.
func (k *Keys) Reload() error {
	data, err := os.ReadFile(k.path)
	if err != nil {
		return err
	}
	keys := map[[sha256.Size]byte]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, key, ok := strings.Cut(line, ":")
		name, key = strings.TrimSpace(name), strings.TrimSpace(key)
		switch {
		case !ok || name == "" || key == "":
			return fmt.Errorf("%s:%d: want name:key", k.path, n)
		case len(key) < 16:
			return fmt.Errorf("%s:%d: the key of %s is shorter than 16 characters; make one with openssl rand -hex 32", k.path, n, name)
		}
		keys[sha256.Sum256([]byte(key))] = name
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	return nil
}

// find returns the name of key.
func (k *Keys) find(key string) (string, bool) {
	d := sha256.Sum256([]byte(key))
	k.mu.RLock()
	defer k.mu.RUnlock()
	// Looking the digest up leaks nothing of the key through timing: the
	// digest of a guess says nothing about how close the guess came.
	name, ok := k.keys[d]
	return name, ok
}
