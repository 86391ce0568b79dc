package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"github.com/petrelmq/petrel/packet"
)

// refusal is a client refused with a reason code: errors.As finds the
// code, and the text is the detail without the code's own name.
type refusal struct {
	code packet.ReasonCode
	msg  string
}

func (r *refusal) Error() string { return r.msg }

func (r *refusal) Unwrap() error { return r.code }

// refuse returns an error that refuses the client with code.
func refuse(code packet.ReasonCode, format string, args ...any) error {
	return &refusal{code: code, msg: fmt.Sprintf(format, args...)}
}

// digestKey keys the digests that caches keep in place of passwords.
type digestKey [32]byte

func newDigestKey() digestKey {
	var k digestKey
	rand.Read(k[:])
	return k
}

// digest is what a cache of accepted credentials keeps of a password:
// a keyed SHA-256, so neither the password nor a hash that could be
// looked up in a precomputed table sits in memory.
func (k *digestKey) digest(password []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, k[:])
	m.Write(password)
	var d [sha256.Size]byte
	m.Sum(d[:0])
	return d
}
