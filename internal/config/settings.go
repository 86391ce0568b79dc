package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/store/pebblestore"
)

// setting is one top-level key. set parses the value as written, in the
// file or an environment variable, so both accept the same forms.
type setting struct {
	key string
	set func(c *Config, v string) error
}

// settings are the top-level keys besides listeners. A broker.Options
// field is missing only when a file cannot express it (Logger,
// Authenticator, Authorizer) or the binary knows it better (Version).
var settings = []setting{
	{"persist", func(c *Config, v string) (err error) {
		c.Persist, err = parseBool(v)
		return err
	}},
	{"data_dir", func(c *Config, v string) error {
		if v == "" {
			return errors.New("want a directory")
		}
		c.DataDir = v
		return nil
	}},
	{"durability", func(c *Config, v string) (err error) {
		c.Durability, err = pebblestore.ParseDurability(v)
		return err
	}},
	{"log_level", func(c *Config, v string) (err error) {
		c.LogLevel, err = parseWord(v, []word[slog.Level]{
			{"debug", slog.LevelDebug}, {"info", slog.LevelInfo}, {"warn", slog.LevelWarn}, {"error", slog.LevelError}})
		return err
	}},
	{"log_format", func(c *Config, v string) (err error) {
		c.LogFormat, err = parseWord(v, []word[LogFormat]{{"auto", LogAuto}, {"text", LogText}, {"json", LogJSON}})
		return err
	}},
	{"log_trace_client_id", func(c *Config, v string) error {
		c.TraceClientID = v
		return nil
	}},
	{"ops_enabled", func(c *Config, v string) (err error) {
		c.Ops.Enabled, err = parseBool(v)
		return err
	}},
	{"ops_address", func(c *Config, v string) (err error) {
		c.Ops.Address, err = parseTCPAddress(v)
		return err
	}},
	{"admin_address", func(c *Config, v string) (err error) {
		c.Ops.AdminAddress, err = parseTCPAddress(v)
		return err
	}},
	{"api_keys_file", func(c *Config, v string) error { return setPath(&c.Ops.APIKeysFile, v) }},
	{"api_users", func(c *Config, v string) error {
		c.Ops.APIUsers = nil
		for u := range strings.SplitSeq(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				c.Ops.APIUsers = append(c.Ops.APIUsers, u)
			}
		}
		if len(c.Ops.APIUsers) == 0 {
			return errors.New("want user names of the password file, separated by commas")
		}
		return nil
	}},
	{"shutdown_timeout", func(c *Config, v string) (err error) {
		c.ShutdownTimeout, err = parseDuration(v, time.Nanosecond)
		return err
	}},
	{"connect_timeout", func(c *Config, v string) (err error) {
		c.Options.ConnectTimeout, err = parseDuration(v, time.Nanosecond)
		return err
	}},
	{"max_keep_alive", func(c *Config, v string) error {
		d, err := parseDuration(v, 0)
		if err != nil {
			return err
		}
		// Keep Alive is a 16-bit number of seconds on the wire.
		if d%time.Second != 0 || d > math.MaxUint16*time.Second {
			return fmt.Errorf("want whole seconds up to %s, got %s", math.MaxUint16*time.Second, v)
		}
		c.Options.MaxKeepAlive = uint16(d / time.Second)
		return nil
	}},
	{"persistent_session_expiry", func(c *Config, v string) (err error) {
		c.Options.PersistentSessionExpiry, err = parseDuration(v, 0)
		return err
	}},
	{"max_session_expiry", func(c *Config, v string) (err error) {
		c.Options.MaxSessionExpiry, err = parseDuration(v, 0)
		return err
	}},
	{"receive_maximum", func(c *Config, v string) error {
		n, err := parseInt(v, 1, math.MaxUint16)
		c.Options.ReceiveMaximum = uint16(n)
		return err
	}},
	{"max_inflight", func(c *Config, v string) error {
		n, err := parseInt(v, 1, math.MaxUint16)
		c.Options.MaxInflight = int(n)
		return err
	}},
	{"max_queued_messages", func(c *Config, v string) error {
		n, err := parseInt(v, 1, math.MaxInt)
		c.Options.MaxQueuedMessages = int(n)
		return err
	}},
	{"max_queued_bytes", func(c *Config, v string) error {
		n, err := parseSize(v, 0, math.MaxInt)
		c.Options.MaxQueuedBytes = int(n)
		return err
	}},
	{"queue_overflow", func(c *Config, v string) (err error) {
		c.Options.QueueOverflow, err = parseWord(v, []word[broker.OverflowPolicy]{
			{"drop_oldest", broker.DropOldest}, {"drop_newest", broker.DropNewest}, {"disconnect", broker.Disconnect}})
		return err
	}},
	{"queue_qos0_offline", func(c *Config, v string) (err error) {
		c.Options.QueueQoS0Offline, err = parseBool(v)
		return err
	}},
	{"max_packet_size", func(c *Config, v string) error {
		// The largest packet MQTT can frame: a 1-byte header, a 4-byte
		// length and 268,435,455 bytes of body.
		n, err := parseSize(v, 1, 268_435_460)
		c.Options.MaxPacketSize = uint32(n)
		return err
	}},
	{"topic_alias_maximum", func(c *Config, v string) error {
		n, err := parseInt(v, 0, math.MaxUint16)
		c.Options.TopicAliasMaximum = int(n)
		if n == 0 {
			c.Options.TopicAliasMaximum = -1 // the broker reads 0 as "default"
		}
		return err
	}},
	{"maximum_qos", func(c *Config, v string) error {
		n, err := parseInt(v, 0, 2)
		c.Options.MaximumQoS, c.Options.MaximumQoSSet = byte(n), true
		return err
	}},
	{"retain_available", func(c *Config, v string) error {
		on, err := parseBool(v)
		c.Options.RetainDisabled = !on
		return err
	}},
	{"wildcard_subscription_available", func(c *Config, v string) error {
		on, err := parseBool(v)
		c.Options.WildcardSubscriptionsDisabled = !on
		return err
	}},
	{"subscription_identifiers_available", func(c *Config, v string) error {
		on, err := parseBool(v)
		c.Options.SubscriptionIdentifiersDisabled = !on
		return err
	}},
	{"shared_subscription_available", func(c *Config, v string) error {
		on, err := parseBool(v)
		c.Options.SharedSubscriptionsDisabled = !on
		return err
	}},
	{"shared_strategy", func(c *Config, v string) (err error) {
		c.Options.SharedStrategy, err = parseWord(v, []word[broker.SharedStrategy]{
			{"round_robin", broker.RoundRobin}, {"random", broker.Random}, {"sticky", broker.Sticky},
			{"hash_client_id", broker.HashClientID}, {"hash_topic", broker.HashTopic}})
		return err
	}},
	{"response_information", func(c *Config, v string) error {
		c.Options.ResponseInformation = v
		return nil
	}},
	{"server_reference", func(c *Config, v string) error {
		c.Options.ServerReference = v
		return nil
	}},
	{"allow_dollar_publish", func(c *Config, v string) (err error) {
		c.Options.AllowDollarPublish, err = parseBool(v)
		return err
	}},
	{"password_file", func(c *Config, v string) error { return setPath(&c.Auth.PasswordFile, v) }},
	{"scram_file", func(c *Config, v string) error { return setPath(&c.Auth.SCRAMFile, v) }},
	{"acl_file", func(c *Config, v string) error { return setPath(&c.Auth.ACLFile, v) }},
	{"http_auth_url", func(c *Config, v string) error {
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("want an http:// or https:// URL, got %q", v)
		}
		c.Auth.HTTPURL = v
		return nil
	}},
	{"http_auth_timeout", func(c *Config, v string) (err error) {
		c.Auth.HTTPTimeout, err = parseDuration(v, time.Nanosecond)
		return err
	}},
	{"http_auth_cache_ttl", func(c *Config, v string) (err error) {
		c.Auth.HTTPCacheTTL, err = parseDuration(v, 0)
		return err
	}},
	{"jwt_secret_file", func(c *Config, v string) error { return setPath(&c.Auth.JWTSecretFile, v) }},
	{"jwt_public_key_file", func(c *Config, v string) error { return setPath(&c.Auth.JWTPublicKeyFile, v) }},
	{"jwt_issuer", func(c *Config, v string) error {
		c.Auth.JWTIssuer = v
		return nil
	}},
	{"jwt_audience", func(c *Config, v string) error {
		c.Auth.JWTAudience = v
		return nil
	}},
	{"jwt_username_claim", func(c *Config, v string) error {
		c.Auth.JWTUsernameClaim = v
		return nil
	}},
	{"auth_failure_delay", func(c *Config, v string) error {
		d, err := parseDuration(v, 0)
		c.Options.AuthFailureDelay = d
		if d == 0 {
			c.Options.AuthFailureDelay = -1 // the broker reads 0 as "default"
		}
		return err
	}},
	{"auth_failure_limit", func(c *Config, v string) error {
		n, err := parseInt(v, 0, math.MaxInt)
		c.Options.AuthFailureLimit = int(n)
		if n == 0 {
			c.Options.AuthFailureLimit = -1 // the broker reads 0 as "default"
		}
		return err
	}},
	{"max_connections", func(c *Config, v string) error {
		n, err := parseInt(v, 0, math.MaxInt)
		c.Options.MaxConnections = int(n)
		return err
	}},
	{"max_connection_rate", func(c *Config, v string) (err error) {
		c.Options.MaxConnectionRate, err = parseRate(v)
		return err
	}},
	{"flap_threshold", func(c *Config, v string) error {
		n, err := parseInt(v, 0, math.MaxInt)
		c.Options.FlapThreshold = int(n)
		return err
	}},
	{"flap_window", func(c *Config, v string) (err error) {
		c.Options.FlapWindow, err = parseDuration(v, time.Nanosecond)
		return err
	}},
	{"flap_ban", func(c *Config, v string) (err error) {
		c.Options.FlapBan, err = parseDuration(v, time.Nanosecond)
		return err
	}},
	{"max_publish_rate", func(c *Config, v string) (err error) {
		c.Options.MaxPublishRate, err = parseRate(v)
		return err
	}},
	{"max_publish_bytes_rate", func(c *Config, v string) error {
		n, err := parseSize(v, 0, math.MaxInt)
		c.Options.MaxPublishByteRate = float64(n)
		return err
	}},
	{"max_subscriptions_per_client", func(c *Config, v string) error {
		n, err := parseInt(v, 0, math.MaxInt)
		c.Options.MaxSubscriptionsPerClient = int(n)
		return err
	}},
	{"max_topic_levels", func(c *Config, v string) error {
		n, err := parseInt(v, 0, math.MaxInt)
		c.Options.MaxTopicLevels = int(n)
		return err
	}},
	{"max_retained_messages", func(c *Config, v string) error {
		n, err := parseInt(v, 0, math.MaxInt)
		c.Options.MaxRetainedMessages = int(n)
		return err
	}},
	{"max_retained_bytes", func(c *Config, v string) (err error) {
		c.Options.MaxRetainedBytes, err = parseSize(v, 0, math.MaxInt64)
		return err
	}},
	{"max_queued_memory", func(c *Config, v string) (err error) {
		c.Options.MaxQueuedMemory, err = parseSize(v, 0, math.MaxInt64)
		return err
	}},
	{"min_free_space", func(c *Config, v string) error {
		n, err := parseSize(v, 0, math.MaxInt64)
		c.MinFreeSpace = n
		if n == 0 {
			c.MinFreeSpace = -1 // the store reads 0 as "default"
		}
		return err
	}},
	{"sys_interval", func(c *Config, v string) error {
		d, err := parseDuration(v, 0)
		c.Options.SysInterval = d
		if d == 0 {
			c.Options.SysInterval = -1 // the broker reads 0 as "default"
		}
		return err
	}},
}

