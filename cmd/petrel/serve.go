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
	"runtime/debug"
	"syscall"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/internal/config"
	"github.com/petrelmq/petrel/internal/listener"
	"github.com/petrelmq/petrel/store/pebblestore"
)

// serveArgs are the serve command's flags as parsed.
type serveArgs struct {
	config    string
	port      int
	listen    []string
	dataDir   string
	noPersist bool
	noOps     bool
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
	fs.BoolVar(&a.noOps, "no-ops", false, "open no operations listener: no metrics, health checks or admin API")
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
  petrel ctl COMMAND       operate a running broker through its admin API:
                           clients, sessions, retained, publish, ban, drain, ...
  petrel bench SCENARIO    load a server and report throughput and latency
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
		Flags: config.Flags{Listen: a.listen, Verbose: a.verbose, NoPersist: a.noPersist, NoOps: a.noOps},
	}
	if fs.Changed("port") {
		src.Flags.Port = &a.port
	}
	if fs.Changed("data-dir") {
		src.Flags.DataDir = &a.dataDir
	}
	cfg, err := config.Load(src)
	if err == nil {
		level := new(slog.LevelVar)
		level.Set(cfg.LogLevel)
		err = runBroker(cfg, src, newLogger(cfg, stderr, level), level)
	}
	if err != nil {
		fmt.Fprintf(stderr, "petrel: %v\n", err)
		return 1
	}
	return 0
}

