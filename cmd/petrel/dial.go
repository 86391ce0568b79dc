package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/coder/websocket"
	"github.com/spf13/pflag"
)

// This file holds how pub and sub reach a server: over TCP, TLS (the
// flags of mosquitto_pub: --cafile, --capath, --cert, --key, --insecure,
// --tls-version, --tls-use-os-certs) and WebSocket (-L ws:// and wss://).

// transportArgs are the flags that choose the transport.
type transportArgs struct {
	cafile, capath, cert, key, tlsVersion string
	insecure, osCerts                     bool
	// scheme is the -L URL's scheme ("" without -L) and wsPath its path,
	// for WebSocket URLs.
	scheme, wsPath string
}

func (t *transportArgs) flags(fs *pflag.FlagSet) {
	fs.StringVar(&t.cafile, "cafile", "", "connect with TLS, trusting the CA certificates in `FILE` (PEM)")
	fs.StringVar(&t.capath, "capath", "", "connect with TLS, trusting the CA certificates in `DIR`")
	fs.StringVar(&t.cert, "cert", "", "client certificate `FILE` (PEM) for TLS")
	fs.StringVar(&t.key, "key", "", "client private key `FILE` (PEM) for TLS")
	fs.BoolVar(&t.insecure, "insecure", false, "do not check that the server certificate's name matches the host")
	fs.StringVar(&t.tlsVersion, "tls-version", "", "the lowest TLS `VERSION` to use: tlsv1.2 or tlsv1.3")
	fs.BoolVar(&t.osCerts, "tls-use-os-certs", false, "connect with TLS, trusting the system's CA certificates")
}

// usesTLS reports whether the flags ask for TLS.
func (t *transportArgs) usesTLS() bool {
	return t.scheme == "mqtts" || t.scheme == "wss" || t.cafile != "" || t.capath != "" || t.osCerts || t.cert != ""
}

// tlsConfig builds the client's TLS configuration for host.
func (t *transportArgs) tlsConfig(host string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	switch t.tlsVersion {
	case "", "tlsv1.2":
	case "tlsv1.3":
		cfg.MinVersion = tls.VersionTLS13
	default:
		return nil, fmt.Errorf("--tls-version %s: want tlsv1.2 or tlsv1.3", t.tlsVersion)
	}
	if t.cafile != "" || t.capath != "" || t.osCerts {
		pool := x509.NewCertPool()
		if t.osCerts {
			sys, err := x509.SystemCertPool()
			if err != nil {
				return nil, fmt.Errorf("--tls-use-os-certs: %w", err)
			}
			pool = sys
		}
		if t.cafile != "" {
			pem, err := os.ReadFile(t.cafile)
			if err != nil {
				return nil, fmt.Errorf("--cafile: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--cafile %s: no PEM certificate in it", t.cafile)
			}
		}
		if t.capath != "" {
			entries, err := os.ReadDir(t.capath)
			if err != nil {
				return nil, fmt.Errorf("--capath: %w", err)
			}
			for _, e := range entries {
				if pem, err := os.ReadFile(filepath.Join(t.capath, e.Name())); err == nil && !e.IsDir() {
					pool.AppendCertsFromPEM(pem)
				}
			}
		}
		cfg.RootCAs = pool
	}
	if (t.cert == "") != (t.key == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if t.cert != "" {
		pair, err := tls.LoadX509KeyPair(t.cert, t.key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if t.insecure {
		// As mosquitto's --insecure: the chain is still verified, only
		// the name is not.
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return cfg, nil
}

// dialer returns how to open the connection to addr (host:port), or nil
// for plain TCP, which the client does itself.
func (t *transportArgs) dialer(host, addr string) (func(context.Context) (net.Conn, error), error) {
	var cfg *tls.Config
	if t.usesTLS() {
		var err error
		if cfg, err = t.tlsConfig(host); err != nil {
			return nil, err
		}
	}
	switch {
	case t.scheme == "ws" || t.scheme == "wss":
		u := url.URL{Scheme: t.scheme, Host: addr, Path: t.wsPath}
		if u.Path == "" {
			u.Path = "/mqtt"
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		return func(ctx context.Context) (net.Conn, error) {
			ws, _, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"mqtt"}})
			if err != nil {
				return nil, fmt.Errorf("WebSocket %s: %w", u.String(), err)
			}
			// NetConn ends with the context it is given: the connection
			// must outlive the dial.
			return websocket.NetConn(context.Background(), ws, websocket.MessageBinary), nil
		}, nil
	case cfg != nil:
		d := &tls.Dialer{Config: cfg}
		return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }, nil
	}
	return nil, nil
}

// tlsFailure explains a TLS verification error in terms of the flags that
// fix it, or returns "" for other errors.
func tlsFailure(err error) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknown):
		return "TLS: the server's certificate is signed by an authority not trusted here: give its CA with --cafile (" + err.Error() + ")"
	case errors.As(err, &host):
		return "TLS: the server's certificate is not for this host name: connect by a name it lists, or use --insecure (" + err.Error() + ")"
	case errors.As(err, &invalid):
		return "TLS: the server's certificate is not valid: " + err.Error()
	case errors.As(err, &verify):
		return "TLS: cannot verify the server's certificate: " + err.Error()
	}
	return ""
}
