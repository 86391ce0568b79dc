package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/store/pebblestore"
)

// Config is everything a Petrel process needs to start.
type Config struct {
	// Options configure the broker. Logger and Version are left for the
	// caller, which owns the process's output and build information.
	Options broker.Options
	// Listeners are the sockets to open, at least one.
	Listeners []Listener
	// LogLevel is the least severe level logged. Default info.
	LogLevel slog.Level
	// LogFormat chooses the log encoding. Default LogAuto.
	LogFormat LogFormat
	// ShutdownTimeout is how long a stopping broker waits for clients to
	// be disconnected. Default 10 s.
	ShutdownTimeout time.Duration
	// Persist keeps retained messages and persistent sessions in a store
	// in DataDir, so a restart loses nothing acknowledged. Default true.
	Persist bool
	// DataDir is the store's directory. Default "petrel-data".
	DataDir string
	// Durability is when acknowledgements wait for the disk. Default sync.
	Durability pebblestore.Durability

	// listenersFrom says where the listener list was set, for the error
	// when --port cannot apply; empty while the default is in use.
	listenersFrom string
}

// LogFormat is how log records are encoded.
type LogFormat byte

// The log formats.
const (
	LogAuto LogFormat = iota // text on a terminal, JSON otherwise
	LogText                  // log/slog's key=value text
	LogJSON                  // one JSON object per line
)

// Listener is one socket to accept clients on.
type Listener struct {
	// Listener holds what the broker needs: the name logs and plugins see,
	// and whether anonymous clients are admitted.
	broker.Listener
	// Network is "tcp" or "unix", as net.Listen takes it.
	Network string
	// Address is host:port for TCP and the socket's path for Unix.
	Address string

	// anonymous is allow_anonymous when it was set, nil when the address
	// decides it.
	anonymous *bool
	// nameFrom, addressFrom and anonymousFrom locate the settings for
	// errors: "file:line: key", an environment variable or a flag.
	nameFrom, addressFrom, anonymousFrom string
	// named is set when the name was given; otherwise it is the address.
	named bool
	// inFile is set when the file defines the listener, so that is where
	// the operator should change it.
	inFile bool
}

// Flags are the command-line settings, which override everything else.
type Flags struct {
	// Port, when not nil, is the port of the default listener on
	// 127.0.0.1.
	Port *int
	// Listen, when not empty, replaces the listeners with these addresses.
	Listen []string
	// Verbose lowers the log level to debug.
	Verbose bool
	// DataDir, when not nil, is the store's directory.
	DataDir *string
	// NoPersist keeps everything in memory only.
	NoPersist bool
}

// Sources say where to read the configuration.
type Sources struct {
	// File is the path of the YAML configuration file; empty for none.
	File string
	// Env is the environment as os.Environ returns it.
	Env []string
	// Flags are the command-line settings.
	Flags Flags
}

// defaultAddress is where Petrel listens when nothing says otherwise: on
// loopback only, as Mosquitto 2 does, so a fresh install is not an open
// broker on the network.
const defaultAddress = "127.0.0.1:1883"

