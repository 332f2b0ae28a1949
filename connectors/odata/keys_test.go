package odata

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

func TestTypedLiteral(t *testing.T) {
	tests := []struct {
		typ, in, want string
		bad           bool
	}{
		{"", "A-1", "'A-1'", false},
		{"Edm.String", "O'Brien", "'O''Brien'", false},
		{"Edm.String", "a,b=c)", "'a,b=c)'", false},
		{"Edm.String", "", "''", false},
		{"Edm.Guid", "0000000A-0000-0000-0000-000000000001", "0000000a-0000-0000-0000-000000000001", false},
		{"Edm.Guid", "A-1", "", true},
		{"Edm.Int32", "42", "42", false},
		{"Edm.Int32", "-7", "-7", false},
		{"Edm.Int32", "1 or 1 eq 1", "", true},
		{"Edm.Int64", "1.5", "", true},
		{"Edm.Decimal", "1.50", "1.50", false},
		{"Edm.Double", "1e5", "1e5", false},
		{"Edm.Decimal", "1)", "", true},
		{"Edm.Boolean", "true", "true", false},
		{"Edm.Boolean", "yes", "", true},
		{"Edm.Date", "2026-01-02", "2026-01-02", false},
		{"Edm.Date", "2026-1-2", "", true},
		{"Edm.DateTimeOffset", "2026-01-02T03:04:05+01:00", "2026-01-02T02:04:05Z", false},
		{"Edm.Binary", "x", "", true},
	}
	for _, tt := range tests {
		got, err := typedLiteral(tt.typ, tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("typedLiteral(%q, %q) = %q, %v; want %q, bad %v", tt.typ, tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestParsePredicate(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
	}{
		{"a='x',b=1", map[string]string{"a": "x", "b": "1"}},
		{"a='x,y=z',b=1", map[string]string{"a": "x,y=z", "b": "1"}},
		{"a='it''s'", map[string]string{"a": "it's"}},
		{"a = 'x' , b = 2", map[string]string{"a": "x", "b": "2"}},
		{"a=''", map[string]string{"a": ""}},
		{"a='x'", map[string]string{"a": "x"}},
	}
	for _, tt := range tests {
		got, err := parsePredicate(tt.in)
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("parsePredicate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "x", "'x'", "a='x", "a='x'b=1", "a=1,a=2", "a=(1)", "a=", "1a=2", "a='x',"} {
		if got, err := parsePredicate(bad); err == nil {
			t.Errorf("parsePredicate(%q) = %v, want an error", bad, got)
		}
	}
}

func TestKeyerAlternate(t *testing.T) {
	c := &Client{altKeys: map[string]AlternateKey{
		"accounts": {Fields: []string{"accountnumber"}},
		"parts":    {Fields: []string{"name", "region"}, Types: map[string]string{"region": "Edm.Int32"}},
	}}
	single := c.keyer(connectors.Entity{Name: "accounts", Key: "accountnumber"})
	composite := c.keyer(connectors.Entity{Name: "parts", Key: "name,region"})
	primary := c.keyer(connectors.Entity{Name: "accounts", Key: "accountid"})

	paths := []struct {
		k        keyer
		id, want string
		bad      bool
	}{
		{single, "A-1", "accounts(accountnumber='A-1')", false},
		{single, "O'Brien & Sons/1", "accounts(accountnumber='O''Brien%20%26%20Sons%2F1')", false},
		{single, "", "", true},
		{composite, "name='x',region=1", "parts(name='x',region=1)", false},
		{composite, "region=1,name='a,b'", "parts(name='a,b',region=1)", false},
		{composite, "name='x',region='1'", "parts(name='x',region=1)", false}, // typed by the key, not the id
		{composite, "name='x',region=1 or 1", "", true},
		{composite, "name='x'", "", true},
		{composite, "name='x',region=1,other=2", "", true},
		{composite, "name='x',region=1)/x(", "", true},
		{primary, "00000000-0000-0000-0000-000000000001", "accounts(00000000-0000-0000-0000-000000000001)", false},
	}
	for _, tt := range paths {
		got, err := tt.k.path("parts", tt.id)
		if tt.k.alt == nil || tt.k.alt.Fields[0] == "accountnumber" {
			got, err = tt.k.path("accounts", tt.id)
		}
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("path(%q) = %q, %v; want %q, bad %v", tt.id, got, err, tt.want, tt.bad)
		}
	}

	if f, err := single.filter([]string{"A-1", "B'2"}); err != nil || f != "accountnumber eq 'A-1' or accountnumber eq 'B''2'" {
		t.Errorf("single filter = %q, %v", f, err)
	}
	if f, err := composite.filter([]string{"name='x',region=1", "name='y',region=2"}); err != nil ||
		f != "(name eq 'x' and region eq 1) or (name eq 'y' and region eq 2)" {
		t.Errorf("composite filter = %q, %v", f, err)
	}
	if _, err := composite.filter([]string{"garbage"}); err == nil {
		t.Error("composite filter of a malformed id: want an error")
	}
	if s, _ := composite.selectFields([]string{"name,region", "price"}, connectors.Entity{Name: "parts", Key: "name,region", Modified: "modifiedon"}); s != "price,name,region,modifiedon" {
		t.Errorf("composite select = %q", s)
	}

	recs := []connectors.Record{{"name": "it's", "region": jsonNumber("3")}, {"name": "no region"}}
	composite.fill(recs)
	if recs[0]["name,region"] != "name='it''s',region=3" {
		t.Errorf("fill = %v", recs[0])
	}
	if _, ok := recs[1]["name,region"]; ok {
		t.Errorf("fill of a record without the key's parts = %v", recs[1])
	}
	// The filled id addresses the record it came from.
	if p, err := composite.path("parts", recs[0]["name,region"].(string)); err != nil || p != "parts(name='it''s',region=3)" {
		t.Errorf("path of a filled id = %q, %v", p, err)
	}
}

func TestCheckAlternateKeys(t *testing.T) {
	for _, k := range []AlternateKey{
		{},
		{Fields: []string{"a", "a"}},
		{Fields: []string{"a b"}},
		{Fields: []string{"a"}, Types: map[string]string{"b": "Edm.Int32"}},
		{Fields: []string{"a"}, Types: map[string]string{"a": "Edm.Stream"}},
	} {
		if err := checkAlternateKeys(map[string]AlternateKey{"e": k}); err == nil {
			t.Errorf("checkAlternateKeys(%+v): want an error", k)
		}
	}
	if err := checkAlternateKeys(map[string]AlternateKey{"e": {Fields: []string{"a", "b"}, Types: map[string]string{"b": "Edm.Guid"}}}); err != nil {
		t.Error(err)
	}
}

// FuzzAlternateKeyPath checks that no id can address anything but one
// record of the entity set: the path is the set and one parenthesised
// predicate, and it parses back to the values it was made from.
func FuzzAlternateKeyPath(f *testing.F) {
	for _, s := range []string{"name='x',region=1", "name='a''b,c)',region=-2", "x", "name='x',region=1)/y("} {
		f.Add(s)
	}
	k := keyer{field: "name,region", alt: &AlternateKey{Fields: []string{"name", "region"}, Types: map[string]string{"region": "Edm.Int64"}}}
	f.Fuzz(func(t *testing.T, id string) {
		p, err := k.path("parts", id)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "parts(") || !strings.HasSuffix(p, ")") || strings.ContainsAny(p[6:len(p)-1], "()/?#") {
			t.Fatalf("path(%q) = %q escapes its key segment", id, p)
		}
		want, _ := parsePredicate(id)
		pred, _ := k.predicate(id)
		got, err := parsePredicate(pred)
		if err != nil || got["name"] != want["name"] {
			t.Fatalf("predicate(%q) = %q parses to %v, %v; want name %q", id, pred, got, err, want["name"])
		}
	})
}

func jsonNumber(s string) any { return json.Number(s) }

func TestBindAlternateKeys(t *testing.T) {
	c := &Client{altKeys: map[string]AlternateKey{
		"accounts": {Fields: []string{"accountnumber"}},
		"parts":    {Fields: []string{"name", "region"}, Types: map[string]string{"region": "Edm.Int32"}},
	}}
	const guid = "00000000-0000-0000-0000-000000000001"
	in := connectors.Record{
		"parentaccountid@odata.bind": "/accounts(O'Brien)",
		"ownerid@odata.bind":         "/systemusers(" + guid + ")",
		"primaryaccount@odata.bind":  "/accounts(" + guid + ")",
		"partid@odata.bind":          "/parts(region=2,name='bolt')",
		"cleared@odata.bind":         nil,
		"name":                       "/accounts(x)",
	}
	got, err := c.bindAlternateKeys(in)
	if err != nil {
		t.Fatal(err)
	}
	want := connectors.Record{
		"parentaccountid@odata.bind": "/accounts(accountnumber='O''Brien')",
		"ownerid@odata.bind":         "/systemusers(" + guid + ")",
		"primaryaccount@odata.bind":  "/accounts(" + guid + ")",
		"partid@odata.bind":          "/parts(name='bolt',region=2)",
		"cleared@odata.bind":         nil,
		"name":                       "/accounts(x)",
	}
	if !maps.Equal(got, want) {
		t.Errorf("bindAlternateKeys =\n%v\nwant\n%v", got, want)
	}
	if in["parentaccountid@odata.bind"] != "/accounts(O'Brien)" {
		t.Error("the input was modified")
	}
	if _, err := c.bindAlternateKeys(connectors.Record{"p@odata.bind": "/parts(garbage)"}); err == nil {
		t.Error("a bind to a malformed composite key: want an error")
	}
}

// TestBindByTheLookupMappingsKey binds GUIDs to sets with an alternate key:
// the key the set's mappings use decides how the binding is addressed, not
// the id's shape, since an alternate key may hold GUIDs too (a BC id kept
// on the Dataverse account).
func TestBindByTheLookupMappingsKey(t *testing.T) {
	const guid = "7ce0af2e-0963-460f-9b1f-0014aea3e117"
	bcID := func(lookupKey string) AlternateKey {
		return AlternateKey{Fields: []string{"bc_id"}, Types: map[string]string{"bc_id": "Edm.Guid"}, LookupKey: lookupKey}
	}
	number := func(lookupKey string) AlternateKey {
		return AlternateKey{Fields: []string{"accountnumber"}, LookupKey: lookupKey}
	}
	for _, tc := range []struct {
		name string
		alt  AlternateKey
		id   string
		want string
	}{
		{"guid alternate key, mappings keyed by it", bcID("bc_id"), guid, "/accounts(bc_id=" + guid + ")"},
		{"guid alternate key, mappings unknown", bcID(""), guid, "/accounts(bc_id=" + guid + ")"},
		{"guid alternate key, mappings keyed by the primary key", bcID("accountid"), guid, "/accounts(" + guid + ")"},
		{"string key holding a guid, mappings keyed by it", number("accountnumber"), guid, "/accounts(accountnumber='" + guid + "')"},
		{"string key, mappings keyed by the primary key", number("accountid"), guid, "/accounts(" + guid + ")"},
		{"string key, mappings unknown, a guid", number(""), guid, "/accounts(" + guid + ")"},
		{"string key, mappings unknown, not a guid", number(""), "A-1", "/accounts(accountnumber='A-1')"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{altKeys: map[string]AlternateKey{"accounts": tc.alt}}
			got, err := c.bindAlternateKeys(connectors.Record{"parentaccountid@odata.bind": "/accounts(" + tc.id + ")"})
			if err != nil {
				t.Fatal(err)
			}
			if got["parentaccountid@odata.bind"] != tc.want {
				t.Errorf("bind = %v, want %s", got["parentaccountid@odata.bind"], tc.want)
			}
		})
	}
}
