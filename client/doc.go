// Package client is a small MQTT client for 3.1, 3.1.1 and 5.0, built on
// Petrel's codec. It serves petrel pub and petrel sub, the benchmark and
// tests, and stands on its own as a Go client: Dial connects, Publish
// returns once the QoS handshake is complete, Subscribe returns the
// SUBACK's codes, incoming messages reach a handler or a channel, and
// AutoReconnect redials with backoff and resumes the session.
//
// # Connections
//
// Each connection has one reader goroutine. Writes are coalesced: a
// goroutine that sends a packet writes everything queued at that moment,
// and one that finds a write in progress leaves its packet to it, so under
// load many packets share one system call and when idle a packet goes out
// at once. One more goroutine per Client delivers incoming messages in
// order, so a handler that publishes does not stall the reader.
//
// # Delivery guarantees
//
// An incoming QoS 1 or 2 message is acknowledged after the handler returns
// (or the message was received from the channel), so a crash in between
// leaves the server to send it again. QoS 2 is delivered exactly once per
// session: packet identifiers are remembered from PUBLISH until PUBREL.
//
// With AutoReconnect, a lost connection does not fail Publish,
// Subscribe or Unsubscribe calls in progress: on reconnection the
// unacknowledged PUBLISH packets are sent again with DUP set and in their
// original order, and PUBREL for those the server has already received,
// v5 [MQTT-4.4.0-1], v3.1.1 [MQTT-4.4.0-1].
//
// # Imports
//
// client imports packet and the standard library only, never the broker:
// it must be usable against any MQTT server.
package client
