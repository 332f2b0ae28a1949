package odata

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
)

// Service roots of the two services, as their documentation gives them.
const (
	bcRoot       = "https://api.businesscentral.dynamics.com/v2.0/tenant/production/api/v2.0"
	dataverseURL = "https://org.crm.dynamics.com/api/data/v9.2"
)

func eq(f string, v any) *connectors.Compare {
	return &connectors.Compare{Field: f, Op: connectors.Eq, Value: v}
}

// TestPushFilter: the conditions the engine offers, written as OData 4.0
// $filter; those OData cannot say are kept. Against Business Central, an
// or across two different fields is kept too: "Using filter expressions
// in OData URIs" allows or only between filters on the same field.
func TestPushFilter(t *testing.T) {
	or := func(l, r connectors.Condition) *connectors.Or { return &connectors.Or{Left: l, Right: r} }
	and := func(l, r connectors.Condition) *connectors.And { return &connectors.And{Left: l, Right: r} }
	match := func(f string, op connectors.MatchOp, s string) *connectors.Match {
		return &connectors.Match{Field: f, Op: op, Text: s}
	}
	tests := []struct {
		name   string
		conds  []connectors.Condition
		pushed string
		kept   []int
		// bcPushed and bcKept are what Business Central gets instead,
		// when bcDiffers.
		bcPushed  string
		bcKept    []int
		bcDiffers bool
	}{
		{name: "equality", conds: []connectors.Condition{eq("blocked", " ")}, pushed: `blocked eq ' '`},
		{name: "conjuncts", conds: []connectors.Condition{eq("statecode", 0), eq("customertypecode", 3)},
			pushed: `(statecode eq 0) and (customertypecode eq 3)`},
		{name: "quote", conds: []connectors.Condition{eq("name", "O'Neil")}, pushed: `name eq 'O''Neil'`},
		{name: "boolean field", conds: []connectors.Condition{eq("isdisabled", true)}, pushed: `isdisabled eq true`},
		{name: "null", conds: []connectors.Condition{eq("parentid", nil)}, pushed: `parentid eq null`},
		{name: "ordering", conds: []connectors.Condition{&connectors.Compare{Field: "creditLimit", Op: connectors.Gt, Value: 5}},
			pushed: `creditLimit gt 5`},
		{name: "negative number", conds: []connectors.Condition{&connectors.Compare{Field: "creditLimit", Op: connectors.Ge, Value: -2.5}},
			pushed: `creditLimit ge -2.5`},
		{name: "date", conds: []connectors.Condition{&connectors.Compare{Field: "modifiedon", Op: connectors.Gt,
			Value: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}}, pushed: `modifiedon gt 2024-01-01T00:00:00Z`},
		{name: "in", conds: []connectors.Condition{&connectors.In{Field: "country", Values: []any{"US", "CA"}}},
			pushed: `(country eq 'US' or country eq 'CA')`},
		{name: "in of one", conds: []connectors.Condition{&connectors.In{Field: "country", Values: []any{"US"}}},
			pushed: `country eq 'US'`},
		{name: "text matches on one field", conds: []connectors.Condition{or(match("name", connectors.StartsWith, "A"), match("name", connectors.EndsWith, "z"))},
			pushed: `(startswith(name,'A')) or (endswith(name,'z'))`},
		{name: "contains", conds: []connectors.Condition{match("name", connectors.Contains, "it's")}, pushed: `contains(name,'it''s')`},
		{name: "or on one field", conds: []connectors.Condition{or(eq("a", 1), eq("a", 2))}, pushed: `(a eq 1) or (a eq 2)`},
		{name: "and of ors on one field each", conds: []connectors.Condition{and(or(eq("a", 1), eq("a", 2)), eq("b", 3))},
			pushed: `((a eq 1) or (a eq 2)) and (b eq 3)`},
		{name: "or across two fields", conds: []connectors.Condition{eq("type", "Person"), or(eq("a", 1), eq("b", 2))},
			pushed: `(type eq 'Person') and ((a eq 1) or (b eq 2))`, bcDiffers: true, bcPushed: `type eq 'Person'`, bcKept: []int{1}},
		{name: "or across two fields, nested", conds: []connectors.Condition{or(and(eq("a", 1), eq("b", 2)), eq("a", 3))},
			pushed: `((a eq 1) and (b eq 2)) or (a eq 3)`, bcDiffers: true, bcKept: []int{0}},
		{name: "field that is no OData name", conds: []connectors.Condition{eq("a.b", 1), eq("$x", 1), eq("ok", 1)},
			pushed: `ok eq 1`, kept: []int{0, 1}},
		{name: "value that has no literal", conds: []connectors.Condition{eq("a", []int{1}), eq("b", struct{}{})},
			pushed: ``, kept: []int{0, 1}},
		{name: "or with an operand that cannot be written", conds: []connectors.Condition{or(eq("a", 1), eq("a b", 2))},
			pushed: ``, kept: []int{0}},
		{name: "nothing", conds: nil, pushed: ``},
	}
	for _, tt := range tests {
		for _, svc := range []struct{ name, root string }{{"Dataverse", dataverseURL}, {"Business Central", bcRoot}} {
			c, err := New(connectors.Config{Name: "x", Type: "odata", BaseURL: svc.root})
			if err != nil {
				t.Fatal(err)
			}
			wantPushed, wantKept := tt.pushed, tt.kept
			if svc.root == bcRoot && tt.bcDiffers {
				wantPushed, wantKept = tt.bcPushed, tt.bcKept
			}
			pushed, kept := c.PushFilter(erpCustomers, tt.conds)
			if pushed != wantPushed || !slices.Equal(kept, wantKept) {
				t.Errorf("%s, %s: pushed %q, kept %v; want %q, %v", tt.name, svc.name, pushed, kept, wantPushed, wantKept)
			}
		}
	}
}

