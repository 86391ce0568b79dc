// Package packettest reads the byte-level packet fixtures kept in
// packet/testdata/fixtures, so the codec's tests and the broker's tests
// replay one shared set of packets.
//
// A fixture is a text file of hex bytes. A '#' starts a comment that runs to
// the end of the line; comments explain each field. The directory gives the
// protocol version: v31, v311 or v5. Fixtures under invalid/ are packets a
// receiver must refuse; each carries two header comments:
//
//	# want: 0x81
//	# rule: v5 [MQTT-3.3.1-4]
//
// naming the reason code the decoder returns and the normative statement,
// with its version, that the packet breaks.
//
// packettest imports only the standard library and packet.
package packettest
