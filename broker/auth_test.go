package broker_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// reverseMethod is a two-step challenge: the client names itself in its
// first data, the server answers with a challenge, and the client must send
// the challenge reversed. The server's final data is "welcome <name>".
type reverseMethod struct{}

func (reverseMethod) Start(c *plugin.Client) plugin.AuthExchange { return &reverseRun{c: c} }

type reverseRun struct {
	c    *plugin.Client
	name string
	step int
}

const challenge = "abc123"

func (r *reverseRun) Step(_ context.Context, data []byte) ([]byte, bool, error) {
	r.step++
	switch r.step {
	case 1:
		r.name = string(data)
		return []byte(challenge), false, nil
	case 2:
		want := []byte(challenge)
		slices.Reverse(want)
		if !bytes.Equal(data, want) {
			return nil, false, packet.NotAuthorized
		}
		r.c.Username, r.c.HasUsername = r.name, true
		return []byte("welcome " + r.name), true, nil
	}
	return nil, false, errors.New("too many steps")
}

func reverseLogin(id, name string) *packet.Connect {
	p := v5(id)
	p.Props.AuthMethod, p.Props.AuthData = "REVERSE", []byte(name)
	return p
}

func authPacket(code packet.ReasonCode, data string) *packet.Auth {
	a := &packet.Auth{ReasonCode: code}
	a.Props.AuthMethod, a.Props.AuthData = "REVERSE", []byte(data)
	return a
}

func startEnhanced(t *testing.T, authz plugin.Authorizer) *brokertest.Broker {
	return brokertest.StartListener(t, broker.Options{
		EnhancedAuth:     map[string]plugin.EnhancedAuthenticator{"REVERSE": reverseMethod{}},
		Authorizer:       authz,
		AuthFailureDelay: -1,
	}, broker.Listener{Name: "enhanced"})
}

// loginReverse runs the whole exchange and returns the client and CONNACK.
func loginReverse(t *testing.T, addr, id, name string) (*client, *packet.Connack) {
	t.Helper()
	c := dial(t, addr, packet.V5)
	c.send(reverseLogin(id, name))
	a := expect[*packet.Auth](c)
	// v5 [MQTT-4.12.0-5]: every AUTH carries the method of CONNECT.
	if a.ReasonCode != packet.ContinueAuthentication || a.Props.AuthMethod != "REVERSE" || string(a.Props.AuthData) != challenge {
		t.Fatalf("got AUTH %s %q %q, want continue authentication with the challenge", a.ReasonCode, a.Props.AuthMethod, a.Props.AuthData)
	}
	c.send(authPacket(packet.ContinueAuthentication, "321cba"))
	return c, expect[*packet.Connack](c)
}

func TestEnhancedAuthentication(t *testing.T) {
	t.Parallel()
	// The proven identity is what the Authorizer sees.
	b := startEnhanced(t, plugin.AuthorizerFunc(func(c *plugin.Client, _ plugin.Action, topic string) bool {
		return topic == "home/"+c.Username
	}))
	c, ack := loginReverse(t, b.Addr, "rev", "alice")
	if ack.ReasonCode != packet.Success || ack.Props.AuthMethod != "REVERSE" || string(ack.Props.AuthData) != "welcome alice" {
		t.Fatalf("CONNACK %s %q %q, want success with the method and final data", ack.ReasonCode, ack.Props.AuthMethod, ack.Props.AuthData)
	}
	sa := c.subscribe(1, packet.Subscription{Filter: "home/alice"}, packet.Subscription{Filter: "home/bob"})
	if want := []packet.ReasonCode{packet.GrantedQoS0, packet.NotAuthorized}; !equalCodes(sa.ReasonCodes, want) {
		t.Fatalf("SUBACK %v, want %v", sa.ReasonCodes, want)
	}

	t.Run("wrong answer", func(t *testing.T) {
		c := dial(t, b.Addr, packet.V5)
		c.send(reverseLogin("rev-bad", "eve"))
		expect[*packet.Auth](c)
		c.send(authPacket(packet.ContinueAuthentication, "abc123"))
		if ack := expect[*packet.Connack](c); ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("CONNACK %s, want not authorized", ack.ReasonCode)
		}
		c.expectClosed()
	})
	t.Run("unknown method", func(t *testing.T) {
		p := v5("rev-unknown")
		p.Props.AuthMethod = "KERBEROS"
		refusedWith(t, b.Addr, p, packet.BadAuthenticationMethod)
	})
	t.Run("publish before CONNACK", func(t *testing.T) {
		// v5 [MQTT-3.1.2-30]: only AUTH or DISCONNECT until CONNACK.
		c := dial(t, b.Addr, packet.V5)
		c.send(reverseLogin("rev-eager", "eve"))
		expect[*packet.Auth](c)
		c.send(&packet.Publish{Topic: "home/eve", Payload: []byte("early")})
		if ack := expect[*packet.Connack](c); ack.ReasonCode != packet.ProtocolError {
			t.Fatalf("CONNACK %s, want protocol error", ack.ReasonCode)
		}
	})
	t.Run("another method in AUTH", func(t *testing.T) {
		c := dial(t, b.Addr, packet.V5)
		c.send(reverseLogin("rev-switch", "eve"))
		expect[*packet.Auth](c)
		a := authPacket(packet.ContinueAuthentication, "321cba")
		a.Props.AuthMethod = "OTHER"
		c.send(a)
		if ack := expect[*packet.Connack](c); ack.ReasonCode != packet.ProtocolError {
			t.Fatalf("CONNACK %s, want protocol error", ack.ReasonCode)
		}
	})
}

