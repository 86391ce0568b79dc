// Package interop tests the broker against MQTT clients that other people
// wrote: paho.golang (with autopaho), paho.mqtt.golang, Mosquitto's
// command-line clients, Python's paho-mqtt and MQTT.js. The tests talk to a
// broker started in-process by brokertest, over real sockets, and check what
// a user of each client sees: payloads, QoS, the retained flag, wills, and
// autopaho's reconnect into a persistent session. paho.golang also runs over
// TLS, MQTT.js over WebSocket and secure WebSocket, and headless Chromium
// loads a page (browser/index.html) that uses MQTT.js as a web application
// would.
//
// The external clients come from Debian and npm; .ci/install-interop
// installs them. A test whose client is missing skips with a message that
// starts "INTEROP SKIPPED", or fails when PETREL_REQUIRE_INTEROP=1, as in
// CI, so a machine without the clients cannot pass for one that ran them.
//
// The package holds tests only; nothing imports it.
package interop
