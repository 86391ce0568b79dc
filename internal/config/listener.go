package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/internal/listener"
	"github.com/petrelmq/petrel/packet"
)

// Listener is one socket to accept clients on.
type Listener struct {
	// Listener holds what the broker needs: the name logs and plugins see,
	// whether anonymous clients are admitted, the protocol versions, the
	// connection cap and whether a client certificate names the client.
	broker.Listener
	// Network is "tcp" or "unix", as net.Listen takes it.
	Network string
	// Address is host:port for TCP and the socket's path for Unix.
	Address string
	// Protocol is what clients speak on a connection: MQTT, or MQTT over
	// WebSocket.
	Protocol Protocol
	// WebSocketPath is the URL path of a WebSocket listener; "/mqtt" by
	// default.
	WebSocketPath string
	// WebSocketOrigins are the web origins whose pages may connect to a
	// WebSocket listener; empty admits any.
	WebSocketOrigins []string
	// ProxyProtocol expects a PROXY protocol header, from a load balancer,
	// at the start of every connection.
	ProxyProtocol bool
	// TLS, when not nil, names the files of a TLS listener.
	TLS *listener.TLSFiles
	// Auth lists the authentication methods that apply on this listener,
	// by name: password, jwt, http. Nil means every configured one.
	Auth []string

	// anonymous is allow_anonymous when it was set, nil when the address
	// decides it.
	anonymous *bool
	// from locates each key that was set, for errors: "file:line: key",
	// an environment variable or a flag.
	from map[string]string
	// tlsAt is the file and line of the tls mapping, for errors about a
	// key it lacks.
	tlsAt string
	// passwords is set when an authentication method checks the clients
	// that send a user name.
	passwords bool
	// named is set when the name was given; otherwise it is the address.
	named bool
	// inFile is set when the file defines the listener, so that is where
	// the operator should change it.
	inFile bool
}

// Protocol is what clients speak on a listener's connections.
type Protocol byte

// The protocols.
const (
	ProtocolMQTT      Protocol = iota // MQTT on the connection itself
	ProtocolWebSocket                 // MQTT in binary WebSocket messages
)

// Kind is the URL scheme clients use for the listener: mqtt, mqtts, ws or
// wss.
func (l *Listener) Kind() string {
	kind := "mqtt"
	if l.Protocol == ProtocolWebSocket {
		kind = "ws"
	}
	if l.TLS != nil {
		kind += "s"
	}
	return kind
}

func (l *Listener) setFrom(key, from string) {
	if l.from == nil {
		l.from = map[string]string{}
	}
	l.from[key] = from
}

func defaultListener(addr, from string) Listener {
	l := Listener{Listener: broker.Listener{Name: "default"}, named: true, Network: "tcp", Address: addr}
	l.setFrom("name", from)
	l.setFrom("address", from)
	return l
}

// newListener is a listener on addr.
func newListener(addr, from string) (Listener, error) {
	var l Listener
	if err := l.setAddress(addr); err != nil {
		return Listener{}, err
	}
	l.setFrom("address", from)
	return l, nil
}

// setAddress parses host:port or unix:/path.
func (l *Listener) setAddress(addr string) error {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return errors.New("want a socket path after unix:, as in unix:/run/petrel.sock")
		}
		l.Network, l.Address = "unix", path
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port or unix:/path, got %q", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("want a port number from 0 to 65535 in %q", addr)
	}
	l.Network, l.Address = "tcp", addr
	return nil
}

// addressString is the address as written: host:port or unix:/path.
func (l *Listener) addressString() string {
	if l.Network == "unix" {
		return "unix:" + l.Address
	}
	return l.Address
}

// loopbackOnly reports whether only this machine can reach the listener.
func (l *Listener) loopbackOnly() bool {
	return l.Network == "unix" || loopbackAddress(l.Address)
}