// newLogger writes to w as cfg says: text for a person at a terminal,
// JSON for a machine otherwise; at level, which may change while it runs.
func newLogger(cfg *config.Config, w io.Writer, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	text := cfg.LogFormat == config.LogText
	if f, ok := w.(*os.File); ok && cfg.LogFormat == config.LogAuto {
		text = term.IsTerminal(int(f.Fd()))
	}
	if text {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// defaultGCPercent is the collector's target when GOGC is not set.
const defaultGCPercent = 50

// runBroker serves cfg's listeners, and the operations listener, until
// SIGINT or SIGTERM, a drain requested through the admin API, or a
// listener's failure, then drains the broker. SIGHUP, or the admin API,
// reloads the certificates, password, ACL and API key files and the
// configuration, read again from src, applying what can change live.
func runBroker(cfg *config.Config, src config.Sources, log *slog.Logger, level *slog.LevelVar) error {
	if os.Getenv("GOGC") == "" {
		// A broker's heap is mostly long-lived connection and session
		// state; collecting when garbage reaches half of it, rather than
		// all of it, keeps memory per connection near what is live, for
		// a little more collector work. GOGC overrides it.
		debug.SetGCPercent(defaultGCPercent)
	}
	// Catch signals before opening anything, so one that arrives during
	// start-up still shuts down cleanly, and a SIGHUP does not kill.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	sec, err := cfg.Open()
	if err != nil {
		return err
	}
	if files := sec.Files(); len(files) > 0 {
		log.Info("authentication and access rules loaded", "files", files)
	}

	lns := make([]openListener, 0, len(cfg.Listeners))
	defer func() {
		// Serve closes the listeners it was handed on Shutdown, but a
		// listener whose Serve had not started yet is ours to close, and
		// closing a Unix listener removes its socket file.
		for _, ol := range lns {
			ol.ln.Close()
		}
	}()
	for _, l := range cfg.Listeners {
		ol, err := open(l, cfg, log)
		if err != nil {
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
		lns = append(lns, ol)
	}
	keys, err := openAPIKeys(cfg)
	if err != nil {
		return err
	}
	opsLns, err := openOps(cfg, log)
	if err != nil {
		return err
	}
	defer opsLns.close()

	opts := cfg.Options
	opts.Logger = log
	opts.Version = "petrel " + version()
	var st *pebblestore.Store
	if cfg.Persist {
		var err error
		if st, err = pebblestore.Open(cfg.DataDir, pebblestore.Options{Durability: cfg.Durability, Logger: log, MinFreeSpace: cfg.MinFreeSpace}); err != nil {
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
	if cfg.TraceClientID != "" {
		srv.SetTrace(cfg.TraceClientID)
	}
	op := newOperator(cfg, src, srv, sec, keys, lns, level, log)
	web := op.serveOps(opsLns, cfg, opts.Version)
	defer web.shutdown()
	failed := make(chan error, len(lns))
	for _, ol := range lns {
		log.Info("listening", ol.logAttrs()...)
		go func() {
			if err := srv.Serve(ol.ln, ol.cfg.Listener); !errors.Is(err, broker.ErrServerClosed) {
				failed <- fmt.Errorf("listener %s: %w", ol.cfg.Name, err)
			}
		}()
	}

	drain := broker.DrainOptions{ServerReference: opts.ServerReference, Permanent: opts.RedirectPermanent}
wait:
	for {
		select {
		case <-hup:
			op.reload()
		case reply := <-op.reloads:
			reply <- op.reload()
		case drain = <-op.drains:
			log.Info("draining at an operator's request", "server_reference", drain.ServerReference, "timeout", cfg.ShutdownTimeout.String())
			break wait
		case <-ctx.Done():
			log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
			break wait
		case err = <-failed:
			log.Error("shutting down: a listener failed", "err", err)
			break wait
		}
	}
	// From here a second signal kills the process, for the operator who
	// will not wait for slow clients.
	stop()
	op.draining.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if serr := srv.Drain(sctx, drain); serr != nil {
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

// openListener is a listening socket wrapped as its configuration says.
type openListener struct {
	ln  net.Listener
	cfg config.Listener
	// tls is the listener's certificates, nil unless it serves TLS.
	tls *listener.TLS
}

// open listens as l says: on TCP or a Unix socket, behind the PROXY
// protocol, over TLS, with WebSocket, in that order, as the bytes arrive.
// The handshakes get the time the broker gives a client to send CONNECT,
// and a WebSocket message the broker's largest packet.
func open(l config.Listener, cfg *config.Config, log *slog.Logger) (openListener, error) {
	ol := openListener{cfg: l}
	if l.TLS != nil {
		// Before listening, so a bad certificate leaves no socket behind.
		var err error
		if ol.tls, err = listener.LoadTLS(*l.TLS); err != nil {
			return openListener{}, err
		}
	}
	nl, err := net.Listen(l.Network, l.Address)
	if err != nil {
		return openListener{}, err
	}
	llog := log.With("listener", l.Name)
	nl = listener.Wrap(nl, listener.Config{
		ProxyProtocol:    l.ProxyProtocol,
		TLS:              ol.tls,
		HandshakeTimeout: cfg.Options.ConnectTimeout,
		Logger:           llog,
	})
	if l.Protocol == config.ProtocolWebSocket {
		nl = listener.WebSocket(nl, listener.WebSocketConfig{
			Path:             l.WebSocketPath,
			Origins:          l.WebSocketOrigins,
			HandshakeTimeout: cfg.Options.ConnectTimeout,
			MaxMessageSize:   int64(cfg.Options.MaxPacketSize),
			Logger:           llog,
		})
	}
	ol.ln = nl
	return ol, nil
}

// logAttrs describe the listener for the log.
func (ol openListener) logAttrs() []any {
	l := ol.cfg
	addr := ol.ln.Addr().String()
	if l.Network == "unix" {
		addr = "unix:" + addr
	}
	attrs := []any{"listener", l.Name, "address", addr, "kind", l.Kind(), "allow_anonymous", l.AllowAnonymous}
	if l.Protocol == config.ProtocolWebSocket {
		attrs = append(attrs, "path", l.WebSocketPath)
	}
	if l.ProxyProtocol {
		attrs = append(attrs, "proxy_protocol", true)
	}
	if ol.tls != nil {
		attrs = append(attrs, "certificate_expires", ol.tls.Certificate().NotAfter)
	}
	return attrs
}
