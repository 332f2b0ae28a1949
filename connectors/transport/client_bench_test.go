package transport_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/couplerhq/coupler/connectors/transport"
)

// BenchmarkClientPost is a write through the client transport.New makes
// (its redirect policy, retries, per-attempt timeout and metrics) against
// one through a bare http.Client, both over loopback to a server that
// answers at once: the client's own cost a request, which a first sync of
// single requests pays once a record.
//
//	go test ./connectors/transport -run '^$' -bench ClientPost -benchmem -cpu 1
func BenchmarkClientPost(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"accountid":"00000000-0000-0000-0000-000000000001","modifiedon":"2026-12-06T10:00:00Z"}`))
	}))
	defer srv.Close()
	body := []byte(`{"name":"Customer 1","accountnumber":"C000001","telephone1":"+1 555 0100"}`)
	layered, err := transport.New(transport.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		client *http.Client
	}{{"bare", &http.Client{}}, {"transport.New", layered}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, srv.URL+"/accounts", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Prefer", "return=representation")
				resp, err := c.client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
