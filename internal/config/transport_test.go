package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/internal/listener"
	"github.com/petrelmq/petrel/packet"
)

func TestListenerTransports(t *testing.T) {
	const file = `
listeners:
  - name: secure
    address: 0.0.0.0:8883
    proxy_protocol: true
    versions: [3.1.1, 5]
    max_connections: 1000
    tls:
      cert_file: server.crt
      key_file: server.key
      ca_file: ca.crt
      ca_dir: /etc/petrel/ca
      crl_file: ca.crl
      require_certificate: true
      identity: cn
  - name: web
    address: 127.0.0.1:8080
    protocol: ws
    websocket_path: /ws
    websocket_origins: [https://example.com, "http://localhost:8080"]
  - name: web-secure
    address: localhost:8443
    protocol: ws
    versions: 3.1
    tls: {cert_file: web.crt, key_file: web.key, ca_file: ca.crt, identity: subject}
`
	got := mustLoad(t, file, nil, Flags{})
	want := []Listener{
		{
			Listener: broker.Listener{Name: "secure", Versions: []packet.Version{packet.V311, packet.V5}, MaxConnections: 1000,
				Identity: broker.IdentityCommonName},
			Network: "tcp", Address: "0.0.0.0:8883", ProxyProtocol: true,
			TLS: &listener.TLSFiles{CertFile: "server.crt", KeyFile: "server.key", CAFile: "ca.crt", CADir: "/etc/petrel/ca",
				CRLFile: "ca.crl", RequireCertificate: true},
		},
		{
			Listener: broker.Listener{Name: "web", AllowAnonymous: true},
			Network:  "tcp", Address: "127.0.0.1:8080", Protocol: ProtocolWebSocket,
			WebSocketPath: "/ws", WebSocketOrigins: []string{"https://example.com", "http://localhost:8080"},
		},
		{
			Listener: broker.Listener{Name: "web-secure", AllowAnonymous: true, Versions: []packet.Version{packet.V31},
				Identity: broker.IdentitySubject},
			Network: "tcp", Address: "localhost:8443", Protocol: ProtocolWebSocket, WebSocketPath: "/mqtt",
			TLS: &listener.TLSFiles{CertFile: "web.crt", KeyFile: "web.key", CAFile: "ca.crt"},
		},
	}
	if diff := cmp.Diff(want, got.Listeners, ignoreUnexported); diff != "" {
		t.Errorf("listeners (-want +got):\n%s", diff)
	}
	for i, kind := range []string{"mqtts", "ws", "wss"} {
		if l := got.Listeners[i]; l.Kind() != kind {
			t.Errorf("listener %s is of kind %s, want %s", l.Name, l.Kind(), kind)
		}
	}
}

// TestCertificateAuthentication: a listener that requires a client
// certificate and takes the user name from it authenticates every client,
// so it may be reachable from other machines without admitting anonymous
// clients.
func TestCertificateAuthentication(t *testing.T) {
	const tls = "    tls: {cert_file: s.crt, key_file: s.key, ca_file: ca.crt%s}\n"
	for _, tc := range []struct {
		name, tls, allow string
		err              string
	}{
		{name: "required and named", tls: ", require_certificate: true, identity: cn"},
		{name: "required and named, anonymous false", tls: ", require_certificate: true, identity: subject", allow: "false"},
		{name: "not named", tls: ", require_certificate: true",
			err: "petrel.yaml:3: listeners[0].address: 0.0.0.0:8883 is reachable from other machines, so anonymous access there must be explicit"},
		{name: "not required", tls: ", identity: cn", allow: "false",
			err: "petrel.yaml:5: listeners[0].allow_anonymous: false on 0.0.0.0:8883 would admit every client that sends a user name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := "listeners:\n  - name: x\n    address: 0.0.0.0:8883\n" + fmt.Sprintf(tls, tc.tls)
			if tc.allow != "" {
				file += "    allow_anonymous: " + tc.allow + "\n"
			}
			c, err := load(t, file, nil, Flags{})
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Errorf("Load error:\n got %v\nwant %s...", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Listeners[0].AllowAnonymous {
				t.Error("AllowAnonymous on a listener that authenticates by certificate")
			}
		})
	}
}

