package pebblestore

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// The key layout; doc.go describes it.
const (
	formatKey      = "m/format"
	metaPrefix     = "m/"
	retainedPrefix = "r/"
	sessionPrefix  = "s/"

	recordSuffix  = "rec"
	subPrefix     = "sub/"
	queuedPrefix  = "q/"
	flightPrefix  = "f/"
	inboundPrefix = "in/"
)

// A client id ends with idEnd; a 0x00 inside it is written as idEscaped.
// The encoding keeps the order of ids and makes no id's keys a prefix of
// another's, so one range delete removes exactly one session.
var (
	idEnd     = []byte{0x00, 0x01}
	idEscaped = []byte{0x00, 0xff}
)

func retainedKey(dst []byte, topic string) []byte {
	return append(append(dst, retainedPrefix...), topic...)
}

// sessionKey is the start of every key of client id's session.
func sessionKey(dst []byte, id string) []byte {
	dst = append(dst, sessionPrefix...)
	for i := range len(id) {
		if id[i] == 0 {
			dst = append(dst, idEscaped...)
		} else {
			dst = append(dst, id[i])
		}
	}
	return append(dst, idEnd...)
}

// sessionEnd is the first key after every key of client id's session:
// idEnd's last byte plus one.
func sessionEnd(dst []byte, id string) []byte {
	dst = sessionKey(dst, id)
	dst[len(dst)-1]++
	return dst
}

func recordKey(dst []byte, id string) []byte {
	return append(sessionKey(dst, id), recordSuffix...)
}

func subKey(dst []byte, id, filter string) []byte {
	return append(append(sessionKey(dst, id), subPrefix...), filter...)
}

// seqKey keys a delivery by its Seq, big-endian so that key order is
// Seq order.
func seqKey(dst []byte, id, prefix string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(sessionKey(dst, id), prefix...), seq)
}

func inboundKey(dst []byte, id string, pid uint16) []byte {
	return binary.BigEndian.AppendUint16(append(sessionKey(dst, id), inboundPrefix...), pid)
}

var errBadKey = errors.New("malformed session key")

// parseSessionKey splits a key that starts with sessionPrefix into the
// client id and what follows the id.
func parseSessionKey(key []byte) (id string, rest []byte, err error) {
	b := key[len(sessionPrefix):]
	var out []byte
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 || i+1 == len(b) {
			return "", nil, errBadKey
		}
		out = append(out, b[:i]...)
		switch b[i+1] {
		case idEnd[1]:
			return string(out), b[i+2:], nil
		case idEscaped[1]:
			out = append(out, 0)
			b = b[i+2:]
		default:
			return "", nil, errBadKey
		}
	}
}
