package broker

import (
	"context"
	"crypto/tls"
	"errors"

	"github.com/petrelmq/petrel/internal/listener"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// authRun is the enhanced authentication (v5 §4.12) of a client that
// logged in with a method: the method, and the exchange under way, if any.
type authRun struct {
	method string
	// ex is the exchange under way, during login or re-authentication;
	// nil between them.
	ex plugin.AuthExchange
	// connect is the CONNECT a login exchange admits once it is done; nil
	// on re-authentication.
	connect *packet.Connect
	// client is the exchange's own copy of the client on
	// re-authentication, since publishers read the live one concurrently.
	client plugin.Client
}

// step runs one step of the exchange, bounded by the connect timeout.
func (c *conn) step(data []byte) (reply []byte, done bool, err error) {
	c.releaseSlot() // a step may ask a server elsewhere
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.opts.ConnectTimeout)
	defer cancel()
	return c.enhanced().ex.Step(ctx, data)
}

// sendAuth sends AUTH with the connection's method.
func (c *conn) sendAuth(code packet.ReasonCode, data []byte) {
	a := &packet.Auth{ReasonCode: code}
	a.Props.AuthMethod, a.Props.AuthData = c.enhanced().method, data
	c.send(a)
}

// loginStep runs one step of a login exchange for CONNECT p: the client is
// refused, asked to continue, or admitted.
func (c *conn) loginStep(p *packet.Connect, data []byte) bool {
	run := c.enhanced()
	reply, done, err := c.step(data)
	if err != nil {
		run.ex, run.connect = nil, nil
		return c.loginFailed(err, packet.NotAuthorized)
	}
	if done {
		run.ex, run.connect = nil, nil
		return c.login(p, reply)
	}
	if run.connect == nil {
		// The CONNECT outlives the read buffer it was decoded from.
		q, err := packet.Clone(p, c.v)
		if err != nil {
			return c.refuse(packet.ImplementationSpecificError, "cannot keep the CONNECT: "+err.Error())
		}
		run.connect = q.(*packet.Connect)
	}
	c.sendAuth(packet.ContinueAuthentication, reply)
	return true
}

// continueLogin handles a packet that arrives while a login exchange waits
// for the client: only AUTH continues it (v5 [MQTT-3.1.2-30]).
func (c *conn) continueLogin(h packet.FixedHeader, body []byte) bool {
	switch h.Type {
	case packet.DISCONNECT:
		c.abort()
		return false
	case packet.AUTH:
	default:
		return c.refuse(packet.ProtocolError, h.Type.String()+" before CONNACK during enhanced authentication (v5 [MQTT-3.1.2-30])")
	}
	var p packet.Auth
	if err := p.Decode(h.Flags, body, c.v); err != nil {
		return c.refuse(packet.CodeOf(err), err.Error())
	}
	switch {
	case p.ReasonCode != packet.ContinueAuthentication:
		return c.refuse(packet.ProtocolError, "AUTH during login must continue authentication (v5 §4.12)")
	case p.Props.AuthMethod != c.enhanced().method:
		return c.refuse(packet.ProtocolError, "AUTH names another authentication method than CONNECT (v5 [MQTT-4.12.0-5])")
	}
	// loginStep may drop the CONNECT once it is done with it.
	connect := c.enhanced().connect
	return c.loginStep(connect, p.Props.AuthData)
}

// reauthenticate handles AUTH from a connected client: the start or the
// continuation of a re-authentication (v5 §4.12.1). An error ends the
// connection with its reason code.
func (c *conn) reauthenticate(p *packet.Auth) error {
	s := c.srv
	run := c.enhanced()
	switch {
	case run == nil:
		// v5 [MQTT-4.12.0-7]
		return &packet.Error{Code: packet.ProtocolError, Reason: "AUTH from a client that did not log in with an authentication method (v5 [MQTT-4.12.0-7])"}
	case p.Props.AuthMethod != run.method:
		// v5 [MQTT-4.12.1-1]
		return &packet.Error{Code: packet.ProtocolError, Reason: "re-authentication must use the method of the login (v5 [MQTT-4.12.1-1])"}
	case p.ReasonCode == packet.ReAuthenticate && run.ex == nil:
		run.client = c.client
		run.ex = s.opts.EnhancedAuth[run.method].Start(&run.client)
	case p.ReasonCode == packet.ContinueAuthentication && run.ex != nil:
	default:
		return &packet.Error{Code: packet.ProtocolError, Reason: "AUTH with reason " + p.ReasonCode.String() + " out of order (v5 §4.12)"}
	}
	reply, done, err := c.step(p.Props.AuthData)
	if err == nil && done && (run.client.Username != c.client.Username || run.client.HasUsername != c.client.HasUsername) {
		err = errors.New("re-authentication proved another identity than the login")
	}
	if err != nil {
		run.ex = nil
		s.stats.authFailures.Add(1)
		s.log.Info("re-authentication failed", "client", c.client.ID, "username", c.client.Username,
			"remote", c.remote(), "err", err)
		code := packet.NotAuthorized
		var rc packet.ReasonCode
		if errors.As(err, &rc) && rc.ValidFor(packet.DISCONNECT) {
			code = rc
		}
		return &packet.Error{Code: code, Reason: "re-authentication failed: " + err.Error()}
	}
	if !done {
		c.sendAuth(packet.ContinueAuthentication, reply)
		return nil
	}
	run.ex = nil
	c.sendAuth(packet.Success, reply)
	return nil
}

// certificateIdentity takes the client's user name from its verified TLS
// certificate when the listener says so, and reports whether it did: such
// a client is authenticated by its certificate. A client without one falls
// back to the user name and password of its CONNECT.
func (c *conn) certificateIdentity() bool {
	mode := c.lst.cfg.Identity
	if mode == NoIdentity {
		return false
	}
	tc, ok := c.nc.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		return false
	}
	name, ok := listener.CommonName(tc.ConnectionState())
	if mode == IdentitySubject {
		name, ok = listener.Subject(tc.ConnectionState())
	}
	if !ok {
		return false
	}
	c.client.Username, c.client.HasUsername = name, true
	return true
}
