package plugin

import (
	"context"
	"net"

	"github.com/petrelmq/petrel/packet"
)

// Client describes a connecting or connected client.
type Client struct {
	ID          string
	Username    string
	HasUsername bool
	Version     packet.Version
	RemoteAddr  net.Addr
	// Listener names the listener the client came through.
	Listener string
}

// Credentials are what a client presented in CONNECT.
type Credentials struct {
	Password    []byte
	HasPassword bool
}

// Authenticator decides whether a client may connect. It returns nil to
// accept, or an error; a packet.ReasonCode (or an error wrapping one) names
// the CONNACK code, anything else is answered with NotAuthorized.
//
// The broker calls it from the connection's own goroutine, before CONNACK;
// it may block (a remote lookup, say) without delaying other clients.
type Authenticator interface {
	Authenticate(ctx context.Context, c *Client, cred Credentials) error
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, c *Client, cred Credentials) error

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, c *Client, cred Credentials) error {
	return f(ctx, c, cred)
}

// Action is what a client asks to do with a topic.
type Action byte

// The actions an Authorizer rules on.
const (
	Publish   Action = iota + 1 // publish to a topic name (also a will)
	Subscribe                   // subscribe to a topic filter
	Receive                     // receive a message on a topic name
)

// Authorizer decides whether a client may act on a topic. The broker calls
// it on the publish and subscribe paths, from many goroutines at once: it
// must be safe for concurrent use and should not block.
type Authorizer interface {
	Authorize(c *Client, a Action, topic string) bool
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(c *Client, a Action, topic string) bool

// Authorize calls f.
func (f AuthorizerFunc) Authorize(c *Client, a Action, topic string) bool { return f(c, a, topic) }

// EnhancedAuthenticator is one method of MQTT 5 enhanced authentication
// (v5 §4.12), such as SCRAM-SHA-256: a challenge and response carried in
// the Authentication Data of CONNECT, AUTH and CONNACK packets. The broker
// finds it by the Authentication Method the client names, and starts one
// exchange per login and per re-authentication.
type EnhancedAuthenticator interface {
	Start(c *Client) AuthExchange
}

// AuthExchange is one run of an enhanced authentication method. The broker
// calls Step with the Authentication Data of the client's CONNECT, then of
// each AUTH (Continue Authentication) it sends, one call at a time, from the
// connection's own goroutine; Step may block.
//
// Step returns the data to send back. While done is false the broker sends
// it in AUTH with Continue Authentication (0x18) and waits for the client's
// next step; once done is true the client is authenticated and the data
// goes in CONNACK (or, on re-authentication, AUTH with Success). An error
// ends the exchange and refuses the client, as Authenticator's errors do.
//
// A method that proves who the client is sets the Client's Username (and
// HasUsername) to that identity before reporting done; a re-authentication
// must prove the same identity as the login, or the client is disconnected.
type AuthExchange interface {
	Step(ctx context.Context, data []byte) (reply []byte, done bool, err error)
}
