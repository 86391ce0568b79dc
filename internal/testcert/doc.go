// Package testcert issues X.509 certificates for tests: a CA, server
// certificates for 127.0.0.1, ::1 and localhost, client certificates with a
// given subject, expired certificates and CRLs, as PEM files in a directory
// or as values ready for crypto/tls.
//
// Every key is ECDSA P-256, so a test can make many in milliseconds. Errors
// fail the test that asked. testcert imports the standard library only, so
// any package's tests may use it.
package testcert
