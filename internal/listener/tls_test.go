package listener

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/testcert"
)

// pki is a CA with a server certificate and the files a listener loads.
type pki struct {
	dir    string
	ca     *testcert.CA
	server *testcert.Cert
	files  TLSFiles
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), ca: testcert.NewCA(t, "Petrel Test CA")}
	p.server = p.ca.Server(t)
	p.files.CertFile, p.files.KeyFile = p.server.WriteFiles(t, p.dir, "server")
	return p
}

// withCA returns the files with the CA file set, so clients are verified.
func (p *pki) withCA(t *testing.T) TLSFiles {
	t.Helper()
	f := p.files
	f.CAFile = p.ca.WriteFile(t, p.dir, "ca.crt")
	return f
}

// serveTLS starts a TLS listener with the files and returns its address,
// what it accepts and its TLS.
func serveTLS(t *testing.T, files TLSFiles) (string, <-chan net.Conn, *TLS) {
	t.Helper()
	tl, err := LoadTLS(files)
	if err != nil {
		t.Fatalf("LoadTLS: %v", err)
	}
	l := Wrap(listenTCP(t), Config{TLS: tl, Logger: testLogger(t)})
	return l.Addr().String(), serveEcho(t, l), tl
}

// dialTLS connects as a client that trusts roots and presents cert (nil
// for none), and checks the connection carries data: with TLS 1.3 the
// server refuses a client certificate only after the client's side of
// the handshake is done, so a refusal shows on the first read.
//
// The client presents its certificate even when the server's list of
// acceptable CAs does not name the issuer, as many clients do, where
// crypto/tls would present none.
func dialTLS(addr string, roots *x509.CertPool, cert *testcert.Cert) (*tls.Conn, error) {
	cfg := &tls.Config{RootCAs: roots}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert.TLS, nil
		}
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	if err := roundTrip(c, "ping"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func TestClientCertificates(t *testing.T) {
	p := newPKI(t)
	other := testcert.NewCA(t, "Other CA")
	alice := p.ca.Client(t, "alice")
	revoked := p.ca.Client(t, "revoked")
	expired := p.ca.Issue(t, testcert.Options{Subject: pkix.Name{CommonName: "expired"}, Expired: true})
	stranger := other.Client(t, "stranger")

	required := p.withCA(t)
	required.RequireCertificate = true
	optional := p.withCA(t)
	withCRL := required
	withCRL.CRLFile = p.ca.WriteCRL(t, p.dir, "ca.crl", revoked)

	for _, tc := range []struct {
		name   string
		files  TLSFiles
		client *testcert.Cert
		// identity is the Common Name the broker sees; "" refused, "-"
		// accepted without a certificate.
		identity string
	}{
		{"required, good certificate", required, alice, "alice"},
		{"required, no certificate", required, nil, ""},
		{"required, another CA's certificate", required, stranger, ""},
		{"required, expired certificate", required, expired, ""},
		{"optional, no certificate", optional, nil, "-"},
		{"optional, good certificate", optional, alice, "alice"},
		{"optional, another CA's certificate", optional, stranger, ""},
		{"CRL, revoked certificate", withCRL, revoked, ""},
		{"CRL, certificate not revoked", withCRL, alice, "alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, accepted, _ := serveTLS(t, tc.files)
			c, err := dialTLS(addr, p.ca.Pool(), tc.client)
			if tc.identity == "" {
				if err == nil {
					c.Close()
					t.Fatal("client connected; want the handshake refused")
				}
				// The refused connection never reached Accept: the next
				// connection Accept returns is a good client's.
				good, err := dialTLS(addr, p.ca.Pool(), alice)
				if err != nil {
					t.Fatalf("good client after a refused one: %v", err)
				}
				defer good.Close()
				if name, _ := CommonName(nextConn(t, accepted).(*tls.Conn).ConnectionState()); name != "alice" {
					t.Errorf("first accepted connection has identity %q, want the good client's", name)
				}
				return
			}
			if err != nil {
				t.Fatalf("client refused: %v", err)
			}
			defer c.Close()
			sc := nextConn(t, accepted).(*tls.Conn)
			name, ok := CommonName(sc.ConnectionState())
			if tc.identity == "-" {
				if ok {
					t.Errorf("identity %q for a client without a certificate", name)
				}
				return
			}
			if name != tc.identity {
				t.Errorf("CommonName = %q, want %q", name, tc.identity)
			}
			if subject, _ := Subject(sc.ConnectionState()); subject != "CN="+tc.identity {
				t.Errorf("Subject = %q, want CN=%s", subject, tc.identity)
			}
		})
	}
}

