package config

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/petrelmq/petrel/auth"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

func TestAuthenticationSettings(t *testing.T) {
	// A password file authenticates a listener on the network, so it
	// needs no allow_anonymous.
	c := mustLoad(t, "password_file: passwd\nlisteners:\n  - address: 0.0.0.0:1883\n", nil, Flags{})
	if c.Listeners[0].AllowAnonymous {
		t.Error("a network listener with a password file admits anonymous clients")
	}
	for _, tc := range []struct{ file, err string }{
		{"listeners:\n  - address: 127.0.0.1:1883\n    auth: [jwt]\n",
			"petrel.yaml:3: listeners[0].auth: jwt is not configured; set jwt_secret_file or jwt_public_key_file"},
		{"listeners:\n  - address: 127.0.0.1:1883\n    auth: [kerberos]\n",
			`petrel.yaml:3: listeners[0].auth: want methods from password, jwt, http, or none, got "kerberos"`},
		{"jwt_secret_file: a\njwt_public_key_file: b\n",
			"jwt_secret_file and jwt_public_key_file: set one, for HMAC or for public-key tokens"},
		{"http_auth_url: ftp://x\n", `petrel.yaml:1: http_auth_url: want an http:// or https:// URL, got "ftp://x"`},
		{"max_connection_rate: fast\n", `petrel.yaml:1: max_connection_rate: want a rate per second such as 100 or 0.5, got "fast"`},
	} {
		if _, err := load(t, tc.file, nil, Flags{}); err == nil || err.Error() != tc.err {
			t.Errorf("%q:\n got %v\nwant %s", tc.file, err, tc.err)
		}
	}
}

func TestOpenWiresAuthentication(t *testing.T) {
	t.Chdir(t.TempDir())
	line, err := auth.PasswordLine("alice", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"passwd": line + "\n", "acl": "user alice\ntopic read a/#\n", "jwt.key": strings.Repeat("k", 32) + "\n"} {
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	c.Auth = Auth{PasswordFile: "passwd", ACLFile: "acl", JWTSecretFile: "jwt.key"}
	c.Listeners = append(c.Listeners, Listener{}, Listener{})
	c.Listeners[1].Auth, c.Listeners[2].Auth = []string{"jwt"}, []string{}
	if _, err := c.Open(); err != nil {
		t.Fatal(err)
	}
	alice := &plugin.Client{ID: "a", Username: "alice", HasUsername: true}
	try := func(a plugin.Authenticator, password string) error {
		return a.Authenticate(context.Background(), alice, plugin.Credentials{Password: []byte(password), HasPassword: true})
	}
	// The server's chain tries the password file, then JWT.
	if err := try(c.Options.Authenticator, "secret"); err != nil {
		t.Errorf("password through the chain: %v", err)
	}
	if err := try(c.Options.Authenticator, "wrong"); !errors.Is(err, packet.BadUserNameOrPassword) {
		t.Errorf("wrong password through the chain: %v", err)
	}
	// The JWT-only listener does not take the password.
	if err := try(c.Listeners[1].Authenticator, "secret"); err == nil {
		t.Error("a listener limited to JWT accepted a password")
	}
	// auth: none admits no user name: only anonymous clients, where the
	// listener allows them.
	if err := try(c.Listeners[2].Authenticator, "secret"); !errors.Is(err, packet.NotAuthorized) {
		t.Errorf("a listener with no method: %v, want not authorized", err)
	}
	if c.Options.Authorizer == nil || !c.Options.Authorizer.Authorize(alice, plugin.Subscribe, "a/b") || c.Options.Authorizer.Authorize(alice, plugin.Subscribe, "b") {
		t.Error("the ACL is not the broker's authorizer")
	}
	for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		if c.Options.EnhancedAuth[m] == nil {
			t.Errorf("%s is not offered beside the password file", m)
		}
	}
}
