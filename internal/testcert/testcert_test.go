package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
)

// TestFiles checks what tests rely on: the written files load as
// crypto/tls loads them, certificates verify against their CA and no
// other, and an expired one does not verify.
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	ca, other := NewCA(t, "Test CA"), NewCA(t, "Other CA")
	certFile, keyFile := ca.Server(t).WriteFiles(t, dir, "server")
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Errorf("server files: %v", err)
	}
	client := ca.Client(t, "alice")
	if client.Leaf.Subject.CommonName != "alice" {
		t.Errorf("client subject %s, want CN=alice", client.Leaf.Subject)
	}
	verify := func(c *Cert, roots *x509.CertPool) error {
		_, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return err
	}
	if err := verify(client, ca.Pool()); err != nil {
		t.Errorf("client certificate does not verify against its CA: %v", err)
	}
	if err := verify(client, other.Pool()); err == nil {
		t.Error("client certificate verifies against another CA")
	}
	if err := verify(ca.Issue(t, Options{Expired: true}), ca.Pool()); err == nil {
		t.Error("expired certificate verifies")
	}

	crlPEM, err := os.ReadFile(ca.WriteCRL(t, dir, "ca.crl", client))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(crlPEM)
	if block == nil || block.Type != "X509 CRL" {
		t.Fatalf("CRL file is not a PEM X509 CRL:\n%s", crlPEM)
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("CRL signature: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(client.Leaf.SerialNumber) != 0 {
		t.Errorf("CRL revokes %v, want the client's serial %s", crl.RevokedCertificateEntries, client.Leaf.SerialNumber)
	}
}
