package odata

import (
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

func TestReadParams(t *testing.T) {
	acc := connectors.Entity{Name: "accounts", Key: "accountid", Modified: "modifiedon"}
	since := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		q       connectors.Query
		want    string // encoded query
		wantErr string
	}{
		{"all", connectors.Query{Entity: acc}, "", ""},
		{"fields get key and modified",
			connectors.Query{Entity: acc, Fields: []string{"name", "accountid", "name"}},
			"$select=name,accountid,modifiedon", ""},
		{"filter only",
			connectors.Query{Entity: acc, Filter: "statecode eq 0"},
			"$filter=statecode%20eq%200", ""},
		{"since",
			connectors.Query{Entity: acc, Since: since},
			"$filter=modifiedon%20gt%202024-01-02T03:04:05Z&$orderby=modifiedon%20asc", ""},
		{"since with filter is parenthesised",
			connectors.Query{Entity: acc, Filter: "a eq 1 or b eq 2", Since: since},
			"$filter=(a%20eq%201%20or%20b%20eq%202)%20and%20modifiedon%20gt%202024-01-02T03:04:05Z&$orderby=modifiedon%20asc", ""},
		{"fractional seconds and zone",
			connectors.Query{Entity: acc, Since: time.Date(2024, 1, 2, 4, 4, 5, 120_000_000, time.FixedZone("CET", 3600))},
			"$filter=modifiedon%20gt%202024-01-02T03:04:05.12Z&$orderby=modifiedon%20asc", ""},
		{"since without modified field",
			connectors.Query{Entity: connectors.Entity{Name: "x", Key: "id"}, Since: since},
			"", "no modified field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := readParams(tt.q)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := encodeQuery(ps); got != tt.want {
				t.Errorf("query\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestEncodeQueryEscaping(t *testing.T) {
	tests := []struct {
		value, want string
	}{
		{"name eq 'A B'", "name%20eq%20'A%20B'"},
		{"name eq 'A+B'", "name%20eq%20'A%2BB'"},
		{"a,b,c", "a,b,c"},
		{"x eq 'a&b=c#d?e;f%'", "x%20eq%20'a%26b%3Dc%23d%3Fe%3Bf%25'"},
		{"contains(name,'ü')", "contains(name,'%C3%BC')"},
		{"t gt 2024-01-02T03:04:05Z", "t%20gt%202024-01-02T03:04:05Z"},
	}
	for _, tt := range tests {
		got := encodeQuery([]param{{"$filter", tt.value}})
		if got != "$filter="+tt.want {
			t.Errorf("encode(%q) = %s, want $filter=%s", tt.value, got, tt.want)
		}
		if strings.Contains(got, "+") {
			t.Errorf("encode(%q) = %s contains '+'", tt.value, got)
		}
	}
	if got := encodeQuery([]param{{"$select", ""}, {"$top", "5"}}); got != "$top=5" {
		t.Errorf("empty values not skipped: %s", got)
	}
}

func TestRecordPath(t *testing.T) {
	tests := []struct {
		entity, key, want string
	}{
		{"accounts", "5C3F2B1A-0000-4E2A-9F00-0123456789AB", "accounts(5C3F2B1A-0000-4E2A-9F00-0123456789AB)"},
		{"customers", "C0001", "customers('C0001')"},
		{"customers", "O'Brien", "customers('O''Brien')"},
		{"customers", "a/b c+d", "customers('a%2Fb%20c%2Bd')"},
		{"customers", "(x),y", "customers('%28x%29%2Cy')"},
		{"companies(1)/customers", "k", "companies(1)/customers('k')"},
		{"odd name", "k", "odd%20name('k')"},
	}
	for _, tt := range tests {
		if got := recordPath(tt.entity, tt.key); got != tt.want {
			t.Errorf("recordPath(%q, %q) = %s, want %s", tt.entity, tt.key, got, tt.want)
		}
	}
}

func TestIDFilter(t *testing.T) {
	got := idFilter("id", []string{"0a1b2c3d-0000-0000-0000-000000000001", "C1", "it's"})
	want := "id eq 0a1b2c3d-0000-0000-0000-000000000001 or id eq 'C1' or id eq 'it''s'"
	if got != want {
		t.Errorf("idFilter = %s, want %s", got, want)
	}
}

func TestEntityIDKey(t *testing.T) {
	tests := []struct{ id, want string }{
		{"https://org.crm.dynamics.com/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000001)", "00000000-0000-0000-0000-000000000001"},
		{"http://h/svc/customers('C0001')", "C0001"},
		{"http://h/svc/customers('O''Brien')", "O'Brien"},
		{"http://h/svc/customers('a%2Fb%20c')", "a/b c"},
		{"http://h/svc/customers('A(1)')", "A(1)"},
		{"http://h/svc/lines(doc='1',line=2)", ""},
		{"http://h/svc/customers", ""},
		{"", ""},
		{"http://h/svc/customers()", ""},
		{"http://h/svc/customers('%zz')", ""},
	}
	for _, tt := range tests {
		if got := entityIDKey(tt.id); got != tt.want {
			t.Errorf("entityIDKey(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

// TestServiceRoot checks where entity sets and $metadata are addressed
// for a base URL and entity path: $metadata (and $batch) at the service
// root, the sets below the entity path, and a base URL ending in a
// Business Central company split into the two.
func TestServiceRoot(t *testing.T) {
	const bc = "https://api.businesscentral.dynamics.com/v2.0/t1/Production/api/v2.0"
	tests := []struct {
		base, entityPath string
		set, metadata    string // want; set is customers with $top=1
	}{
		{"https://h/api/data/v9.2", "", "https://h/api/data/v9.2/customers?$top=1", "https://h/api/data/v9.2/$metadata"},
		{"https://h/api/data/v9.2/", "", "https://h/api/data/v9.2/customers?$top=1", "https://h/api/data/v9.2/$metadata"},
		// Business Central's documented API URL.
		{bc + "/companies(a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1)", "",
			bc + "/companies(a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1)/customers?$top=1", bc + "/$metadata"},
		{bc + "/companies(a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1)/", "",
			bc + "/companies(a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1)/customers?$top=1", bc + "/$metadata"},
		// The same, with the company given as entity_path.
		{bc, "companies(a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1)",
			bc + "/companies(a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1)/customers?$top=1", bc + "/$metadata"},
		{bc, "/companies(1)/",
			bc + "/companies(1)/customers?$top=1", bc + "/$metadata"},
		// Business Central's OData web services, on premises with a tenant.
		{"https://h:8443/BC/ODataV4/Company('CRONUS%20USA')/?tenant=t1", "",
			"https://h:8443/BC/ODataV4/Company('CRONUS%20USA')/customers?tenant=t1&$top=1", "https://h:8443/BC/ODataV4/$metadata?tenant=t1"},
		// Not a company: a set addressed by key is no service root's end.
		{"https://h/svc/mycompanies(1)", "", "https://h/svc/mycompanies(1)/customers?$top=1", "https://h/svc/mycompanies(1)/$metadata"},
	}
	for _, tt := range tests {
		c, err := New(connectors.Config{BaseURL: tt.base, Settings: &Settings{EntityPath: tt.entityPath}})
		if err != nil {
			t.Fatalf("base %s, entity path %q: %v", tt.base, tt.entityPath, err)
		}
		if got := c.resourceURL(c.setPath("customers"), param{"$top", "1"}); got != tt.set {
			t.Errorf("base %s, entity path %q: set url\n got %s\nwant %s", tt.base, tt.entityPath, got, tt.set)
		}
		if got := c.resourceURL("$metadata"); got != tt.metadata {
			t.Errorf("base %s, entity path %q: $metadata url\n got %s\nwant %s", tt.base, tt.entityPath, got, tt.metadata)
		}
	}
}

func TestServiceRootRefused(t *testing.T) {
	tests := []struct{ base, entityPath, want string }{
		{"https://h/api/v2.0/companies(1)", "companies(1)", "already ends in companies(1)"},
		{"https://h/api/v2.0", "/", "not a path below the service root"},
		{"https://h/api/v2.0", "companies(1)?x=1", "not a path below the service root"},
		{"https://h/api/v2.0", "a//b", "empty, . or .. segment"},
		{"https://h/api/v2.0", "../other", "empty, . or .. segment"},
	}
	for _, tt := range tests {
		_, err := New(connectors.Config{BaseURL: tt.base, Settings: &Settings{EntityPath: tt.entityPath}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("base %s, entity path %q: err = %v, want %q", tt.base, tt.entityPath, err, tt.want)
		}
	}
}

// TestPayloadURL checks how a URL in a payload is resolved (OData JSON
// Format v4.01, "Relative URLs"): against the context URL, itself resolved
// against the request URL; against the request URL when there is no
// context URL.
func TestPayloadURL(t *testing.T) {
	const req = "https://h/api/v2.0/companies(1)/customers?$select=id"
	tests := []struct{ context, link, want string }{
		// SAP CAP, for a set below an entity.
		{"../$metadata#customers", "companies(1)/customers?$skiptoken=3", "https://h/api/v2.0/companies(1)/customers?$skiptoken=3"},
		// An absolute context URL, as Business Central writes it.
		{"https://h/api/v2.0/$metadata#companies(1)/customers", "companies(1)/customers?$skiptoken=3", "https://h/api/v2.0/companies(1)/customers?$skiptoken=3"},
		// An absolute-path link.
		{"../$metadata#customers", "/api/v2.0/companies(1)/customers?$skiptoken=3", "https://h/api/v2.0/companies(1)/customers?$skiptoken=3"},
		// No context URL: the request URL is the base.
		{"", "customers?$skiptoken=3", "https://h/api/v2.0/companies(1)/customers?$skiptoken=3"},
		// An absolute link ignores both.
		{"../$metadata#customers", "https://other/x?$skiptoken=3", "https://other/x?$skiptoken=3"},
	}
	for _, tt := range tests {
		got, err := payloadURL(req, tt.context, tt.link)
		if err != nil {
			t.Errorf("context %q, link %q: %v", tt.context, tt.link, err)
			continue
		}
		if got.String() != tt.want {
			t.Errorf("context %q, link %q:\n got %s\nwant %s", tt.context, tt.link, got, tt.want)
		}
	}
}
