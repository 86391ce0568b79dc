package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/petrelmq/petrel/broker"
)

func TestEnvOverridesFile(t *testing.T) {
	const file = `
max_queued_messages: 10
sys_interval: 5s
log_level: warn
listeners:
  - name: a
    address: 127.0.0.1:1883
`
	c := mustLoad(t, file, []string{
		"HOME=/root",
		"PETREL_MAX_QUEUED_MESSAGES=5000",
		"PETREL_SYS_INTERVAL=30s",
		"PETREL_LOG_LEVEL=", // empty: as if unset
		"PETREL_QUEUE_OVERFLOW=drop_newest",
	}, Flags{})
	if c.Options.MaxQueuedMessages != 5000 || c.Options.SysInterval != 30*time.Second {
		t.Errorf("env did not override the file: max_queued_messages %d, sys_interval %s", c.Options.MaxQueuedMessages, c.Options.SysInterval)
	}
	if c.LogLevel.String() != "WARN" {
		t.Errorf("empty PETREL_LOG_LEVEL changed log_level to %s", c.LogLevel)
	}
	if c.Options.QueueOverflow != broker.DropNewest {
		t.Errorf("PETREL_QUEUE_OVERFLOW=drop_newest gave policy %d", c.Options.QueueOverflow)
	}
}

