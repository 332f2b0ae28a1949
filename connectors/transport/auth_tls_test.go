package transport

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

func TestBasicAndAPIKeyAuth(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	for _, tc := range []struct {
		auth         connectors.Auth
		header, want string
	}{
		{connectors.Auth{Type: "basic", Username: "alice", Password: "pa:ss"}, "Authorization", "Basic YWxpY2U6cGE6c3M="},
		{connectors.Auth{Type: "api_key", Header: "x-api-key", Key: "k-123"}, "X-Api-Key", "k-123"},
	} {
		c, err := New(Options{Auth: tc.auth, MaxRetries: 0})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if v := got.Get(tc.header); v != tc.want {
			t.Errorf("%s: %s = %q, want %q", tc.auth.Type, tc.header, v, tc.want)
		}
		rt, _ := NewAuthTransport(tc.auth, nil, nil)
		for _, s := range []string{fmt.Sprintf("%v", rt), fmt.Sprintf("%#v", rt), fmt.Sprintf("%+v", tc.auth)} {
			if strings.Contains(s, "pa:ss") || strings.Contains(s, "k-123") || strings.Contains(s, "YWxp") {
				t.Errorf("%s: %q shows the secret", tc.auth.Type, s)
			}
		}
	}
	for _, bad := range []connectors.Auth{
		{Type: "basic", Password: "x"},
		{Type: "api_key", Header: "X-Key"},
		{Type: "api_key", Header: "Bad Header", Key: "secret-value"},
	} {
		if _, err := New(Options{Auth: bad}); err == nil || strings.Contains(err.Error(), "secret-value") {
			t.Errorf("%+v: err = %v, want an error without the secret", bad.Type, err)
		}
	}
}

// writeCA writes srv's certificate as a PEM file, as a private CA's would be.
func writeCA(t *testing.T, srv *httptest.Server) string {
	path := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLSVerifiedAndCAFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	defer srv.Close()

	// Without the CA the self-signed certificate is refused, at once: a
	// certificate error is not retried.
	c, err := New(Options{MaxRetries: 3})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(srv.URL)
	var re *RetryError
	if err == nil || !errors.As(err, &re) || re.Attempts != 1 || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: err = %v, want one attempt failing on the certificate", err)
	}

	c, err = New(Options{MaxRetries: 0, CAFile: writeCA(t, srv)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("with ca_file: %v", err)
	}
	resp.Body.Close()

	// The CA makes the certificate trusted, not any host name: the test
	// certificate is for 127.0.0.1 and example.com, so "localhost" fails.
	u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	if _, err := c.Get(u); err == nil {
		t.Fatalf("host name mismatch accepted")
	}

	// A base transport that skips verification does not get its way.
	insecure := http.DefaultTransport.(*http.Transport).Clone()
	insecure.TLSClientConfig = insecureConfig()
	c, err = New(Options{MaxRetries: 0, CAFile: writeCA(t, srv), Base: insecure})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(u); err == nil {
		t.Fatalf("a base transport's InsecureSkipVerify was inherited")
	}

	for name, content := range map[string]string{"empty.pem": "", "junk.pem": "not a certificate"} {
		path := filepath.Join(t.TempDir(), name)
		os.WriteFile(path, []byte(content), 0o600)
		if _, err := New(Options{CAFile: path}); err == nil {
			t.Errorf("%s accepted as a CA file", name)
		}
	}
	if _, err := New(Options{CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Errorf("a missing CA file accepted")
	}
}
