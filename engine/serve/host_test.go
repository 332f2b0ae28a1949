package serve

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors/redact"
)

// request sends one request to s's handler with the given Host and
// headers, and returns the status and body.
func request(t *testing.T, s *Server, method, path, host string, header map[string]string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// TestHostChecked: a page on another site can rebind its own name to
// 127.0.0.1 and read what serve answers, since to the browser it is the
// page's own origin; its requests then carry that name as Host. Every
// endpoint answers only a Host that cannot be such a name (a loopback
// name, an IP address) or one the operator allowed, unless the request
// carries the token; with TokenForReads, the page and /metrics need the
// token whatever the Host.
func TestHostChecked(t *testing.T) {
	load := func() (*Project, error) { return testProject("CUSTOMER"), nil }
	bearer := map[string]string{"Authorization": "Bearer s3cret"}
	basic := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("coupler:s3cret"))}
	for _, tc := range []struct {
		name   string
		cfg    Config
		path   string
		host   string
		header map[string]string
		code   int
	}{
		{"page, loopback name", Config{}, "/", "localhost:7700", nil, 200},
		{"page, loopback address", Config{}, "/", "127.0.0.1:7700", nil, 200},
		{"page, IPv6 loopback", Config{}, "/", "[::1]:7700", nil, 200},
		{"page, rebound name", Config{}, "/", "evil.example:7700", nil, 403},
		{"metrics, rebound name", Config{}, "/metrics", "evil.example:7700", nil, 403},
		{"healthz, rebound name", Config{}, "/healthz", "evil.example", nil, 403},
		{"not found, rebound name", Config{}, "/nope", "evil.example", nil, 403},
		{"page, allowed name", Config{AllowedHosts: []string{"sync-1.internal"}}, "/", "SYNC-1.internal:7700", nil, 200},
		{"page, name not allowed", Config{AllowedHosts: []string{"sync-1.internal"}}, "/", "sync-2.internal", nil, 403},
		{"page, an IP address", Config{Token: "s3cret", Listen: "0.0.0.0:0"}, "/", "10.0.0.5:7700", nil, 200},
		{"page with a token, rebound name", Config{Token: "s3cret", Listen: "0.0.0.0:0"}, "/", "evil.example", nil, 403},
		{"page with a token, rebound name, the token given", Config{Token: "s3cret", Listen: "0.0.0.0:0"}, "/", "evil.example", bearer, 200},
		{"token for reads: page without it", Config{Token: "s3cret", TokenForReads: true}, "/", "localhost", nil, 401},
		{"token for reads: metrics without it", Config{Token: "s3cret", TokenForReads: true}, "/metrics", "127.0.0.1", nil, 401},
		{"token for reads: a wrong one", Config{Token: "s3cret", TokenForReads: true}, "/", "localhost", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"token for reads: bearer", Config{Token: "s3cret", TokenForReads: true}, "/metrics", "localhost", bearer, 200},
		{"token for reads: a browser's basic", Config{Token: "s3cret", TokenForReads: true}, "/", "localhost", basic, 200},
		{"token for reads: healthz needs none", Config{Token: "s3cret", TokenForReads: true}, "/healthz", "localhost", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Load, cfg.Runner = load, &fakeRunner{runs: make(chan string, 10)}
			if cfg.Listen == "" {
				cfg.Listen = "127.0.0.1:0"
			}
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			code, body := request(t, s, http.MethodGet, tc.path, tc.host, tc.header)
			want := tc.code
			if tc.path == "/nope" && want == 200 {
				want = 404
			}
			if code != want {
				t.Errorf("GET %s with Host %s: %d %s; want %d", tc.path, tc.host, code, strings.TrimSpace(body), want)
			}
		})
	}
	if _, err := New(Config{Load: load, Runner: &fakeRunner{}, TokenForReads: true}); err == nil {
		t.Error("TokenForReads without a token accepted")
	}
}

// TestStatusPageRedacts: the page shows a run's error and its records'
// failures through the Redactor: a server's error may echo a credential.
func TestStatusPageRedacts(t *testing.T) {
	red := redact.New()
	red.AddSecret("planted-TOKEN-51aa")
	r := &fakeRunner{runs: make(chan string, 10), err: errors.New("read accounts: 401: bad token planted-TOKEN-51aa"),
		result: Result{Failures: []string{"C-1: Authorization: Bearer planted-TOKEN-51aa refused"}}}
	s, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r, Redactor: red})
	next(t, r.runs)
	settle(t, s)
	_, page := get(t, base+"/")
	if strings.Contains(page, "planted-TOKEN") || !strings.Contains(page, "bad token REDACTED") || !strings.Contains(page, "Bearer REDACTED refused") {
		t.Errorf("status page:\n%s", page)
	}
}
