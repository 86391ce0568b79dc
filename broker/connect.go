package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/session"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// will is a will message waiting for its connection to end.
type will struct {
	msg   *session.Message
	delay time.Duration
}

// refuse answers CONNECT with a failure and reports false.
func (c *conn) refuse(code packet.ReasonCode, why string) bool {
	c.srv.log.Info("connection refused", "client", c.client.ID, "remote", c.remote(),
		"version", c.v.String(), "reason", code.String(), "detail", why)
	ack := &packet.Connack{ReasonCode: code}
	if c.v == packet.V5 && !code.ValidFor(packet.CONNACK) {
		ack.ReasonCode = packet.UnspecifiedError
	}
	// CONNACK may always carry a Reason String (v5 [MQTT-3.1.2-29]).
	ack.Props.ReasonString = why
	c.omu.Lock()
	c.out = c.appendFitting(c.out, ack, &ack.Props)
	c.omu.Unlock()
	c.closeAfterWrite()
	return false
}

// redirect refuses the connection, pointing a v5 client at the server in
// Options.ServerReference (v5 §4.11).
func (c *conn) redirect() bool {
	code := packet.UseAnotherServer
	if c.srv.opts.RedirectPermanent {
		code = packet.ServerMoved
	}
	if c.v != packet.V5 {
		return c.refuse(packet.ServerUnavailable, "redirecting clients to "+c.srv.opts.ServerReference)
	}
	ack := &packet.Connack{ReasonCode: code}
	ack.Props.ServerReference = c.srv.opts.ServerReference
	c.omu.Lock()
	c.out, _ = ack.Encode(c.out, c.v)
	c.omu.Unlock()
	c.srv.log.Info("client redirected", "remote", c.remote(), "to", c.srv.opts.ServerReference, "reason", code.String())
	c.closeAfterWrite()
	return false
}

// connect handles the CONNECT packet and reports whether the client is in,
// or on its way in through an enhanced authentication exchange.
func (c *conn) connect(body []byte) bool {
	s := c.srv
	var p packet.Connect
	err := p.Decode(0, body, 0)
	c.v = p.Version
	if err != nil {
		code := packet.CodeOf(err)
		switch {
		case code == packet.UnsupportedProtocolVersion:
			// v3.1.1 [MQTT-3.1.2-2]: answer with return code 1, in the form
			// the client's level expects, then close.
			if c.v != packet.V5 {
				c.v = packet.V311
			}
			return c.refuse(code, err.Error())
		case c.v == packet.V5:
			return c.refuse(code, err.Error())
		}
		s.log.Info("malformed CONNECT; closing", "remote", c.remote(), "err", err)
		c.abort()
		return false
	}
	c.client.Version = c.v
	c.maxPacketSize = p.Props.MaximumPacketSize
	// v5 [MQTT-3.1.2-29]: 0 keeps Reason Strings to CONNACK, PUBLISH and
	// DISCONNECT.
	c.problemInfo = !p.Props.HasRequestProblemInfo || p.Props.RequestProblemInfo == 1
	if vs := c.lst.cfg.Versions; len(vs) > 0 && !slices.Contains(vs, c.v) {
		return c.refuse(packet.UnsupportedProtocolVersion, "listener "+c.lst.cfg.Name+" does not accept MQTT "+c.v.String())
	}
	if s.opts.Redirect {
		return c.redirect()
	}
	c.client.Username, c.client.HasUsername = strings.Clone(p.Username), p.HasUsername
	if p.ClientID == "" {
		switch {
		case c.v == packet.V31:
			return c.refuse(packet.ClientIdentifierNotValid, "MQTT 3.1 requires a client identifier")
		case c.v == packet.V311 && !p.CleanStart:
			// v3.1.1 [MQTT-3.1.3-8]
			return c.refuse(packet.ClientIdentifierNotValid, "empty client identifier with Clean Session 0 (v3.1.1 [MQTT-3.1.3-8])")
		}
		c.client.ID, c.assignedID = newClientID(), true
	} else {
		c.client.ID = strings.Clone(p.ClientID)
	}
	if code, why := s.admit(c); code != packet.Success {
		return c.refuse(code, why)
	}

	certified := c.certificateIdentity()
	if method := p.Props.AuthMethod; method != "" {
		a := s.opts.EnhancedAuth[method]
		if a == nil {
			return c.refuse(packet.BadAuthenticationMethod, "authentication method "+method+" is not supported")
		}
		run := &authRun{method: strings.Clone(method)}
		c.more().auth = run
		run.ex = a.Start(&c.client)
		return c.loginStep(&p, p.Props.AuthData)
	}
	if !certified {
		if !c.lst.cfg.AllowAnonymous && !p.HasUsername {
			return c.refuse(packet.NotAuthorized, "anonymous clients are not allowed on listener "+c.lst.cfg.Name)
		}
		if !c.lst.cfg.AllowAnonymous && c.lst.authn == nil {
			// A user name nobody checks is no better than none, as Mosquitto
			// refuses everyone on such a listener.
			return c.refuse(packet.NotAuthorized, "listener "+c.lst.cfg.Name+" does not allow anonymous clients and has no authenticator")
		}
		// An anonymous client on a listener that admits them is not asked
		// for credentials it did not send, as Mosquitto's allow_anonymous
		// beside a password file.
		if a := c.lst.authn; a != nil && p.HasUsername {
			// An authenticator may ask a server elsewhere.
			c.releaseSlot()
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.ConnectTimeout)
			err := a.Authenticate(ctx, &c.client, plugin.Credentials{Password: p.Password, HasPassword: p.HasPassword})
			cancel()
			if err != nil {
				return c.loginFailed(err, packet.BadUserNameOrPassword)
			}
		}
	}
	return c.login(&p, nil)
}