// Load reads the configuration from src: the file, then the environment,
// then the flags, each overriding the one before.
func Load(src Sources) (*Config, error) {
	c := &Config{LogLevel: slog.LevelInfo, ShutdownTimeout: 10 * time.Second, Persist: true, DataDir: "petrel-data"}
	if src.File != "" {
		data, err := os.ReadFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if err := c.applyFile(src.File, data); err != nil {
			return nil, err
		}
	}
	if err := c.applyEnv(src.Env); err != nil {
		return nil, err
	}
	if err := c.applyFlags(src.Flags); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) applyFlags(f Flags) error {
	if f.Verbose {
		c.LogLevel = slog.LevelDebug
	}
	if f.DataDir != nil {
		if *f.DataDir == "" {
			return errors.New("--data-dir: want a directory")
		}
		c.DataDir = *f.DataDir
	}
	if f.NoPersist {
		c.Persist = false
	}
	if f.Port != nil {
		switch {
		case len(f.Listen) > 0:
			return errors.New("--port sets the port of the default listener, and --listen replaces it: use one or the other")
		case c.listenersFrom != "":
			return fmt.Errorf("--port sets the port of the default listener, but listeners are configured (%s): change the port there, or use --listen", c.listenersFrom)
		case *f.Port < 0 || *f.Port > 65535:
			return fmt.Errorf("--port %d: want a port number from 0 to 65535", *f.Port)
		}
		c.Listeners = []Listener{defaultListener(net.JoinHostPort("127.0.0.1", strconv.Itoa(*f.Port)), "--port")}
	}
	if len(f.Listen) > 0 {
		c.Listeners = c.Listeners[:0]
		for _, addr := range f.Listen {
			where := "--listen " + addr
			l, err := newListener(addr, where)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			c.Listeners = append(c.Listeners, l)
		}
	}
	return nil
}

func defaultListener(addr, from string) Listener {
	return Listener{
		Listener: broker.Listener{Name: "default"}, named: true,
		Network: "tcp", Address: addr, nameFrom: from, addressFrom: from,
	}
}

// newListener is a listener on addr.
func newListener(addr, from string) (Listener, error) {
	var l Listener
	if err := l.setAddress(addr, from); err != nil {
		return Listener{}, err
	}
	return l, nil
}

// setAddress parses host:port or unix:/path.
func (l *Listener) setAddress(addr, from string) error {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return errors.New("want a socket path after unix:, as in unix:/run/petrel.sock")
		}
		l.Network, l.Address, l.addressFrom = "unix", path, from
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port or unix:/path, got %q", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("want a port number from 0 to 65535 in %q", addr)
	}
	l.Network, l.Address, l.addressFrom = "tcp", addr, from
	return nil
}

// loopbackOnly reports whether only this machine can reach the listener.
func (l *Listener) loopbackOnly() bool {
	if l.Network == "unix" {
		return true
	}
	host, _, _ := net.SplitHostPort(l.Address)
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// check validates what no single setting can: the listener list as a
// whole and the anonymous rule, which depends on each final address.
func (c *Config) check() error {
	if len(c.Listeners) == 0 {
		c.Listeners = []Listener{defaultListener(defaultAddress, "")}
	}
	names := map[string]bool{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if !l.named {
			l.Name, l.nameFrom = l.addressString(), l.addressFrom
		}
		if names[l.Name] {
			return fmt.Errorf("%s: listener name %q is used twice; give each listener its own name", l.nameFrom, l.Name)
		}
		names[l.Name] = true
		switch {
		case l.anonymous == nil:
			l.AllowAnonymous = l.loopbackOnly()
			if !l.AllowAnonymous {
				return fmt.Errorf("%s: %s is reachable from other machines, so anonymous access there must be explicit: %s",
					l.addressFrom, l.Address, l.allowAnonymousHint(i))
			}
		case !*l.anonymous && !l.loopbackOnly():
			return fmt.Errorf("%s: false on %s would admit every client that sends a user name, because no authentication method is configured: %s",
				l.anonymousFrom, l.Address, l.allowAnonymousHint(i))
		default:
			l.AllowAnonymous = *l.anonymous
		}
	}
	return nil
}

// allowAnonymousHint says how to admit anonymous clients on listener i, in
// the terms of wherever the listener was defined.
func (l *Listener) allowAnonymousHint(i int) string {
	const why = " (Petrel has no authentication methods to configure yet)"
	switch {
	case l.inFile:
		return "set allow_anonymous: true on this listener" + why
	case strings.HasPrefix(l.addressFrom, "PETREL_"):
		return fmt.Sprintf("set PETREL_LISTENERS_%d_ALLOW_ANONYMOUS=true%s", i, why)
	default:
		return "declare this listener in the config file with allow_anonymous: true, since --listen admits anonymous clients on loopback only" + why
	}
}
