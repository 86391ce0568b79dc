package config

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/store/pebblestore"
)

// load writes file (unless it is empty) as petrel.yaml in a fresh working
// directory and loads it, so errors read exactly as they do for a user
// who ran petrel -c petrel.yaml.
func load(t *testing.T, file string, env []string, flags Flags) (*Config, error) {
	t.Helper()
	t.Chdir(t.TempDir())
	src := Sources{Env: env, Flags: flags}
	if file != "" {
		if err := os.WriteFile("petrel.yaml", []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		src.File = "petrel.yaml"
	}
	return Load(src)
}

func mustLoad(t *testing.T, file string, env []string, flags Flags) *Config {
	t.Helper()
	c, err := load(t, file, env, flags)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

var ignoreUnexported = cmp.Options{
	cmpopts.IgnoreUnexported(Config{}, Listener{}),
	cmp.Comparer(func(a, b pebblestore.Durability) bool { return a == b }),
}

func tcp(name, addr string, anonymous bool) Listener {
	return Listener{Listener: broker.Listener{Name: name, AllowAnonymous: anonymous}, Network: "tcp", Address: addr}
}

func unix(name, path string, anonymous bool) Listener {
	return Listener{Listener: broker.Listener{Name: name, AllowAnonymous: anonymous}, Network: "unix", Address: path}
}

func TestDefaults(t *testing.T) {
	got := mustLoad(t, "", nil, Flags{})
	want := &Config{
		Listeners:       []Listener{tcp("default", "127.0.0.1:1883", true)},
		LogLevel:        slog.LevelInfo,
		ShutdownTimeout: 10 * time.Second,
		Persist:         true,
		DataDir:         "petrel-data",
		Ops:             Ops{Enabled: true, Address: "127.0.0.1:18083"},
	}
	if diff := cmp.Diff(want, got, ignoreUnexported); diff != "" {
		t.Errorf("config without file, env or flags (-want +got):\n%s", diff)
	}
}

func TestEmptyFileKeepsDefaults(t *testing.T) {
	got := mustLoad(t, "# nothing configured yet\n", nil, Flags{})
	if diff := cmp.Diff(mustLoad(t, "", nil, Flags{}), got, ignoreUnexported); diff != "" {
		t.Errorf("a file of comments changed the defaults (-want +got):\n%s", diff)
	}
}

func TestEveryKey(t *testing.T) {
	const file = `
# Comments sit above keys and after values.
log_level: debug
log_format: json # for the collector
shutdown_timeout: 30s
persist: false
data_dir: /var/lib/petrel
durability: batch(10ms)
connect_timeout: 5s
max_keep_alive: 10m
persistent_session_expiry: 24h
max_session_expiry: 168h
receive_maximum: 100
max_inflight: 50
max_queued_messages: 5000
max_queued_bytes: 64MiB
queue_overflow: disconnect
queue_qos0_offline: true
max_packet_size: 256KiB
topic_alias_maximum: 0
maximum_qos: 1
retain_available: false
wildcard_subscription_available: false
subscription_identifiers_available: false
shared_subscription_available: false
shared_strategy: hash_topic
response_information: petrel/responses
server_reference: other.example.com:1883
allow_dollar_publish: true
sys_interval: 0
listeners:
  # on this machine only
  - name: local
    address: localhost:1883
  - address: unix:/run/petrel.sock
    allow_anonymous: false
  - name: public
    address: "[::]:8883"
    allow_anonymous: true
`
	got := mustLoad(t, file, nil, Flags{})
	want := &Config{
		Options: broker.Options{
			ConnectTimeout:                  5 * time.Second,
			MaxKeepAlive:                    600,
			PersistentSessionExpiry:         24 * time.Hour,
			MaxSessionExpiry:                168 * time.Hour,
			ReceiveMaximum:                  100,
			MaxInflight:                     50,
			MaxQueuedMessages:               5000,
			MaxQueuedBytes:                  64 << 20,
			QueueOverflow:                   broker.Disconnect,
			QueueQoS0Offline:                true,
			MaxPacketSize:                   256 << 10,
			TopicAliasMaximum:               -1,
			MaximumQoS:                      1,
			MaximumQoSSet:                   true,
			RetainDisabled:                  true,
			WildcardSubscriptionsDisabled:   true,
			SubscriptionIdentifiersDisabled: true,
			SharedSubscriptionsDisabled:     true,
			SharedStrategy:                  broker.HashTopic,
			ResponseInformation:             "petrel/responses",
			ServerReference:                 "other.example.com:1883",
			AllowDollarPublish:              true,
			SysInterval:                     -1,
		},
		Listeners: []Listener{
			tcp("local", "localhost:1883", true),
			unix("unix:/run/petrel.sock", "/run/petrel.sock", false),
			tcp("public", "[::]:8883", true),
		},
		LogLevel:        slog.LevelDebug,
		LogFormat:       LogJSON,
		ShutdownTimeout: 30 * time.Second,
		Persist:         false,
		DataDir:         "/var/lib/petrel",
		Durability:      pebblestore.Batch(10 * time.Millisecond),
		Ops:             Ops{Enabled: true, Address: "127.0.0.1:18083"},
	}
	if diff := cmp.Diff(want, got, ignoreUnexported); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestValueForms(t *testing.T) {
	for _, tc := range []struct {
		line string
		get  func(*Config) any
		want any
	}{
		{"max_queued_bytes: 1048576", func(c *Config) any { return c.Options.MaxQueuedBytes }, 1 << 20},
		{"max_queued_bytes: 2 MB", func(c *Config) any { return c.Options.MaxQueuedBytes }, 2_000_000},
		{"max_queued_bytes: 512B", func(c *Config) any { return c.Options.MaxQueuedBytes }, 512},
		{"max_packet_size: 128MiB", func(c *Config) any { return c.Options.MaxPacketSize }, uint32(128 << 20)},
		{"max_queued_messages: 0x10", func(c *Config) any { return c.Options.MaxQueuedMessages }, 16},
		{`max_queued_messages: "20"`, func(c *Config) any { return c.Options.MaxQueuedMessages }, 20},
		{"max_keep_alive: 0", func(c *Config) any { return c.Options.MaxKeepAlive }, uint16(0)},
		{"sys_interval: 1m30s", func(c *Config) any { return c.Options.SysInterval }, 90 * time.Second},
		{"topic_alias_maximum: 10", func(c *Config) any { return c.Options.TopicAliasMaximum }, 10},
		{"maximum_qos: 0", func(c *Config) any { return [2]any{c.Options.MaximumQoS, c.Options.MaximumQoSSet} }, [2]any{byte(0), true}},
		{"retain_available: true", func(c *Config) any { return c.Options.RetainDisabled }, false},
		{"shared_strategy: sticky", func(c *Config) any { return c.Options.SharedStrategy }, broker.Sticky},
		{"queue_overflow: drop_newest", func(c *Config) any { return c.Options.QueueOverflow }, broker.DropNewest},
		{"response_information: |\n  multi\n  line", func(c *Config) any { return c.Options.ResponseInformation }, "multi\nline\n"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			if got := tc.get(mustLoad(t, tc.line+"\n", nil, Flags{})); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"unknown key", "log_level: info\n\nmax_queued_mesages: 10\n",
			"petrel.yaml:3: max_queued_mesages: unknown key"},
		{"duration without unit", "connect_timeout: 10\n",
			`petrel.yaml:1: connect_timeout: want a duration such as 10s, 5m or 1h, got "10"`},
		{"zero connect timeout", "connect_timeout: 0s\n",
			"petrel.yaml:1: connect_timeout: must be more than 0, got 0s"},
		{"negative duration", "max_session_expiry: -1h\n",
			"petrel.yaml:1: max_session_expiry: must not be negative, got -1h"},
		{"keep alive beyond 16 bits", "max_keep_alive: 24h\n",
			"petrel.yaml:1: max_keep_alive: want whole seconds up to 18h12m15s, got 24h"},
		{"keep alive fraction", "max_keep_alive: 1.5s\n",
			"petrel.yaml:1: max_keep_alive: want whole seconds up to 18h12m15s, got 1.5s"},
		{"receive maximum 0", "receive_maximum: 0\n",
			"petrel.yaml:1: receive_maximum: must be from 1 to 65535, got 0"},
		{"queue length not a number", "max_queued_messages: lots\n",
			`petrel.yaml:1: max_queued_messages: want a whole number, got "lots"`},
		{"queue length fraction", "max_queued_messages: 1.5\n",
			`petrel.yaml:1: max_queued_messages: want a whole number, got "1.5"`},
		{"queue length 0", "max_queued_messages: 0\n",
			"petrel.yaml:1: max_queued_messages: must be at least 1, got 0"},
		{"size unit", "max_packet_size: 1 MiBs\n",
			`petrel.yaml:1: max_packet_size: want a size such as 65536, 64KiB or 1MB, got "1 MiBs"`},
		{"size beyond MQTT", "max_packet_size: 1GB\n",
			"petrel.yaml:1: max_packet_size: must be from 1 to 268435460 bytes, got 1GB"},
		{"size overflow", "max_queued_bytes: 9223372036854775807GiB\n",
			"petrel.yaml:1: max_queued_bytes: must be from 0 to 9223372036854775807 bytes, got 9223372036854775807GiB"},
		{"negative size", "max_queued_bytes: -1KiB\n",
			"petrel.yaml:1: max_queued_bytes: must be from 0 to 9223372036854775807 bytes, got -1KiB"},
		{"overflow policy", "queue_overflow: drop\n",
			`petrel.yaml:1: queue_overflow: want one of drop_oldest, drop_newest, disconnect, got "drop"`},
		{"shared strategy", "shared_strategy: roundrobin\n",
			`petrel.yaml:1: shared_strategy: want one of round_robin, random, sticky, hash_client_id, hash_topic, got "roundrobin"`},
		{"log level", "log_level: verbose\n",
			`petrel.yaml:1: log_level: want one of debug, info, warn, error, got "verbose"`},
		{"bool as yes", "retain_available: yes\n",
			`petrel.yaml:1: retain_available: want true or false, got "yes"`},
		{"value on the next line", "sys_interval:\n  [10s]\n",
			"petrel.yaml:2: sys_interval: want a single value, not a sequence"},
		{"missing value", "log_level:\nmax_inflight: 5\n",
			"petrel.yaml:1: log_level: want a value"},
		{"listeners not a list", "listeners: 127.0.0.1:1883\n",
			"petrel.yaml:1: listeners: want a list such as [{address: 127.0.0.1:1883}]"},
		{"listeners empty", "listeners: []\n",
			"petrel.yaml:1: listeners: want at least one listener, or leave the key out for 127.0.0.1:1883"},
		{"listener not a mapping", "listeners:\n  - 127.0.0.1:1883\n",
			"petrel.yaml:2: listeners[0]: want a mapping such as {address: 127.0.0.1:1883}"},
		{"listener unknown key", "listeners:\n  - address: 127.0.0.1:1883\n  - address: 127.0.0.1:1884\n    port: 1884\n",
			"petrel.yaml:4: listeners[1].port: unknown key"},
		{"listener bad address", "listeners:\n  - address: 127.0.0.1:1883\n  - name: other\n    address: 1884\n",
			`petrel.yaml:4: listeners[1].address: want host:port or unix:/path, got "1884"`},
		{"listener bad port", "listeners:\n  - address: 127.0.0.1:65536\n",
			`petrel.yaml:2: listeners[0].address: want a port number from 0 to 65535 in "127.0.0.1:65536"`},
		{"listener unix without path", "listeners:\n  - address: 'unix:'\n",
			"petrel.yaml:2: listeners[0].address: want a socket path after unix:, as in unix:/run/petrel.sock"},
		{"listener without address", "listeners:\n  - name: lonely\n",
			"petrel.yaml:2: listeners[0]: want an address, such as address: 127.0.0.1:1883"},
		{"listener empty name", "listeners:\n  - name: ''\n    address: 127.0.0.1:1883\n",
			"petrel.yaml:2: listeners[0].name: want a name, or leave the key out to use the address"},
		{"listener names clash", "listeners:\n  - name: a\n    address: 127.0.0.1:1883\n  - name: a\n    address: 127.0.0.1:1884\n",
			`petrel.yaml:4: listeners[1].name: listener name "a" is used twice; give each listener its own name`},
		{"listener addresses clash", "listeners:\n  - address: 127.0.0.1:1883\n  - address: 127.0.0.1:1883\n",
			`petrel.yaml:3: listeners[1].address: listener name "127.0.0.1:1883" is used twice; give each listener its own name`},
		{"duplicate key", "max_inflight: 5\nmax_inflight: 6\n",
			`petrel.yaml:2: invalid YAML: mapping key "max_inflight" already defined at [1:1]`},
		{"syntax", "max_inflight: [5\n",
			"petrel.yaml:1: invalid YAML: sequence end token ']' not found"},
		{"not a mapping", "- max_inflight: 5\n",
			"petrel.yaml:1: want a mapping of settings such as max_queued_messages: 1000"},
		{"two documents", "max_inflight: 5\n---\nmax_inflight: 6\n",
			"petrel.yaml:2: want one YAML document, found another"},
		{"empty second document", "max_inflight: 5\n---\n",
			"petrel.yaml:2: want one YAML document, found another"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.file, nil, Flags{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("Load error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := Load(Sources{File: "petrel.yaml"})
	if err == nil || !strings.Contains(err.Error(), "petrel.yaml") {
		t.Errorf("Load of a missing file: got %v, want an error naming the file", err)
	}
}