func TestListenerErrors(t *testing.T) {
	const listener = "listeners:\n  - address: 127.0.0.1:8883\n"
	for _, tc := range []struct {
		name, file string
		env        []string
		want       string
	}{
		{name: "TLS without key", file: listener + "    tls:\n      cert_file: s.crt\n",
			want: "petrel.yaml:3: listeners[0].tls.key_file is missing: a TLS listener needs the server's certificate (cert_file) and its private key (key_file)"},
		{name: "TLS without certificate", file: listener + "    tls: {key_file: s.key, ca_file: ca.crt}\n",
			want: "petrel.yaml:3: listeners[0].tls.cert_file is missing: a TLS listener needs the server's certificate (cert_file) and its private key (key_file)"},
		{name: "TLS in the environment without key", env: []string{"PETREL_LISTENERS_0_TLS_CERT_FILE=s.crt"},
			want: "PETREL_LISTENERS_0_TLS_KEY_FILE is missing: a TLS listener needs the server's certificate (cert_file) and its private key (key_file)"},
		{name: "TLS not a mapping", file: listener + "    tls: true\n",
			want: "petrel.yaml:3: listeners[0].tls: want a mapping such as {cert_file: server.crt, key_file: server.key}"},
		{name: "unknown TLS key", file: listener + "    tls:\n      cert_file: s.crt\n      certfile: s.crt\n",
			want: "petrel.yaml:5: listeners[0].tls.certfile: unknown key"},
		{name: "dotted key outside tls", file: listener + "    tls.cert_file: s.crt\n",
			want: "petrel.yaml:3: listeners[0].tls.cert_file: unknown key"},
		{name: "empty file name", file: listener + "    tls: {cert_file: '', key_file: s.key}\n",
			want: "petrel.yaml:3: listeners[0].tls.cert_file: want a file name"},
		{name: "require without CA", file: listener + "    tls:\n      cert_file: s.crt\n      key_file: s.key\n      require_certificate: true\n",
			want: "petrel.yaml:6: listeners[0].tls.require_certificate: client certificates need a CA to be verified against: set listeners[0].tls.ca_file or listeners[0].tls.ca_dir"},
		{name: "identity without CA", env: []string{"PETREL_LISTENERS_0_TLS_CERT_FILE=s.crt", "PETREL_LISTENERS_0_TLS_KEY_FILE=s.key", "PETREL_LISTENERS_0_TLS_IDENTITY=cn"},
			want: "PETREL_LISTENERS_0_TLS_IDENTITY: client certificates need a CA to be verified against: set PETREL_LISTENERS_0_TLS_CA_FILE or PETREL_LISTENERS_0_TLS_CA_DIR"},
		{name: "CRL without CA", file: listener + "    tls: {cert_file: s.crt, key_file: s.key, crl_file: ca.crl}\n",
			want: "petrel.yaml:3: listeners[0].tls.crl_file: client certificates need a CA to be verified against: set listeners[0].tls.ca_file or listeners[0].tls.ca_dir"},
		{name: "bad identity", file: listener + "    tls: {cert_file: s.crt, key_file: s.key, identity: CN}\n",
			want: `petrel.yaml:3: listeners[0].tls.identity: want one of cn, subject, none, got "CN"`},
		{name: "WebSocket path on an MQTT listener", file: listener + "    websocket_path: /mqtt\n",
			want: "petrel.yaml:3: listeners[0].websocket_path: only a WebSocket listener has this; set listeners[0].protocol to ws, or leave it out"},
		{name: "origins on an MQTT listener", env: []string{"PETREL_LISTENERS_0_WEBSOCKET_ORIGINS=https://example.com"},
			want: "PETREL_LISTENERS_0_WEBSOCKET_ORIGINS: only a WebSocket listener has this; set PETREL_LISTENERS_0_PROTOCOL to ws, or leave it out"},
		{name: "bad protocol", file: listener + "    protocol: wss\n",
			want: `petrel.yaml:3: listeners[0].protocol: want one of mqtt, ws, got "wss"`},
		{name: "relative path", file: listener + "    protocol: ws\n    websocket_path: mqtt\n",
			want: `petrel.yaml:4: listeners[0].websocket_path: want a URL path such as /mqtt, got "mqtt"`},
		{name: "origin without scheme", file: listener + "    protocol: ws\n    websocket_origins: [example.com]\n",
			want: `petrel.yaml:4: listeners[0].websocket_origins: want origins such as https://example.com or http://localhost:8080, got "example.com"`},
		{name: "origin with a path", file: listener + "    protocol: ws\n    websocket_origins:\n      - https://example.com/app\n",
			want: `petrel.yaml:5: listeners[0].websocket_origins: want origins such as https://example.com or http://localhost:8080, got "https://example.com/app"`},
		{name: "unknown version", file: listener + "    versions: [3.1.1, 4]\n",
			want: `petrel.yaml:3: listeners[0].versions: want one of 3.1, 3.1.1, 5, 5.0, got "4"`},
		{name: "no versions", file: listener + "    versions: []\n",
			want: "petrel.yaml:3: listeners[0].versions: want at least one of 3.1, 3.1.1 and 5, or leave the key out for all three"},
		{name: "versions nested", file: listener + "    versions: [[5]]\n",
			want: "petrel.yaml:3: listeners[0].versions: want a single value, not a sequence"},
		{name: "negative max connections", file: listener + "    max_connections: -1\n",
			want: "petrel.yaml:3: listeners[0].max_connections: must be at least 0, got -1"},
		{name: "bad proxy protocol", env: []string{"PETREL_LISTENERS_0_PROXY_PROTOCOL=v2"},
			want: `PETREL_LISTENERS_0_PROXY_PROTOCOL: want true or false, got "v2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.file, tc.env, Flags{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("Load error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestListenerKeysInFileAndEnv keeps the two forms of a listener's keys in
// step: each key, set in the file or as PETREL_LISTENERS_0_<KEY>, changes
// the listener, and in the same way.
func TestListenerKeysInFileAndEnv(t *testing.T) {
	samples := map[string][]string{
		"name": {"x"}, "address": {"127.0.0.1:1999"}, "protocol": {"mqtt"}, "websocket_path": {"/ws"},
		"websocket_origins": {"https://a.example.com", "https://b.example.com"}, "proxy_protocol": {"true"},
		"allow_anonymous": {"false"}, "versions": {"3.1.1", "5"}, "max_connections": {"10"},
		"tls.cert_file": {"other.crt"}, "tls.key_file": {"other.key"}, "tls.ca_file": {"other-ca.crt"},
		"tls.ca_dir": {"/etc/petrel/ca"}, "tls.crl_file": {"ca.crl"}, "tls.require_certificate": {"true"},
		"tls.identity": {"subject"}, "auth": {"none"},
	}
	base := map[string]string{"address": "127.0.0.1:1883", "protocol": "ws",
		"tls.cert_file": "s.crt", "tls.key_file": "s.key", "tls.ca_file": "ca.crt"}
	// file writes the base listener with key set to values.
	file := func(key string, values []string) string {
		keys := map[string]string{}
		for k, v := range base {
			keys[k] = v
		}
		if values != nil {
			keys[key] = "[" + strings.Join(values, ", ") + "]"
			if findListenerSetting(key).setList == nil {
				keys[key] = values[0]
			}
		}
		var top, tls []string
		for _, s := range listenerSettings {
			v, ok := keys[s.key]
			if !ok {
				continue
			}
			if k, nested := strings.CutPrefix(s.key, "tls."); nested {
				tls = append(tls, k+": "+v)
			} else {
				top = append(top, s.key+": "+v)
			}
		}
		return "listeners:\n  - " + strings.Join(top, "\n    ") + "\n    tls: {" + strings.Join(tls, ", ") + "}\n"
	}
	defaults := mustLoad(t, file("", nil), nil, Flags{}).Listeners
	for _, s := range listenerSettings {
		vs, ok := samples[s.key]
		if !ok {
			t.Errorf("%s: no sample value; add one to this test", s.key)
			continue
		}
		fromFile := mustLoad(t, file(s.key, vs), nil, Flags{}).Listeners
		name := listenerEnvName(0, s.key)
		fromEnv := mustLoad(t, file("", nil), []string{name + "=" + strings.Join(vs, ",")}, Flags{}).Listeners
		if cmp.Equal(defaults, fromFile, ignoreUnexported) {
			t.Errorf("%s: %s left the listener as it was", s.key, vs)
		}
		if diff := cmp.Diff(fromFile, fromEnv, ignoreUnexported); diff != "" {
			t.Errorf("%s=%s and %s: %s differ (-file +env):\n%s", name, strings.Join(vs, ","), s.key, vs, diff)
		}
	}
}
