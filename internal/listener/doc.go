// Package listener holds what sits between a listening socket and the
// broker's connection handling. Today that is the Poller: readiness
// notification for many connections from one goroutine, so an idle
// connection costs no goroutine and no read buffer.
//
// listener imports the standard library and golang.org/x/sys only; it
// knows nothing of MQTT.
package listener
