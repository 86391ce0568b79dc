package broker_test

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"net"
	"sync/atomic"
	"testing"

	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/internal/listener"
	"github.com/petrelmq/petrel/internal/testcert"
	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// startTLS runs a broker on a TLS listener that asks for (but does not
// require) client certificates from ca, naming clients as identity says.
func startTLS(t *testing.T, ca *testcert.CA, identity broker.CertIdentity, authz plugin.Authorizer) *brokertest.Broker {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := ca.Server(t).WriteFiles(t, dir, "server")
	cfg, err := listener.LoadTLS(listener.TLSFiles{CertFile: certFile, KeyFile: keyFile, CAFile: ca.WriteFile(t, dir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := listener.Wrap(raw, listener.Config{TLS: cfg})
	return brokertest.StartOn(t, broker.Options{Authorizer: authz}, l, broker.Listener{Name: "mtls", Identity: identity})
}

// dialTLS connects over TLS, presenting cert when it is not nil.
func dialTLS(t *testing.T, addr string, ca *testcert.CA, cert *testcert.Cert, v packet.Version) *client {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.TLS}
	}
	nc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	r := packet.NewReader(nc, 4096)
	r.Version = v
	return &client{t: t, nc: nc, r: r, v: v}
}

func TestCertificateIdentity(t *testing.T) {
	t.Parallel()
	ca := testcert.NewCA(t, "Petrel Test CA")
	own := plugin.AuthorizerFunc(func(c *plugin.Client, _ plugin.Action, topic string) bool {
		return topic == "users/"+c.Username
	})

	t.Run("common name", func(t *testing.T) {
		b := startTLS(t, ca, broker.IdentityCommonName, own)
		c := dialTLS(t, b.Addr, ca, ca.Client(t, "alice"), packet.V5)
		// The certificate authenticates: no user name, no password, on a
		// listener that admits no anonymous clients.
		c.send(v5("device"))
		if ack := expect[*packet.Connack](c); ack.ReasonCode != packet.Success {
			t.Fatalf("CONNACK %s, want success", ack.ReasonCode)
		}
		ack := c.subscribe(1, packet.Subscription{Filter: "users/alice"}, packet.Subscription{Filter: "users/mallory"})
		if want := []packet.ReasonCode{packet.GrantedQoS0, packet.NotAuthorized}; !equalCodes(ack.ReasonCodes, want) {
			t.Fatalf("SUBACK %v, want %v: the user name is the certificate's CN", ack.ReasonCodes, want)
		}

		// A user name in CONNECT does not override the certificate.
		c2 := dialTLS(t, b.Addr, ca, ca.Client(t, "bob"), packet.V311)
		p := withPassword(v311("liar"), "alice", "")
		c2.send(p)
		expect[*packet.Connack](c2)
		if ack := c2.subscribe(1, packet.Subscription{Filter: "users/alice"}); ack.ReasonCodes[0] != packet.UnspecifiedError {
			t.Fatalf("SUBACK %v: a client with bob's certificate passed as alice", ack.ReasonCodes)
		}

		// Without a certificate the client is anonymous, and refused.
		anon := dialTLS(t, b.Addr, ca, nil, packet.V5)
		anon.send(v5("anon"))
		if ack := expect[*packet.Connack](anon); ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("CONNACK %s for a client without a certificate, want not authorized", ack.ReasonCode)
		}
	})

	t.Run("subject", func(t *testing.T) {
		var seen atomic.Value
		b := startTLS(t, ca, broker.IdentitySubject, plugin.AuthorizerFunc(func(c *plugin.Client, _ plugin.Action, _ string) bool {
			seen.Store(c.Username)
			return true
		}))
		cert := ca.Issue(t, testcert.Options{Subject: pkix.Name{CommonName: "sensor-7", OrganizationalUnit: []string{"Sensors"}, Organization: []string{"Example"}}})
		c := dialTLS(t, b.Addr, ca, cert, packet.V5)
		c.send(v5("sensor"))
		expect[*packet.Connack](c)
		c.subscribe(1, packet.Subscription{Filter: "x"})
		// OpenSSL's RFC 2253 form, most specific first, as Mosquitto's
		// use_subject_as_username gives it.
		if want := "CN=sensor-7,OU=Sensors,O=Example"; seen.Load() != want {
			t.Fatalf("user name %q, want %q", seen.Load(), want)
		}
	})
}