func TestTLSVersions(t *testing.T) {
	p := newPKI(t)
	addr, _, _ := serveTLS(t, p.files)
	c, err := dialTLS(addr, p.ca.Pool(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(v))
	}
	old, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.ca.Pool(), MaxVersion: tls.VersionTLS11})
	if err == nil {
		old.Close()
		t.Error("a TLS 1.1 client connected")
	}
}

// TestReload replaces every file and reloads: new handshakes see the new
// server certificate, CA and CRL, the connection made before goes on, and
// files that fail to load leave the last good ones in use.
func TestReload(t *testing.T) {
	p := newPKI(t)
	files := p.withCA(t)
	files.RequireCertificate = true
	files.CRLFile = p.ca.WriteCRL(t, p.dir, "ca.crl")
	alice := p.ca.Client(t, "alice")
	addr, accepted, tl := serveTLS(t, files)

	before, err := dialTLS(addr, p.ca.Pool(), alice)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	nextConn(t, accepted)
	if got := before.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(p.server.Leaf.SerialNumber) != 0 {
		t.Fatalf("server certificate serial %s, want %s", got, p.server.Leaf.SerialNumber)
	}

	// A new CA issues the server and client certificates; the old CA's
	// clients are revoked wholesale by no longer being trusted.
	ca2 := testcert.NewCA(t, "Second CA")
	server2, bob := ca2.Server(t), ca2.Client(t, "bob")
	carol := ca2.Client(t, "carol")
	server2.WriteFiles(t, p.dir, "server")
	ca2.WriteFile(t, p.dir, "ca.crt")
	ca2.WriteCRL(t, p.dir, "ca.crl", carol)
	if err := tl.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := tl.Certificate().SerialNumber; got.Cmp(server2.Leaf.SerialNumber) != 0 {
		t.Errorf("Certificate() serial %s, want the new one %s", got, server2.Leaf.SerialNumber)
	}

	after, err := dialTLS(addr, ca2.Pool(), bob)
	if err != nil {
		t.Fatalf("after Reload, new CA's client: %v", err)
	}
	defer after.Close()
	if got := after.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(server2.Leaf.SerialNumber) != 0 {
		t.Errorf("after Reload the server presents serial %s, want %s", got, server2.Leaf.SerialNumber)
	}
	if name, _ := CommonName(nextConn(t, accepted).(*tls.Conn).ConnectionState()); name != "bob" {
		t.Errorf("after Reload identity %q, want bob", name)
	}
	if _, err := dialTLS(addr, ca2.Pool(), alice); err == nil {
		t.Error("after Reload a client of the old CA connected")
	}
	if _, err := dialTLS(addr, ca2.Pool(), carol); err == nil {
		t.Error("after Reload a client the new CRL revokes connected")
	}
	if err := roundTrip(before, "still here"); err != nil {
		t.Errorf("connection made before Reload: %v", err)
	}

	// A broken key file: Reload fails and the listener keeps the last
	// good certificate.
	if err := os.WriteFile(filepath.Join(p.dir, "server.key"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tl.Reload(); err == nil || !strings.Contains(err.Error(), "server.key") {
		t.Errorf("Reload with a broken key file: %v, want an error naming it", err)
	}
	again, err := dialTLS(addr, ca2.Pool(), bob)
	if err != nil {
		t.Fatalf("after a failed Reload: %v", err)
	}
	defer again.Close()
	if got := again.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(server2.Leaf.SerialNumber) != 0 {
		t.Errorf("after a failed Reload the server presents serial %s, want the last good %s", got, server2.Leaf.SerialNumber)
	}
}

func mustLoad(t *testing.T, files TLSFiles) *TLS {
	t.Helper()
	tl, err := LoadTLS(files)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func TestLoadErrors(t *testing.T) {
	p := newPKI(t)
	other := testcert.NewCA(t, "Other CA")
	notPEM := filepath.Join(p.dir, "empty.pem")
	os.WriteFile(notPEM, []byte("nothing here\n"), 0o600)
	emptyDir := t.TempDir()
	with := func(change func(*TLSFiles)) TLSFiles {
		f := p.withCA(t)
		change(&f)
		return f
	}
	for _, tc := range []struct {
		name  string
		files TLSFiles
		want  string
	}{
		{"no key", TLSFiles{CertFile: p.files.CertFile}, "needs a certificate file and a key file"},
		{"missing certificate", with(func(f *TLSFiles) { f.CertFile = filepath.Join(p.dir, "nope.crt") }), "nope.crt"},
		{"require without CA", TLSFiles{CertFile: p.files.CertFile, KeyFile: p.files.KeyFile, RequireCertificate: true}, "needs a CA file or directory"},
		{"CRL without CA", TLSFiles{CertFile: p.files.CertFile, KeyFile: p.files.KeyFile, CRLFile: notPEM}, "needs a CA file or directory"},
		{"CA file without certificates", with(func(f *TLSFiles) { f.CAFile = notPEM }), "CA file " + notPEM + ": no PEM certificates"},
		{"CA directory without certificates", with(func(f *TLSFiles) { f.CAFile, f.CADir = "", emptyDir }), "CA directory " + emptyDir + ": no PEM certificates"},
		{"CRL of another CA", with(func(f *TLSFiles) { f.CRLFile = other.WriteCRL(t, p.dir, "other.crl") }), "not signed by any of the CA certificates"},
		{"CRL file without a CRL", with(func(f *TLSFiles) { f.CRLFile = notPEM }), "CRL file " + notPEM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadTLS(tc.files)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadTLS: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestCADirAndDERCRL loads the CAs from a directory that also holds other
// files, and a CRL in DER.
func TestCADirAndDERCRL(t *testing.T) {
	p := newPKI(t)
	other := testcert.NewCA(t, "Second CA")
	caDir := t.TempDir()
	p.ca.WriteFile(t, caDir, "one.pem")
	other.WriteFile(t, caDir, "two.pem")
	os.WriteFile(filepath.Join(caDir, "README"), []byte("CA certificates for petrel\n"), 0o600)
	os.Mkdir(filepath.Join(caDir, "old"), 0o700)
	revoked := other.Client(t, "revoked")
	crl := filepath.Join(p.dir, "two.crl")
	os.WriteFile(crl, other.CRL(t, revoked), 0o600)

	files := p.files
	files.CADir, files.CRLFile, files.RequireCertificate = caDir, crl, true
	addr, accepted, _ := serveTLS(t, files)
	for _, client := range []*testcert.Cert{p.ca.Client(t, "one"), other.Client(t, "two")} {
		c, err := dialTLS(addr, p.ca.Pool(), client)
		if err != nil {
			t.Fatalf("client of %s: %v", client.Leaf.Issuer, err)
		}
		defer c.Close()
		nextConn(t, accepted)
	}
	if _, err := dialTLS(addr, p.ca.Pool(), revoked); err == nil {
		t.Error("a client the DER CRL revokes connected")
	}
}

// TestHandshakeTimeout checks a client that never completes its handshake
// is cut off, and meanwhile others are served.
func TestHandshakeTimeout(t *testing.T) {
	p := newPKI(t)
	tl := mustLoad(t, p.files)
	l := Wrap(listenTCP(t), Config{TLS: tl, HandshakeTimeout: 300 * time.Millisecond})
	accepted := serveEcho(t, l)

	staller, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer staller.Close()
	c, err := dialTLS(l.Addr().String(), p.ca.Pool(), nil)
	if err != nil {
		t.Fatalf("client behind a stalled one: %v", err)
	}
	defer c.Close()
	nextConn(t, accepted)
	start := time.Now()
	if !closedByPeer(staller) {
		t.Fatal("stalled handshake not closed")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stalled handshake closed after %s, want about 300ms", d)
	}
}

// TestCloseEndsPendingHandshakes checks Close returns Accept and closes a
// connection still in its handshake.
func TestCloseEndsPendingHandshakes(t *testing.T) {
	p := newPKI(t)
	l := Wrap(listenTCP(t), Config{TLS: mustLoad(t, p.files)})
	acceptErr := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		acceptErr <- err
	}()
	staller, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer staller.Close()
	eventually(t, "the connection is in its handshake", func() bool {
		h := l.(*handshakeListener)
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.pending) == 1
	})
	l.Close()
	select {
	case err := <-acceptErr:
		if err == nil {
			t.Error("Accept returned a connection")
		}
	case <-time.After(wait):
		t.Fatal("Accept still blocked after Close")
	}
	if !closedByPeer(staller) {
		t.Error("connection in its handshake not closed by Close")
	}
}
