package config

import (
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAnonymousRule is the rule of DESIGN.md: loopback and Unix listeners
// admit anonymous clients unless told not to; any other listener starts
// only when its configuration says allow_anonymous: true.
func TestAnonymousRule(t *testing.T) {
	for _, tc := range []struct {
		address   string
		allow     string // "" leaves allow_anonymous out
		anonymous bool
		err       string
	}{
		{address: "127.0.0.1:1883", anonymous: true},
		{address: "127.3.2.1:1883", anonymous: true},
		{address: "localhost:1883", anonymous: true},
		{address: "[::1]:1883", anonymous: true},
		{address: "[::ffff:127.0.0.1]:1883", anonymous: true},
		{address: "unix:/run/petrel.sock", anonymous: true},
		{address: "127.0.0.1:1883", allow: "false", anonymous: false},
		{address: "unix:/run/petrel.sock", allow: "false", anonymous: false},
		{address: "0.0.0.0:1883", allow: "true", anonymous: true},
		{address: "0.0.0.0:1883",
			err: "petrel.yaml:3: listeners[0].address: 0.0.0.0:1883 is reachable from other machines, so anonymous access there must be explicit: set allow_anonymous: true on this listener, or have clients authenticate with a password_file (or JWT or an HTTP hook) or with certificates (tls.require_certificate: true and tls.identity: cn)"},
		{address: ":1883",
			err: "petrel.yaml:3: listeners[0].address: :1883 is reachable from other machines, so anonymous access there must be explicit: set allow_anonymous: true on this listener, or have clients authenticate with a password_file (or JWT or an HTTP hook) or with certificates (tls.require_certificate: true and tls.identity: cn)"},
		{address: "[::]:1883",
			err: "petrel.yaml:3: listeners[0].address: [::]:1883 is reachable from other machines, so anonymous access there must be explicit: set allow_anonymous: true on this listener, or have clients authenticate with a password_file (or JWT or an HTTP hook) or with certificates (tls.require_certificate: true and tls.identity: cn)"},
		{address: "192.168.1.10:1883",
			err: "petrel.yaml:3: listeners[0].address: 192.168.1.10:1883 is reachable from other machines, so anonymous access there must be explicit: set allow_anonymous: true on this listener, or have clients authenticate with a password_file (or JWT or an HTTP hook) or with certificates (tls.require_certificate: true and tls.identity: cn)"},
		{address: "broker.example.com:1883",
			err: "petrel.yaml:3: listeners[0].address: broker.example.com:1883 is reachable from other machines, so anonymous access there must be explicit: set allow_anonymous: true on this listener, or have clients authenticate with a password_file (or JWT or an HTTP hook) or with certificates (tls.require_certificate: true and tls.identity: cn)"},
		{address: "0.0.0.0:1883", allow: "false",
			err: "petrel.yaml:4: listeners[0].allow_anonymous: false on 0.0.0.0:1883 would admit every client that sends a user name, because no authentication method is configured: set allow_anonymous: true on this listener, or have clients authenticate with a password_file (or JWT or an HTTP hook) or with certificates (tls.require_certificate: true and tls.identity: cn)"},
	} {
		t.Run(tc.address+"/"+tc.allow, func(t *testing.T) {
			file := "listeners:\n  - name: x\n    address: \"" + tc.address + "\"\n"
			if tc.allow != "" {
				file += "    allow_anonymous: " + tc.allow + "\n"
			}
			c, err := load(t, file, nil, Flags{})
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("Load error:\n got %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := c.Listeners[0].AllowAnonymous; got != tc.anonymous {
				t.Errorf("AllowAnonymous = %v, want %v", got, tc.anonymous)
			}
		})
	}
}

// TestAnonymousRuleHints checks the error says how to fix it where the
// listener was defined.
func TestAnonymousRuleHints(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   []string
		flags Flags
		want  string
	}{
		{"env list", []string{"PETREL_LISTENERS=127.0.0.1:1883,0.0.0.0:1883"}, Flags{},
			"PETREL_LISTENERS: 0.0.0.0:1883 is reachable from other machines, so anonymous access there must be explicit: set PETREL_LISTENERS_1_ALLOW_ANONYMOUS=true, or have clients authenticate with PETREL_PASSWORD_FILE or with certificates (PETREL_LISTENERS_1_TLS_REQUIRE_CERTIFICATE=true and PETREL_LISTENERS_1_TLS_IDENTITY=cn)"},
		{"env index", []string{"PETREL_LISTENERS_0_ADDRESS=0.0.0.0:1883"}, Flags{},
			"PETREL_LISTENERS_0_ADDRESS: 0.0.0.0:1883 is reachable from other machines, so anonymous access there must be explicit: set PETREL_LISTENERS_0_ALLOW_ANONYMOUS=true, or have clients authenticate with PETREL_PASSWORD_FILE or with certificates (PETREL_LISTENERS_0_TLS_REQUIRE_CERTIFICATE=true and PETREL_LISTENERS_0_TLS_IDENTITY=cn)"},
		{"env false", []string{"PETREL_LISTENERS=0.0.0.0:1883", "PETREL_LISTENERS_0_ALLOW_ANONYMOUS=false"}, Flags{},
			"PETREL_LISTENERS_0_ALLOW_ANONYMOUS: false on 0.0.0.0:1883 would admit every client that sends a user name, because no authentication method is configured: set PETREL_LISTENERS_0_ALLOW_ANONYMOUS=true, or have clients authenticate with PETREL_PASSWORD_FILE or with certificates (PETREL_LISTENERS_0_TLS_REQUIRE_CERTIFICATE=true and PETREL_LISTENERS_0_TLS_IDENTITY=cn)"},
		{"flag", nil, Flags{Listen: []string{"127.0.0.1:1883", "0.0.0.0:1883"}},
			"--listen 0.0.0.0:1883: 0.0.0.0:1883 is reachable from other machines, so anonymous access there must be explicit: set password_file, or declare this listener in the config file with allow_anonymous: true or client certificates, since --listen admits anonymous clients on loopback only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, "", tc.env, tc.flags)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Load error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	port := func(n int) *int { return &n }
	const file = "log_level: warn\nlisteners:\n  - address: 127.0.0.1:1883\n"
	for _, tc := range []struct {
		name  string
		file  string
		env   []string
		flags Flags
		want  []Listener
		err   string
	}{
		{name: "port moves the default listener", flags: Flags{Port: port(1999)},
			want: []Listener{tcp("default", "127.0.0.1:1999", true)}},
		{name: "listen replaces the file's listeners", file: file,
			flags: Flags{Listen: []string{"[::1]:1884", "unix:/tmp/p.sock"}},
			want:  []Listener{tcp("[::1]:1884", "[::1]:1884", true), unix("unix:/tmp/p.sock", "/tmp/p.sock", true)}},
		{name: "listen replaces the environment's listeners", env: []string{"PETREL_LISTENERS=0.0.0.0:1"},
			flags: Flags{Listen: []string{"localhost:1884"}},
			want:  []Listener{tcp("localhost:1884", "localhost:1884", true)}},
		{name: "port with listeners in the file", file: file, flags: Flags{Port: port(1999)},
			err: "--port sets the port of the default listener, but listeners are configured (petrel.yaml:2): change the port there, or use --listen"},
		{name: "port with listeners in the environment", env: []string{"PETREL_LISTENERS=127.0.0.1:1"}, flags: Flags{Port: port(1999)},
			err: "--port sets the port of the default listener, but listeners are configured (PETREL_LISTENERS): change the port there, or use --listen"},
		{name: "port and listen", flags: Flags{Port: port(1999), Listen: []string{"127.0.0.1:1884"}},
			err: "--port sets the port of the default listener, and --listen replaces it: use one or the other"},
		{name: "port out of range", flags: Flags{Port: port(70000)},
			err: "--port 70000: want a port number from 0 to 65535"},
		{name: "bad listen", flags: Flags{Listen: []string{"1883"}},
			err: `--listen 1883: want host:port or unix:/path, got "1883"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.file, tc.env, tc.flags)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("Load error:\n got %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tc.want, c.Listeners, ignoreUnexported); diff != "" {
				t.Errorf("listeners (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerboseOverridesLogLevel(t *testing.T) {
	c := mustLoad(t, "log_level: error\n", []string{"PETREL_LOG_LEVEL=warn"}, Flags{Verbose: true})
	if c.LogLevel != slog.LevelDebug {
		t.Errorf("-v with log_level error and PETREL_LOG_LEVEL=warn: level %s, want DEBUG", c.LogLevel)
	}
}
