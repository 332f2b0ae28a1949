package odata

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// idServer answers id-filtered queries, returning a record for every id
// in the filter except those in missing; it records the filters and the
// peak number of requests in flight.
type idServer struct {
	missing  map[string]bool
	mu       sync.Mutex
	filters  []string
	selects  []string
	inFlight atomic.Int32
	peak     atomic.Int32
}

func (s *idServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	time.Sleep(10 * time.Millisecond) // let requests overlap
	q := r.URL.Query()
	s.mu.Lock()
	s.filters = append(s.filters, q.Get("$filter"))
	s.selects = append(s.selects, q.Get("$select"))
	s.mu.Unlock()

	var recs []map[string]any
	for _, term := range strings.Split(q.Get("$filter"), " or ") {
		key, lit, ok := strings.Cut(term, " eq ")
		if !ok {
			http.Error(w, "bad filter "+term, 400)
			return
		}
		id := lit
		if strings.HasPrefix(lit, "'") {
			id = strings.ReplaceAll(strings.Trim(lit, "'"), "''", "'")
		}
		if !s.missing[id] {
			recs = append(recs, map[string]any{key: id, "name": "n" + id})
		}
	}
	writeJSON(w, 200, collection(recs, ""))
}

func guid(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", i) }

func TestGetChunksConcurrently(t *testing.T) {
	srv := &idServer{missing: map[string]bool{guid(7): true, guid(99): true}}
	c, _ := newTestClient(t, srv, func(cfg *connectors.Config) { cfg.MaxConcurrency = 2 })

	var ids []string
	for i := range 120 {
		ids = append(ids, guid(i))
	}
	ids = append(ids, guid(3), "") // duplicates and empties are ignored
	recs, err := c.Get(t.Context(), accounts, []string{"name"}, ids)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r["accountid"].(string))
	}
	slices.Sort(got)
	var want []string
	for i := range 120 {
		if i != 7 && i != 99 {
			want = append(want, guid(i))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %d records, want %d: %v", len(got), len(want), got)
	}
	if len(srv.filters) != 3 {
		t.Errorf("requests = %d, want 3 chunks (50, 50, 20)", len(srv.filters))
	}
	for _, f := range srv.filters {
		if strings.Contains(f, "'") {
			t.Errorf("GUIDs must be unquoted: %s", f)
		}
	}
	if p := srv.peak.Load(); p != 2 {
		t.Errorf("peak concurrency = %d, want 2", p)
	}
	if srv.selects[0] != "name,accountid,modifiedon" {
		t.Errorf("$select = %s", srv.selects[0])
	}
}

func TestGetStringKeys(t *testing.T) {
	srv := &idServer{}
	c, _ := newTestClient(t, srv, nil)
	e := connectors.Entity{Name: "customers", Key: "number"}
	recs, err := c.Get(t.Context(), e, nil, []string{"C1", "O'Brien"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Errorf("records = %v", recs)
	}
	if want := "number eq 'C1' or number eq 'O''Brien'"; srv.filters[0] != want {
		t.Errorf("$filter = %s, want %s", srv.filters[0], want)
	}
	if srv.selects[0] != "" {
		t.Errorf("no fields should send no $select, got %s", srv.selects[0])
	}
}

func TestGetFollowsPages(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("$skiptoken") == "" {
			writeJSON(w, 200, collection([]map[string]any{{"accountid": guid(1)}}, "http://"+r.Host+"/svc/accounts?$skiptoken=1"))
			return
		}
		writeJSON(w, 200, collection([]map[string]any{{"accountid": guid(2)}}, ""))
	})
	c, _ := newTestClient(t, h, nil)
	recs, err := c.Get(t.Context(), accounts, nil, []string{guid(1), guid(2)})
	if err != nil || len(recs) != 2 {
		t.Fatalf("records = %v, err = %v", recs, err)
	}
}

func TestGetError(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 400, map[string]any{"error": map[string]any{"code": "x", "message": "bad key"}})
	})
	c, _ := newTestClient(t, h, nil)
	_, err := c.Get(t.Context(), accounts, nil, []string{guid(1)})
	if err == nil || !strings.Contains(err.Error(), "get accounts") || !strings.Contains(err.Error(), "bad key") {
		t.Fatalf("err = %v", err)
	}
}

func TestGetNoIDs(t *testing.T) {
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("no request expected")
	}), nil)
	recs, err := c.Get(t.Context(), accounts, nil, []string{""})
	if err != nil || recs != nil {
		t.Fatalf("records = %v, err = %v", recs, err)
	}
}
