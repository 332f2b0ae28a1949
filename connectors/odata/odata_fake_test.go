package odata

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/connectors/transport"
)

var (
	crmAccounts  = connectors.Entity{Name: "accounts", Key: "accountid", Modified: "modifiedon"}
	erpCustomers = connectors.Entity{Name: "customers", Key: "id", Modified: "lastModifiedDateTime"}
)

// fakeClient serves s under /api/data/v9.2, as Dataverse does, and returns
// a Client for it with fast backoff.
func fakeClient(t *testing.T, s *fake.Server, pageSize int) *Client {
	t.Helper()
	return serveFake(t, s, "/api/data/v9.2", connectors.Config{Name: "crm", PageSize: pageSize},
		func(root string) string { return root + "/" })
}

// bcClient serves s, a fake.NewERP server, under /api/v2.0, as Business
// Central does, and returns a Client for it configured by cfg with the base
// URL its documentation gives, …/api/v2.0/companies({id}); or, when cfg
// has an EntityPath, with the service root …/api/v2.0.
func bcClient(t *testing.T, s *fake.Server, cfg connectors.Config) *Client {
	t.Helper()
	cfg.Name = "bc"
	base := fake.BCCompanyURL
	if settingsIn(&cfg).EntityPath != "" {
		base = func(root string) string { return root }
	}
	return serveFake(t, s, "/api/v2.0", cfg, base)
}