// login admits a client whose CONNECT passed authentication: its will, its
// session and CONNACK, which carries authData when an enhanced
// authentication method ran.
func (c *conn) login(p *packet.Connect, authData []byte) bool {
	s := c.srv
	id := c.client.ID
	cleanStart := p.CleanStart
	if p.Will != nil {
		w := p.Will
		if byte(w.QoS) > s.opts.MaximumQoS {
			return c.refuse(packet.QoSNotSupported, "will QoS above the server's maximum (v5 [MQTT-3.2.2-12])")
		}
		if w.Retain && s.opts.RetainDisabled {
			return c.refuse(packet.RetainNotSupported, "will retain while retain is unavailable (v5 [MQTT-3.2.2-13])")
		}
		if !c.mayPublish(w.Topic) {
			s.log.Info("will topic denied", "client", id, "username", c.client.Username, "topic", w.Topic)
			return c.refuse(packet.NotAuthorized, "not allowed to publish the will topic")
		}
		pub := packet.Publish{Topic: w.Topic, QoS: w.QoS, Retain: w.Retain, Payload: w.Payload, Props: w.Props}
		c.will = &will{msg: s.newMessage(&pub, id, time.Now()), delay: time.Duration(w.Props.WillDelay) * time.Second}
	}

	keepAlive := p.KeepAlive
	serverKeepAlive := false
	if m := s.opts.MaxKeepAlive; m > 0 && (keepAlive == 0 || keepAlive > m) {
		keepAlive, serverKeepAlive = m, true
	}
	c.keepAlive = keepAlive

	expiry := time.Duration(0)
	switch {
	case c.v == packet.V5:
		expiry = s.sessionExpiry(p.Props.SessionExpiry)
	case !cleanStart:
		expiry = s.opts.PersistentSessionExpiry
		if expiry == 0 {
			expiry = neverExpires
		}
	}
	receiveMax := int(p.Props.ReceiveMaximum)
	if receiveMax == 0 {
		receiveMax = 65535
	}
	c.aliasMax = p.Props.TopicAliasMaximum

	if f := s.opts.Fabric; f != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.ConnectTimeout)
		err := f.ClaimSession(ctx, id)
		cancel()
		if err != nil {
			return c.refuse(packet.ServerUnavailable, "cannot take the session over from another node: "+err.Error())
		}
	}
	limits := session.Limits{
		MaxInflight:    min(s.opts.MaxInflight, receiveMax),
		MaxQueued:      s.opts.MaxQueuedMessages,
		MaxQueuedBytes: s.opts.MaxQueuedBytes,
		Overflow:       s.opts.QueueOverflow,
	}
	cs, present, old, ended := s.attach(c, id, cleanStart, expiry, limits)
	if old != nil {
		old.takenOver()
	}

	ack := &packet.Connack{SessionPresent: present, ReasonCode: packet.Success}
	if c.v == packet.V5 {
		pr := &ack.Props
		if a := c.enhanced(); a != nil {
			pr.AuthMethod, pr.AuthData = a.method, authData
		}
		if c.assignedID {
			pr.AssignedClientID = id
		}
		if serverKeepAlive {
			pr.ServerKeepAlive, pr.HasServerKeepAlive = keepAlive, true
		}
		if s.opts.MaxSessionExpiry > 0 && p.Props.SessionExpiry > uint32(s.opts.MaxSessionExpiry/time.Second) {
			pr.SessionExpiry, pr.HasSessionExpiry = uint32(s.opts.MaxSessionExpiry/time.Second), true
		}
		pr.ReceiveMaximum = s.opts.ReceiveMaximum
		pr.MaximumPacketSize = s.opts.MaxPacketSize
		pr.TopicAliasMaximum = uint16(s.opts.TopicAliasMaximum)
		if s.opts.MaximumQoS < 2 {
			pr.MaximumQoS, pr.HasMaximumQoS = s.opts.MaximumQoS, true
		}
		if s.opts.RetainDisabled {
			pr.RetainAvailable, pr.HasRetainAvailable = 0, true
		}
		if s.opts.WildcardSubscriptionsDisabled {
			pr.WildcardSubAvailable, pr.HasWildcardSubAvailable = 0, true
		}
		if s.opts.SubscriptionIdentifiersDisabled {
			pr.SubIDAvailable, pr.HasSubIDAvailable = 0, true
		}
		if s.opts.SharedSubscriptionsDisabled {
			pr.SharedSubAvailable, pr.HasSharedSubAvailable = 0, true
		}
		if p.Props.RequestResponseInfo == 1 && s.opts.ResponseInformation != "" {
			pr.ResponseInfo = s.opts.ResponseInformation
		}
	}
	s.log.Info("client connected", "client", id, "remote", c.remote(), "version", c.v.String(),
		"clean_start", cleanStart, "session_present", present, "keep_alive", keepAlive)
	c.ops.connectedAt = time.Now().UnixNano()
	c.loggedIn.Store(true)
	s.traceLogin(c)
	cs.mu.Lock()
	if ended {
		c.connackWhenDurable(ack)
	} else {
		c.release(ack)
	}
	cs.mu.Unlock()
	return true
}

