package fake

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// csdl is the part of a CSDL document the tests look at, decoded with the
// namespaces checked.
type csdl struct {
	XMLName      xml.Name `xml:"http://docs.oasis-open.org/odata/ns/edmx Edmx"`
	Version      string   `xml:"Version,attr"`
	DataServices struct {
		Schemas []struct {
			Namespace string `xml:"Namespace,attr"`
			Types     []struct {
				Name     string `xml:"Name,attr"`
				Abstract bool   `xml:"Abstract,attr"`
				Key      []struct {
					Name string `xml:"Name,attr"`
				} `xml:"http://docs.oasis-open.org/odata/ns/edm Key>PropertyRef"`
				Props []struct {
					Name        string `xml:"Name,attr"`
					Type        string `xml:"Type,attr"`
					Nullable    string `xml:"Nullable,attr"`
					Annotations []struct {
						Term string `xml:"Term,attr"`
					} `xml:"http://docs.oasis-open.org/odata/ns/edm Annotation"`
				} `xml:"http://docs.oasis-open.org/odata/ns/edm Property"`
				Navs []struct {
					Name string `xml:"Name,attr"`
					Type string `xml:"Type,attr"`
				} `xml:"http://docs.oasis-open.org/odata/ns/edm NavigationProperty"`
			} `xml:"http://docs.oasis-open.org/odata/ns/edm EntityType"`
			Container struct {
				Name string `xml:"Name,attr"`
				Sets []struct {
					Name     string `xml:"Name,attr"`
					Type     string `xml:"EntityType,attr"`
					Bindings []struct {
						Path   string `xml:"Path,attr"`
						Target string `xml:"Target,attr"`
					} `xml:"http://docs.oasis-open.org/odata/ns/edm NavigationPropertyBinding"`
				} `xml:"http://docs.oasis-open.org/odata/ns/edm EntitySet"`
			} `xml:"http://docs.oasis-open.org/odata/ns/edm EntityContainer"`
		} `xml:"http://docs.oasis-open.org/odata/ns/edm Schema"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edmx DataServices"`
}

func decodeCSDL(t *testing.T, body []byte) csdl {
	t.Helper()
	// Every token must be well-formed, strictly.
	dec := xml.NewDecoder(bytes.NewReader(body))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, body)
		}
	}
	var doc csdl
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("decode CSDL: %v\n%s", err, body)
	}
	return doc
}

// crmSets are Dataverse-like sets: accounts with a served lookup
// (transactioncurrencyid), an unserved one (ownerid) and declared types.
func crmSets() []EntitySet {
	return []EntitySet{
		{
			Name: "accounts", Key: "accountid", Modified: "modifiedon",
			Fields:  []string{"accountid", "name", "creditlimit", "statecode", "modifiedon"},
			Types:   map[string]string{"creditlimit": "Edm.Decimal", "statecode": "Edm.Int32", "revenue": "Edm.Decimal"},
			Lookups: map[string]string{"ownerid": "systemusers", "transactioncurrencyid": "transactioncurrencies"},
		},
		{
			Name: "transactioncurrencies", Key: "transactioncurrencyid", Modified: "modifiedon",
			Fields: []string{"isocurrencycode", "currencyname"},
		},
	}
}

