package odata

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// TestGetFolded: candidates of a match that ignores case are asked for with
// tolower and the values lower-cased (quotes doubled); a service that
// answers 400 to tolower gives ErrUnsupported, once: later calls do not
// ask again.
func TestGetFolded(t *testing.T) {
	e := connectors.Entity{Name: "contacts", Key: "id"}
	t.Run("tolower", func(t *testing.T) {
		var filter string
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			filter = r.URL.Query().Get("$filter")
			writeJSON(w, http.StatusOK, collection([]map[string]any{{"id": "1", "email": "o'brien@example.com"}}, ""))
		}), nil)
		recs, err := c.GetFolded(t.Context(), e, "email", []string{"email"}, []string{"O'Brien@Example.com", "Ann@X.org"})
		if err != nil {
			t.Fatal(err)
		}
		want := "tolower(email) eq 'o''brien@example.com' or tolower(email) eq 'ann@x.org'"
		if filter != want {
			t.Errorf("$filter = %q\nwant      %q", filter, want)
		}
		if len(recs) != 1 {
			t.Errorf("got %d records; want 1", len(recs))
		}
	})
	t.Run("refused", func(t *testing.T) {
		var asked atomic.Int32
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			asked.Add(1)
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": "0x80060888", "message": "The function 'tolower' is not supported"}})
		}), nil)
		for range 2 {
			_, err := c.GetFolded(t.Context(), e, "email", nil, []string{"A@x"})
			if !errors.Is(err, connectors.ErrUnsupported) {
				t.Fatalf("err = %v; want ErrUnsupported", err)
			}
		}
		if n := asked.Load(); n != 1 {
			t.Errorf("the service was asked %d times; want once", n)
		}
	})
}
