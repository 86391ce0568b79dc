package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// SCRAMCredentialSource gives the stored SCRAM credentials of a user. It
// is called from many connections at once and must be safe for that.
type SCRAMCredentialSource interface {
	// SCRAMCredentials returns the user's credentials for mechanism m, or
	// false when it has none.
	SCRAMCredentials(m SCRAMMechanism, username string) (SCRAMCredentials, bool)
}

// SCRAM is the server side of a SCRAM mechanism (RFC 5802, RFC 7677) as an
// MQTT 5 enhanced authentication method. The client sends
// client-first-message as the Authentication Data of CONNECT; the server
// answers server-first-message in AUTH (Continue Authentication); the
// client sends client-final-message in AUTH; the server checks the proof
// and sends server-final-message, with its own signature, in CONNACK. The
// client is then known by the user name it proved.
//
// Channel binding is not offered (there is no -PLUS mechanism), so the
// client's GS2 flag must be 'n' or 'y', and an authorization identity
// other than the user itself is refused. A replayed client-final-message
// cannot succeed: each exchange draws a new server nonce, and the combined
// nonce a client-final-message carries must be the one of its own
// exchange. An unknown user is answered with a made-up salt, as if it
// existed, and refused with the same error as a wrong password.
type SCRAM struct {
	mech SCRAMMechanism
	hash func() hash.Hash
	src  SCRAMCredentialSource
	key  digestKey // derives the made-up salts of unknown users
}

// NewSCRAM returns mechanism m, checking proofs against the credentials
// src has; a *PasswordFile is such a source.
func NewSCRAM(m SCRAMMechanism, src SCRAMCredentialSource) (*SCRAM, error) {
	h := m.hash()
	if h == nil {
		return nil, fmt.Errorf("unknown SCRAM mechanism %q: Petrel implements %s and %s", m, SCRAMSHA256, SCRAMSHA512)
	}
	if src == nil {
		return nil, fmt.Errorf("%s needs a credential source", m)
	}
	return &SCRAM{mech: m, hash: h, src: src, key: newDigestKey()}, nil
}

// Method is the Authentication Method a client names to use s.
func (s *SCRAM) Method() string { return string(s.mech) }

// Start begins an exchange for client c.
func (s *SCRAM) Start(c *plugin.Client) plugin.AuthExchange {
	return &scramExchange{s: s, client: c}
}

// scramExchange is one SCRAM conversation.
type scramExchange struct {
	s      *SCRAM
	client *plugin.Client
	step   int // 0 before client-first, 1 before client-final, 2 over

	gs2Header       string // as the client sent it, with its trailing comma
	clientFirstBare string
	serverFirst     string
	nonce           string // the client's nonce followed by ours
	username        string
	cred            SCRAMCredentials
	known           bool
}

// Step takes client-first-message, then client-final-message.
func (e *scramExchange) Step(_ context.Context, data []byte) ([]byte, bool, error) {
	step := e.step
	e.step = 2 // any error ends the exchange; success sets the next step
	switch step {
	case 0:
		reply, err := e.clientFirst(string(data))
		if err != nil {
			return nil, false, err
		}
		e.step = 1
		return []byte(reply), false, nil
	case 1:
		reply, err := e.clientFinal(string(data))
		if err != nil {
			return nil, false, err
		}
		return []byte(reply), true, nil
	}
	return nil, false, refuse(packet.NotAuthorized, "%s: the exchange is already over", e.s.mech)
}

func (e *scramExchange) malformed(format string, args ...any) error {
	return refuse(packet.NotAuthorized, "%s: malformed %s", e.s.mech, fmt.Sprintf(format, args...))
}