func TestMetadataOverHTTP(t *testing.T) {
	s := New(crmSets()...)
	s.SetNamespace("Microsoft.Dynamics.CRM")
	c := newClient(t, http.StripPrefix("/api/data/v9.2", s))
	c.base += "/api/data/v9.2"

	resp := c.do(http.MethodGet, "/$metadata", "")
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	if got := resp.header.Get("Content-Type"); got != "application/xml" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := resp.header.Get("OData-Version"); got != "4.0" {
		t.Errorf("OData-Version = %q", got)
	}
	if !bytes.HasPrefix(resp.body, []byte(`<?xml version="1.0" encoding="utf-8"?>`)) {
		t.Errorf("no XML declaration: %.60s", resp.body)
	}
	doc := decodeCSDL(t, resp.body)
	if doc.Version != "4.0" || len(doc.DataServices.Schemas) != 1 {
		t.Fatalf("Version %q, %d schemas", doc.Version, len(doc.DataServices.Schemas))
	}
	sc := doc.DataServices.Schemas[0]
	if sc.Namespace != "Microsoft.Dynamics.CRM" {
		t.Errorf("Namespace = %q", sc.Namespace)
	}
	var names []string
	for _, ty := range sc.Types {
		names = append(names, ty.Name)
	}
	if want := []string{"account", "transactioncurrency", "systemuser"}; !reflect.DeepEqual(names, want) {
		t.Errorf("entity types %v, want %v", names, want)
	}
	acc := sc.Types[0]
	if len(acc.Key) != 1 || acc.Key[0].Name != "accountid" {
		t.Errorf("account key %v", acc.Key)
	}
	type prop struct{ name, typ, nullable, annotation string }
	var props []prop
	for _, p := range acc.Props {
		a := ""
		if len(p.Annotations) > 0 {
			a = p.Annotations[0].Term
		}
		props = append(props, prop{p.Name, p.Type, p.Nullable, a})
	}
	wantProps := []prop{
		{"accountid", "Edm.Guid", "false", ""},
		{"name", "Edm.String", "", ""},
		{"creditlimit", "Edm.Decimal", "", ""},
		{"statecode", "Edm.Int32", "", ""},
		{"modifiedon", "Edm.DateTimeOffset", "", coreComputed},
		{"revenue", "Edm.Decimal", "", ""},
		{"_ownerid_value", "Edm.Guid", "", coreComputed},
		{"_transactioncurrencyid_value", "Edm.Guid", "", coreComputed},
	}
	if !reflect.DeepEqual(props, wantProps) {
		t.Errorf("account properties\n got %v\nwant %v", props, wantProps)
	}
	if len(acc.Navs) != 2 || acc.Navs[0].Name != "ownerid" || acc.Navs[0].Type != "Microsoft.Dynamics.CRM.systemuser" ||
		acc.Navs[1].Name != "transactioncurrencyid" || acc.Navs[1].Type != "Microsoft.Dynamics.CRM.transactioncurrency" {
		t.Errorf("account navigation properties %+v", acc.Navs)
	}
	if stub := sc.Types[2]; !stub.Abstract || len(stub.Key) != 0 || len(stub.Props) != 0 {
		t.Errorf("stub type %+v, want abstract and empty", stub)
	}
	sets := sc.Container.Sets
	if len(sets) != 2 || sets[0].Name != "accounts" || sets[0].Type != "Microsoft.Dynamics.CRM.account" ||
		sets[1].Name != "transactioncurrencies" || sets[1].Type != "Microsoft.Dynamics.CRM.transactioncurrency" {
		t.Fatalf("entity sets %+v", sets)
	}
	// Only the served target is bound.
	if b := sets[0].Bindings; len(b) != 1 || b[0].Path != "transactioncurrencyid" || b[0].Target != "transactioncurrencies" {
		t.Errorf("bindings %+v", b)
	}

	// HEAD has the headers and no body; other methods are refused.
	if r := c.do(http.MethodHead, "/$metadata", ""); r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("Content-Type") != "application/xml" {
		t.Errorf("HEAD: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	if r := c.do(http.MethodPost, "/$metadata", "{}"); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d Allow %q", r.status, r.header.Get("Allow"))
	}
	// A query option does not change the answer.
	if r := c.do(http.MethodGet, "/$metadata?$format=xml", ""); r.status != http.StatusOK || !bytes.Equal(r.body, resp.body) {
		t.Errorf("with $format: %d", r.status)
	}
}

