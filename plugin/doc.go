// Package plugin declares the extension points an embedder of Petrel
// implements: who may connect (Authenticator) and what a client may do
// (Authorizer). Each is a one-method interface with a function adapter, as
// net/http's Handler and HandlerFunc; optional capabilities will be further
// one-method interfaces found by type assertion.
//
// plugin imports packet and the standard library only, so an embedder can
// implement it without pulling in the broker.
package plugin
