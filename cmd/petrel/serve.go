package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/internal/config"
	"github.com/petrelmq/petrel/store/pebblestore"
)

// serveArgs are the serve command's flags as parsed.
type serveArgs struct {
	config    string
	port      int
	listen    []string
	dataDir   string
	noPersist bool
	verbose   bool
	help      bool
}

func newFlagSet(a *serveArgs) *pflag.FlagSet {
	fs := pflag.NewFlagSet("petrel", pflag.ContinueOnError)
	fs.SortFlags = false
	// Errors and help are printed by serve, once, in its own words.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVarP(&a.config, "config", "c", "", "read the configuration from `FILE` (YAML)")
	fs.IntVarP(&a.port, "port", "p", 1883, "listen on port `N` of 127.0.0.1")
	fs.StringArrayVar(&a.listen, "listen", nil, "listen on `ADDR` (host:port or unix:/path) instead of the\nconfigured listeners; repeat it for several. Only loopback and\nUnix sockets admit anonymous clients this way")
	fs.StringVar(&a.dataDir, "data-dir", "petrel-data", "keep retained messages and persistent sessions in `DIR`")
	fs.BoolVar(&a.noPersist, "no-persist", false, "keep everything in memory only: a restart loses it")
	fs.BoolVarP(&a.verbose, "verbose", "v", false, "log at debug level")
	fs.BoolVarP(&a.help, "help", "h", false, "show this help")
	return fs
}

func usage(fs *pflag.FlagSet) string {
	return `Petrel is an MQTT broker.

Usage:
  petrel [serve] [flags]   start the broker (the default command)
  petrel pub [flags]       publish a message, as mosquitto_pub does
  petrel sub [flags]       subscribe and print messages, as mosquitto_sub does
  petrel passwd [-c] [-D] [-b] FILE USER [PASSWORD]
                           add, change or delete a user of a password file,
                           as mosquitto_passwd does
  petrel version           print the version

Flags:
` + fs.FlagUsages() + `
Every configuration file key can also be set as an environment variable,
PETREL_<KEY> in upper case, such as PETREL_MAX_QUEUED_MESSAGES=5000.
Flags override the environment, which overrides the file.
`
}

func serve(args []string, stdout, stderr io.Writer) int {
	var a serveArgs
	fs := newFlagSet(&a)
	if err := fs.Parse(args); err != nil {
		return usageError(stderr, err)
	}
	if a.help {
		fmt.Fprint(stdout, usage(fs))
		return 0
	}
	if fs.NArg() > 0 {
		return usageError(stderr, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	src := config.Sources{
		File:  a.config,
		Env:   os.Environ(),
		Flags: config.Flags{Listen: a.listen, Verbose: a.verbose, NoPersist: a.noPersist},
	}
	if fs.Changed("port") {
		src.Flags.Port = &a.port
	}
	if fs.Changed("data-dir") {
		src.Flags.DataDir = &a.dataDir
	}
	cfg, err := config.Load(src)
	if err == nil {
		err = runBroker(cfg, newLogger(cfg, stderr))
	}
	if err != nil {
		fmt.Fprintf(stderr, "petrel: %v\n", err)
		return 1
	}
	return 0
}

// newLogger writes to w as cfg says: text for a person at a terminal,
// JSON for a machine otherwise.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	text := cfg.LogFormat == config.LogText
	if f, ok := w.(*os.File); ok && cfg.LogFormat == config.LogAuto {
		text = term.IsTerminal(int(f.Fd()))
	}
	if text {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// runBroker serves cfg's listeners until SIGINT or SIGTERM, or until one
// of them fails, then shuts the broker down.
func runBroker(cfg *config.Config, log *slog.Logger) error {
	// Catch signals before opening anything, so one that arrives during
	// start-up still shuts down cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	lns := make([]net.Listener, 0, len(cfg.Listeners))
	defer func() {
		// Serve closes the listeners it was handed on Shutdown, but a
		// listener whose Serve had not started yet is ours to close, and
		// closing a Unix listener removes its socket file.
		for _, nl := range lns {
			nl.Close()
		}
	}()
	for _, l := range cfg.Listeners {
		nl, err := net.Listen(l.Network, l.Address)
		if err != nil {
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
		lns = append(lns, nl)
	}

	opts := cfg.Options
	opts.Logger = log
	opts.Version = "petrel " + version()
	var st *pebblestore.Store
	if cfg.Persist {
		var err error
		if st, err = pebblestore.Open(cfg.DataDir, pebblestore.Options{Durability: cfg.Durability, Logger: log}); err != nil {
			return fmt.Errorf("open the store: %w", err)
		}
		opts.Store = st
		log.Info("store", "dir", cfg.DataDir, "durability", cfg.Durability.String())
	} else {
		log.Warn("persistence is off: retained messages and sessions live in memory only")
	}
	srv, err := broker.New(opts)
	if err != nil {
		if st != nil {
			st.Close()
		}
		return err
	}
	failed := make(chan error, len(lns))
	for i, nl := range lns {
		l := cfg.Listeners[i]
		addr := nl.Addr().String()
		if l.Network == "unix" {
			addr = "unix:" + addr
		}
		log.Info("listening", "listener", l.Name, "address", addr, "allow_anonymous", l.AllowAnonymous)
		go func() {
			if err := srv.Serve(nl, l.Listener); !errors.Is(err, broker.ErrServerClosed) {
				failed <- fmt.Errorf("listener %s: %w", l.Name, err)
			}
		}()
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	case err = <-failed:
		log.Error("shutting down: a listener failed", "err", err)
	}
	// From here a second signal kills the process, for the operator who
	// will not wait for slow clients.
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		// Shutdown closes the store only once every client is gone; the
		// process is ending anyway, so write out what is pending now.
		if st != nil {
			st.Close()
		}
		return errors.Join(err, fmt.Errorf("shutdown: clients still connected after %s: %w", cfg.ShutdownTimeout, serr))
	}
	log.Info("stopped")
	return err
}
