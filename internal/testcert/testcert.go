package testcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a self-signed certificate authority.
type CA struct {
	// Cert is the CA's certificate.
	Cert *x509.Certificate
	// PEM is Cert, PEM-encoded.
	PEM []byte
	key crypto.Signer
}

// Cert is a certificate a CA issued, with its private key.
type Cert struct {
	// Leaf is the certificate.
	Leaf *x509.Certificate
	// CertPEM and KeyPEM are the certificate and its PKCS #8 key,
	// PEM-encoded.
	CertPEM, KeyPEM []byte
	// TLS is the certificate and key for tls.Config.Certificates.
	TLS tls.Certificate
}

// Options describe a certificate for Issue.
type Options struct {
	// Subject names the certificate's holder.
	Subject pkix.Name
	// Hosts are the IP addresses and DNS names a server certificate is
	// valid for.
	Hosts []string
	// Expired makes a certificate whose validity ended an hour ago.
	Expired bool
}

// NewCA makes a CA whose subject's Common Name is name.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Petrel Test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatalf("testcert: create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("testcert: %v", err)
	}
	return &CA{Cert: cert, PEM: pemBlock("CERTIFICATE", der), key: key}
}

// Pool is a certificate pool holding only the CA, for a client's RootCAs
// or a server's ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Server issues a server certificate for 127.0.0.1, ::1 and localhost.
func (ca *CA) Server(tb testing.TB) *Cert {
	tb.Helper()
	return ca.Issue(tb, Options{
		Subject: pkix.Name{CommonName: "localhost"},
		Hosts:   []string{"127.0.0.1", "::1", "localhost"},
	})
}

// Client issues a client certificate whose subject is the Common Name
// commonName alone.
func (ca *CA) Client(tb testing.TB, commonName string) *Cert {
	tb.Helper()
	return ca.Issue(tb, Options{Subject: pkix.Name{CommonName: commonName}})
}

// Issue issues a certificate as o describes. It is valid for both server
// and client authentication.
func (ca *CA) Issue(tb testing.TB, o Options) *Cert {
	tb.Helper()
	key := newKey(tb)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(tb),
		Subject:      o.Subject,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if o.Expired {
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-48*time.Hour), now.Add(-time.Hour)
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		tb.Fatalf("testcert: issue certificate for %s: %v", o.Subject, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("testcert: %v", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatalf("testcert: %v", err)
	}
	return &Cert{
		Leaf:    leaf,
		CertPEM: pemBlock("CERTIFICATE", der),
		KeyPEM:  pemBlock("PRIVATE KEY", pkcs8),
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
	}
}

// CRL returns a certificate revocation list, DER-encoded and signed by the
// CA, that revokes the given certificates.
func (ca *CA) CRL(tb testing.TB, revoked ...*Cert) []byte {
	tb.Helper()
	now := time.Now()
	list := &x509.RevocationList{
		Number:     serial(tb),
		ThisUpdate: now.Add(-time.Hour),
		NextUpdate: now.Add(24 * time.Hour),
	}
	for _, c := range revoked {
		list.RevokedCertificateEntries = append(list.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.Leaf.SerialNumber, RevocationTime: now.Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, list, ca.Cert, ca.key)
	if err != nil {
		tb.Fatalf("testcert: create CRL: %v", err)
	}
	return der
}

// WriteFile writes the CA's certificate as PEM to dir/name and returns
// the path.
func (ca *CA) WriteFile(tb testing.TB, dir, name string) string {
	tb.Helper()
	return write(tb, dir, name, ca.PEM)
}

// WriteCRL writes ca.CRL(revoked...) as PEM to dir/name and returns the
// path.
func (ca *CA) WriteCRL(tb testing.TB, dir, name string, revoked ...*Cert) string {
	tb.Helper()
	return write(tb, dir, name, pemBlock("X509 CRL", ca.CRL(tb, revoked...)))
}

// WriteFiles writes the certificate to dir/name.crt and its key to
// dir/name.key, and returns the two paths.
func (c *Cert) WriteFiles(tb testing.TB, dir, name string) (certFile, keyFile string) {
	tb.Helper()
	return write(tb, dir, name+".crt", c.CertPEM), write(tb, dir, name+".key", c.KeyPEM)
}

func write(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatalf("testcert: %v", err)
	}
	return path
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("testcert: generate key: %v", err)
	}
	return key
}

// serial is a random 128-bit serial number, so certificates and CRLs made
// in one test never share one.
func serial(tb testing.TB) *big.Int {
	tb.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		tb.Fatalf("testcert: %v", err)
	}
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
