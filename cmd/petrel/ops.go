package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/internal/admin"
	"github.com/petrelmq/petrel/internal/config"
	"github.com/petrelmq/petrel/internal/metrics/prom"
)

// opsListeners are the operations listener and, when the admin API has
// one of its own, the admin listener; either may be nil.
type opsListeners struct {
	ops, admin net.Listener
}

// openOps opens the sockets cfg.Ops names. The default address being in
// use (by another broker on this machine, say) is logged and leaves the
// broker without the listener; an address that was set must open.
func openOps(cfg *config.Config, log *slog.Logger) (opsListeners, error) {
	var ol opsListeners
	if !cfg.Ops.Enabled {
		log.Info("the operations listener is off: no metrics, health checks or admin API")
		return ol, nil
	}
	var err error
	ol.ops, err = net.Listen("tcp", cfg.Ops.Address)
	switch {
	case err != nil && cfg.DefaultOpsAddress() && errors.Is(err, syscall.EADDRINUSE):
		log.Warn("the operations listener's default address is in use; running without metrics, health checks and admin API there: set ops_address, or ops_enabled: false",
			"address", cfg.Ops.Address, "err", err)
	case err != nil:
		return ol, fmt.Errorf("operations listener: %w", err)
	}
	if cfg.Ops.AdminAddress != "" {
		if ol.admin, err = net.Listen("tcp", cfg.Ops.AdminAddress); err != nil {
			ol.close()
			return ol, fmt.Errorf("admin listener: %w", err)
		}
	}
	return ol, nil
}

func (ol opsListeners) close() {
	for _, l := range []net.Listener{ol.ops, ol.admin} {
		if l != nil {
			l.Close()
		}
	}
}

// operator is what the admin API and SIGHUP change in the running
// process: the log level, the configuration in force, and the decision
// to drain.
type operator struct {
	src   config.Sources
	srv   *broker.Server
	sec   *config.Security
	keys  *admin.Keys
	lns   []openListener
	level *slog.LevelVar
	log   *slog.Logger
	// started is the configuration the process started with: what needs
	// a restart is measured against it. applied is the last one read,
	// whose live settings are in force.
	started, applied *config.Config

	// reloads carries the API's reload requests to the goroutine that
	// owns the configuration, which answers on the channel sent along.
	reloads chan chan admin.ReloadReport
	// drains carries the one drain request; draining is set once it is
	// made.
	drains   chan broker.DrainOptions
	draining atomic.Bool
}

func newOperator(cfg *config.Config, src config.Sources, srv *broker.Server, sec *config.Security, keys *admin.Keys,
	lns []openListener, level *slog.LevelVar, log *slog.Logger) *operator {
	return &operator{src: src, srv: srv, sec: sec, keys: keys, lns: lns, level: level, log: log, started: cfg, applied: cfg,
		reloads: make(chan chan admin.ReloadReport), drains: make(chan broker.DrainOptions, 1)}
}

// openAPIKeys reads the API keys file, if one is set.
func openAPIKeys(cfg *config.Config) (*admin.Keys, error) {
	if cfg.Ops.APIKeysFile == "" {
		return nil, nil
	}
	k, err := admin.OpenKeys(cfg.Ops.APIKeysFile)
	if err != nil {
		return nil, fmt.Errorf("api_keys_file: %w", err)
	}
	return k, nil
}

// reload reads every file and the configuration again, and applies what
// can change live. It runs on the goroutine that owns the configuration.
func (op *operator) reload() admin.ReloadReport {
	var rep admin.ReloadReport
	for _, ol := range op.lns {
		if ol.tls == nil {
			continue
		}
		if err := ol.tls.Reload(); err != nil {
			op.log.Error("TLS reload failed; keeping the certificates in use", "listener", ol.cfg.Name, "err", err)
			rep.Errors = append(rep.Errors, fmt.Sprintf("listener %s: TLS: %v", ol.cfg.Name, err))
			continue
		}
		op.log.Info("TLS certificates reloaded", "listener", ol.cfg.Name, "certificate_expires", ol.tls.Certificate().NotAfter)
		rep.Applied = append(rep.Applied, "listener "+ol.cfg.Name+" TLS certificates")
	}
	if files := op.sec.Files(); len(files) > 0 {
		if err := op.sec.Reload(); err != nil {
			op.log.Error("reload failed; keeping the previous contents where a file failed", "err", err)
			rep.Errors = append(rep.Errors, err.Error())
		} else {
			op.log.Info("authentication and access rules reloaded", "files", files)
			rep.Applied = append(rep.Applied, files...)
		}
	}
	if op.keys != nil {
		if err := op.keys.Reload(); err != nil {
			op.log.Error("API keys reload failed; keeping the keys in use", "err", err)
			rep.Errors = append(rep.Errors, "api_keys_file: "+err.Error())
		} else {
			rep.Applied = append(rep.Applied, op.keys.Path())
		}
	}
	next, err := config.Load(op.src)
	if err != nil {
		op.log.Error("configuration reload failed; the settings in force stay", "err", err)
		rep.Errors = append(rep.Errors, err.Error())
		return rep
	}
	live := op.applied.Changes(next).Live
	limits := false
	for _, key := range live {
		switch key {
		case "log_level":
			op.level.Set(next.LogLevel)
		case "log_trace_client_id":
			op.srv.SetTrace(next.TraceClientID)
		default:
			limits = true
		}
	}
	if limits {
		op.srv.SetLimits(next.Limits())
	}
	op.applied = next
	rep.Applied = append(rep.Applied, live...)
	rep.RestartRequired = op.started.Changes(next).Restart
	if len(live) > 0 {
		op.log.Info("settings changed", "keys", live)
	}
	if len(rep.RestartRequired) > 0 {
		op.log.Warn("changed settings take effect only when the broker restarts", "settings", rep.RestartRequired)
	}
	return rep
}