// loopbackAddress reports whether host:port is reachable from this
// machine only.
func loopbackAddress(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// tls is the listener's TLS files, made on the first tls key.
func (l *Listener) tls() *listener.TLSFiles {
	if l.TLS == nil {
		l.TLS = &listener.TLSFiles{}
	}
	return l.TLS
}

// authenticates reports whether clients must prove who they are: every
// client presents a verified certificate that names it, or a method checks
// the user name and password of clients that send one.
func (l *Listener) authenticates() bool {
	return l.passwords || l.TLS != nil && l.TLS.RequireCertificate && l.Identity != broker.NoIdentity
}

// listenerSetting is one key of a listener. A key with a dot is nested in
// the file (tls.cert_file is cert_file under tls) and written with an
// underscore in the environment (PETREL_LISTENERS_0_TLS_CERT_FILE).
type listenerSetting struct {
	key string
	// set parses one value; setList, for keys that take a list, a YAML
	// sequence or the comma-separated items of a variable.
	set     func(l *Listener, v string) error
	setList func(l *Listener, vs []string) error
}

// listenerSettings are the keys of one listener.
var listenerSettings = []listenerSetting{
	{key: "name", set: func(l *Listener, v string) error {
		if v == "" {
			return errors.New("want a name, or leave the key out to use the address")
		}
		l.Name, l.named = v, true
		return nil
	}},
	{key: "address", set: (*Listener).setAddress},
	{key: "protocol", set: func(l *Listener, v string) (err error) {
		l.Protocol, err = parseWord(v, []word[Protocol]{{"mqtt", ProtocolMQTT}, {"ws", ProtocolWebSocket}})
		return err
	}},
	{key: "websocket_path", set: func(l *Listener, v string) error {
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("want a URL path such as /mqtt, got %q", v)
		}
		l.WebSocketPath = v
		return nil
	}},
	{key: "websocket_origins", setList: func(l *Listener, vs []string) error {
		for _, o := range vs {
			u, err := url.Parse(o)
			if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
				return fmt.Errorf("want origins such as https://example.com or http://localhost:8080, got %q", o)
			}
		}
		l.WebSocketOrigins = vs
		return nil
	}},
	{key: "proxy_protocol", set: func(l *Listener, v string) (err error) {
		l.ProxyProtocol, err = parseBool(v)
		return err
	}},
	{key: "allow_anonymous", set: func(l *Listener, v string) error {
		on, err := parseBool(v)
		l.anonymous = &on
		return err
	}},
	{key: "versions", setList: func(l *Listener, vs []string) error {
		if len(vs) == 0 {
			return errors.New("want at least one of 3.1, 3.1.1 and 5, or leave the key out for all three")
		}
		l.Versions = nil
		for _, v := range vs {
			version, err := parseWord(v, []word[packet.Version]{{"3.1", packet.V31}, {"3.1.1", packet.V311}, {"5", packet.V5}, {"5.0", packet.V5}})
			if err != nil {
				return err
			}
			l.Versions = append(l.Versions, version)
		}
		return nil
	}},
	{key: "auth", setList: func(l *Listener, vs []string) error {
		if len(vs) == 1 && vs[0] == "none" {
			// Not nil: no method, rather than every one.
			l.Auth = []string{}
			return nil
		}
		for _, v := range vs {
			if !slices.Contains(authMethods, v) {
				return fmt.Errorf("want methods from %s, or none, got %q", strings.Join(authMethods, ", "), v)
			}
		}
		l.Auth = vs
		return nil
	}},
	{key: "max_connections", set: func(l *Listener, v string) error {
		n, err := parseInt(v, 0, math.MaxInt)
		l.MaxConnections = int(n)
		return err
	}},
	{key: "tls.cert_file", set: func(l *Listener, v string) error { return setPath(&l.tls().CertFile, v) }},
	{key: "tls.key_file", set: func(l *Listener, v string) error { return setPath(&l.tls().KeyFile, v) }},
	{key: "tls.ca_file", set: func(l *Listener, v string) error { return setPath(&l.tls().CAFile, v) }},
	{key: "tls.ca_dir", set: func(l *Listener, v string) error { return setPath(&l.tls().CADir, v) }},
	{key: "tls.crl_file", set: func(l *Listener, v string) error { return setPath(&l.tls().CRLFile, v) }},
	{key: "tls.require_certificate", set: func(l *Listener, v string) (err error) {
		l.tls().RequireCertificate, err = parseBool(v)
		return err
	}},
	{key: "tls.identity", set: func(l *Listener, v string) (err error) {
		l.tls()
		l.Identity, err = parseWord(v, []word[broker.CertIdentity]{
			{"cn", broker.IdentityCommonName}, {"subject", broker.IdentitySubject}, {"none", broker.NoIdentity}})
		return err
	}},
}

// apply sets the setting to vs, which holds one value unless the setting
// takes a list, and records where the value came from.
func (s *listenerSetting) apply(l *Listener, vs []string, from string) error {
	var err error
	if s.setList != nil {
		err = s.setList(l, vs)
	} else {
		err = s.set(l, vs[0])
	}
	if err != nil {
		return err
	}
	l.setFrom(s.key, from)
	return nil
}

