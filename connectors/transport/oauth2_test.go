package transport

import (
	"io"
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
		Scopes: []string{"https://api.example/.default"}}, http.DefaultTransport)
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
		Scopes: []string{"https://api.example/.default"}}, http.DefaultTransport)
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
		if _, err := NewAuthTransport(a, nil); err == nil {
			t.Errorf("incomplete oauth2 settings %+v accepted", a.TokenURL)
		}
	}
}
