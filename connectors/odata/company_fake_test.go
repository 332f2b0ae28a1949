package odata

import (
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
)

// TestFakeBCCompanyURL points the connector at the strict Business Central
// fake with the base URL its documentation gives, …/api/v2.0/companies({id}),
// and uses everything: describe ($metadata at the root), reads over
// several pages, reads by key, the explained URL, and writes one by one and
// in $batch requests (at the root, with inner URLs below the company),
// with and without change sets. Before the service root and the entity
// path were told apart, describe and every $batch went to
// companies({id})/$metadata and companies({id})/$batch: 404.
func TestFakeBCCompanyURL(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  connectors.Config
	}{
		{"one request per write", connectors.Config{PageSize: 4}},
		{"batch_size", connectors.Config{PageSize: 4, Settings: &Settings{BatchSize: 3}}},
		{"atomicity batch", connectors.Config{PageSize: 4, Settings: &Settings{BatchSize: 3, Atomicity: AtomicityBatch}}},
		{"entity_path", connectors.Config{PageSize: 4, Settings: &Settings{BatchSize: 3, EntityPath: "companies(" + fake.BCCompanyID + ")"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := fake.NewERP()
			if err := fake.SeedCustomers(s, 10); err != nil {
				t.Fatal(err)
			}
			checkBCCompany(t, s, bcClient(t, s, tt.cfg))
		})
	}
}

func checkBCCompany(t *testing.T, s *fake.Server, c *Client) {
	t.Helper()
	schema, err := c.Describe(t.Context())
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if schema.Entity("customers") == nil {
		t.Errorf("describe lists no customers: %+v", schema)
	}

	var n, pages int
	err = c.Read(t.Context(), connectors.Query{Entity: erpCustomers, Fields: []string{"displayName"}}, func(p connectors.Page) error {
		n += len(p.Records)
		pages++
		return nil
	})
	if err != nil || n != 10 || pages != 3 {
		t.Fatalf("read %d records in %d pages (err %v), want 10 in 3", n, pages, err)
	}
	u, err := c.ExplainRead(connectors.Query{Entity: erpCustomers, Fields: []string{"displayName"}})
	if err != nil || !strings.Contains(u, "/api/v2.0/companies("+fake.BCCompanyID+")/customers?") {
		t.Errorf("explained read %s (err %v), want it below the company", u, err)
	}

	id0, id1 := fake.Customer(0)["id"].(string), fake.Customer(1)["id"].(string)
	recs, err := c.Get(t.Context(), erpCustomers, []string{"displayName"}, []string{id0, id1})
	if err != nil || len(recs) != 2 {
		t.Fatalf("get: %d records, err %v", len(recs), err)
	}

	etag, _ := s.ETag("customers", id0)
	ops := []connectors.WriteOp{
		{Op: connectors.OpCreate, Fields: connectors.Record{"displayName": "new"}},
		{Op: connectors.OpUpdate, Key: id0, ETag: etag, Fields: connectors.Record{"displayName": "renamed"}},
		{Op: connectors.OpDelete, Key: id1},
	}
	res, err := c.Write(t.Context(), erpCustomers, ops)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("write %d (%s): %v", i, ops[i].Op, r.Err)
		}
	}
	if got, ok := s.Get("customers", res[0].Key); !ok || got["displayName"] != "new" {
		t.Errorf("created record %q = %v", res[0].Key, got)
	}
	if got, _ := s.Get("customers", id0); got["displayName"] != "renamed" {
		t.Errorf("updated record = %v", got)
	}
	if _, ok := s.Get("customers", id1); ok {
		t.Error("deleted record still there")
	}
}

// TestFakeRelativeNextLinks reads several pages from the Business Central
// fake sending relative links, as SAP CAP does: a context URL relative to
// the request (../$metadata#…) and next links relative to it
// (companies({id})/customers?$skiptoken=…). Resolved against the request
// URL, as before, the second page was asked for at
// companies({id})/companies({id})/customers: 404.
func TestFakeRelativeNextLinks(t *testing.T) {
	s := fake.NewERP()
	if err := fake.SeedCustomers(s, 10); err != nil {
		t.Fatal(err)
	}
	s.SetRelativeLinks(true)
	c := bcClient(t, s, connectors.Config{PageSize: 3})
	var n, pages int
	err := c.Read(t.Context(), connectors.Query{Entity: erpCustomers}, func(p connectors.Page) error {
		n += len(p.Records)
		pages++
		return nil
	})
	if err != nil || n != 10 || pages != 4 {
		t.Fatalf("read %d records in %d pages (err %v), want 10 in 4", n, pages, err)
	}
	// Reads by key follow the same links when a chunk spans pages.
	var ids []string
	for i := range 10 {
		ids = append(ids, fake.Customer(i)["id"].(string))
	}
	recs, err := c.Get(t.Context(), erpCustomers, nil, ids)
	if err != nil || len(recs) != 10 {
		t.Fatalf("get: %d records, err %v", len(recs), err)
	}
}