func (e *scramExchange) clientFirst(msg string) (string, error) {
	if msg == "" {
		return "", refuse(packet.NotAuthorized, "%s: CONNECT carries no client-first-message in its Authentication Data", e.s.mech)
	}
	flag, rest, ok := strings.Cut(msg, ",")
	switch {
	case !ok:
		return "", e.malformed("client-first-message: no GS2 header")
	case strings.HasPrefix(flag, "p="):
		return "", refuse(packet.NotAuthorized, "%s: channel binding (%s) is not supported: ask for no channel binding", e.s.mech, flag)
	case flag != "n" && flag != "y":
		return "", e.malformed("client-first-message: GS2 channel binding flag %q", flag)
	}
	authzid, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return "", e.malformed("client-first-message: no authorization identity field")
	}
	e.gs2Header = msg[:len(msg)-len(bare)]
	e.clientFirstBare = bare
	attrs := strings.Split(bare, ",")
	if strings.HasPrefix(attrs[0], "m=") {
		return "", refuse(packet.NotAuthorized, "%s: mandatory extension %q is not supported", e.s.mech, attrs[0])
	}
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return "", e.malformed("client-first-message: want n=user,r=nonce")
	}
	user, err := decodeSASLName(attrs[0][2:])
	if err != nil || user == "" {
		return "", e.malformed("client-first-message: user name")
	}
	if authzid != "" {
		z, err := decodeSASLName(strings.TrimPrefix(authzid, "a="))
		if err != nil || !strings.HasPrefix(authzid, "a=") {
			return "", e.malformed("client-first-message: authorization identity")
		}
		if z != user {
			return "", refuse(packet.NotAuthorized, "%s: user %q may not act as %q", e.s.mech, user, z)
		}
	}
	cnonce := attrs[1][2:]
	if !validNonce(cnonce) {
		return "", e.malformed("client-first-message: nonce")
	}
	e.username = user
	e.cred, e.known = e.s.src.SCRAMCredentials(e.s.mech, user)
	if !e.known {
		fake := e.s.key.digest([]byte(string(e.s.mech) + "\x00" + user))
		e.cred = SCRAMCredentials{Salt: fake[:16], Iterations: scramIterations}
	}
	snonce := make([]byte, 24)
	rand.Read(snonce)
	e.nonce = cnonce + base64.RawStdEncoding.EncodeToString(snonce)
	e.serverFirst = "r=" + e.nonce + ",s=" + base64.StdEncoding.EncodeToString(e.cred.Salt) + ",i=" + strconv.Itoa(e.cred.Iterations)
	return e.serverFirst, nil
}

func (e *scramExchange) clientFinal(msg string) (string, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return "", e.malformed("client-final-message: no proof")
	}
	withoutProof := msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+len(",p="):])
	if err != nil {
		return "", e.malformed("client-final-message: proof")
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return "", e.malformed("client-final-message: want c=binding,r=nonce,...,p=proof")
	}
	cb, err := base64.StdEncoding.DecodeString(attrs[0][2:])
	if err != nil || string(cb) != e.gs2Header {
		return "", refuse(packet.NotAuthorized, "%s: the channel binding does not repeat the GS2 header of client-first-message", e.s.mech)
	}
	if subtle.ConstantTimeCompare([]byte(attrs[1][2:]), []byte(e.nonce)) != 1 {
		return "", refuse(packet.NotAuthorized, "%s: client-final-message carries another exchange's nonce (replayed or forged)", e.s.mech)
	}
	authMessage := []byte(e.clientFirstBare + "," + e.serverFirst + "," + withoutProof)
	wrong := refuse(packet.BadUserNameOrPassword, "%s: unknown user %q or wrong password", e.s.mech, e.username)
	if !e.known || len(proof) != len(e.cred.StoredKey) {
		return "", wrong
	}
	clientKey := hmacSum(e.s.hash, e.cred.StoredKey, authMessage)
	subtle.XORBytes(clientKey, clientKey, proof)
	storedKey := e.s.hash()
	storedKey.Write(clientKey)
	if !hmac.Equal(storedKey.Sum(nil), e.cred.StoredKey) {
		return "", wrong
	}
	e.client.Username, e.client.HasUsername = e.username, true
	return "v=" + base64.StdEncoding.EncodeToString(hmacSum(e.s.hash, e.cred.ServerKey, authMessage)), nil
}

// decodeSASLName undoes RFC 5802's escaping of ',' and '=' in names.
func decodeSASLName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", errors.New("bad escape in name")
		}
		i += 2
	}
	return b.String(), nil
}

// validNonce says whether s is RFC 5802's printable: ASCII from '!' to
// '~' but ','.
func validNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}
