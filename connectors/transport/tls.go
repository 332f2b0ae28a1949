package transport

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
)

// withCAFile returns a clone of base that trusts the certificate
// authorities in the PEM file at path on top of the system's. It keeps
// certificate and host name verification on: coupler offers no way to turn
// TLS verification off, only this way to trust a private CA.
func withCAFile(base http.RoundTripper, path string) (http.RoundTripper, error) {
	t, ok := base.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("ca_file %s: the base transport is not an *http.Transport", path)
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", path)
	}
	t = t.Clone()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.TLSClientConfig != nil {
		cfg = t.TLSClientConfig.Clone()
	}
	cfg.RootCAs = pool
	cfg.InsecureSkipVerify = false // never inherited from a caller's config
	t.TLSClientConfig = cfg
	return t, nil
}
