package listener

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// CommonName is the Common Name in the subject of the client certificate
// that cs verified, as Mosquitto's use_identity_as_username takes it: the
// first Common Name when there are several. ok is false when the
// connection carries no verified client certificate or the subject has no
// Common Name.
func CommonName(cs tls.ConnectionState) (name string, ok bool) {
	leaf := verifiedLeaf(cs)
	if leaf == nil {
		return "", false
	}
	for _, a := range leaf.Subject.Names {
		if a.Type.Equal(oidCommonName) {
			s, isString := a.Value.(string)
			return s, isString && s != ""
		}
	}
	return "", false
}

// Subject is the whole subject of the client certificate that cs
// verified, written as OpenSSL writes RFC 2253 names (X509_NAME_print_ex
// with XN_FLAG_RFC2253, or openssl x509 -nameopt RFC2253), which is the
// user name Mosquitto's use_subject_as_username gives: most specific
// attribute first, "CN=alice,OU=Sensors,O=Example,C=GB", with OpenSSL's
// short attribute names (emailAddress, DC, serialNumber, ...). ok is false
// when the connection carries no verified client certificate.
//
// It differs from crypto/x509's pkix.Name.String where OpenSSL does: bytes
// outside ASCII are escaped as \XX hex (so "é" reads \C3\A9), and some
// attribute names are spelt differently (serialNumber, not SERIALNUMBER).
// Attributes outside the names below are written as a dotted OID and the
// value's DER in hex, as OpenSSL writes attributes it does not know.
func Subject(cs tls.ConnectionState) (subject string, ok bool) {
	leaf := verifiedLeaf(cs)
	if leaf == nil {
		return "", false
	}
	s, err := rfc2253(leaf.RawSubject)
	if err != nil {
		return "", false
	}
	return s, true
}

func verifiedLeaf(cs tls.ConnectionState) *x509.Certificate {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return nil
	}
	return cs.VerifiedChains[0][0]
}

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// shortNames are OpenSSL's short names for the attributes certificates
// commonly carry.
var shortNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "street",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "title",
	"2.5.4.13":                   "description",
	"2.5.4.15":                   "businessCategory",
	"2.5.4.17":                   "postalCode",
	"2.5.4.41":                   "name",
	"2.5.4.42":                   "GN",
	"2.5.4.43":                   "initials",
	"2.5.4.44":                   "generationQualifier",
	"2.5.4.46":                   "dnQualifier",
	"2.5.4.65":                   "pseudonym",
	"2.5.4.97":                   "organizationIdentifier",
	"1.2.840.113549.1.9.1":       "emailAddress",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.3.6.1.4.1.311.60.2.1.1":   "jurisdictionL",
	"1.3.6.1.4.1.311.60.2.1.2":   "jurisdictionST",
	"1.3.6.1.4.1.311.60.2.1.3":   "jurisdictionC",
}

// attribute is one AttributeTypeAndValue, with its value kept raw so its
// ASN.1 string type decides how it is written.
type attribute struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// attributeSET is one relative distinguished name: encoding/asn1 reads a
// slice type whose name ends in SET as a SET OF.
type attributeSET []attribute

// rfc2253 writes a DER-encoded Name as OpenSSL's XN_FLAG_RFC2253 does.
func rfc2253(rawName []byte) (string, error) {
	var rdns []attributeSET
	if rest, err := asn1.Unmarshal(rawName, &rdns); err != nil || len(rest) > 0 {
		return "", fmt.Errorf("malformed subject: %v", err)
	}
	var b []byte
	// Last attribute first, every attribute of a multi-valued RDN
	// included, and "+" between attributes of the same RDN.
	for i := len(rdns) - 1; i >= 0; i-- {
		for j := len(rdns[i]) - 1; j >= 0; j-- {
			switch {
			case j < len(rdns[i])-1:
				b = append(b, '+')
			case len(b) > 0:
				b = append(b, ',')
			}
			b = appendAttribute(b, rdns[i][j])
		}
	}
	return string(b), nil
}

func appendAttribute(b []byte, a attribute) []byte {
	name, known := shortNames[a.Type.String()]
	if !known {
		return appendDump(append(append(b, a.Type.String()...), '='), a.Value)
	}
	b = append(append(b, name...), '=')
	v := a.Value
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return appendDump(b, v)
	}
	// The characters of the value, by its string type (crypto/x509
	// parses a certificate only if its names use these): the one-byte
	// types as Latin-1 and BMPString as UCS-2, each converted to UTF-8.
	// OpenSSL reads a UTF8String byte by byte instead, which comes to the
	// same once bytes from 0x80 are escaped.
	var chars []rune
	raw := v.Tag == asn1.TagUTF8String
	switch v.Tag {
	case asn1.TagUTF8String, asn1.TagNumericString, asn1.TagPrintableString, asn1.TagT61String, asn1.TagIA5String:
		for _, c := range v.Bytes {
			chars = append(chars, rune(c))
		}
	case asn1.TagBMPString:
		for i := 0; i+1 < len(v.Bytes); i += 2 {
			chars = append(chars, rune(binary.BigEndian.Uint16(v.Bytes[i:])))
		}
	default:
		return appendDump(b, v)
	}
	for i, c := range chars {
		last := i == len(chars)-1
		first := i == 0 && !last // OpenSSL lets "last" win for a single character
		switch {
		case c >= 0x80 && raw:
			b = appendHex(b, byte(c))
		case c >= 0x80:
			var u [utf8.UTFMax]byte
			for _, x := range u[:utf8.EncodeRune(u[:], c)] {
				b = appendHex(b, x)
			}
		default:
			b = appendASCII(b, byte(c), first, last)
		}
	}
	return b
}

const hexDigits = "0123456789ABCDEF"

// appendASCII writes one ASCII character as RFC 2253 and OpenSSL's
// ASN1_STRFLGS_RFC2253 want it.
func appendASCII(b []byte, c byte, first, last bool) []byte {
	switch {
	case c < 0x20 || c == 0x7F:
		return appendHex(b, c)
	case c == ',', c == '+', c == '"', c == '\\', c == '<', c == '>', c == ';',
		c == ' ' && (first || last), c == '#' && first:
		return append(b, '\\', c)
	}
	return append(b, c)
}

func appendHex(b []byte, x byte) []byte {
	return append(b, '\\', hexDigits[x>>4], hexDigits[x&0xF])
}

// appendDump writes a value as "#" and its DER encoding in hex.
func appendDump(b []byte, v asn1.RawValue) []byte {
	b = append(b, '#')
	for _, x := range v.FullBytes {
		b = append(b, hexDigits[x>>4], hexDigits[x&0xF])
	}
	return b
}
