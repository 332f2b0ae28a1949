package odata

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/transport"
)

const testToken = "t0k3n-secret"

// newTestClient serves h on an httptest server and returns a Client for it
// with bearer auth and fast retries. The service root is {server}/svc.
func newTestClient(t *testing.T, h http.Handler, mod func(*connectors.Config)) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := connectors.Config{
		Name:       "test",
		Type:       "odata",
		BaseURL:    srv.URL + "/svc/",
		Auth:       connectors.Auth{Type: "bearer", Token: testToken},
		MaxRetries: 2,
	}
	if mod != nil {
		mod(&cfg)
	}
	hc, err := transport.New(transport.Options{
		Auth:       cfg.Auth,
		MaxRetries: cfg.MaxRetries,
		MinWait:    time.Millisecond,
		MaxWait:    5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewWithOptions(cfg, Options{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// collection is the body of a collection response.
func collection(records []map[string]any, next string) map[string]any {
	if records == nil {
		records = []map[string]any{} // [] rather than null
	}
	body := map[string]any{"@odata.context": "$metadata#x", "value": records}
	if next != "" {
		body["@odata.nextLink"] = next
	}
	return body
}

// settingsIn returns cfg's odata settings, giving it empty ones first if
// it has none, for tests that set one setting at a time.
func settingsIn(cfg *connectors.Config) *Settings {
	if cfg.Settings == nil {
		cfg.Settings = &Settings{}
	}
	return cfg.Settings.(*Settings)
}
