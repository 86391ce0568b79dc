// Package auth holds Petrel's built-in authenticators and authorizers, the
// implementations of package plugin's interfaces that the petrel command
// wires in from its configuration and that an embedder may use as they are:
//
//   - PasswordFile: user names and password hashes in a file that also
//     reads Mosquitto's, with the SCRAM keys of each user beside the hash
//     (PasswordLine writes a user's line; the format is documented there).
//   - ACL: Mosquitto-style topic rules per user, per client and for every
//     client, read from a file (OpenACL documents the syntax).
//   - SCRAM: SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as MQTT 5
//     enhanced authentication, with keys from a PasswordFile or any other
//     SCRAMCredentialSource.
//   - HTTPHook: asks a web service whether a client may connect.
//   - JWT: a signed JSON Web Token in the password field.
//
// It is one package rather than one per method because the methods share
// their pieces (the password file is the SCRAM credential store; the
// password file and the HTTP hook remember accepted credentials the same
// way) and their third-party dependencies, golang.org/x/crypto's argon2,
// github.com/xdg-go/stringprep and github.com/golang-jwt/jwt, are small
// and bring little else: splitting would make every user import several
// packages and save no build weight.
//
// Every refusal is an error that wraps the packet.ReasonCode the client
// gets in CONNACK. Its text is sent to MQTT 5 clients as the Reason String,
// so it says what went wrong without revealing a password, a hash, an
// internal address, or whether an unknown user exists.
//
// auth imports plugin, packet and the standard library (plus the libraries
// named above), never broker: the broker consumes plugin's interfaces and
// does not know these implementations exist.
package auth
