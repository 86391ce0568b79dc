package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/xdg-go/stringprep"
)

// SCRAMMechanism names a SCRAM mechanism by its SASL name, which is also
// its MQTT 5 Authentication Method.
type SCRAMMechanism string

// The SCRAM mechanisms Petrel implements.
const (
	SCRAMSHA256 SCRAMMechanism = "SCRAM-SHA-256" // RFC 7677
	SCRAMSHA512 SCRAMMechanism = "SCRAM-SHA-512"
)

var scramMechanisms = []SCRAMMechanism{SCRAMSHA256, SCRAMSHA512}

// hash returns the mechanism's hash function, or nil for a name Petrel
// does not implement.
func (m SCRAMMechanism) hash() func() hash.Hash {
	switch m {
	case SCRAMSHA256:
		return sha256.New
	case SCRAMSHA512:
		return sha512.New
	}
	return nil
}

// fieldPrefix begins the mechanism's field on a password file line.
func (m SCRAMMechanism) fieldPrefix() string { return "$" + strings.ToLower(string(m)) + "$" }

// SCRAMCredentials are what a SCRAM server stores for one user and one
// mechanism (RFC 5802 §3): enough to check a client's proof and prove
// itself in return, but not enough to log in as the user.
type SCRAMCredentials struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(ClientKey)
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// NewSCRAMCredentials derives a user's SCRAM credentials for mechanism m
// from the password, as RFC 5802 §3 does: SaltedPassword is PBKDF2 of the
// password prepared with SASLprep (or of its bytes as they are, when
// SASLprep refuses it) over salt with the given iteration count.
func NewSCRAMCredentials(m SCRAMMechanism, password, salt []byte, iterations int) (SCRAMCredentials, error) {
	h := m.hash()
	if h == nil {
		return SCRAMCredentials{}, fmt.Errorf("unknown SCRAM mechanism %q", m)
	}
	if iterations < 1 || iterations > maxIterations {
		return SCRAMCredentials{}, fmt.Errorf("SCRAM iteration count %d is not from 1 to %d", iterations, maxIterations)
	}
	pw := string(password)
	if prepared, err := stringprep.SASLprep.Prepare(pw); err == nil {
		pw = prepared
	}
	salted, err := pbkdf2.Key(h, pw, salt, iterations, h().Size())
	if err != nil {
		return SCRAMCredentials{}, fmt.Errorf("derive %s keys: %w", m, err)
	}
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	storedKey := h()
	storedKey.Write(clientKey)
	return SCRAMCredentials{
		Salt:       salt,
		Iterations: iterations,
		StoredKey:  storedKey.Sum(nil),
		ServerKey:  hmacSum(h, salted, []byte("Server Key")),
	}, nil
}

func hmacSum(h func() hash.Hash, key, data []byte) []byte {
	m := hmac.New(h, key)
	m.Write(data)
	return m.Sum(nil)
}

// field is the credentials as a password file field for mechanism m.
func (c SCRAMCredentials) field(m SCRAMMechanism) string {
	b := base64.RawStdEncoding
	return m.fieldPrefix() + "i=" + strconv.Itoa(c.Iterations) + "$" + b.EncodeToString(c.Salt) + "$" +
		b.EncodeToString(c.StoredKey) + "$" + b.EncodeToString(c.ServerKey)
}

// parseSCRAMField reads a password file field written by field.
func parseSCRAMField(s string) (SCRAMMechanism, SCRAMCredentials, error) {
	for _, m := range scramMechanisms {
		rest, ok := strings.CutPrefix(s, m.fieldPrefix())
		if !ok {
			continue
		}
		f := strings.Split(rest, "$")
		if len(f) != 4 {
			return "", SCRAMCredentials{}, fmt.Errorf("a %s field has the form %si=ITERATIONS$SALT$STOREDKEY$SERVERKEY", m, m.fieldPrefix())
		}
		var c SCRAMCredentials
		iter, ok := strings.CutPrefix(f[0], "i=")
		n, err := strconv.Atoi(iter)
		if !ok || err != nil || n < 1 || n > maxIterations {
			return "", c, fmt.Errorf("%s field: the iteration count must be i=N with N from 1 to %d", m, maxIterations)
		}
		c.Iterations = n
		size := m.hash()().Size()
		b := base64.RawStdEncoding
		c.Salt, err = b.DecodeString(f[1])
		if err == nil {
			c.StoredKey, err = b.DecodeString(f[2])
		}
		if err == nil {
			c.ServerKey, err = b.DecodeString(f[3])
		}
		if err != nil || len(c.Salt) == 0 || len(c.StoredKey) != size || len(c.ServerKey) != size {
			return "", c, fmt.Errorf("%s field: the salt and the %d-byte keys must be unpadded base64", m, size)
		}
		return m, c, nil
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(s, "$"), "$")
	if !strings.HasPrefix(s, "$") || name == "" {
		return "", SCRAMCredentials{}, errors.New("a field after the password hash must be a $scram-sha-256$ or $scram-sha-512$ field")
	}
	return "", SCRAMCredentials{}, fmt.Errorf("unknown field $%s$ after the password hash: Petrel reads $scram-sha-256$ and $scram-sha-512$", name)
}