// connackWhenDurable sends CONNACK once the ending of a stored session is
// durable, so a client told its session is gone cannot find it again after
// a crash. Until then the connection's output stays held (see attach).
func (c *conn) connackWhenDurable(ack *packet.Connack) {
	s := c.srv
	s.store.Apply(nil, func(err error) {
		if err != nil || s.storeFailed.Load() {
			s.log.Error("store write failed; closing the connection before CONNACK", "client", c.client.ID, "err", err)
			go c.abort()
			return
		}
		c.release(ack)
	})
}

// hold keeps the connection's output from being written until a matching
// release.
func (c *conn) hold() {
	c.omu.Lock()
	c.holds++
	c.omu.Unlock()
}

// release ends a hold, first putting head, if not nil, in front of
// whatever was queued meanwhile.
func (c *conn) release(head packet.Packet) {
	var b []byte
	if head != nil {
		var err error
		if b, err = head.Encode(nil, c.v); err != nil {
			c.srv.log.Error("cannot encode a packet to a client", "client", c.client.ID, "type", head.Type(), "err", err)
			go c.abort()
			return
		}
	}
	c.omu.Lock()
	defer c.omu.Unlock()
	if head != nil {
		c.out = append(b, c.out...)
		c.ops.packetsOut.Inc()
	}
	c.holds--
	c.kickLocked(nil)
}

// neverExpires marks a session that outlives every disconnection.
const neverExpires = time.Duration(math.MaxInt64)

// sessionExpiry turns a v5 Session Expiry Interval into a duration,
// applying the configured cap; 0xFFFFFFFF means never (v5 §3.1.2.11.2).
func (s *Server) sessionExpiry(v uint32) time.Duration {
	d := time.Duration(v) * time.Second
	if v == math.MaxUint32 {
		d = neverExpires
	}
	if m := s.opts.MaxSessionExpiry; m > 0 && d > m {
		d = m
	}
	return d
}

func newClientID() string {
	var b [12]byte
	rand.Read(b[:])
	return "petrel-" + hex.EncodeToString(b[:])
}

// mayPublish applies the '$' rule and the Authorizer to a topic name.
func (c *conn) mayPublish(topic string) bool {
	if strings.HasPrefix(topic, "$") && !c.srv.opts.AllowDollarPublish {
		return false
	}
	return c.lst.authz == nil || c.lst.authz.Authorize(&c.client, plugin.Publish, topic)
}