func findSetting(key string) *setting {
	for i := range settings {
		if settings[i].key == key {
			return &settings[i]
		}
	}
	return nil
}

type word[T any] struct {
	name  string
	value T
}

func parseWord[T any](v string, words []word[T]) (T, error) {
	names := make([]string, len(words))
	for i, w := range words {
		if w.name == v {
			return w.value, nil
		}
		names[i] = w.name
	}
	var zero T
	return zero, fmt.Errorf("want one of %s, got %q", strings.Join(names, ", "), v)
}

// parseRate reads a rate per second: a number such as 10 or 0.5.
func parseRate(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("want a rate per second such as 100 or 0.5, got %q", v)
	}
	return f, nil
}

func parseBool(v string) (bool, error) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %q", v)
}

func parseInt(v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want a whole number, got %q", v)
	}
	return n, inRange(n, lo, hi)
}

func inRange(n, lo, hi int64) error {
	if n < lo || n > hi {
		if hi == math.MaxInt {
			return fmt.Errorf("must be at least %d, got %d", lo, n)
		}
		return fmt.Errorf("must be from %d to %d, got %d", lo, hi, n)
	}
	return nil
}

// parseDuration reads a Go duration such as 10s or 1h30m. A bare 0 is
// allowed, since it needs no unit.
func parseDuration(v string, least time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 10s, 5m or 1h, got %q", v)
	}
	if d < least {
		if least == 0 {
			return 0, fmt.Errorf("must not be negative, got %s", v)
		}
		return 0, fmt.Errorf("must be more than 0, got %s", v)
	}
	return d, nil
}

// sizeUnits are the suffixes parseSize accepts: the IEC binary units and
// the SI decimal ones, since operators write both and mean what they say.
var sizeUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
	{"B", 1},
}

// parseSize reads a byte count: a whole number, or one with a unit such
// as 64KiB or 1MB.
func parseSize(v string, lo, hi int64) (int64, error) {
	num, factor := v, int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			num, factor = strings.TrimSpace(n), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want a size such as 65536, 64KiB or 1MB, got %q", v)
	}
	if n > hi/factor || n*factor < lo {
		return 0, fmt.Errorf("must be from %d to %d bytes, got %s", lo, hi, v)
	}
	return n * factor, nil
}
