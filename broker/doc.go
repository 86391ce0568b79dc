// Package broker is Petrel's embeddable MQTT server: Server, Options,
// Serve and Shutdown; the connection lifecycle, CONNECT and session
// takeover, delivery, retained messages, wills and the $SYS publisher.
//
// # Concurrency
//
// A plain TCP connection is read by a callback of the listener's Poller
// when data arrives; others (TLS, WebSocket) by a goroutine of their own.
// Publishing runs on the publisher's reader: it matches the topic in the
// subscription tree (which never waits for SUBSCRIBE, see internal/topic),
// then hands each delivery to the subscriber's session under that session's
// lock only, so no global lock sits on the publish path.
//
// Output is coalesced per connection: packets are encoded into one buffer,
// and everything that accumulated goes out in one system call. A Poller
// callback writes, after each read's packets, the bare connections those
// packets gave output to, its own last, as far as their sockets take it
// at once; otherwise, and for the rest, a short-lived goroutine writes.
// An idle connection has no writer goroutine. A session moves messages
// from its bounded queue into that buffer only while the in-flight window
// and the buffer's high-water mark allow, so a slow subscriber's messages
// wait in its own queue, under its overflow policy, and never block
// publishers or other subscribers. Every drop is counted.
//
// Lock order: Server.sessionsMu, then clientSession.mu, then conn.omu.
//
// # Operating
//
// Stats is the one snapshot of the counters that $SYS, the admin API and
// the metrics read. What changes with every message is counted per
// connection, by its reader and under its output lock, which already
// serialise those paths, so counting is a plain load and store; Stats sums
// the connections, and a closing connection adds its counts to the
// server's. Latencies go to histograms sharded by connection. Operators'
// methods (Clients, Sessions, Subscriptions, Retained, Kick, DeleteSession,
// Publish, DeleteRetained, SetLimits, SetTrace, Ready, Drain) take the
// same locks as clients' packets, one at a time, and walk connections and
// sessions without holding the server's locks across a walk.
//
// # Imports
//
// broker imports packet, plugin and Petrel's internal engine packages. It
// never imports a store adapter, an authenticator implementation, the
// cluster fabric or Prometheus: those implement interfaces declared here or
// in plugin, and cmd wires them in.
package broker
