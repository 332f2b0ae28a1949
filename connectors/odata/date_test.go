package odata

import (
	"net/http"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// TestReadPagesCarryServerDate: each page carries the server's Date header,
// so that the engine caps a watermark by the clock that stamps the records;
// a server that sends none, or a malformed one, gives a zero Date.
func TestReadPagesCarryServerDate(t *testing.T) {
	served := time.Date(2026, 12, 4, 15, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name, header string
		want         time.Time
	}{
		{"date", served.Format(http.TimeFormat), served},
		{"none", "", time.Time{}},
		{"malformed", "yesterday", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header == "" {
					w.Header()["Date"] = nil // net/http adds none then
				} else {
					w.Header().Set("Date", tc.header)
				}
				writeJSON(w, http.StatusOK, collection([]map[string]any{{"id": "1"}}, ""))
			}), nil)
			var got []time.Time
			err := c.Read(t.Context(), connectors.Query{Entity: connectors.Entity{Name: "x", Key: "id"}}, func(p connectors.Page) error {
				got = append(got, p.Date)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !got[0].Equal(tc.want) {
				t.Errorf("page dates = %v; want [%v]", got, tc.want)
			}
		})
	}
}