func setPath(p *string, v string) error {
	if v == "" {
		return errors.New("want a file name")
	}
	*p = v
	return nil
}

func findListenerSetting(key string) *listenerSetting {
	for i := range listenerSettings {
		if listenerSettings[i].key == key {
			return &listenerSettings[i]
		}
	}
	return nil
}

// listenerEnvName is the variable of key for listener i.
func listenerEnvName(i int, key string) string {
	return fmt.Sprintf("%s_%d_%s", listEnv, i, strings.ToUpper(strings.ReplaceAll(key, ".", "_")))
}

// keyName is how the operator writes key for listener i, where the
// listener was defined.
func (l *Listener) keyName(i int, key string) string {
	if l.inFile {
		return fmt.Sprintf("listeners[%d].%s", i, key)
	}
	return listenerEnvName(i, key)
}

// check validates listener i as a whole, once every source has been
// applied.
func (l *Listener) check(i int) error {
	if l.Protocol == ProtocolWebSocket {
		if l.WebSocketPath == "" {
			l.WebSocketPath = "/mqtt"
		}
	} else {
		for _, key := range []string{"websocket_path", "websocket_origins"} {
			if from, ok := l.from[key]; ok {
				return fmt.Errorf("%s: only a WebSocket listener has this; set %s to ws, or leave it out",
					from, l.keyName(i, "protocol"))
			}
		}
	}
	if l.TLS != nil {
		if err := l.checkTLS(i); err != nil {
			return err
		}
	}
	return l.checkAnonymous(i)
}

func (l *Listener) checkTLS(i int) error {
	for _, f := range []struct{ key, value string }{{"tls.cert_file", l.TLS.CertFile}, {"tls.key_file", l.TLS.KeyFile}} {
		if f.value == "" {
			where := l.keyName(i, f.key)
			if l.tlsAt != "" {
				where = l.tlsAt + ": " + where
			}
			return fmt.Errorf("%s is missing: a TLS listener needs the server's certificate (cert_file) and its private key (key_file)", where)
		}
	}
	if l.TLS.CAFile != "" || l.TLS.CADir != "" {
		return nil
	}
	for _, f := range []struct {
		key string
		on  bool
	}{
		{"tls.require_certificate", l.TLS.RequireCertificate},
		{"tls.crl_file", l.TLS.CRLFile != ""},
		{"tls.identity", l.Identity != broker.NoIdentity},
	} {
		if f.on {
			return fmt.Errorf("%s: client certificates need a CA to be verified against: set %s or %s",
				l.from[f.key], l.keyName(i, "tls.ca_file"), l.keyName(i, "tls.ca_dir"))
		}
	}
	return nil
}

// checkAnonymous applies the anonymous rule, which depends on the final
// address and on how clients authenticate.
func (l *Listener) checkAnonymous(i int) error {
	switch {
	case l.anonymous == nil:
		l.AllowAnonymous = l.loopbackOnly()
		if !l.AllowAnonymous && !l.authenticates() {
			return fmt.Errorf("%s: %s is reachable from other machines, so anonymous access there must be explicit: %s",
				l.from["address"], l.Address, l.allowAnonymousHint(i))
		}
	case !*l.anonymous && !l.loopbackOnly() && !l.authenticates():
		return fmt.Errorf("%s: false on %s would admit every client that sends a user name, because no authentication method is configured: %s",
			l.from["allow_anonymous"], l.Address, l.allowAnonymousHint(i))
	default:
		l.AllowAnonymous = *l.anonymous
	}
	return nil
}

// allowAnonymousHint says how to admit anonymous clients on listener i, or
// authenticate them, in the terms of wherever the listener was defined.
func (l *Listener) allowAnonymousHint(i int) string {
	switch {
	case l.inFile:
		return "set allow_anonymous: true on this listener, or have clients authenticate with a password_file (or JWT or an HTTP hook) or with certificates (tls.require_certificate: true and tls.identity: cn)"
	case strings.HasPrefix(l.from["address"], envPrefix):
		return fmt.Sprintf("set %s=true, or have clients authenticate with PETREL_PASSWORD_FILE or with certificates (%s=true and %s=cn)",
			listenerEnvName(i, "allow_anonymous"), listenerEnvName(i, "tls.require_certificate"), listenerEnvName(i, "tls.identity"))
	default:
		return "set password_file, or declare this listener in the config file with allow_anonymous: true or client certificates, since --listen admits anonymous clients on loopback only"
	}
}
