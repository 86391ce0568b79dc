package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
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
	// MinFreeSpace is the free disk space the store keeps in reserve:
	// below it, writes that need the store are refused. 0 means the
	// store's default; negative turns the check off.
	MinFreeSpace int64
	// Auth names how clients authenticate and what they may do.
	Auth Auth
	// Ops is the operations listener: metrics, health and the admin API.
	Ops Ops
	// TraceClientID names the client whose packets are logged, payloads
	// included; empty for none.
	TraceClientID string

	// listenersFrom says where the listener list was set, for the error
	// when --port cannot apply; empty while the default is in use.
	listenersFrom string
	// keys records the top-level keys that were set: where, for errors,
	// and their values as written, to tell what a reload changes.
	keys map[string]keySet
}

// LogFormat is how log records are encoded.
type LogFormat byte

// The log formats.
const (
	LogAuto LogFormat = iota // text on a terminal, JSON otherwise
	LogText                  // log/slog's key=value text
	LogJSON                  // one JSON object per line
)

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
	// NoOps turns the operations listener off.
	NoOps bool
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
	c := &Config{LogLevel: slog.LevelInfo, ShutdownTimeout: 10 * time.Second, Persist: true, DataDir: "petrel-data",
		Ops: Ops{Enabled: true, Address: defaultOpsAddress}}
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
	if f.NoOps {
		c.Ops.Enabled = false
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

// check validates what no single setting can: the listener list as a
// whole, and each listener once every source has been applied.
func (c *Config) check() error {
	if len(c.Listeners) == 0 {
		c.Listeners = []Listener{defaultListener(defaultAddress, "")}
	}
	names := map[string]bool{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if !l.named {
			l.Name = l.addressString()
			l.setFrom("name", l.from["address"])
		}
		if names[l.Name] {
			return fmt.Errorf("%s: listener name %q is used twice; give each listener its own name", l.from["name"], l.Name)
		}
		names[l.Name] = true
		if err := c.checkListenerAuth(i, l); err != nil {
			return err
		}
		l.passwords = len(c.listenerMethods(l)) > 0
		if err := l.check(i); err != nil {
			return err
		}
	}
	if err := c.checkOps(); err != nil {
		return err
	}
	return c.Auth.check()
}
