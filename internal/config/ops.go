package config

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/plugin"
)

// Ops is the operations listener: Prometheus metrics at /metrics, health
// at /healthz and /readyz, and the admin API under /api/v1, unless
// AdminAddress moves the API to a listener of its own.
type Ops struct {
	// Enabled serves the listener. Default true.
	Enabled bool
	// Address is host:port. Default 127.0.0.1:18083.
	Address string
	// AdminAddress, when set, serves the admin API there instead.
	AdminAddress string
	// APIKeysFile holds the API keys accepted as bearer tokens, one a
	// line as name:key.
	APIKeysFile string
	// APIUsers are users of the password file who may use the API with
	// HTTP Basic.
	APIUsers []string
}

// defaultOpsAddress is where the operations listener is when nothing says
// otherwise: loopback, beside MQTT's 1883, at the port operators of other
// brokers know for a dashboard.
const defaultOpsAddress = "127.0.0.1:18083"

// DefaultOpsAddress reports whether the operations listener is where it
// is by default, not by a setting: the binary may then carry on without
// it when another process holds the port.
func (c *Config) DefaultOpsAddress() bool {
	_, set := c.keys["ops_address"]
	return !set
}

// parseTCPAddress reads host:port.
func parseTCPAddress(v string) (string, error) {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("want host:port, such as 127.0.0.1:18083, got %q", v)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("want a port number from 0 to 65535 in %q", v)
	}
	return v, nil
}

// keySet is a top-level key as it was set.
type keySet struct {
	value string // as written
	from  string // "file:line: key" or the variable's name
}

func (c *Config) record(key, value, from string) {
	if c.keys == nil {
		c.keys = map[string]keySet{}
	}
	c.keys[key] = keySet{value, from}
}

// where locates a top-level key for errors: where it was set, or its name
// while it has its default.
func (c *Config) where(key string) string {
	if k, ok := c.keys[key]; ok {
		return k.from
	}
	return key
}

// checkOps refuses an admin API that other machines could reach without
// credentials, as a listener beyond loopback must say how clients
// authenticate.
func (c *Config) checkOps() error {
	o := &c.Ops
	if len(o.APIUsers) > 0 && c.Auth.PasswordFile == "" {
		return fmt.Errorf("%s: api_users are users of the password file, and there is none: set password_file", c.where("api_users"))
	}
	if !o.Enabled {
		return nil
	}
	if _, port, _ := net.SplitHostPort(o.Address); o.AdminAddress == o.Address && port != "0" {
		return fmt.Errorf("%s: %s is the operations listener's address already; leave admin_address out to serve the API there", c.where("admin_address"), o.AdminAddress)
	}
	key, addr := "ops_address", o.Address
	if o.AdminAddress != "" {
		key, addr = "admin_address", o.AdminAddress
	}
	if o.APIKeysFile == "" && len(o.APIUsers) == 0 && !loopbackAddress(addr) {
		return fmt.Errorf("%s: %s is reachable from other machines, so the admin API there needs credentials: set api_keys_file or api_users, or serve the API on a loopback admin_address",
			c.where(key), addr)
	}
	return nil
}

// Limits are the protection limits the configuration sets.
func (c *Config) Limits() broker.Limits { return c.Options.Limits() }

// liveKeys are the top-level keys whose changes a running broker takes:
// the log and the protection limits. The files that the password, SCRAM,
// ACL and API key settings name are read again on every reload, but a
// change of the file name itself needs a restart, as does every other
// key.
var liveKeys = []string{
	"log_level", "log_trace_client_id",
	"max_connections", "max_connection_rate", "flap_threshold", "flap_window", "flap_ban",
	"max_publish_rate", "max_publish_bytes_rate", "max_subscriptions_per_client", "max_topic_levels",
	"max_retained_messages", "max_retained_bytes", "max_queued_memory", "auth_failure_delay", "auth_failure_limit",
}

// Changes is what a configuration read again changes.
type Changes struct {
	// Live lists the changed keys a running broker takes.
	Live []string
	// Restart lists the changed keys, and listeners, that take effect
	// only when the process starts again.
	Restart []string
}

// Changes compares c, the configuration in force, with next, read again
// from the same sources.
func (c *Config) Changes(next *Config) Changes {
	var ch Changes
	for _, s := range settings {
		old, wasSet := c.keys[s.key]
		now, isSet := next.keys[s.key]
		if wasSet == isSet && old.value == now.value {
			continue
		}
		if slices.Contains(liveKeys, s.key) {
			ch.Live = append(ch.Live, s.key)
		} else {
			ch.Restart = append(ch.Restart, s.key)
		}
	}
	for i := range max(len(c.Listeners), len(next.Listeners)) {
		switch {
		case i >= len(c.Listeners):
			ch.Restart = append(ch.Restart, fmt.Sprintf("listener %s (new)", next.Listeners[i].Name))
		case i >= len(next.Listeners):
			ch.Restart = append(ch.Restart, fmt.Sprintf("listener %s (removed)", c.Listeners[i].Name))
		case !sameListener(&c.Listeners[i], &next.Listeners[i]):
			ch.Restart = append(ch.Restart, "listener "+c.Listeners[i].Name)
		}
	}
	return ch
}

// sameListener compares what the configuration says of two listeners,
// leaving out the plugins Open sets.
func sameListener(a, b *Listener) bool {
	view := func(l *Listener) Listener {
		v := *l
		v.Authenticator, v.Authorizer = nil, nil
		v.from, v.tlsAt = nil, ""
		return v
	}
	return reflect.DeepEqual(view(a), view(b))
}

// PasswordFile is the password file's authenticator, for the admin API's
// users; nil without one.
func (s *Security) PasswordFile() plugin.Authenticator {
	if s.passwords == nil {
		return nil
	}
	return s.passwords
}
