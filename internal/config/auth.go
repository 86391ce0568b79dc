package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/petrelmq/petrel/auth"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// Auth names the files and services that authenticate and authorise
// clients. Load only checks the settings; Open reads the files.
type Auth struct {
	// PasswordFile holds users' password hashes and SCRAM keys, as
	// petrel passwd writes it (Mosquitto's files are read too).
	PasswordFile string
	// SCRAMFile, when set, holds the SCRAM credentials instead of
	// PasswordFile; it has the same format.
	SCRAMFile string
	// ACLFile holds the access rules, in Mosquitto's syntax.
	ACLFile string
	// HTTPURL, when set, is asked about every login (see auth.HTTPHook).
	HTTPURL      string
	HTTPTimeout  time.Duration
	HTTPCacheTTL time.Duration
	// JWTSecretFile (an HMAC secret) or JWTPublicKeyFile (a PEM public
	// key or certificate) verify JSON Web Tokens sent as passwords.
	JWTSecretFile    string
	JWTPublicKeyFile string
	JWTIssuer        string
	JWTAudience      string
	JWTUsernameClaim string
}

// authMethods are the names of the password-checking methods a listener's
// auth key lists, in the order they are tried.
var authMethods = []string{"password", "jwt", "http"}

// methods are the authentication methods configured, in authMethods'
// order.
func (a *Auth) methods() []string {
	var m []string
	if a.PasswordFile != "" {
		m = append(m, "password")
	}
	if a.JWTSecretFile != "" || a.JWTPublicKeyFile != "" {
		m = append(m, "jwt")
	}
	if a.HTTPURL != "" {
		m = append(m, "http")
	}
	return m
}

// check validates the settings that go together.
func (a *Auth) check() error {
	if a.JWTSecretFile != "" && a.JWTPublicKeyFile != "" {
		return errors.New("jwt_secret_file and jwt_public_key_file: set one, for HMAC or for public-key tokens")
	}
	return nil
}

// listenerMethods is what authenticates on l: its auth list, or every
// configured method.
func (c *Config) listenerMethods(l *Listener) []string {
	if l.Auth != nil {
		return l.Auth
	}
	return c.Auth.methods()
}

// checkListenerAuth refuses a listener whose auth names a method that is
// not configured.
func (c *Config) checkListenerAuth(i int, l *Listener) error {
	configured := c.Auth.methods()
	for _, m := range l.Auth {
		if !slices.Contains(configured, m) {
			return fmt.Errorf("%s: %s is not configured; set %s", l.from["auth"], m,
				map[string]string{"password": "password_file", "jwt": "jwt_secret_file or jwt_public_key_file", "http": "http_auth_url"}[m])
		}
	}
	return nil
}

// Security is what Open made of Auth: the authenticators, authorizer and
// enhanced authentication methods, ready for the broker, and what reloads.
type Security struct {
	passwords, scram *auth.PasswordFile
	acl              *auth.ACL
}

// Open reads the files c.Auth names and sets the broker's and each
// listener's authenticators, authorizer and SCRAM methods in c.
func (c *Config) Open() (*Security, error) {
	a := &c.Auth
	sec := &Security{}
	byName := map[string]plugin.Authenticator{}
	var err error
	if a.PasswordFile != "" {
		if sec.passwords, err = auth.OpenPasswordFile(a.PasswordFile); err != nil {
			return nil, fmt.Errorf("password_file: %w", err)
		}
		byName["password"] = sec.passwords
	}
	sec.scram = sec.passwords
	if a.SCRAMFile != "" {
		if sec.scram, err = auth.OpenPasswordFile(a.SCRAMFile); err != nil {
			return nil, fmt.Errorf("scram_file: %w", err)
		}
	}
	if sec.scram != nil {
		c.Options.EnhancedAuth = map[string]plugin.EnhancedAuthenticator{}
		for _, m := range []auth.SCRAMMechanism{auth.SCRAMSHA256, auth.SCRAMSHA512} {
			s, err := auth.NewSCRAM(m, sec.scram)
			if err != nil {
				return nil, err
			}
			c.Options.EnhancedAuth[s.Method()] = s
		}
	}
	if a.JWTSecretFile != "" || a.JWTPublicKeyFile != "" {
		cfg := auth.JWTConfig{Issuer: a.JWTIssuer, Audience: a.JWTAudience, UsernameClaim: a.JWTUsernameClaim}
		if a.JWTSecretFile != "" {
			secret, err := os.ReadFile(a.JWTSecretFile)
			if err != nil {
				return nil, fmt.Errorf("jwt_secret_file: %w", err)
			}
			cfg.Key = []byte(strings.TrimRight(string(secret), "\r\n"))
		} else if cfg.Key, err = auth.ReadJWTPublicKey(a.JWTPublicKeyFile); err != nil {
			return nil, fmt.Errorf("jwt_public_key_file: %w", err)
		}
		j, err := auth.NewJWT(cfg)
		if err != nil {
			return nil, fmt.Errorf("jwt: %w", err)
		}
		byName["jwt"] = j
	}
	if a.HTTPURL != "" {
		byName["http"] = &auth.HTTPHook{URL: a.HTTPURL, Timeout: a.HTTPTimeout, CacheTTL: a.HTTPCacheTTL}
	}
	if a.ACLFile != "" {
		if sec.acl, err = auth.OpenACL(a.ACLFile); err != nil {
			return nil, fmt.Errorf("acl_file: %w", err)
		}
		c.Options.Authorizer = sec.acl
	}
	chainOf := func(names []string) plugin.Authenticator {
		var ch chain
		for _, n := range names {
			ch = append(ch, byName[n])
		}
		switch len(ch) {
		case 0:
			return nil
		case 1:
			return ch[0]
		}
		return ch
	}
	c.Options.Authenticator = chainOf(c.Auth.methods())
	for i := range c.Listeners {
		if l := &c.Listeners[i]; l.Auth != nil {
			l.Authenticator = chainOf(l.Auth)
			if l.Authenticator == nil {
				// auth: none. No method can prove a user name here, so
				// only anonymous clients get in, where they are allowed.
				l.Authenticator = plugin.AuthenticatorFunc(func(context.Context, *plugin.Client, plugin.Credentials) error {
					return fmt.Errorf("listener %s checks no credentials: %w", l.Name, packet.NotAuthorized)
				})
			}
		}
	}
	return sec, nil
}

// Reload reads the password, SCRAM and ACL files again. A file that fails
// to load keeps its previous contents; the errors say which.
func (s *Security) Reload() error {
	var errs []error
	for _, r := range []struct {
		name string
		f    interface{ Reload() error }
		on   bool
	}{
		{"password_file", s.passwords, s.passwords != nil},
		{"scram_file", s.scram, s.scram != nil && s.scram != s.passwords},
		{"acl_file", s.acl, s.acl != nil},
	} {
		if r.on {
			if err := r.f.Reload(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Files lists the files Reload reads, for logs.
func (s *Security) Files() []string {
	var f []string
	if s.passwords != nil {
		f = append(f, s.passwords.Path())
	}
	if s.scram != nil && s.scram != s.passwords {
		f = append(f, s.scram.Path())
	}
	if s.acl != nil {
		f = append(f, s.acl.Path())
	}
	return f
}

// chain tries authenticators in turn: the first that accepts admits the
// client; if none does, the first one's refusal stands.
type chain []plugin.Authenticator

func (ch chain) Authenticate(ctx context.Context, c *plugin.Client, cred plugin.Credentials) error {
	var first error
	for _, a := range ch {
		err := a.Authenticate(ctx, c, cred)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}
