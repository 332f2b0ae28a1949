package odata

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/connectors/transport"
)

// fakeClientCfg is fakeClient with the connector's configuration adjusted.
func fakeClientCfg(t *testing.T, s *fake.Server, mod func(*connectors.Config)) *Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/api/data/v9.2/", http.StripPrefix("/api/data/v9.2", s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	hc, err := transport.New(transport.Options{MaxRetries: 3, MinWait: time.Millisecond, MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cfg := connectors.Config{Name: "crm", BaseURL: srv.URL + "/api/data/v9.2/"}
	mod(&cfg)
	c, err := NewWithOptions(cfg, Options{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// altKeyServer serves accounts (GUID key, alternate key accountnumber) and
// parts (alternate key name + region, an integer).
func altKeyServer(t *testing.T) *fake.Server {
	t.Helper()
	s := fake.New(
		fake.EntitySet{Name: "accounts", Key: "accountid", Modified: "modifiedon", Fields: []string{"accountnumber", "name"},
			AlternateKeys: [][]string{{"accountnumber"}}},
		fake.EntitySet{Name: "parts", Key: "id", Modified: "modifiedon", Fields: []string{"name", "region", "price"},
			Types: map[string]string{"region": "Edm.Int32"}, AlternateKeys: [][]string{{"name", "region"}}},
	)
	for _, r := range []connectors.Record{
		{"accountnumber": "A-1", "name": "one"},
		{"accountnumber": "O'Brien & Sons/2", "name": "quoted"},
		{"accountnumber": "A-3", "name": "three"},
	} {
		if _, err := s.Put("accounts", r); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []connectors.Record{
		{"name": "bolt", "region": json.Number("1"), "price": "1.00"},
		{"name": "bolt", "region": json.Number("2"), "price": "2.00"},
		{"name": "it's, (odd)", "region": json.Number("1"), "price": "3.00"},
	} {
		if _, err := s.Put("parts", r); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

var altKeys = map[string]AlternateKey{
	"accounts": {Fields: []string{"accountnumber"}},
	"parts":    {Fields: []string{"name", "region"}, Types: map[string]string{"region": "Edm.Int32"}},
}

var (
	byNumber  = connectors.Entity{Name: "accounts", Key: "accountnumber", Modified: "modifiedon"}
	byNameReg = connectors.Entity{Name: "parts", Key: "name,region", Modified: "modifiedon"}
)

func TestFakeAlternateKeyGetAndRead(t *testing.T) {
	s := altKeyServer(t)
	c := fakeClientCfg(t, s, func(cfg *connectors.Config) { settingsIn(cfg).AlternateKeys = altKeys })

	recs, err := c.Get(t.Context(), byNumber, []string{"name"}, []string{"O'Brien & Sons/2", "A-3", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldValues(recs, "name"); !slices.Equal(got, []string{"quoted", "three"}) {
		t.Errorf("Get by accountnumber = %v", got)
	}

	var ids []string
	err = c.Read(t.Context(), connectors.Query{Entity: byNameReg, Fields: []string{"price"}}, func(p connectors.Page) error {
		ids = append(ids, fieldValues(p.Records, "name,region")...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"name='bolt',region=1", "name='bolt',region=2", "name='it''s, (odd)',region=1"}
	if !slices.Equal(ids, want) {
		t.Errorf("Read composite ids = %q, want %q", ids, want)
	}
	recs, err = c.Get(t.Context(), byNameReg, []string{"price"}, []string{want[2], want[1]})
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldValues(recs, "price"); !slices.Equal(got, []string{"2.00", "3.00"}) {
		t.Errorf("Get by composite key = %v", got)
	}
	if got := fieldValues(recs, "name,region"); !slices.Equal(got, []string{want[1], want[2]}) {
		t.Errorf("Get composite ids = %v", got)
	}
}

func TestFakeAlternateKeyWrite(t *testing.T) {
	for _, batch := range []int{0, 10} {
		s := altKeyServer(t)
		c := fakeClientCfg(t, s, func(cfg *connectors.Config) {
			settingsIn(cfg).AlternateKeys = altKeys
			settingsIn(cfg).BatchSize = batch
		})

		res, err := c.Write(t.Context(), byNumber, []connectors.WriteOp{
			{Op: connectors.OpUpdate, Key: "O'Brien & Sons/2", Fields: connectors.Record{"name": "renamed"}},
			{Op: connectors.OpDelete, Key: "A-3"},
			{Op: connectors.OpCreate, Fields: connectors.Record{"accountnumber": "N-1", "name": "new"}},
			{Op: connectors.OpUpdate, Key: "missing", Fields: connectors.Record{"name": "ghost"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil || res[0].ETag == "" || res[0].Record["name"] != "renamed" {
			t.Errorf("batch %d: update by alternate key: %+v", batch, res[0])
		}
		if res[1].Err != nil {
			t.Errorf("batch %d: delete by alternate key: %v", batch, res[1].Err)
		}
		if res[2].Err != nil || res[2].Key != "N-1" {
			t.Errorf("batch %d: create: key %q (want the alternate key N-1), %v", batch, res[2].Key, res[2].Err)
		}
		if !errors.Is(res[3].Err, connectors.ErrNotFound) {
			t.Errorf("batch %d: update of a missing alternate key: %v", batch, res[3].Err)
		}
		recs, _ := c.Get(t.Context(), byNumber, nil, []string{"A-1", "O'Brien & Sons/2", "A-3", "N-1"})
		if got := fieldValues(recs, "name"); !slices.Equal(got, []string{"new", "one", "renamed"}) {
			t.Errorf("batch %d: after writes: %v", batch, got)
		}

		// Composite: update one part, create one, delete one.
		res, err = c.Write(t.Context(), byNameReg, []connectors.WriteOp{
			{Op: connectors.OpUpdate, Key: "name='it''s, (odd)',region=1", Fields: connectors.Record{"price": "9.99"}},
			{Op: connectors.OpCreate, Fields: connectors.Record{"name": "nut", "region": json.Number("7"), "price": "0.10"}},
			{Op: connectors.OpDelete, Key: "region=2,name='bolt'"},
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Errorf("batch %d: composite op %d: %v", batch, i, r.Err)
			}
		}
		if res[1].Key != "name='nut',region=7" {
			t.Errorf("batch %d: composite create key = %q", batch, res[1].Key)
		}
		if res[0].Record["name,region"] != "name='it''s, (odd)',region=1" {
			t.Errorf("batch %d: composite update echo = %v", batch, res[0].Record)
		}
		if n := s.Len("parts"); n != 3 {
			t.Errorf("batch %d: parts = %d, want 3", batch, n)
		}
	}
}

// fieldValues returns the string form of field in each record, sorted.
func fieldValues(recs []connectors.Record, field string) []string {
	var out []string
	for _, r := range recs {
		if v, ok := scalarString(r[field]); ok {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

func TestDescribeCompositeAlternateKey(t *testing.T) {
	s := altKeyServer(t)
	c := fakeClientCfg(t, s, func(cfg *connectors.Config) {
		settingsIn(cfg).AlternateKeys = map[string]AlternateKey{
			"accounts": altKeys["accounts"],
			"parts":    altKeys["parts"],
			"missing":  {Fields: []string{"a", "b"}},
		}
	})
	schema, err := c.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if f := schema.Entity("parts").Field("name,region"); f == nil || f.Type != "Edm.String" {
		t.Errorf("parts has no field for its composite key: %+v", schema.Entity("parts"))
	}
	if f := schema.Entity("accounts").Field("accountnumber"); f == nil {
		t.Errorf("accounts lost accountnumber")
	}
	if n := len(schema.Entity("accounts").Fields); n != 4 { // accountid, accountnumber, name, modifiedon
		t.Errorf("accounts fields = %+v, want no synthetic field for a one-field key", schema.Entity("accounts").Fields)
	}
}