func TestReauthentication(t *testing.T) {
	t.Parallel()
	b := startEnhanced(t, nil)
	c, _ := loginReverse(t, b.Addr, "re", "alice")

	// v5 §4.12.1: the client starts with Re-authenticate, the server
	// ends with Success.
	c.send(authPacket(packet.ReAuthenticate, "alice"))
	if a := expect[*packet.Auth](c); a.ReasonCode != packet.ContinueAuthentication {
		t.Fatalf("AUTH %s, want continue authentication", a.ReasonCode)
	}
	c.send(authPacket(packet.ContinueAuthentication, "321cba"))
	if a := expect[*packet.Auth](c); a.ReasonCode != packet.Success || string(a.Props.AuthData) != "welcome alice" {
		t.Fatalf("AUTH %s %q, want success", a.ReasonCode, a.Props.AuthData)
	}
	// The connection carries on.
	c.subscribe(1, packet.Subscription{Filter: "still/here"})

	t.Run("another identity", func(t *testing.T) {
		c, _ := loginReverse(t, b.Addr, "re-switch", "alice")
		c.send(authPacket(packet.ReAuthenticate, "bob"))
		expect[*packet.Auth](c)
		c.send(authPacket(packet.ContinueAuthentication, "321cba"))
		if d := c.expectClosed(); d == nil || d.ReasonCode != packet.NotAuthorized {
			t.Fatalf("got %+v, want DISCONNECT not authorized", d)
		}
	})
	t.Run("failed", func(t *testing.T) {
		c, _ := loginReverse(t, b.Addr, "re-fail", "alice")
		c.send(authPacket(packet.ReAuthenticate, "alice"))
		expect[*packet.Auth](c)
		c.send(authPacket(packet.ContinueAuthentication, "wrong"))
		if d := c.expectClosed(); d == nil || d.ReasonCode != packet.NotAuthorized {
			t.Fatalf("got %+v, want DISCONNECT not authorized", d)
		}
	})
	t.Run("other method", func(t *testing.T) {
		// v5 [MQTT-4.12.1-1]
		c, _ := loginReverse(t, b.Addr, "re-other", "alice")
		a := authPacket(packet.ReAuthenticate, "alice")
		a.Props.AuthMethod = "OTHER"
		c.send(a)
		if d := c.expectClosed(); d == nil || d.ReasonCode != packet.ProtocolError {
			t.Fatalf("got %+v, want DISCONNECT protocol error", d)
		}
	})
	t.Run("without a method at login", func(t *testing.T) {
		// v5 [MQTT-4.12.0-7]
		b := brokertest.Start(t, broker.Options{})
		c, _ := connect(t, b.Addr, v5("plain"))
		c.send(authPacket(packet.ReAuthenticate, ""))
		if d := c.expectClosed(); d == nil || d.ReasonCode != packet.ProtocolError {
			t.Fatalf("got %+v, want DISCONNECT protocol error", d)
		}
	})
}
