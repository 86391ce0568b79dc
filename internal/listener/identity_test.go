package listener

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

// TestSubjectAsOpenSSLWritesIt checks Subject gives the user name
// Mosquitto's use_subject_as_username gives. Each want is what
// `openssl x509 -noout -subject -nameopt RFC2253` (OpenSSL 3) prints for a
// certificate with that subject.
func TestSubjectAsOpenSSLWritesIt(t *testing.T) {
	const (
		utf8String      = 12
		printableString = 19
		t61String       = 20
		ia5String       = 22
		bmpString       = 30
	)
	var (
		cn     = asn1.ObjectIdentifier{2, 5, 4, 3}
		o      = asn1.ObjectIdentifier{2, 5, 4, 10}
		c      = asn1.ObjectIdentifier{2, 5, 4, 6}
		email  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
		dc     = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
		uid    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
		gn     = asn1.ObjectIdentifier{2, 5, 4, 42}
		sn     = asn1.ObjectIdentifier{2, 5, 4, 4}
		serial = asn1.ObjectIdentifier{2, 5, 4, 5}
		street = asn1.ObjectIdentifier{2, 5, 4, 9}
		postal = asn1.ObjectIdentifier{2, 5, 4, 17}
	)
	attr := func(typ asn1.ObjectIdentifier, tag int, value string) attribute {
		return attribute{Type: typ, Value: asn1.RawValue{Tag: tag, Bytes: []byte(value)}}
	}
	one := func(a attribute) attributeSET { return attributeSET{a} }
	for _, tc := range []struct {
		name    string
		subject []attributeSET
		want    string
	}{
		{"most specific first, commas escaped",
			[]attributeSET{one(attr(c, printableString, "GB")), one(attr(o, utf8String, "Example, Ltd")), one(attr(cn, utf8String, "alice"))},
			`CN=alice,O=Example\, Ltd,C=GB`},
		{"leading hash", []attributeSET{one(attr(cn, utf8String, "# lead"))}, `CN=\# lead`},
		{"a lone hash is not escaped", []attributeSET{one(attr(cn, utf8String, "#"))}, `CN=#`},
		{"a lone space is", []attributeSET{one(attr(cn, utf8String, " "))}, `CN=\ `},
		{"leading and trailing spaces", []attributeSET{one(attr(cn, utf8String, " sp trail "))}, `CN=\ sp trail\ `},
		{"specials and controls", []attributeSET{one(attr(cn, utf8String, "a+b=c;d<e>\"f\\g\x01\x7f"))},
			`CN=a\+b=c\;d\<e\>\"f\\g\01\7F`},
		{"UTF-8 escaped as hex", []attributeSET{one(attr(cn, utf8String, "café"))}, `CN=caf\C3\A9`},
		{"T61String read as Latin-1", []attributeSET{one(attr(cn, t61String, "caf\xe9"))}, `CN=caf\C3\A9`},
		{"BMPString", []attributeSET{one(attr(cn, bmpString, "\x00h\x20\xac"))}, `CN=h\E2\82\AC`},
		{"multi-valued RDN and OpenSSL's short names",
			[]attributeSET{{attr(email, ia5String, "a@b.c"), attr(cn, printableString, "multi")}, one(attr(dc, ia5String, "example"))},
			`DC=example,emailAddress=a@b.c+CN=multi`},
		{"unknown attribute as DER",
			[]attributeSET{one(attr(asn1.ObjectIdentifier{1, 2, 3, 4}, utf8String, "x")), one(attr(serial, printableString, "123")),
				one(attr(street, utf8String, "Main St")), one(attr(postal, printableString, "1234"))},
			`postalCode=1234,street=Main St,serialNumber=123,1.2.3.4=#0C0178`},
		{"names within an RDN last first",
			[]attributeSET{one(attr(uid, utf8String, "uid1")), {attr(gn, utf8String, "g"), attr(sn, utf8String, "s")}},
			`GN=g+SN=s,UID=uid1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := asn1.Marshal(tc.subject)
			if err != nil {
				t.Fatal(err)
			}
			cs := tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{certWithSubject(t, raw)}}}
			got, ok := Subject(cs)
			if !ok || got != tc.want {
				t.Errorf("Subject = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func certWithSubject(t *testing.T, rawSubject []byte) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), RawSubject: rawSubject,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestNoVerifiedCertificateNoIdentity(t *testing.T) {
	var cs tls.ConnectionState
	if name, ok := CommonName(cs); ok {
		t.Errorf("CommonName without a certificate = %q", name)
	}
	if name, ok := Subject(cs); ok {
		t.Errorf("Subject without a certificate = %q", name)
	}
	// A certificate the handshake did not verify names no one.
	raw, _ := asn1.Marshal([]attributeSET{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: asn1.RawValue{Tag: 12, Bytes: []byte("mallory")}}}})
	cs.PeerCertificates = []*x509.Certificate{certWithSubject(t, raw)}
	if name, ok := CommonName(cs); ok {
		t.Errorf("CommonName of an unverified certificate = %q", name)
	}
}