func TestEnvListeners(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  []string
		want []Listener
	}{
		{"list replaces the file's",
			"listeners:\n  - address: 127.0.0.1:1883\n",
			[]string{"PETREL_LISTENERS=127.0.0.1:1884, unix:/tmp/p.sock"},
			[]Listener{tcp("127.0.0.1:1884", "127.0.0.1:1884", true),
				unix("unix:/tmp/p.sock", "/tmp/p.sock", true)}},
		{"index refines the file's",
			"listeners:\n  - name: a\n    address: 127.0.0.1:1883\n  - name: b\n    address: 127.0.0.1:1884\n",
			[]string{"PETREL_LISTENERS_1_ADDRESS=0.0.0.0:1884", "PETREL_LISTENERS_1_ALLOW_ANONYMOUS=true", "PETREL_LISTENERS_0_NAME=local"},
			[]Listener{tcp("local", "127.0.0.1:1883", true), tcp("b", "0.0.0.0:1884", true)}},
		{"index refines the list",
			"",
			[]string{"PETREL_LISTENERS=127.0.0.1:1883,:1884", "PETREL_LISTENERS_1_ALLOW_ANONYMOUS=true"},
			[]Listener{tcp("127.0.0.1:1883", "127.0.0.1:1883", true), tcp(":1884", ":1884", true)}},
		{"index refines the default",
			"",
			[]string{"PETREL_LISTENERS_0_ADDRESS=[::1]:1999"},
			[]Listener{tcp("default", "[::1]:1999", true)}},
		{"explicit false on loopback",
			"",
			[]string{"PETREL_LISTENERS_0_ALLOW_ANONYMOUS=false"},
			[]Listener{tcp("default", "127.0.0.1:1883", false)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, tc.file, tc.env, Flags{})
			if diff := cmp.Diff(tc.want, c.Listeners, ignoreUnexported); diff != "" {
				t.Errorf("listeners (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"bad duration", []string{"PETREL_SYS_INTERVAL=30"},
			`PETREL_SYS_INTERVAL: want a duration such as 10s, 5m or 1h, got "30"`},
		{"bad number", []string{"PETREL_MAX_QUEUED_MESSAGES=5k"},
			`PETREL_MAX_QUEUED_MESSAGES: want a whole number, got "5k"`},
		{"unknown", []string{"PETREL_MAX_QUEUED_MESAGES=5"},
			"PETREL_MAX_QUEUED_MESAGES: unknown setting"},
		{"lower case", []string{"PETREL_max_inflight=5"},
			"PETREL_max_inflight: unknown setting; the variables are upper case, as in PETREL_MAX_INFLIGHT"},
		{"first of several in name order", []string{"PETREL_SYS_INTERVAL=x", "PETREL_LOG_LEVEL=x"},
			`PETREL_LOG_LEVEL: want one of debug, info, warn, error, got "x"`},
		{"bad listener list", []string{"PETREL_LISTENERS=127.0.0.1:1883,,"},
			`PETREL_LISTENERS: want host:port or unix:/path, got ""`},
		{"listener key", []string{"PETREL_LISTENERS_0_PORT=1"},
			"PETREL_LISTENERS_0_PORT: unknown setting; a listener's settings are PETREL_LISTENERS_<index>_NAME, _ADDRESS, _PROTOCOL, " +
				"_WEBSOCKET_PATH, _WEBSOCKET_ORIGINS, _PROXY_PROTOCOL, _ALLOW_ANONYMOUS, _VERSIONS, _AUTH, _MAX_CONNECTIONS, _TLS_CERT_FILE, " +
				"_TLS_KEY_FILE, _TLS_CA_FILE, _TLS_CA_DIR, _TLS_CRL_FILE, _TLS_REQUIRE_CERTIFICATE and _TLS_IDENTITY"},
		{"listener index", []string{"PETREL_LISTENERS=127.0.0.1:1,127.0.0.1:2", "PETREL_LISTENERS_2_NAME=x"},
			"PETREL_LISTENERS_2_NAME: there is no listener 2: 2 are configured (list their addresses in PETREL_LISTENERS)"},
		{"listener bool", []string{"PETREL_LISTENERS_0_ALLOW_ANONYMOUS=1"},
			`PETREL_LISTENERS_0_ALLOW_ANONYMOUS: want true or false, got "1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, "", tc.env, Flags{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("Load error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestEnvIgnoresTestSwitch: CI exports the test suite's
// PETREL_REQUIRE_INTEROP to everything it runs, the broker included, which
// must still start; a misspelt setting next to it is still an error.
func TestEnvIgnoresTestSwitch(t *testing.T) {
	if _, err := load(t, "", []string{"PETREL_REQUIRE_INTEROP=1"}, Flags{}); err != nil {
		t.Fatalf("PETREL_REQUIRE_INTEROP refused: %v", err)
	}
	if _, err := load(t, "", []string{"PETREL_REQUIRE_INTEROP=1", "PETREL_REQUIRE_INTEROPS=1"}, Flags{}); err == nil {
		t.Fatal("a misspelt variable beside it was accepted")
	}
}

// TestEveryKeyInFileAndEnv keeps the two forms in step: each key, set in
// the file or as PETREL_<KEY>, changes the configuration, and in the same
// way.
func TestEveryKeyInFileAndEnv(t *testing.T) {
	samples := map[string]string{
		"log_level": "error", "log_format": "text", "shutdown_timeout": "1s",
		"connect_timeout": "1s", "max_keep_alive": "1m", "persistent_session_expiry": "1h",
		"max_session_expiry": "1h", "receive_maximum": "10", "max_inflight": "10",
		"max_queued_messages": "10", "max_queued_bytes": "10KB", "queue_overflow": "disconnect",
		"queue_qos0_offline": "true", "max_packet_size": "1000", "topic_alias_maximum": "1",
		"maximum_qos": "1", "retain_available": "false", "wildcard_subscription_available": "false",
		"subscription_identifiers_available": "false", "shared_subscription_available": "false",
		"shared_strategy": "random", "response_information": "r", "server_reference": "s",
		"allow_dollar_publish": "true", "sys_interval": "1s",
		"persist": "false", "data_dir": "/tmp/petrel", "durability": "none", "min_free_space": "1GiB",
		"password_file": "/etc/petrel/passwd", "scram_file": "/etc/petrel/scram", "acl_file": "/etc/petrel/acl",
		"http_auth_url": "https://auth.example.com/mqtt", "http_auth_timeout": "2s", "http_auth_cache_ttl": "1m",
		"jwt_secret_file": "/etc/petrel/jwt.key", "jwt_public_key_file": "/etc/petrel/jwt.pem",
		"jwt_issuer": "https://id.example.com", "jwt_audience": "petrel", "jwt_username_claim": "preferred_username",
		"auth_failure_delay": "0", "auth_failure_limit": "3", "max_connections": "100", "max_connection_rate": "2.5",
		"flap_threshold": "5", "flap_window": "10s", "flap_ban": "1h", "max_publish_rate": "100",
		"max_publish_bytes_rate": "1MiB", "max_subscriptions_per_client": "50", "max_topic_levels": "8",
		"max_retained_messages": "1000", "max_retained_bytes": "10MiB", "max_queued_memory": "1GiB",
		"log_trace_client_id": "dev-7", "ops_enabled": "false", "ops_address": "127.0.0.1:9100",
		"admin_address": "127.0.0.1:9101", "api_keys_file": "/etc/petrel/api-keys", "api_users": "admin, ops",
	}
	// needs holds what a sample needs beside it to load.
	needs := map[string]string{"api_users": "password_file: /etc/petrel/passwd\n"}
	defaults := mustLoad(t, "", nil, Flags{})
	for _, s := range settings {
		v, ok := samples[s.key]
		if !ok {
			t.Errorf("%s: no sample value; add one to this test", s.key)
			continue
		}
		fromFile := mustLoad(t, needs[s.key]+s.key+": "+v+"\n", nil, Flags{})
		fromEnv := mustLoad(t, needs[s.key], []string{envName(s.key) + "=" + v}, Flags{})
		if cmp.Equal(defaults, fromFile, ignoreUnexported) {
			t.Errorf("%s: %s left the configuration as it was", s.key, v)
		}
		if diff := cmp.Diff(fromFile, fromEnv, ignoreUnexported); diff != "" {
			t.Errorf("%s=%s and %s: %s differ (-file +env):\n%s", envName(s.key), v, s.key, v, diff)
		}
	}
}
