package rest

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// TestReadLimits: one read fetches at most max_pages pages and
// max_read_bytes of responses, as the odata connector's reads; a server
// that hands out a new cursor with every page, empty or not, fails the
// read with an error naming it and the setting. The server stops by
// itself after 2,000 pages, so that a read without limits ends too.
func TestReadLimits(t *testing.T) {
	tests := []struct {
		name     string
		records  int
		limits   connectors.ReadLimits
		want     string
		maxPages int64
	}{
		{"pages", 0, connectors.ReadLimits{MaxPages: 40},
			"read items: read limit reached: the server still had a next page after 40 pages, the most one read may fetch (setting max_pages)", 40},
		{"bytes", 10, connectors.ReadLimits{MaxBytes: 5_000},
			"read items: read limit reached: the responses took more than 5000 bytes, the most one read may take (setting max_read_bytes)", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var served atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := served.Add(1)
				var recs []string
				for i := range tt.records {
					recs = append(recs, fmt.Sprintf(`{"id":"%d-%d","name":"%s"}`, n, i, strings.Repeat("x", 40)))
				}
				next := fmt.Sprintf("c%d", n)
				if n >= 2000 {
					next = ""
				}
				fmt.Fprintf(w, `{"data":[%s],"next":"%s"}`, strings.Join(recs, ","), next)
			}))
			defer srv.Close()
			c, err := New(connectors.Config{Name: "t", BaseURL: srv.URL, Settings: &Settings{Limits: tt.limits, Resources: map[string]Resource{
				"items": {Records: "data", Paging: Paging{Style: "cursor", Next: "next", Param: "cursor"}},
			}}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = readIDs(t, c, connectors.Query{})
			if err == nil || err.Error() != tt.want || !errors.Is(err, connectors.ErrReadLimit) {
				t.Errorf("err = %v,\nwant %s", err, tt.want)
			}
			if served.Load() > tt.maxPages {
				t.Errorf("served %d pages, want at most %d", served.Load(), tt.maxPages)
			}
		})
	}
}