// serveFake serves s under prefix and returns a Client for it with fast
// backoff, its base URL made by base from the service root's URL.
func serveFake(t *testing.T, s *fake.Server, prefix string, cfg connectors.Config, base func(root string) string) *Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	hc, err := transport.New(transport.Options{
		Auth:       connectors.Auth{Type: "bearer", Token: testToken},
		MaxRetries: 3,
		MinWait:    time.Millisecond,
		MaxWait:    10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.BaseURL = base(srv.URL + prefix)
	c, err := NewWithOptions(cfg, Options{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// steppingClock returns a clock that starts at t0 and advances by step on
// every call, so that each write gets its own stamp.
func steppingClock(t0 time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	now := t0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(step)
		return now
	}
}

func putAccounts(t *testing.T, s *fake.Server, names ...string) []string {
	t.Helper()
	var keys []string
	for _, n := range names {
		k, err := s.Put("accounts", connectors.Record{"name": n, "revenue": json.Number("1000.50")})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func TestFakeReadPaging(t *testing.T) {
	s := fake.NewCRM()
	putAccounts(t, s, "a", "b", "c", "d", "e", "f", "g")
	c := fakeClient(t, s, 3)

	var sizes []int
	var recs []connectors.Record
	err := c.Read(t.Context(), connectors.Query{Entity: crmAccounts, Fields: []string{"name", "revenue"}},
		func(p connectors.Page) error {
			sizes = append(sizes, len(p.Records))
			recs = append(recs, p.Records...)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sizes, []int{3, 3, 1}) {
		t.Errorf("page sizes = %v, want [3 3 1]", sizes)
	}
	for _, r := range recs {
		if r["accountid"] == nil || r["modifiedon"] == nil || r["name"] == nil {
			t.Errorf("record lacks key, modified or field: %v", r)
		}
		if _, ok := r["@odata.etag"].(string); !ok {
			t.Errorf("record lacks its etag: %v", r)
		}
		if r["revenue"] != json.Number("1000.50") {
			t.Errorf("revenue = %#v, want json.Number 1000.50", r["revenue"])
		}
		for k := range r {
			if k != "@odata.etag" && k[0] == '@' {
				t.Errorf("annotation %s kept", k)
			}
		}
	}
	if st := s.Stats(); st.Requests != 3 {
		t.Errorf("requests = %d, want 3", st.Requests)
	}
}

func TestFakeReadSince(t *testing.T) {
	s := fake.NewCRM()
	t0 := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)
	s.SetClock(steppingClock(t0, time.Second))
	putAccounts(t, s, "old1", "old2")
	since := t0.Add(2 * time.Second) // the stamp of old2
	putAccounts(t, s, "new1", "new2", "new3")
	c := fakeClient(t, s, 2)

	var names []string
	var last string
	err := c.Read(t.Context(), connectors.Query{Entity: crmAccounts, Since: since}, func(p connectors.Page) error {
		for _, r := range p.Records {
			names = append(names, r["name"].(string))
			m := r["modifiedon"].(string)
			if m < last {
				t.Errorf("modifiedon %s after %s: not ascending", m, last)
			}
			last = m
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"new1", "new2", "new3"}) {
		t.Errorf("names = %v, want the three changed after %s", names, since)
	}
}

func TestFakeFilterEncoding(t *testing.T) {
	s := fake.NewCRM()
	putAccounts(t, s, "A+B C", "A B C", "AB C")
	c := fakeClient(t, s, 0)
	var names []string
	err := c.Read(t.Context(), connectors.Query{Entity: crmAccounts, Filter: "name eq 'A+B C'"}, func(p connectors.Page) error {
		for _, r := range p.Records {
			names = append(names, r["name"].(string))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"A+B C"}) {
		t.Errorf("names = %q, want only \"A+B C\"", names)
	}
}

func TestFakeGet(t *testing.T) {
	s := fake.NewERP()
	if err := fake.SeedCustomers(s, 120); err != nil {
		t.Fatal(err)
	}
	c := bcClient(t, s, connectors.Config{PageSize: 20})
	var ids, want []string
	for i := range 120 {
		if i%2 == 0 {
			id := fake.Customer(i)["id"].(string)
			ids = append(ids, id)
			want = append(want, id)
		}
	}
	ids = append(ids, "00000000-0000-0000-0000-00000000dead") // absent
	recs, err := c.Get(t.Context(), erpCustomers, []string{"number", "displayName"}, ids)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r["id"].(string))
		if r["number"] == nil || r["lastModifiedDateTime"] == nil {
			t.Errorf("record lacks selected fields: %v", r)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got %d records, want %d", len(got), len(want))
	}
}

func TestFakeWrite(t *testing.T) {
	s := fake.NewCRM()
	keys := putAccounts(t, s, "existing", "to delete", "changed elsewhere")
	c := fakeClient(t, s, 0)

	etag := func(key string) string {
		e, ok := s.ETag("accounts", key)
		if !ok {
			t.Fatalf("no etag for %s", key)
		}
		return e
	}
	staleETag := etag(keys[2])
	if err := s.Patch("accounts", keys[2], connectors.Record{"name": "edited by a user"}); err != nil {
		t.Fatal(err)
	}
	missing := "00000000-0000-0000-0000-0000000000ff"

	ops := []connectors.WriteOp{
		{Op: connectors.OpCreate, Fields: connectors.Record{"name": "new", "revenue": json.Number("12.50")}},
		{Op: connectors.OpUpdate, Key: keys[0], ETag: etag(keys[0]), Fields: connectors.Record{"name": "renamed"}},
		{Op: connectors.OpDelete, Key: keys[1], ETag: etag(keys[1])},
		{Op: connectors.OpUpdate, Key: keys[2], ETag: staleETag, Fields: connectors.Record{"name": "lost"}},
		{Op: connectors.OpUpdate, Key: missing, Fields: connectors.Record{"name": "ghost"}},
		{Op: connectors.OpDelete, Key: missing},
	}
	res, err := c.Write(t.Context(), crmAccounts, ops)
	if err != nil {
		t.Fatal(err)
	}

	// create
	if res[0].Err != nil || res[0].Key == "" || res[0].ETag == "" {
		t.Fatalf("create: %+v", res[0])
	}
	got, ok := s.Get("accounts", res[0].Key)
	if !ok || got["name"] != "new" || got["revenue"] != json.Number("12.50") {
		t.Errorf("created record = %v", got)
	}
	// update
	if res[1].Err != nil || res[1].ETag == "" || res[1].ETag != etag(keys[0]) {
		t.Errorf("update: %+v, server etag %s", res[1], etag(keys[0]))
	}
	if got, _ := s.Get("accounts", keys[0]); got["name"] != "renamed" {
		t.Errorf("updated record = %v", got)
	}
	// delete
	if res[2].Err != nil {
		t.Errorf("delete: %v", res[2].Err)
	}
	if _, ok := s.Get("accounts", keys[1]); ok {
		t.Error("deleted record still there")
	}
	// stale
	if !errors.Is(res[3].Err, connectors.ErrStale) {
		t.Errorf("stale update: Err = %v, want ErrStale", res[3].Err)
	}
	if got, _ := s.Get("accounts", keys[2]); got["name"] != "edited by a user" {
		t.Errorf("stale update overwrote the record: %v", got)
	}
	// missing: update must not upsert
	if !errors.Is(res[4].Err, connectors.ErrNotFound) {
		t.Errorf("update of a missing record: Err = %v, want ErrNotFound", res[4].Err)
	}
	if !errors.Is(res[5].Err, connectors.ErrNotFound) {
		t.Errorf("delete of a missing record: Err = %v, want ErrNotFound", res[5].Err)
	}
	if _, ok := s.Get("accounts", missing); ok {
		t.Error("an update created the missing record")
	}
	if n := s.Len("accounts"); n != 3 {
		t.Errorf("accounts = %d, want 3 (3 + 1 created - 1 deleted)", n)
	}
}

func TestFakeThrottleRetry(t *testing.T) {
	s := fake.NewCRM()
	putAccounts(t, s, "a")
	c := fakeClient(t, s, 0)
	s.Throttle(1, time.Second)

	start := time.Now()
	var n int
	err := c.Read(t.Context(), connectors.Query{Entity: crmAccounts}, func(p connectors.Page) error {
		n += len(p.Records)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("retried after %v, want Retry-After's 1s honoured", elapsed)
	}
	if st := s.Stats(); st.Throttled != 1 || st.Requests != 2 || n != 1 {
		t.Errorf("stats = %+v, records = %d; want 1 throttled of 2 requests, 1 record", st, n)
	}
}
