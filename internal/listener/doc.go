// Package listener holds what sits between a listening socket and the
// broker's connection handling: the Poller, which lets many idle TCP
// connections wait on one goroutine with no read buffer, and the
// listeners that prepare a connection before the broker reads MQTT from
// it.
//
// # Composing listeners
//
// The caller opens the socket and wraps it:
//
//	l, _ := net.Listen("tcp", addr)
//	l = listener.Wrap(l, listener.Config{ProxyProtocol: true, TLS: t})
//	l = listener.WebSocket(l, listener.WebSocketConfig{})  // for ws or wss
//
// Wrap reads the PROXY protocol header first (a load balancer sends it
// before anything of the client's) and then runs the TLS handshake, each
// connection on a goroutine of its own under one time limit, so Accept
// returns only connections ready for MQTT, or for the HTTP upgrade that
// WebSocket serves. TLS connections and secure WebSocket ones have a
// ConnectionState method; CommonName and Subject turn the verified client
// certificate it reports into a user name, as Mosquitto's
// use_identity_as_username and use_subject_as_username do.
//
// # Bounding the handshakes
//
// A connection that never completes its handshakes must not hold anything
// for long: Wrap's HandshakeTimeout bounds the PROXY header and the TLS
// handshake together, and WebSocketConfig.HandshakeTimeout bounds the
// upgrade request. The broker's own connect timeout starts once Accept
// returns, for the CONNECT packet.
//
// # Certificates
//
// TLS loads the certificate, key, CAs and CRLs from files and loads them
// again on Reload, which the binary calls on SIGHUP: new handshakes use
// the new files while established connections carry on; files that fail
// to load leave the old ones in use.
//
// # Imports
//
// listener knows MQTT only by its WebSocket subprotocol name and imports
// no other package of Petrel's; outside the standard library it uses
// golang.org/x/sys for epoll and github.com/coder/websocket.
package listener
