package odata

import (
	"net/http"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// TestErrorsRedactQuerySecrets: an OData error names its request's path
// and query, and a query may hold a secret: a signature in base_url
// (?sig=…, as a shared-access URL has) or an api_key sent in the query,
// which a server may echo in its next link. Each such value is redacted,
// in a status error and in a transport error (a *url.Error, which names
// the whole URL); OData's own options stay, to say what was asked.
func TestErrorsRedactQuerySecrets(t *testing.T) {
	const sig, key = "planted-SIG-40c1", "planted-APIKEY-77ab"
	for _, failure := range []string{"status", "connection"} {
		t.Run(failure, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("$skiptoken") == "" {
					// The next link echoes the key and the signature.
					writeJSON(w, http.StatusOK, collection([]map[string]any{{"accountid": "1"}},
						"http://"+r.Host+r.URL.Path+"?sig="+sig+"&api_token="+key+"&$skiptoken=2"))
					return
				}
				if failure == "status" {
					writeJSON(w, http.StatusInternalServerError, map[string]any{"error": map[string]any{"code": "0x1", "message": "page 2 failed"}})
					return
				}
				hj, _ := w.(http.Hijacker)
				conn, _, _ := hj.Hijack()
				conn.Close()
			})
			c, _ := newTestClient(t, h, func(cfg *connectors.Config) {
				cfg.MaxRetries = 0
				cfg.Auth = connectors.Auth{Type: "api_key", In: "query", Param: "api_token", Key: key}
				cfg.BaseURL += "?sig=" + sig
			})
			err := c.Read(t.Context(), connectors.Query{Entity: accounts}, func(connectors.Page) error { return nil })
			if err == nil {
				t.Fatal("page 2 did not fail")
			}
			if msg := err.Error(); strings.Contains(msg, sig) || strings.Contains(msg, key) {
				t.Errorf("error shows a secret: %s", msg)
			} else if !strings.Contains(msg, "$skiptoken=2") || !strings.Contains(msg, "sig=REDACTED") {
				t.Errorf("error %q does not show the request with its secrets redacted", msg)
			}
		})
	}
}
