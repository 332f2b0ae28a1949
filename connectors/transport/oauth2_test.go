package transport

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// tokenServer answers the client credentials grant for one client and
// counts how often it was asked.
func tokenServer(t *testing.T, secret string, calls *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		id, sec, ok := r.BasicAuth()
		if !ok {
			id, sec = r.Form.Get("client_id"), r.Form.Get("client_secret")
		}
		if r.Form.Get("grant_type") != "client_credentials" || id != "app" || sec != secret {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		if r.Form.Get("scope") != "https://api.example/.default" {
			t.Errorf("scope = %q", r.Form.Get("scope"))
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"tok-1","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestOAuth2ClientCredentialsTokenIsCachedAndSent(t *testing.T) {
	var tokens atomic.Int32
	ts := tokenServer(t, "s3cret-value", &tokens)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer tok-1" {
			t.Errorf("Authorization = %q", got)
		}
	}))
	defer api.Close()
	rt, err := NewAuthTransport(connectors.Auth{Type: "oauth2", TokenURL: ts.URL, ClientID: "app", ClientSecret: "s3cret-value",
		Scopes: []string{"https://api.example/.default"}}, http.DefaultTransport, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: rt}
	for range 3 {
		resp, err := client.Get(api.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := tokens.Load(); n != 1 {
		t.Errorf("token endpoint asked %d times for 3 requests; want 1 (cached)", n)
	}
}

func TestOAuth2ErrorsNeverShowTheSecret(t *testing.T) {
	var tokens atomic.Int32
	ts := tokenServer(t, "the-right-secret", &tokens)
	rt, err := NewAuthTransport(connectors.Auth{Type: "oauth2", TokenURL: ts.URL, ClientID: "app", ClientSecret: "planted-SECRET-42",
		Scopes: []string{"https://api.example/.default"}}, http.DefaultTransport, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&http.Client{Transport: rt}).Get("http://127.0.0.1:1/")
	if err == nil {
		t.Fatal("a rejected client got through")
	}
	if strings.Contains(err.Error(), "planted-SECRET-42") {
		t.Errorf("the error shows the secret: %v", err)
	}
	for _, a := range []connectors.Auth{{Type: "oauth2", ClientID: "app"}, {Type: "oauth2", TokenURL: ts.URL, ClientSecret: "x"}} {
		if _, err := NewAuthTransport(a, nil, nil); err == nil {
			t.Errorf("incomplete oauth2 settings %+v accepted", a.TokenURL)
		}
	}
}

// TestOAuth2TokenRequestStaysOnItsOrigin: the token request carries the
// client secret in its body, and Go's client resends a body on a 307 or
// 308; a token endpoint that redirects to another host must not get it
// sent there. A redirect on the same origin is followed, as the
// connectors' own requests are.
func TestOAuth2TokenRequestStaysOnItsOrigin(t *testing.T) {
	const secret = "planted-SECRET-5e1d"
	var stolen atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), secret) || strings.Contains(r.Header.Get("Authorization"), "Basic") {
			stolen.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"stolen","token_type":"Bearer","expires_in":3600}`)
	}))
	defer elsewhere.Close()
	var tokens atomic.Int32
	real := tokenServer(t, secret, &tokens)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, elsewhere.URL+"/token", http.StatusTemporaryRedirect)
		case "/moved":
			http.Redirect(w, r, "/token", http.StatusPermanentRedirect)
		case "/token":
			// The same origin's endpoint hands the request on to the
			// real one, so that a followed redirect is seen to work.
			req, _ := http.NewRequest(r.Method, real.URL, r.Body)
			req.Header = r.Header.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
		}
	}))
	defer redirector.Close()
	api := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer api.Close()
	for _, tc := range []struct {
		path string
		ok   bool
	}{{"/away", false}, {"/moved", true}} {
		c, err := New(Options{MaxRetries: 0, Auth: connectors.Auth{Type: "oauth2", TokenURL: redirector.URL + tc.path, ClientID: "app",
			ClientSecret: secret, Scopes: []string{"https://api.example/.default"}}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Get(api.URL)
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("token url %s: err = %v, want ok = %v", tc.path, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "another origin") {
			t.Errorf("token url %s: %v does not say the redirect went to another origin", tc.path, err)
		}
	}
	if n := stolen.Load(); n != 0 {
		t.Errorf("the client secret was sent to another host %d time(s)", n)
	}
}

// TestOAuth2TokenRequestTrustsCAFile: a token endpoint behind the same
// private CA as the service is trusted through ca_file, as the service is.
func TestOAuth2TokenRequestTrustsCAFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"tok-1","token_type":"Bearer","expires_in":3600}`)
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	c, err := New(Options{MaxRetries: 0, CAFile: writeCA(t, srv), Auth: connectors.Auth{Type: "oauth2", TokenURL: srv.URL + "/token",
		ClientID: "app", ClientSecret: "s3cret-value"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(srv.URL + "/data")
	if err != nil {
		t.Fatalf("token endpoint behind the ca_file's CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d: the token was not sent", resp.StatusCode)
	}
}