func TestIsBusinessCentral(t *testing.T) {
	tests := []struct {
		root string
		want bool
	}{
		{bcRoot, true},
		{"https://api.businesscentral.dynamics.com/v2.0/tenant/production/api/contoso/app1/v1.0/companies(1)", true},
		{"https://bc.example.com:7048/BC240/api/v2.0", true},
		{"https://bc.example.com:7048/BC240/api/v2.0/companies(5e7b2c1a-0000-0000-0000-000000000000)", true},
		{"https://bc.example.com:7048/BC240/api/contoso/app1/v1.0", true},
		{"https://bc.example.com:7048/BC240/ODataV4/Company('CRONUS')", true},
		{dataverseURL, false},
		{"https://services.odata.org/V4/TripPinService", false},
		{"http://localhost:4004/odata/v4/catalog", false},
		{"http://localhost:4004/api/v1", false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.root)
		if err != nil {
			t.Fatal(err)
		}
		if got := isBusinessCentral(u); got != tt.want {
			t.Errorf("isBusinessCentral(%s) = %v, want %v", tt.root, got, tt.want)
		}
	}
}

// TestPushedFilterAgainstBusinessCentral reads the strict fake of Business
// Central with what PushFilter pushes: an or on one field is sent and
// answered, an or across two fields is kept, so that the read succeeds
// (the fake, like the service, answers 400 to such a $filter).
func TestPushedFilterAgainstBusinessCentral(t *testing.T) {
	erp := fake.NewERP()
	if err := fake.SeedCustomers(erp, 5); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
	t.Cleanup(srv.Close)
	c, err := New(connectors.Config{Name: "bc", Type: "odata", BaseURL: fake.BCCompanyURL(srv.URL + "/api/v2.0")})
	if err != nil {
		t.Fatal(err)
	}
	c0 := fake.Customer(0)
	conds := []connectors.Condition{
		&connectors.Or{Left: eq("number", c0["number"]), Right: eq("number", "none")},
		&connectors.Or{Left: eq("blocked", "All"), Right: eq("city", c0["city"])},
	}
	pushed, kept := c.PushFilter(erpCustomers, conds)
	if !slices.Equal(kept, []int{1}) {
		t.Fatalf("kept %v, want the or across two fields", kept)
	}
	var got []connectors.Record
	err = c.Read(t.Context(), connectors.Query{Entity: erpCustomers, Filter: pushed}, func(p connectors.Page) error {
		got = append(got, p.Records...)
		return nil
	})
	if err != nil {
		t.Fatalf("read with $filter=%s: %v", pushed, err)
	}
	if len(got) != 1 || got[0]["id"] != c0["id"] {
		t.Errorf("read %d records, want customer 0", len(got))
	}
	err = c.Read(t.Context(), connectors.Query{Entity: erpCustomers, Filter: "(blocked eq 'All') or (city eq 'x')"}, func(connectors.Page) error { return nil })
	if err == nil {
		t.Error("the fake took an or across two fields; Business Central answers 400")
	}
}
