package transport

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// TestAPIKeyInQueryTransport checks that the key replaces any parameter of
// the same name and leaves the rest of the query byte for byte (%20 stays:
// OData servers refuse "+").
func TestAPIKeyInQueryTransport(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.URL.RawQuery }))
	defer srv.Close()
	rt, err := NewAuthTransport(connectors.Auth{Type: "api_key", In: "query", Param: "api_token", Key: "k y"}, nil, nil)
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
		if _, err := NewAuthTransport(a, nil, nil); err == nil {
			t.Errorf("%+v accepted", a)
		}
	}
}
