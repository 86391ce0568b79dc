// Package session holds one client's MQTT session state, without I/O:
// its subscriptions, the outbound queue shared by online and offline
// clients, packet identifier allocation, the outbound in-flight window
// (QoS 1 and 2 messages sent and not yet acknowledged, and the QoS 2
// handshake state of each) and the inbound QoS 2 packet identifiers that
// await PUBREL.
//
// A State is a plain value that one goroutine changes at a time: the broker
// holds a lock around it. Because nothing here blocks or touches a socket,
// the protocol rules it carries (which packet id comes next, what to resend
// on resume, what an overflow drops) are tested as a state machine.
//
// session imports packet and the standard library only; it must not import
// the broker, a store, or anything that does I/O.
package session
