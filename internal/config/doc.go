// Package config turns Petrel's configuration file, PETREL_* environment
// variables and command-line flags into broker.Options and the listeners
// to open. It is the only place that does so: the broker never reads a
// file or the environment, so an embedder configures it with Go values
// alone, and cmd/petrel, the only importer, hands this package what the
// user typed and gets back values ready to wire.
//
// # Precedence
//
// Flags override the environment, which overrides the file, which
// overrides the broker's defaults. Load applies them in that order and
// validates the result as a whole, because the anonymous-access rule
// depends on the final listener list.
//
// # Keys
//
// The file is YAML: a mapping of the keys in the settings table
// (settings.go) plus listeners, a sequence of mappings of the keys in the
// listenerSettings table (listener.go): name, address, allow_anonymous,
// protocol (mqtt or ws), proxy_protocol, versions, max_connections, the
// WebSocket path and origins, and a tls mapping of certificate, key, CA,
// CRL and client-certificate settings. Unknown keys are errors, because a misspelt limit
// that is silently ignored is a limit the operator believes in but does not
// have. A key the file sets to a value that the broker would read as "use
// the default" is either refused or translated: connect_timeout: 0 is
// refused rather than meaning 10 s, and topic_alias_maximum: 0 and
// sys_interval: 0 switch those features off, as they read.
//
// Every top-level key is also the environment variable PETREL_ followed by
// the key in upper case (PETREL_MAX_QUEUED_MESSAGES=5000). PETREL_LISTENERS
// is a comma-separated list of addresses that replaces the listeners, and
// PETREL_LISTENERS_<i>_<KEY> sets one key of the listener at index i, so
// PETREL_LISTENERS_0_ALLOW_ANONYMOUS=true completes the first one; a key
// under tls takes TLS_ (PETREL_LISTENERS_0_TLS_CERT_FILE), and a list is
// comma-separated (PETREL_LISTENERS_0_VERSIONS=3.1.1,5). An
// empty variable counts as unset; an unknown PETREL_ variable is an error,
// as an unknown key is.
//
// # Errors
//
// Every error names where the bad value came from and which key it is:
// "petrel.yaml:12: listeners[1].address: ...", "PETREL_SYS_INTERVAL: ..."
// or "--listen 0.0.0.0:1883: ...", so the operator can go straight to it.
//
// # Anonymous access
//
// Whether a listener admits clients without credentials is decided per
// listener, from its address, never from a client's source address (which
// a proxy can make look local). A listener bound only to loopback or to a
// Unix socket admits anonymous clients unless its allow_anonymous says
// otherwise. Any other listener must say allow_anonymous: true, or
// authenticate every client by its certificate (tls.require_certificate
// and tls.identity), or Load fails with an error that says so.
// allow_anonymous: false is refused there too without certificates: with
// no other authentication method to configure, it would admit any client
// that merely sends a user name.
//
// # Imports
//
// config imports broker and packet for the types it fills in,
// internal/listener for the TLS files a listener loads,
// store/pebblestore for its durability setting, and
// internal/session only because broker.Options names its queue overflow
// policy with that package's type; it opens no socket and reads no
// certificate, leaving that to cmd. Nothing but cmd imports config.
package config
