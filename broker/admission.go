package broker

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// listenerRun is one Serve call's listener: its settings, the plugins
// that apply to its clients (its own or the server's), and how many
// connections it has open.
type listenerRun struct {
	cfg   Listener
	authn plugin.Authenticator
	authz plugin.Authorizer
	open  atomic.Int64
}

// A Ban keeps clients out. Exactly one of ClientID, Username and Network
// says whom it matches; a client it matches is refused at CONNECT with
// Banned (v5) or Not Authorized (3.1.1), and one already connected is
// disconnected with Administrative Action.
type Ban struct {
	ClientID string
	Username string
	// Network matches the client's address: a single address (/32 or
	// /128) or a whole network.
	Network netip.Prefix
	// Until is when the ban lapses; zero means never.
	Until time.Time
	// Reason is logged and shown to operators.
	Reason string
}

func (b *Ban) sameTarget(o Ban) bool {
	return b.ClientID == o.ClientID && b.Username == o.Username && b.Network == o.Network
}

func (b *Ban) matches(clientID, username string, hasUsername bool, addr netip.Addr) bool {
	switch {
	case b.ClientID != "":
		return b.ClientID == clientID
	case b.Username != "":
		return hasUsername && b.Username == username
	}
	return addr.IsValid() && b.Network.Contains(addr)
}

func (b *Ban) lapsed(now time.Time) bool { return !b.Until.IsZero() && !now.Before(b.Until) }

// errBanTarget rejects a Ban that does not say whom it matches.
var errBanTarget = errors.New("a ban needs exactly one of a client id, a user name and a network")

// Ban adds or replaces a ban and disconnects the connected clients it
// matches.
func (s *Server) Ban(b Ban) error {
	targets := 0
	for _, set := range []bool{b.ClientID != "", b.Username != "", b.Network.IsValid()} {
		if set {
			targets++
		}
	}
	if targets != 1 {
		return errBanTarget
	}
	b.Network = b.Network.Masked()
	g := &s.guard
	g.mu.Lock()
	g.bans = slices.DeleteFunc(g.bans, b.sameTarget)
	g.bans = append(g.bans, b)
	g.hasBans.Store(true)
	g.mu.Unlock()
	s.log.Warn("ban added", "client", b.ClientID, "username", b.Username, "network", b.Network, "until", b.Until, "reason", b.Reason)

	var kick []*conn
	s.mu.Lock()
	for c := s.conns; c != nil; c = c.next {
		if c.loggedIn.Load() && b.matches(c.client.ID, c.client.Username, c.client.HasUsername, addrOf(c.client.RemoteAddr)) {
			kick = append(kick, c)
		}
	}
	s.mu.Unlock()
	for _, c := range kick {
		go c.disconnect(packet.AdministrativeAction, "", "banned: "+b.Reason)
	}
	return nil
}

// Unban removes the ban on the same client id, user name or network as b,
// and reports whether there was one.
func (s *Server) Unban(b Ban) bool {
	b.Network = b.Network.Masked()
	g := &s.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.bans)
	g.bans = slices.DeleteFunc(g.bans, b.sameTarget)
	g.hasBans.Store(len(g.bans) > 0)
	return len(g.bans) < n
}

// Bans lists the bans in force.
func (s *Server) Bans() []Ban {
	g := &s.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	g.bans = slices.DeleteFunc(g.bans, func(b Ban) bool { return b.lapsed(time.Now()) })
	return slices.Clone(g.bans)
}

// guard keeps the state that protects the server from its clients: bans,
// and per-address and per-client-id counts over time.
type guard struct {
	mu      sync.Mutex
	bans    []Ban
	hasBans atomic.Bool
	// failures counts failed logins per address; rate holds each address's
	// connection budget; flaps the recent connects of each client id.
	failures  map[netip.Addr]*window
	rate      map[netip.Addr]*bucket
	flaps     map[string]*window
	lastSweep time.Time
}

// window counts events since start.
type window struct {
	start time.Time
	n     int
}

// add counts one event at now in a window of length d, starting a new
// window when the old one has passed, and returns the count.
func (w *window) add(now time.Time, d time.Duration) int {
	if now.Sub(w.start) >= d {
		w.start, w.n = now, 0
	}
	w.n++
	return w.n
}

// bucket is a token bucket of connections for one address.
type bucket struct {
	tokens float64
	last   time.Time
}

