package listener

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
)

// TLSFiles names the files a TLS listener loads, and loads again on
// Reload. Paths are used as given, relative to the working directory.
type TLSFiles struct {
	// CertFile and KeyFile are the server's PEM certificate (followed by
	// any intermediates) and its private key. Both are required.
	CertFile, KeyFile string
	// CAFile and CADir hold the PEM certificates of the CAs that client
	// certificates are verified against: one file, every file of one
	// directory, or both. With neither, clients are not asked for a
	// certificate.
	CAFile, CADir string
	// CRLFile holds certificate revocation lists, PEM or DER, each signed
	// by one of the CAs. A client certificate that a list from its issuer
	// revokes is refused during the handshake. The lists' next-update
	// times are not enforced: a stale list still refuses what it lists.
	CRLFile string
	// RequireCertificate refuses clients that present no certificate.
	// Without it a client may connect with no certificate, but one that
	// presents a certificate must present a valid one.
	RequireCertificate bool
}

// TLS is a listener's TLS server configuration, loaded from TLSFiles. It
// can be reloaded while the listener serves: a handshake uses what was
// loaded last, and connections already established keep what they
// negotiated.
//
// Only TLS 1.2 and 1.3 are offered, with crypto/tls's default cipher
// suites and curves (forward-secret AEAD suites only); TLS 1.3 is chosen
// whenever the client supports it.
type TLS struct {
	files   TLSFiles
	current atomic.Pointer[tls.Config]
}

// LoadTLS loads the files. Its errors name the file that failed.
func LoadTLS(files TLSFiles) (*TLS, error) {
	if files.CertFile == "" || files.KeyFile == "" {
		return nil, errors.New("a TLS listener needs a certificate file and a key file")
	}
	t := &TLS{files: files}
	cfg, err := files.load()
	if err != nil {
		return nil, err
	}
	t.current.Store(cfg)
	return t, nil
}

// Reload loads the files again and uses them for new handshakes. If any
// fails to load, Reload returns the error and the listener keeps what it
// had. It is safe to call while handshakes run.
func (t *TLS) Reload() error {
	cfg, err := t.files.load()
	if err != nil {
		return err
	}
	t.current.Store(cfg)
	return nil
}

// Config is the tls.Config a server uses: each handshake picks up what
// was loaded last.
func (t *TLS) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.current.Load(), nil
		},
	}
}

// Certificate is the server certificate loaded last.
func (t *TLS) Certificate() *x509.Certificate {
	return t.current.Load().Certificates[0].Leaf
}

func (f TLSFiles) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s and key %s: %w", f.CertFile, f.KeyFile, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	// A fresh session ticket key per load: a client resuming a session
	// skips certificate verification, so a session must not outlive the
	// CAs it was verified against.
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	cfg.SetSessionTicketKeys([][32]byte{key})

	var cas []*x509.Certificate
	if f.CAFile != "" {
		certs, err := readCerts(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: %w", f.CAFile, err)
		}
		if len(certs) == 0 {
			return nil, fmt.Errorf("CA file %s: no PEM certificates in it", f.CAFile)
		}
		cas = append(cas, certs...)
	}
	if f.CADir != "" {
		certs, err := readCertDir(f.CADir)
		if err != nil {
			return nil, err
		}
		cas = append(cas, certs...)
	}
	switch {
	case len(cas) == 0 && f.RequireCertificate:
		return nil, errors.New("requiring client certificates needs a CA file or directory to verify them against")
	case len(cas) == 0 && f.CRLFile != "":
		return nil, errors.New("a CRL file needs a CA file or directory: it applies to verified client certificates")
	case len(cas) == 0:
		return cfg, nil
	}
	cfg.ClientCAs = x509.NewCertPool()
	for _, ca := range cas {
		cfg.ClientCAs.AddCert(ca)
	}
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	if f.RequireCertificate {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if f.CRLFile != "" {
		crls, err := readCRLs(f.CRLFile, cas)
		if err != nil {
			return nil, fmt.Errorf("CRL file %s: %w", f.CRLFile, err)
		}
		// VerifyConnection runs on resumed sessions too, so a
		// revocation applies to them as well.
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.VerifiedChains) == 0 {
				return nil
			}
			leaf := cs.VerifiedChains[0][0]
			for _, crl := range crls {
				if !bytes.Equal(crl.RawIssuer, leaf.RawIssuer) {
					continue
				}
				for _, e := range crl.RevokedCertificateEntries {
					if e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
						return fmt.Errorf("client certificate %q (serial %x) is revoked", leaf.Subject, leaf.SerialNumber)
					}
				}
			}
			return nil
		}
	}
	return cfg, nil
}

// readCerts reads the PEM certificates in a file, skipping other blocks.
func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return certs, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
}

// readCertDir reads the certificates of every file in dir. Files without
// a PEM certificate are skipped, since such directories often hold CRLs
// and hash links too; a directory with no certificate at all is an error.
func readCertDir(dir string) ([]*x509.Certificate, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("CA directory: %w", err)
	}
	var certs []*x509.Certificate
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
			continue
		}
		c, err := readCerts(path)
		if err != nil {
			return nil, fmt.Errorf("CA directory: %s: %w", path, err)
		}
		certs = append(certs, c...)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("CA directory %s: no PEM certificates in it", dir)
	}
	return certs, nil
}

// readCRLs reads the lists in a PEM or DER file and checks each is signed
// by one of the CAs, so a list for the wrong CA is refused rather than
// silently never matching.
func readCRLs(path string, cas []*x509.Certificate) ([]*x509.RevocationList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ders [][]byte
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		ders = append(ders, data)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type == "X509 CRL" {
			ders = append(ders, block.Bytes)
		}
	}
	if len(ders) == 0 {
		return nil, errors.New("no CRL in it (want PEM X509 CRL blocks or one DER list)")
	}
	crls := make([]*x509.RevocationList, 0, len(ders))
	for _, der := range ders {
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, err
		}
		if !signedByOneOf(crl, cas) {
			return nil, fmt.Errorf("the CRL of %q is not signed by any of the CA certificates", crl.Issuer)
		}
		crls = append(crls, crl)
	}
	return crls, nil
}

func signedByOneOf(crl *x509.RevocationList, cas []*x509.Certificate) bool {
	for _, ca := range cas {
		if bytes.Equal(ca.RawSubject, crl.RawIssuer) && crl.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
	return false
}
