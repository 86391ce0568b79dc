package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/petrelmq/petrel/plugin"
)

// signer is a key pair the test signs tokens with and the file the broker
// would read its public key from.
type signer struct {
	method  jwt.SigningMethod
	private crypto.Signer
	pemFile string
}

func newSigner(t *testing.T, method jwt.SigningMethod, private crypto.Signer, pemType string) signer {
	t.Helper()
	var der []byte
	var err error
	switch pemType {
	case "PUBLIC KEY":
		der, err = x509.MarshalPKIXPublicKey(private.Public())
	case "RSA PUBLIC KEY":
		der = x509.MarshalPKCS1PublicKey(private.Public().(*rsa.PublicKey))
	case "CERTIFICATE":
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "issuer"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, private.Public(), private)
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return signer{method: method, private: private, pemFile: path}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// valid is the claims of a token alice may use now.
func valid() jwt.MapClaims {
	return jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
}

func newJWT(t *testing.T, cfg JWTConfig) *JWT {
	t.Helper()
	j, err := NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestJWTPublicKeys(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []signer{
		newSigner(t, jwt.SigningMethodRS256, rsaKey, "PUBLIC KEY"),
		newSigner(t, jwt.SigningMethodPS384, rsaKey, "RSA PUBLIC KEY"),
		newSigner(t, jwt.SigningMethodES384, ecKey, "PUBLIC KEY"),
		newSigner(t, jwt.SigningMethodEdDSA, edKey, "CERTIFICATE"),
	} {
		t.Run(s.method.Alg(), func(t *testing.T) {
			key, err := ReadJWTPublicKey(s.pemFile)
			if err != nil {
				t.Fatal(err)
			}
			j := newJWT(t, JWTConfig{Key: key})
			pemBytes, _ := os.ReadFile(s.pemFile)
			for _, tc := range []struct {
				name, token, want string
			}{
				{"signed with the key", sign(t, s.method, s.private, valid()), accepted},
				{"signed with another key", sign(t, jwt.SigningMethodRS256, otherRSA, valid()), badPassword},
				// The public key as an HMAC secret: the classic confusion.
				{"HS256 with the public key as secret", sign(t, jwt.SigningMethodHS256, pemBytes, valid()), badPassword},
				{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid()), badPassword},
			} {
				err := j.Authenticate(context.Background(), user("alice"), password(tc.token))
				if got := outcome(err); got != tc.want {
					t.Errorf("%s: %s (%v), want %s", tc.name, got, err, tc.want)
				}
			}
		})
	}
}

func TestJWTClaims(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	j := newJWT(t, JWTConfig{Key: secret, Issuer: "https://id.example", Audience: "petrel", Leeway: time.Second})
	now := time.Now()
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice", "iss": "https://id.example", "aud": []string{"other", "petrel"},
			"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix()}
		change(c)
		return c
	}
	for _, tc := range []struct {
		name   string
		client *plugin.Client
		token  string
		want   string
		saying string
	}{
		{"valid", user("alice"), sign(t, jwt.SigningMethodHS256, secret, claims(func(jwt.MapClaims) {})), accepted, ""},
		{"HS512", user("alice"), sign(t, jwt.SigningMethodHS512, secret, claims(func(jwt.MapClaims) {})), accepted, ""},
		{"expired", user("alice"), sign(t, jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), badPassword, "has expired"},
		{"not valid yet", user("alice"), sign(t, jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })), badPassword, "not valid yet"},
		{"no expiry", user("alice"), sign(t, jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { delete(c, "exp") })), badPassword, "exp"},
		{"wrong secret", user("alice"), sign(t, jwt.SigningMethodHS256, []byte("another secret of thirty-two byt"), claims(func(jwt.MapClaims) {})), badPassword, "wrong signature"},
		{"other issuer", user("alice"), sign(t, jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), notAuth, "another issuer"},
		{"no issuer", user("alice"), sign(t, jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { delete(c, "iss") })), notAuth, "another issuer"},
		{"other audience", user("alice"), sign(t, jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["aud"] = "grafana" })), notAuth, "another audience"},
		{"another user's token", user("bob"), sign(t, jwt.SigningMethodHS256, secret, claims(func(jwt.MapClaims) {})), notAuth, `"sub" claim is not the user name "bob"`},
		{"no subject", user("alice"), sign(t, jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { delete(c, "sub") })), notAuth, `"sub" claim`},
		{"not a token", user("alice"), "hunter2", badPassword, "not valid"},
		{"no token", user("alice"), "", badPassword, "no token"},
		{"no user name", &plugin.Client{ID: "c"}, sign(t, jwt.SigningMethodHS256, secret, claims(func(jwt.MapClaims) {})), notAuth, "no user name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := j.Authenticate(context.Background(), tc.client, password(tc.token))
			if got := outcome(err); got != tc.want || err != nil && !strings.Contains(err.Error(), tc.saying) {
				t.Fatalf("got %s (%v), want %s saying %q", got, err, tc.want, tc.saying)
			}
			if err != nil && tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("the error reveals the token: %v", err)
			}
		})
	}
}

func TestJWTOptions(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	noExp := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice"})
	j := newJWT(t, JWTConfig{Key: secret, ExpiryOptional: true})
	if err := j.Authenticate(context.Background(), user("alice"), password(noExp)); err != nil {
		t.Errorf("ExpiryOptional: a token without exp refused: %v", err)
	}
	j = newJWT(t, JWTConfig{Key: secret, UsernameClaim: "username"})
	tok := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "user-42", "username": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	if err := j.Authenticate(context.Background(), user("alice"), password(tok)); err != nil {
		t.Errorf("UsernameClaim username: %v", err)
	}
	if err := j.Authenticate(context.Background(), user("user-42"), password(tok)); outcome(err) != notAuth {
		t.Errorf("UsernameClaim username, user name from sub: %v, want not authorized", err)
	}
}

func TestNewJWTRefuses(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	curve, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  any
		want string
	}{
		{nil, "no key"},
		{[]byte("short"), "at least 32"},
		{&small.PublicKey, "at least 2048"},
		{&curve.PublicKey, "not on P-256, P-384 or P-521"},
		{"a string", "cannot verify tokens"},
		{small, "cannot verify tokens"}, // a private key is not what the broker should hold
	} {
		if _, err := NewJWT(JWTConfig{Key: tc.key}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("key %T: %v, want an error saying %q", tc.key, err, tc.want)
		}
	}
}

func TestReadJWTPublicKeyErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		content, want string
	}{
		{"not PEM", "no PEM block"},
		{string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})), "a PRIVATE KEY PEM block is not a public key"},
		{string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})), "asn1"},
	} {
		path := filepath.Join(dir, "key.pem")
		os.WriteFile(path, []byte(tc.content), 0o600)
		if _, err := ReadJWTPublicKey(path); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: %v, want an error naming the file and saying %q", tc.content, err, tc.want)
		}
	}
}