// take spends a token if one is left, refilling at rate per second up to
// burst.
func (b *bucket) take(now time.Time, rate, burst float64) bool {
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// guardWindow is how long failed logins and connects are remembered.
const guardWindow = time.Minute

// sweepLocked forgets counts older than their window, at most once a
// window, so the maps hold only recent addresses and client ids.
func (g *guard) sweepLocked(now time.Time, flapWindow time.Duration) {
	if now.Sub(g.lastSweep) < guardWindow {
		return
	}
	g.lastSweep = now
	for a, w := range g.failures {
		if now.Sub(w.start) >= guardWindow {
			delete(g.failures, a)
		}
	}
	for a, b := range g.rate {
		if now.Sub(b.last) >= guardWindow {
			delete(g.rate, a)
		}
	}
	for id, w := range g.flaps {
		if now.Sub(w.start) >= flapWindow {
			delete(g.flaps, id)
		}
	}
	g.bans = slices.DeleteFunc(g.bans, func(b Ban) bool { return b.lapsed(now) })
	g.hasBans.Store(len(g.bans) > 0)
}

// addrOf is the IP address of a client's remote address; the zero Addr
// for a Unix socket.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case interface{ AddrPort() netip.AddrPort }:
		return a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// admit applies the limits and bans to a client whose CONNECT names its
// client id and user name, before it authenticates. It returns Success or
// the code to refuse it with, and why.
func (s *Server) admit(c *conn) (packet.ReasonCode, string) {
	o := s.limits()
	if m := c.lst.cfg.MaxConnections; m > 0 && c.lst.open.Load() > int64(m) {
		s.stats.refusedLimit.Add(1)
		return packet.ServerBusy, fmt.Sprintf("listener %s is at its limit of %d connections", c.lst.cfg.Name, m)
	}
	if m := o.MaxConnections; m > 0 && s.open.Load() > int64(m) {
		s.stats.refusedLimit.Add(1)
		return packet.ServerBusy, fmt.Sprintf("the server is at its limit of %d connections", m)
	}
	addr := addrOf(c.client.RemoteAddr)
	now := time.Now()
	g := &s.guard
	if g.hasBans.Load() {
		g.mu.Lock()
		for i := range g.bans {
			if b := &g.bans[i]; !b.lapsed(now) && b.matches(c.client.ID, c.client.Username, c.client.HasUsername, addr) {
				g.mu.Unlock()
				s.stats.refusedBanned.Add(1)
				return packet.Banned, "banned: " + b.Reason
			}
		}
		g.mu.Unlock()
	}
	throttle := o.AuthFailureLimit > 0
	rateLimit := o.MaxConnectionRate > 0
	flapping := o.FlapThreshold > 0
	if !addr.IsValid() {
		throttle, rateLimit = false, false
	}
	if !throttle && !rateLimit && !flapping {
		return packet.Success, ""
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweepLocked(now, o.FlapWindow)
	if throttle {
		if w := g.failures[addr]; w != nil && now.Sub(w.start) < guardWindow && w.n >= o.AuthFailureLimit {
			s.stats.refusedLimit.Add(1)
			return packet.ConnectionRateExceeded, "too many failed logins from this address; wait a minute"
		}
	}
	if rateLimit {
		b := g.rate[addr]
		if b == nil {
			if g.rate == nil {
				g.rate = map[netip.Addr]*bucket{}
			}
			b = &bucket{tokens: max(1, o.MaxConnectionRate), last: now}
			g.rate[addr] = b
		}
		if !b.take(now, o.MaxConnectionRate, max(1, o.MaxConnectionRate)) {
			s.stats.refusedLimit.Add(1)
			return packet.ConnectionRateExceeded, fmt.Sprintf("more than %g connections a second from this address", o.MaxConnectionRate)
		}
	}
	if flapping {
		w := g.flaps[c.client.ID]
		if w == nil {
			if g.flaps == nil {
				g.flaps = map[string]*window{}
			}
			w = &window{start: now}
			g.flaps[c.client.ID] = w
		}
		if w.add(now, o.FlapWindow) > o.FlapThreshold {
			delete(g.flaps, c.client.ID)
			b := Ban{ClientID: c.client.ID, Until: now.Add(o.FlapBan),
				Reason: fmt.Sprintf("connected more than %d times in %s", o.FlapThreshold, o.FlapWindow)}
			g.bans = append(g.bans, b)
			g.hasBans.Store(true)
			s.stats.refusedBanned.Add(1)
			s.log.Warn("client banned for flapping", "client", c.client.ID, "remote", c.remote(), "until", b.Until, "reason", b.Reason)
			return packet.Banned, "banned: " + b.Reason
		}
	}
	return packet.Success, ""
}

// loginFailed counts a failed login against the client's address and
// refuses it after the configured delay, which slows a password guesser
// down without holding anything but this connection's goroutine.
func (c *conn) loginFailed(err error, code packet.ReasonCode) bool {
	s := c.srv
	var rc packet.ReasonCode
	if errors.As(err, &rc) {
		code = rc
	}
	s.stats.authFailures.Add(1)
	lim := s.limits()
	if addr := addrOf(c.client.RemoteAddr); addr.IsValid() && lim.AuthFailureLimit > 0 {
		now := time.Now()
		g := &s.guard
		g.mu.Lock()
		w := g.failures[addr]
		if w == nil {
			if g.failures == nil {
				g.failures = map[netip.Addr]*window{}
			}
			w = &window{start: now}
			g.failures[addr] = w
		}
		w.add(now, guardWindow)
		g.mu.Unlock()
	}
	s.log.Info("authentication failed", "client", c.client.ID, "username", c.client.Username,
		"remote", c.remote(), "listener", c.lst.cfg.Name, "reason", code.String(), "err", err)
	if d := lim.AuthFailureDelay; d > 0 {
		c.releaseSlot()
		time.Sleep(d)
	}
	return c.refuse(code, err.Error())
}