func TestSchemaMatchesDefinitions(t *testing.T) {
	tests := []struct {
		name string
		sets []EntitySet
		want []connectors.EntitySchema
	}{
		{
			name: "BC-like, no types",
			sets: []EntitySet{{Name: "customers", Key: "id", Modified: "lastModifiedDateTime", Fields: []string{"number", "displayName"}}},
			want: []connectors.EntitySchema{{
				Name: "customers", Type: "Coupler.Fake.customer", Key: []string{"id"},
				Fields: []connectors.FieldSchema{
					{Name: "id", Type: "Edm.Guid"},
					{Name: "number", Type: "Edm.String", Nullable: true},
					{Name: "displayName", Type: "Edm.String", Nullable: true},
					{Name: "lastModifiedDateTime", Type: "Edm.DateTimeOffset", Nullable: true},
				},
			}},
		},
		{
			name: "typed key, modified placed by Fields, annotations skipped",
			sets: []EntitySet{{
				Name: "items", Key: "number", Modified: "changed",
				Fields: []string{"changed", "price", "x@odata.bind", "price"},
				Types:  map[string]string{"number": "Edm.String", "price": "Edm.Decimal"},
			}},
			want: []connectors.EntitySchema{{
				Name: "items", Type: "Coupler.Fake.item", Key: []string{"number"},
				Fields: []connectors.FieldSchema{
					{Name: "number", Type: "Edm.String"},
					{Name: "changed", Type: "Edm.DateTimeOffset", Nullable: true},
					{Name: "price", Type: "Edm.Decimal", Nullable: true},
				},
			}},
		},
		{
			name: "lookups: served, unserved, already a field, clashing with a field",
			sets: []EntitySet{
				{
					Name: "contacts", Key: "contactid",
					Fields:  []string{"_parentcustomerid_value", "fullname", "owner"},
					Types:   map[string]string{"_parentcustomerid_value": "Edm.String"},
					Lookups: map[string]string{"parentcustomerid": "accounts", "ownerid": "systemusers", "owner": "systemusers", "": "x", "empty": ""},
				},
				{Name: "accounts", Key: "accountid"},
			},
			want: []connectors.EntitySchema{
				{Name: "accounts", Type: "Coupler.Fake.account", Key: []string{"accountid"},
					Fields: []connectors.FieldSchema{{Name: "accountid", Type: "Edm.Guid"}}},
				{
					Name: "contacts", Type: "Coupler.Fake.contact", Key: []string{"contactid"},
					Fields: []connectors.FieldSchema{
						{Name: "contactid", Type: "Edm.Guid"},
						{Name: "_parentcustomerid_value", Type: "Edm.String", Nullable: true},
						{Name: "fullname", Type: "Edm.String", Nullable: true},
						{Name: "owner", Type: "Edm.String", Nullable: true},
						{Name: "_ownerid_value", Type: "Edm.Guid", Nullable: true},
					},
					Lookups: map[string]string{"parentcustomerid": "accounts", "ownerid": ""},
				},
			},
		},
		{
			name: "type name clashes",
			sets: []EntitySet{
				{Name: "account", Key: "id"},
				{Name: "accounts", Key: "id"},
				{Name: "9lives", Key: "id"},
				{Name: "s", Key: "id"},
			},
			want: []connectors.EntitySchema{
				{Name: "9lives", Type: "Coupler.Fake._9live", Key: []string{"id"}, Fields: []connectors.FieldSchema{{Name: "id", Type: "Edm.Guid"}}},
				{Name: "account", Type: "Coupler.Fake.account", Key: []string{"id"}, Fields: []connectors.FieldSchema{{Name: "id", Type: "Edm.Guid"}}},
				{Name: "accounts", Type: "Coupler.Fake.account2", Key: []string{"id"}, Fields: []connectors.FieldSchema{{Name: "id", Type: "Edm.Guid"}}},
				{Name: "s", Type: "Coupler.Fake.s", Key: []string{"id"}, Fields: []connectors.FieldSchema{{Name: "id", Type: "Edm.Guid"}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.sets...)
			got := s.Schema()
			if !reflect.DeepEqual(got.Entities, tt.want) {
				t.Errorf("Schema()\n got %+v\nwant %+v", got.Entities, tt.want)
			}
			// The document is well-formed, and each described set is in it.
			doc := decodeCSDL(t, s.Metadata())
			if n := len(doc.DataServices.Schemas[0].Container.Sets); n != len(tt.want) {
				t.Errorf("%d entity sets in the document, want %d", n, len(tt.want))
			}
		})
	}
}

func TestTypeName(t *testing.T) {
	tests := []struct{ set, want string }{
		{"accounts", "account"},
		{"customers", "customer"},
		{"currencies", "currency"},
		{"transactioncurrencies", "transactioncurrency"},
		{"address", "address"},
		{"s", "s"},
		{"ies", "ie"},
		{"salesOrders", "salesOrder"},
		{"data", "data"},
		{"my-things", "my_thing"},
		{"1st", "_1st"},
		{"", "_"},
	}
	for _, tt := range tests {
		if got := typeName(tt.set); got != tt.want {
			t.Errorf("typeName(%q) = %q, want %q", tt.set, got, tt.want)
		}
	}
}

func TestSetNamespace(t *testing.T) {
	s := New(EntitySet{Name: "customers", Key: "id"})
	if got := s.Namespace(); got != DefaultNamespace {
		t.Errorf("default namespace %q", got)
	}
	s.SetNamespace("Microsoft.NAV")
	if got := s.Schema().Entities[0].Type; got != "Microsoft.NAV.customer" {
		t.Errorf("type %q", got)
	}
	if other := New(EntitySet{Name: "x", Key: "id"}); other.Namespace() != DefaultNamespace {
		t.Errorf("namespace leaked to another server: %q", other.Namespace())
	}
	s.SetNamespace("")
	if got := s.Namespace(); got != DefaultNamespace {
		t.Errorf("after reset: %q", got)
	}
	for _, bad := range []string{"Edm", "odata", "a..b", "1a", "a b", ".a", "a.", "x<y"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SetNamespace(%q) did not panic", bad)
				}
			}()
			s.SetNamespace(bad)
		}()
	}
}

func TestMetadataEscapesNames(t *testing.T) {
	s := New(EntitySet{
		Name: "odd", Key: "id",
		Fields: []string{`a"b`, "c&d<e>", "tab\there", "bad\x00byte", "caf\xe9"},
		Types:  map[string]string{`a"b`: `Edm.String" Nullable="false`},
	})
	doc := decodeCSDL(t, s.Metadata())
	props := doc.DataServices.Schemas[0].Types[0].Props
	var names []string
	for _, p := range props {
		names = append(names, p.Name)
	}
	want := []string{"id", `a"b`, "c&d<e>", "tab\there", "bad\uFFFDbyte", "caf\uFFFD"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
	if props[1].Type != `Edm.String" Nullable="false` || props[1].Nullable != "" {
		t.Errorf("attribute injection: %+v", props[1])
	}
}

func TestMetadataNotInBatch(t *testing.T) {
	s := New(crmSets()...)
	c := newClient(t, s)
	body := `{"requests":[{"id":"1","method":"GET","url":"$metadata"}]}`
	r := c.do(http.MethodPost, "/$batch", body)
	if r.status != http.StatusOK {
		t.Fatalf("batch status %d: %s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), `"status":404`) {
		t.Errorf("inner $metadata should be 404 (JSON batches carry JSON): %s", r.body)
	}
}
