// Command petrel runs the Petrel MQTT broker.
//
//	petrel [serve] [flags]   start the broker (the default command)
//	petrel pub [flags]       publish, as mosquitto_pub does
//	petrel sub [flags]       subscribe and print, as mosquitto_sub does
//	petrel ctl COMMAND       operate a running broker through its admin API
//	petrel bench SCENARIO    load a server; report throughput, loss and latency
//	petrel passwd [-c] [-D] [-b] FILE USER [PASSWORD]
//	                         edit a password file, as mosquitto_passwd does
//	petrel version           print the version
//
// With no configuration it listens on 127.0.0.1:1883, admits anonymous
// clients there, as Mosquitto 2 does, and keeps its state in ./petrel-data.
// The flags are the ones Mosquitto users reach for: -c/--config FILE,
// -p/--port N (the port of that default listener), --listen ADDR
// (repeatable; host:port or unix:/path, replacing the default listener)
// and -v (debug logs), plus --data-dir DIR and --no-persist. Everything else is a key of
// the configuration file or a PETREL_ environment variable; see
// internal/config.
//
// This package is the composition root: the only place that reads flags
// and the environment, opens sockets, handles signals and wires the pieces
// together. It takes flags with github.com/spf13/pflag rather than the
// standard flag package, because operators expect POSIX-style short and
// long forms of one flag (-c and --config) shown once in the usage text,
// and a repeatable --listen, which flag offers only through boilerplate.
//
// Logs are log/slog records on standard error: text on a terminal, JSON
// otherwise (for journald, Docker and log shippers), unless log_format
// says which. SIGINT or SIGTERM shuts the broker down: it stops
// accepting, tells MQTT 5 clients the server is shutting down (or where
// to go, with server_reference), and waits up to shutdown_timeout for
// connections to close; a second signal stops the process at once. A
// drain requested through the admin API does the same.
//
// The operations listener (ops.go; 127.0.0.1:18083 unless ops_address
// says otherwise, off with --no-ops) serves Prometheus metrics at
// /metrics, /healthz and /readyz, and the admin API under /api/v1 that
// petrel ctl (ctl.go) calls. SIGHUP and the API's reload read every
// certificate, password, ACL and API key file and the configuration
// again: the log level, packet tracing and the protection limits change
// live, connected clients stay, and changed settings that need a restart
// are logged and reported rather than ignored. Errors that prevent starting are printed as one
// line, and the process exits with status 1 (2 for a bad command line).
package main
