package transport

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"api_token=s3cret", "api_token=REDACTED"},
		{"a=1&b=&c", "a=REDACTED&b=REDACTED&c"},
	} {
		if got := RedactQuery(tc.in); got != tc.want {
			t.Errorf("RedactQuery(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	u, _ := url.Parse("https://user:pw@h.example/v1/a%2Fb?api_token=s3cret&page=2#frag")
	if got, want := RedactURL(u), "https://h.example/v1/a%2Fb?api_token=REDACTED&page=REDACTED"; got != want {
		t.Errorf("RedactURL = %q, want %q", got, want)
	}
	for _, tc := range []struct{ in, want string }{
		{`Get "https://h/v1?api_token=s3cret&x=1": EOF`, `Get "https://h/v1?api_token=REDACTED&x=REDACTED": EOF`},
		{"GET https://h/v1?k=s3cret (status: 500)", "GET https://h/v1?k=REDACTED (status: 500)"},
		{"no url here", "no url here"},
	} {
		if got := RedactText(tc.in); got != tc.want {
			t.Errorf("RedactText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	err := RedactError(&url.Error{Op: "Get", URL: "https://h/?k=s3cret", Err: errors.New("EOF")})
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("RedactError: %v", err)
	}
}

// TestAPIKeyInQueryTransport checks that the key replaces any parameter of
// the same name and leaves the rest of the query byte for byte (%20 stays:
// OData servers refuse "+").
func TestAPIKeyInQueryTransport(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.URL.RawQuery }))
	defer srv.Close()
	rt, err := NewAuthTransport(connectors.Auth{Type: "api_key", In: "query", Param: "api_token", Key: "k y"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/x?$filter=a%20eq%201&api_token=echoed", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "$filter=a%20eq%201&api_token=k%20y"; got != want {
		t.Errorf("query %q, want %q", got, want)
	}
	if req.URL.RawQuery != "$filter=a%20eq%201&api_token=echoed" {
		t.Errorf("the caller's request was changed: %q", req.URL.RawQuery)
	}
	for _, a := range []connectors.Auth{
		{Type: "api_key", In: "query", Key: "k"},
		{Type: "api_key", In: "query", Param: "a&b", Key: "k"},
		{Type: "api_key", In: "query", Param: "p"},
		{Type: "api_key", In: "body", Header: "X-Key", Key: "k"},
	} {
		if _, err := NewAuthTransport(a, nil); err == nil {
			t.Errorf("%+v accepted", a)
		}
	}
}