// requestReload asks the goroutine that owns the configuration to reload,
// and waits for its report.
func (op *operator) requestReload(ctx context.Context) admin.ReloadReport {
	reply := make(chan admin.ReloadReport, 1)
	select {
	case op.reloads <- reply:
	case <-ctx.Done():
		return admin.ReloadReport{Errors: []string{"the broker is stopping"}}
	}
	select {
	case rep := <-reply:
		return rep
	case <-ctx.Done():
		return admin.ReloadReport{Errors: []string{ctx.Err().Error()}}
	}
}

// requestDrain starts the drain that ends the process.
func (op *operator) requestDrain(d broker.DrainOptions) error {
	if !op.draining.CompareAndSwap(false, true) {
		return errors.New("the broker is draining already")
	}
	op.drains <- d
	return nil
}

// ready says whether the broker should be sent clients: every configured
// listener accepting, the store writable, no drain under way.
func (op *operator) ready(ctx context.Context) error {
	if op.draining.Load() {
		return errors.New("the broker is draining")
	}
	serving := op.srv.Listeners()
	for _, ol := range op.lns {
		if !slices.Contains(serving, ol.cfg.Name) {
			return fmt.Errorf("listener %s is not accepting connections", ol.cfg.Name)
		}
	}
	return op.srv.Ready(ctx)
}

// serveOps serves metrics, health and the admin API on the listeners
// opened, until it is shut down.
func (op *operator) serveOps(ol opsListeners, cfg *config.Config, version string) *opsServer {
	api := admin.New(admin.Options{
		Server:   op.srv,
		Version:  version,
		Guard:    op.guard(cfg),
		Logger:   op.log,
		LogLevel: op.level,
		Reload:   op.requestReload,
		Drain:    op.requestDrain,
		Ready:    op.ready,
	})
	health := admin.Health(op.ready)
	s := &opsServer{}
	if ol.ops != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", prom.Handler(op.srv, version))
		mux.Handle("/healthz", health)
		mux.Handle("/readyz", health)
		serves := "metrics, health"
		if ol.admin == nil {
			mux.Handle("/api/v1/", api)
			serves += ", admin API"
		}
		s.serve(ol.ops, mux, op.log)
		op.log.Info("operations listening", "address", ol.ops.Addr().String(), "serves", serves)
	}
	if ol.admin != nil {
		mux := http.NewServeMux()
		mux.Handle("/api/v1/", api)
		mux.Handle("/healthz", health)
		mux.Handle("/readyz", health)
		s.serve(ol.admin, mux, op.log)
		op.log.Info("operations listening", "address", ol.admin.Addr().String(), "serves", "admin API, health")
	}
	return s
}

// guard admits API callers with an API key or as an API user; with
// neither configured, the API is open only where it is on loopback
// (Load refuses it elsewhere).
func (op *operator) guard(cfg *config.Config) *admin.Guard {
	g := &admin.Guard{Keys: op.keys, Users: cfg.Ops.APIUsers, Passwords: op.sec.PasswordFile()}
	g.Open = op.keys == nil && len(g.Users) == 0
	return g
}

// opsServer is the HTTP servers of the operations listeners.
type opsServer struct {
	servers []*http.Server
}

func (s *opsServer) serve(l net.Listener, h http.Handler, log *slog.Logger) {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	s.servers = append(s.servers, hs)
	go func() {
		if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			log.Error("operations listener failed", "address", l.Addr().String(), "err", err)
		}
	}()
}

// shutdown stops the servers, letting requests under way finish briefly.
func (s *opsServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, hs := range s.servers {
		hs.Shutdown(ctx)
	}
}
