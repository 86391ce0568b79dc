// Package packet is Petrel's codec for MQTT 3.1 (protocol name "MQIsdp",
// level 3), 3.1.1 (level 4) and 5.0 (level 5).
//
// It owns the wire form of every control packet (one Go type per packet
// kind), MQTT 5 properties with their wire types and the packets that may
// carry them, reason codes as error values that carry their byte, and the
// validation the specifications demand of a packet's form. Each validation
// failure is an *Error whose Code is the reason code the receiver must answer
// with (MalformedPacket, ProtocolError, PacketTooLarge, TopicNameInvalid, ...),
// so errors.Is(err, packet.MalformedPacket) works and the broker never has to
// guess a code.
//
// Rules that need session state (topic alias ranges, receive maximum, packet
// ids in use, which packet may come first) belong to the broker, not here.
//
// # Memory
//
// Decoding never copies: strings and byte slices of a decoded packet alias
// the bytes it was decoded from, so decoding a PUBLISH into a reused value
// makes no allocation. A decoded packet is therefore valid only while those
// bytes are unchanged; a Reader reuses its buffer on the next call. Keep a
// packet beyond that with Clone (or (*Publish).Clone on the hot path).
// Encoding appends to a caller's buffer and allocates only when it grows.
//
// Reading from a stream checks the maximum packet size before it allocates,
// and grows its buffer only as bytes actually arrive, so a peer that
// announces a huge packet and sends little costs little.
//
// # Imports
//
// packet imports the standard library only: it is the leaf every other
// Petrel package builds on.
package packet
