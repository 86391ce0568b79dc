package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// JWTConfig configures a JWT authenticator.
type JWTConfig struct {
	// Key verifies the tokens' signatures: a []byte HMAC secret of at
	// least 32 bytes, or an *rsa.PublicKey (2048 bits or more), an
	// *ecdsa.PublicKey or an ed25519.PublicKey, as ReadJWTPublicKey
	// returns from a PEM file. The key decides the algorithms a token may
	// use: HS256/384/512 for a secret, RS and PS 256/384/512 for RSA, the
	// ES algorithm of the curve for ECDSA, EdDSA for Ed25519. A token that
	// names any other algorithm is refused, so an HS256 token signed with
	// a public key as its secret never verifies.
	Key any
	// Issuer, when set, is the "iss" a token must carry.
	Issuer string
	// Audience, when set, must be among a token's "aud".
	Audience string
	// UsernameClaim names the string claim that must equal the client's
	// user name; empty means "sub".
	UsernameClaim string
	// Leeway allows for clock skew when checking "exp" and "nbf".
	Leeway time.Duration
	// ExpiryOptional accepts tokens without "exp", which never expire.
	// By default such a token is refused.
	ExpiryOptional bool
}

// JWT is an Authenticator for clients that send a JSON Web Token (RFC
// 7519) as their password. A token is accepted when its signature
// verifies with the configured key, it is within its "nbf" and "exp",
// its issuer and audience are the configured ones, and its username claim
// equals the user name of CONNECT.
//
// A token that is malformed, badly signed, uses an algorithm the key does
// not allow, has expired or is not valid yet is refused with Bad User
// Name or Password: the password is wrong. A genuine token that was not
// issued for this broker or this user (issuer, audience or username
// claim) is refused with Not Authorized. Authenticate is safe for
// concurrent use.
type JWT struct {
	key              any
	parser           *jwt.Parser
	claim            string
	issuer, audience string
}

// NewJWT checks cfg and returns the authenticator.
func NewJWT(cfg JWTConfig) (*JWT, error) {
	var methods []string
	switch k := cfg.Key.(type) {
	case []byte:
		if len(k) < 32 {
			return nil, fmt.Errorf("JWT: the HMAC secret is %d bytes; use at least 32 random bytes", len(k))
		}
		methods = []string{"HS256", "HS384", "HS512"}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("JWT: the RSA key has %d bits; use at least 2048", k.N.BitLen())
		}
		methods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			methods = []string{"ES256"}
		case elliptic.P384():
			methods = []string{"ES384"}
		case elliptic.P521():
			methods = []string{"ES512"}
		default:
			return nil, errors.New("JWT: the ECDSA key is not on P-256, P-384 or P-521")
		}
	case ed25519.PublicKey:
		methods = []string{"EdDSA"}
	case nil:
		return nil, errors.New("JWT: no key to verify tokens with")
	default:
		return nil, fmt.Errorf("JWT: a key of type %T cannot verify tokens: use an HMAC secret, or an RSA, ECDSA or Ed25519 public key", cfg.Key)
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithLeeway(cfg.Leeway)}
	if !cfg.ExpiryOptional {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	claim := cfg.UsernameClaim
	if claim == "" {
		claim = "sub"
	}
	return &JWT{key: cfg.Key, parser: jwt.NewParser(opts...), claim: claim, issuer: cfg.Issuer, audience: cfg.Audience}, nil
}

// Authenticate checks the token in cred.Password against c's user name.
func (j *JWT) Authenticate(_ context.Context, c *plugin.Client, cred plugin.Credentials) error {
	if !c.HasUsername {
		return refuse(packet.NotAuthorized, "JWT: the client sent no user name")
	}
	if len(cred.Password) == 0 {
		return refuse(packet.BadUserNameOrPassword, "JWT: user %q sent no token in the password field", c.Username)
	}
	claims := jwt.MapClaims{}
	_, err := j.parser.ParseWithClaims(string(cred.Password), claims, func(*jwt.Token) (any, error) { return j.key, nil })
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(packet.BadUserNameOrPassword, "JWT: the token of user %q has expired", c.Username)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return refuse(packet.BadUserNameOrPassword, "JWT: the token of user %q is not valid yet", c.Username)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse(packet.BadUserNameOrPassword, "JWT: the token of user %q has a wrong signature", c.Username)
	default:
		return refuse(packet.BadUserNameOrPassword, "JWT: the token of user %q is not valid: %v", c.Username, err)
	}
	// The parser checks the signature and the times; whom the token is
	// for is checked here, to refuse a genuine token with Not Authorized.
	if iss, _ := claims.GetIssuer(); j.issuer != "" && iss != j.issuer {
		return refuse(packet.NotAuthorized, "JWT: the token of user %q has another issuer", c.Username)
	}
	if aud, _ := claims.GetAudience(); j.audience != "" && !slices.Contains(aud, j.audience) {
		return refuse(packet.NotAuthorized, "JWT: the token of user %q is for another audience", c.Username)
	}
	if name, ok := claims[j.claim].(string); !ok || name != c.Username {
		return refuse(packet.NotAuthorized, "JWT: the token's %q claim is not the user name %q", j.claim, c.Username)
	}
	return nil
}

// ReadJWTPublicKey reads a public key from a PEM file: a PUBLIC KEY
// (PKIX: RSA, ECDSA or Ed25519), an RSA PUBLIC KEY (PKCS #1), or a
// CERTIFICATE, whose public key is taken.
func ReadJWTPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("JWT key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("JWT key %s: no PEM block", path)
	}
	var key crypto.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		cert, err = x509.ParseCertificate(block.Bytes)
		if err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("JWT key %s: a %s PEM block is not a public key: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("JWT key %s: %w", path, err)
	}
	return key, nil
}
