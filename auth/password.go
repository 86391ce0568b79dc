package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// The argon2id parameters PasswordLine writes: OWASP's recommended
// minimum (19 MiB, 2 passes, 1 lane). A broker verifies logins in bursts
// after a restart, so memory per verification matters more here than for
// a web login; the parameters travel in each hash, so a file written with
// stronger ones still verifies.
const (
	argon2Memory  = 19 * 1024 // KiB
	argon2Time    = 2
	argon2Threads = 1
	argon2SaltLen = 16
	argon2KeyLen  = 32
)

// Bounds on the parameters read from a file, so a corrupt or hostile line
// cannot make one verification take the machine's memory or an hour.
const (
	maxArgon2Memory = 4 << 20 // KiB: 4 GiB
	maxArgon2Time   = 1 << 10
	maxIterations   = 10_000_000
)

// passwordHash is one password hash from the file.
type passwordHash interface {
	// verify says whether password is the one hashed, in time that does
	// not depend on how much of it is right.
	verify(password []byte) bool
	// decoy is a hash of the same kind and cost that no password
	// matches, verified in place of an unknown user's so that the time a
	// refusal takes does not reveal whether the user exists.
	decoy() passwordHash
}

// argon2idHash is the PHC string $argon2id$v=19$m=M,t=T,p=P$salt$key with
// unpadded standard base64, as the reference implementation writes it.
type argon2idHash struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func (h *argon2idHash) verify(password []byte) bool {
	got := argon2.IDKey(password, h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

func (h *argon2idHash) decoy() passwordHash {
	d := *h
	d.key = make([]byte, len(h.key))
	return &d
}

func (h *argon2idHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.memory, h.time, h.threads,
		base64.RawStdEncoding.EncodeToString(h.salt), base64.RawStdEncoding.EncodeToString(h.key))
}

// mosquittoPBKDF2Hash is Mosquitto 2's $7$iterations$salt$key: PBKDF2 with
// HMAC-SHA512 over the raw salt, padded standard base64.
type mosquittoPBKDF2Hash struct {
	iterations int
	salt, key  []byte
}

func (h *mosquittoPBKDF2Hash) verify(password []byte) bool {
	got, err := pbkdf2.Key(sha512.New, string(password), h.salt, h.iterations, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(got, h.key) == 1
}

func (h *mosquittoPBKDF2Hash) decoy() passwordHash {
	d := *h
	d.key = make([]byte, len(h.key))
	return &d
}

// mosquittoSHA512Hash is Mosquitto 1.x's $6$salt$key: one SHA-512 of the
// password followed by the raw salt. It is read so that old files keep
// working; it is fast to attack, so re-hash such users with petrel passwd.
type mosquittoSHA512Hash struct {
	salt, key []byte
}

func (h *mosquittoSHA512Hash) verify(password []byte) bool {
	s := sha512.New()
	s.Write(password)
	s.Write(h.salt)
	return subtle.ConstantTimeCompare(s.Sum(nil), h.key) == 1
}

func (h *mosquittoSHA512Hash) decoy() passwordHash {
	return &mosquittoSHA512Hash{salt: h.salt, key: make([]byte, len(h.key))}
}

// defaultDecoy stands in for unknown users when the file has no hash to
// imitate.
var defaultDecoy passwordHash = &argon2idHash{memory: argon2Memory, time: argon2Time, threads: argon2Threads,
	salt: make([]byte, argon2SaltLen), key: make([]byte, argon2KeyLen)}

// parsePasswordHash reads the hash field of a password file line.
func parsePasswordHash(s string) (passwordHash, error) {
	rest, ok := strings.CutPrefix(s, "$")
	if !ok {
		return nil, errors.New("the password hash does not begin with $: write it with petrel passwd or mosquitto_passwd")
	}
	scheme, rest, _ := strings.Cut(rest, "$")
	switch scheme {
	case "argon2id":
		return parseArgon2id(rest)
	case "7":
		f := strings.Split(rest, "$")
		if len(f) != 3 {
			return nil, errors.New("a $7$ hash has the form $7$iterations$salt$hash")
		}
		iter, err := strconv.Atoi(f[0])
		if err != nil || iter < 1 || iter > maxIterations {
			return nil, fmt.Errorf("$7$ hash: iterations must be a number from 1 to %d", maxIterations)
		}
		salt, key, err := decodeSaltKey(base64.StdEncoding, f[1], f[2])
		if err != nil {
			return nil, fmt.Errorf("$7$ hash: %w", err)
		}
		return &mosquittoPBKDF2Hash{iterations: iter, salt: salt, key: key}, nil
	case "6":
		f := strings.Split(rest, "$")
		if len(f) != 2 {
			return nil, errors.New("a $6$ hash has the form $6$salt$hash")
		}
		salt, key, err := decodeSaltKey(base64.StdEncoding, f[0], f[1])
		if err != nil {
			return nil, fmt.Errorf("$6$ hash: %w", err)
		}
		if len(key) != sha512.Size {
			return nil, fmt.Errorf("$6$ hash: the hash is %d bytes, want %d", len(key), sha512.Size)
		}
		return &mosquittoSHA512Hash{salt: salt, key: key}, nil
	}
	return nil, fmt.Errorf("unknown password hash scheme $%s$: Petrel reads $argon2id$, and Mosquitto's $7$ and $6$", scheme)
}

func parseArgon2id(rest string) (passwordHash, error) {
	f := strings.Split(rest, "$")
	if len(f) != 4 {
		return nil, errors.New("an argon2id hash has the form $argon2id$v=19$m=M,t=T,p=P$salt$hash")
	}
	if f[0] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("argon2id hash: version %q, want v=%d", f[0], argon2.Version)
	}
	var m, t, p uint32
	_, err := fmt.Sscanf(f[1], "m=%d,t=%d,p=%d", &m, &t, &p)
	if err != nil || f[1] != fmt.Sprintf("m=%d,t=%d,p=%d", m, t, p) ||
		m < 8*p || m > maxArgon2Memory || t < 1 || t > maxArgon2Time || p < 1 || p > 255 {
		return nil, fmt.Errorf("argon2id hash: parameters %q are not m=KiB,t=passes,p=lanes within m<=%d, t<=%d, p<=255", f[1], maxArgon2Memory, maxArgon2Time)
	}
	salt, key, err := decodeSaltKey(base64.RawStdEncoding, f[2], f[3])
	if err != nil {
		return nil, fmt.Errorf("argon2id hash: %w", err)
	}
	return &argon2idHash{memory: m, time: t, threads: uint8(p), salt: salt, key: key}, nil
}

func decodeSaltKey(enc *base64.Encoding, salt, key string) ([]byte, []byte, error) {
	s, err := enc.DecodeString(salt)
	if err != nil || len(s) == 0 {
		return nil, nil, errors.New("the salt is not base64")
	}
	k, err := enc.DecodeString(key)
	if err != nil || len(k) < 16 {
		return nil, nil, errors.New("the hash is not base64 of at least 16 bytes")
	}
	return s, k, nil
}

// checkUsername says why name cannot be a user of the password file.
func checkUsername(name string) error {
	switch {
	case name == "":
		return errors.New("the user name is empty")
	case len(name) > 65535:
		return errors.New("the user name is longer than MQTT's 65535 bytes")
	case !utf8.ValidString(name):
		return errors.New("the user name is not UTF-8")
	case strings.ContainsRune(name, ':'):
		return errors.New("the user name contains ':', which separates the fields of the password file")
	case strings.HasPrefix(name, "#"):
		return errors.New("the user name begins with '#', which marks a comment in the password file")
	case strings.ContainsFunc(name, unicode.IsControl):
		return errors.New("the user name contains a control character")
	}
	return nil
}

// scramIterations is the PBKDF2 iteration count PasswordLine uses for the
// SCRAM keys: RFC 7677's minimum, which clients such as xdg-go/scram
// insist on. A client repeats it at every login, so more would slow small
// devices for little gain while the file itself stays private.
const scramIterations = 4096

// PasswordLine returns the password file line for username and password,
// without a line break: the user name, the argon2id hash of the password,
// then the user's keys for each SCRAM mechanism, separated by colons:
//
//	alice:$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH:$scram-sha-256$i=4096$SALT$STOREDKEY$SERVERKEY:$scram-sha-512$i=4096$SALT$STOREDKEY$SERVERKEY
//
// Salts, hashes and keys are unpadded standard base64, as in PHC strings.
// The SCRAM fields are what RFC 5802 has a server store: the salt, the
// iteration count, StoredKey and ServerKey. They derive from the password
// prepared with SASLprep as SCRAM clients prepare it, or from its bytes as
// they are when SASLprep refuses it (PostgreSQL does the same). A line may
// also carry Mosquitto's $7$ or $6$ hash in place of the argon2id one, with
// or without SCRAM fields, so a file written by mosquitto_passwd is a valid
// password file. Lines that are empty or begin with '#' are ignored.
func PasswordLine(username string, password []byte) (string, error) {
	if err := checkUsername(username); err != nil {
		return "", err
	}
	if len(password) == 0 {
		return "", errors.New("the password is empty")
	}
	h := &argon2idHash{memory: argon2Memory, time: argon2Time, threads: argon2Threads, salt: make([]byte, argon2SaltLen)}
	rand.Read(h.salt)
	h.key = argon2.IDKey(password, h.salt, h.time, h.memory, h.threads, argon2KeyLen)
	line := username + ":" + h.String()
	for _, m := range scramMechanisms {
		salt := make([]byte, 16)
		rand.Read(salt)
		cred, err := NewSCRAMCredentials(m, password, salt, scramIterations)
		if err != nil {
			return "", err
		}
		line += ":" + cred.field(m)
	}
	return line, nil
}
