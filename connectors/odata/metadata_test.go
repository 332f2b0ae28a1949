package odata

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "metadata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseString(t *testing.T, doc string) *connectors.Schema {
	t.Helper()
	s, err := parseMetadata(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("parseMetadata: %v", err)
	}
	return s
}

func entityNames(s *connectors.Schema) []string {
	var names []string
	for _, e := range s.Entities {
		names = append(names, e.Name)
	}
	return names
}

func fieldNames(e *connectors.EntitySchema) []string {
	var names []string
	for _, f := range e.Fields {
		names = append(names, f.Name)
	}
	return names
}

func TestParseMetadataBC(t *testing.T) {
	s, err := parseMetadata(bytes.NewReader(readTestdata(t, "bc.xml")))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := entityNames(s), []string{"companies", "currencies", "customers", "paymentTerms"}; !slices.Equal(got, want) {
		t.Fatalf("entity sets %v, want %v", got, want)
	}
	got := *s.Entity("customers")
	want := connectors.EntitySchema{
		Name: "customers",
		Type: "Microsoft.NAV.customer",
		Key:  []string{"id"},
		Fields: []connectors.FieldSchema{
			{Name: "id", Type: "Edm.Guid"},
			{Name: "number", Type: "Edm.String", Nullable: true},
			{Name: "displayName", Type: "Edm.String", Nullable: true},
			{Name: "type", Type: "Microsoft.NAV.contactType", Nullable: true},
			{Name: "addressLine1", Type: "Edm.String", Nullable: true},
			{Name: "city", Type: "Edm.String", Nullable: true},
			{Name: "country", Type: "Edm.String", Nullable: true},
			{Name: "email", Type: "Edm.String", Nullable: true},
			{Name: "creditLimit", Type: "Edm.Decimal", Nullable: true},
			{Name: "currencyId", Type: "Edm.Guid", Nullable: true},
			{Name: "currencyCode", Type: "Edm.String", Nullable: true},
			{Name: "paymentTermsId", Type: "Edm.Guid", Nullable: true},
			{Name: "blocked", Type: "Microsoft.NAV.customerBlocked", Nullable: true},
			{Name: "lastModifiedDateTime", Type: "Edm.DateTimeOffset", Nullable: true},
		},
		// Collection-valued navigation properties are not lookups; a
		// contained single one has no set to bind to.
		Lookups: map[string]string{"currency": "currencies", "paymentTerm": "paymentTerms", "customerFinancialDetail": ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("customers\n got %+v\nwant %+v", got, want)
	}
	if c := s.Entity("companies"); c.Lookups != nil {
		t.Errorf("companies has only collections, got lookups %v", c.Lookups)
	}
}

func TestParseMetadataDataverse(t *testing.T) {
	s, err := parseMetadata(bytes.NewReader(readTestdata(t, "dataverse.xml")))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := entityNames(s), []string{"accounts", "contacts", "principals", "systemusers", "tasks", "teams", "transactioncurrencies"}; !slices.Equal(got, want) {
		t.Fatalf("entity sets %v, want %v", got, want)
	}
	tests := []struct {
		set     string
		typ     string
		key     []string
		fields  []string
		lookups map[string]string
	}{
		{
			// Alias-qualified type; bindings plain and container-qualified;
			// the collection is not a lookup.
			set: "accounts", typ: "Microsoft.Dynamics.CRM.account", key: []string{"accountid"},
			fields: []string{"accountid", "name", "accountnumber", "creditlimit", "customertypecode", "statecode",
				"address1_composite", "_ownerid_value", "_transactioncurrencyid_value", "_primarycontactid_value",
				"modifiedon", "versionnumber"},
			lookups: map[string]string{
				"ownerid": "principals", "owninguser": "systemusers",
				"transactioncurrencyid": "transactioncurrencies", "primarycontactid": "contacts",
			},
		},
		{
			// Namespace-qualified type.
			set: "contacts", typ: "Microsoft.Dynamics.CRM.contact", key: []string{"contactid"},
			fields:  []string{"contactid", "fullname", "emailaddress1", "_parentcustomerid_value"},
			lookups: map[string]string{"parentcustomerid_account": "accounts"},
		},
		{
			// Inherits ownerid from principal but redeclares the key.
			set: "systemusers", typ: "Microsoft.Dynamics.CRM.systemuser", key: []string{"systemuserid"},
			fields: []string{"ownerid", "systemuserid", "fullname", "internalemailaddress", "modifiedon"},
		},
		{
			// Inherits key and properties from activitypointer; the binding
			// path starts with a type cast.
			set: "tasks", typ: "Microsoft.Dynamics.CRM.task", key: []string{"activityid"},
			fields:  []string{"activityid", "subject", "scheduledend", "_regardingobjectid_value", "percentcomplete", "prioritycode", "tags"},
			lookups: map[string]string{"regardingobjectid_account_task": "accounts"},
		},
		{
			// An abstract set's type, key declared on it.
			set: "principals", typ: "Microsoft.Dynamics.CRM.principal", key: []string{"ownerid"},
			fields: []string{"ownerid"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			e := s.Entity(tt.set)
			if e.Type != tt.typ || !slices.Equal(e.Key, tt.key) {
				t.Errorf("type %q key %v, want %q %v", e.Type, e.Key, tt.typ, tt.key)
			}
			if got := fieldNames(e); !slices.Equal(got, tt.fields) {
				t.Errorf("fields\n got %v\nwant %v", got, tt.fields)
			}
			if !reflect.DeepEqual(e.Lookups, tt.lookups) {
				t.Errorf("lookups %v, want %v", e.Lookups, tt.lookups)
			}
		})
	}
	task := s.Entity("tasks")
	for _, f := range []connectors.FieldSchema{
		{Name: "prioritycode", Type: "Microsoft.Dynamics.CRM.PriorityCode", Nullable: true},
		{Name: "tags", Type: "Collection(Microsoft.Dynamics.CRM.TaskTag)", Nullable: true},
	} {
		if got := task.Field(f.Name); got == nil || *got != f {
			t.Errorf("tasks field %s = %+v, want %+v", f.Name, got, f)
		}
	}
	if f := s.Entity("accounts").Field("statecode"); f.Nullable || f.Type != "Edm.Int32" {
		t.Errorf("statecode %+v, want a non-nullable Edm.Int32", f)
	}
}

// csdl wraps schema elements in a CSDL document of the given version.
func csdl(version, schemas string) string {
	return `<?xml version="1.0"?>
<edmx:Edmx Version="` + version + `" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
<edmx:DataServices>` + schemas + `</edmx:DataServices>
</edmx:Edmx>`
}

func TestParseMetadataForms(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []connectors.EntitySchema
	}{
		{
			name: "4.01, key alias, container in the first schema, type from the second by alias",
			doc: csdl("4.01", `
<Schema Namespace="A" xmlns="http://docs.oasis-open.org/odata/ns/edm">
  <EntityContainer Name="C"><EntitySet Name="things" EntityType="b.thing"><NavigationPropertyBinding Path="parent" Target="A.C/things"/></EntitySet></EntityContainer>
</Schema>
<Schema Namespace="B.Types" Alias="b" xmlns="http://docs.oasis-open.org/odata/ns/edm">
  <EntityType Name="base" Abstract="true"><Key><PropertyRef Name="id" Alias="theId"/></Key><Property Name="id" Type="Edm.Int64" Nullable="false"/></EntityType>
  <EntityType Name="thing" BaseType="B.Types.base"><Property Name="label" Type="Edm.String" Nullable="true"/><NavigationProperty Name="parent" Type="b.thing"/></EntityType>
</Schema>`),
			want: []connectors.EntitySchema{{
				Name: "things", Type: "B.Types.thing", Key: []string{"id"},
				Fields: []connectors.FieldSchema{
					{Name: "id", Type: "Edm.Int64"},
					{Name: "label", Type: "Edm.String", Nullable: true},
				},
				Lookups: map[string]string{"parent": "things"},
			}},
		},
		{
			name: "elements outside the edm namespace, base type and set type not declared",
			doc: csdl("4.0", `
<Schema Namespace="N">
  <EntityType Name="t" BaseType="Other.base"><Key><PropertyRef Name="k"/></Key><Property Name="k" Type="Edm.String"/></EntityType>
  <EntityContainer Name="C"><EntitySet Name="ts" EntityType="N.t"/><EntitySet Name="us" EntityType="Other.u"/><EntitySet Name="ts" EntityType="N.other"/></EntityContainer>
</Schema>`),
			want: []connectors.EntitySchema{
				{Name: "ts", Type: "N.t", Key: []string{"k"}, Fields: []connectors.FieldSchema{{Name: "k", Type: "Edm.String", Nullable: true}}},
				{Name: "us", Type: "Other.u"},
			},
		},
		{
			name: "no sets",
			doc:  csdl("4.0", `<Schema Namespace="N" xmlns="http://docs.oasis-open.org/odata/ns/edm"><EntityType Name="t"/></Schema>`),
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := parseString(t, tt.doc)
			if !reflect.DeepEqual(s.Entities, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", s.Entities, tt.want)
			}
		})
	}
}

func TestParseMetadataErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"empty", "", "empty document"},
		{"JSON", "\n" + `{"error":{"code":"x"}}`, `line 2: not an XML document: text "{\"error\":{\"code\":\"x\"}}" before the root element`},
		{"long text", strings.Repeat("x", 100), `text "` + strings.Repeat("x", 40) + `…" before`},
		{"HTML", "<!DOCTYPE html>\n<html><body>Sign in</body></html>", `line 2: not an OData v4 CSDL document: the root element is <html>`},
		{"v3 namespace", `<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"/>`, "not an OData v4 CSDL document"},
		{"version", `<edmx:Edmx Version="3.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"/>`, `unsupported CSDL version "3.0"`},
		{"no data services", `<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"></edmx:Edmx>`, "no edmx:DataServices"},
		{"truncated", csdl("4.0", `<Schema Namespace="N"><EntityType Name="t">`)[:150], "XML syntax error on line"},
		{"mismatched tag", csdl("4.0", "<Schema Namespace=\"N\">\n\n<EntityType Name=\"t\"></Property></Schema>"), "XML syntax error on line 5"},
		{"schema without namespace", csdl("4.0", "\n<Schema/>"), "line 4: Schema element without a Namespace"},
		{"alias clash", csdl("4.0", `<Schema Namespace="A" Alias="x"/><Schema Namespace="B" Alias="x"/>`), `alias "x" is used for both A and B`},
		{"base cycle", csdl("4.0", `<Schema Namespace="N"><EntityType Name="a" BaseType="N.b"/><EntityType Name="b" BaseType="N.a"/>
			<EntityContainer Name="C"><EntitySet Name="as" EntityType="N.a"/></EntityContainer></Schema>`), "entity set as: entity type N.a: BaseType cycle through N.a"},
		{"self base", csdl("4.0", `<Schema Namespace="N"><EntityType Name="a" BaseType="N.a"/>
			<EntityContainer Name="C"><EntitySet Name="as" EntityType="N.a"/></EntityContainer></Schema>`), "BaseType cycle"},
		{"undefined entity", csdl("4.0", `<Schema Namespace="N">&nbsp;</Schema>`), "invalid character entity &nbsp;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseMetadata(strings.NewReader(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseMetadataDeepBaseChain(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<Schema Namespace="N"><EntityType Name="t0"><Key><PropertyRef Name="p0"/></Key><Property Name="p0" Type="Edm.Guid"/></EntityType>`)
	const n = maxBaseDepth + 10
	for i := 1; i <= n; i++ {
		b.WriteString(`<EntityType Name="t` + strconv.Itoa(i) + `" BaseType="N.t` + strconv.Itoa(i-1) + `"><Property Name="p` + strconv.Itoa(i) + `" Type="Edm.String"/></EntityType>`)
	}
	b.WriteString(`<EntityContainer Name="C"><EntitySet Name="ok" EntityType="N.t` + strconv.Itoa(maxBaseDepth-1) + `"/></EntityContainer></Schema>`)
	s := parseString(t, csdl("4.0", b.String()))
	if e := s.Entity("ok"); len(e.Fields) != maxBaseDepth || e.Key[0] != "p0" {
		t.Errorf("%d fields, key %v", len(e.Fields), e.Key)
	}
	doc := strings.Replace(csdl("4.0", b.String()), `EntityType="N.t`+strconv.Itoa(maxBaseDepth-1)+`"`, `EntityType="N.t`+strconv.Itoa(n)+`"`, 1)
	if _, err := parseMetadata(strings.NewReader(doc)); err == nil || !strings.Contains(err.Error(), "deeper than") {
		t.Errorf("error %v, want a too-deep chain", err)
	}
}

// fakeSets are the sets of the end-to-end test, with types, lookups (one to
// a set the server does not serve) and a modified field placed by Fields.
func fakeSets() []fake.EntitySet {
	return []fake.EntitySet{
		{
			Name: "accounts", Key: "accountid", Modified: "modifiedon", ModifiedPrecision: time.Second,
			Fields:  []string{"name", "creditlimit", "statecode", "_ownerid_value"},
			Types:   map[string]string{"creditlimit": "Edm.Decimal", "statecode": "Edm.Int32"},
			Lookups: map[string]string{"ownerid": "systemusers", "transactioncurrencyid": "transactioncurrencies"},
		},
		{
			Name: "transactioncurrencies", Key: "transactioncurrencyid", Modified: "modifiedon",
			Fields: []string{"modifiedon", "isocurrencycode", "exchangerate"},
			Types:  map[string]string{"exchangerate": "Edm.Decimal"},
		},
		{
			Name: "items", Key: "number", Fields: []string{"description"},
			Types: map[string]string{"number": "Edm.String"},
		},
	}
}

func TestDescribeAgainstFake(t *testing.T) {
	srv := fake.New(fakeSets()...)
	srv.SetNamespace("Microsoft.Dynamics.CRM")
	c := fakeClient(t, srv, 0)
	got, err := c.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// What the EntitySets declare, written out.
	want := &connectors.Schema{Entities: []connectors.EntitySchema{
		{
			Name: "accounts", Type: "Microsoft.Dynamics.CRM.account", Key: []string{"accountid"},
			Fields: []connectors.FieldSchema{
				{Name: "accountid", Type: "Edm.Guid"},
				{Name: "name", Type: "Edm.String", Nullable: true},
				{Name: "creditlimit", Type: "Edm.Decimal", Nullable: true},
				{Name: "statecode", Type: "Edm.Int32", Nullable: true},
				{Name: "_ownerid_value", Type: "Edm.Guid", Nullable: true},
				{Name: "modifiedon", Type: "Edm.DateTimeOffset", Nullable: true},
				{Name: "_transactioncurrencyid_value", Type: "Edm.Guid", Nullable: true},
			},
			// systemusers is not served: $metadata cannot bind it.
			Lookups: map[string]string{"ownerid": "", "transactioncurrencyid": "transactioncurrencies"},
		},
		{
			Name: "items", Type: "Microsoft.Dynamics.CRM.item", Key: []string{"number"},
			Fields: []connectors.FieldSchema{
				{Name: "number", Type: "Edm.String"},
				{Name: "description", Type: "Edm.String", Nullable: true},
			},
		},
		{
			Name: "transactioncurrencies", Type: "Microsoft.Dynamics.CRM.transactioncurrency", Key: []string{"transactioncurrencyid"},
			Fields: []connectors.FieldSchema{
				{Name: "transactioncurrencyid", Type: "Edm.Guid"},
				{Name: "modifiedon", Type: "Edm.DateTimeOffset", Nullable: true},
				{Name: "isocurrencycode", Type: "Edm.String", Nullable: true},
				{Name: "exchangerate", Type: "Edm.Decimal", Nullable: true},
			},
		},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Describe\n got %+v\nwant %+v", got, want)
	}
	if fs := srv.Schema(); !reflect.DeepEqual(got, fs) {
		t.Errorf("Describe and fake.Schema disagree\n got %+v\nfake %+v", got, fs)
	}
}

func TestDescribeSeededServers(t *testing.T) {
	erp, crm := fake.NewERP(), fake.NewCRM()
	clients := map[string]func() *Client{
		"ERP": func() *Client { return bcClient(t, erp, connectors.Config{}) },
		"CRM": func() *Client { return fakeClient(t, crm, 0) },
	}
	for name, srv := range map[string]*fake.Server{"ERP": erp, "CRM": crm} {
		t.Run(name, func(t *testing.T) {
			got, err := clients[name]().Describe(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, srv.Schema()) {
				t.Errorf("Describe\n got %+v\nwant %+v", got, srv.Schema())
			}
		})
	}
}

// countingHandler serves $metadata from body after the first fail answers
// with 403, and counts requests.
type countingHandler struct {
	body     []byte
	fail     int32
	requests atomic.Int32
	accept   atomic.Value // of the last request
	auth     atomic.Value
	gate     chan struct{} // when not nil, each request waits for it
}

func (h *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := h.requests.Add(1)
	h.accept.Store(r.Header.Get("Accept"))
	h.auth.Store(r.Header.Get("Authorization"))
	if h.gate != nil {
		<-h.gate
	}
	if r.URL.Path != "/svc/$metadata" {
		http.NotFound(w, r)
		return
	}
	if n <= h.fail {
		writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]any{"code": "0x80072560", "message": "not a member of the organization"}})
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Write(h.body)
}

func TestDescribeCachesSuccessOnly(t *testing.T) {
	h := &countingHandler{body: readTestdata(t, "bc.xml"), fail: 1}
	c, _ := newTestClient(t, h, nil)

	_, err := c.Describe(t.Context())
	var oe *Error
	if !errors.As(err, &oe) || oe.StatusCode != http.StatusForbidden {
		t.Fatalf("first Describe: %v, want a 403 *Error", err)
	}
	if !strings.Contains(err.Error(), "GET /svc/$metadata: 403 Forbidden: 0x80072560: not a member") {
		t.Errorf("error does not name the URL: %v", err)
	}
	s1, err := c.Describe(t.Context())
	if err != nil {
		t.Fatalf("second Describe (failure must not be cached): %v", err)
	}
	if got := h.accept.Load(); got != "application/xml" {
		t.Errorf("Accept %q", got)
	}
	if got := h.auth.Load(); got != "Bearer "+testToken {
		t.Errorf("Authorization %q", got)
	}
	s1.Entities[0].Fields[0].Name = "changed"
	s1.Entities[0].Key[0] = "changed"
	s1.Entity("customers").Lookups["currency"] = "changed"
	s2, err := c.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n := h.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (one failed, one cached)", n)
	}
	want, _ := parseMetadata(bytes.NewReader(h.body))
	if !reflect.DeepEqual(s2, want) {
		t.Errorf("a caller's change leaked into the cache")
	}
}

func TestDescribeConcurrent(t *testing.T) {
	h := &countingHandler{body: readTestdata(t, "dataverse.xml"), gate: make(chan struct{})}
	c, _ := newTestClient(t, h, nil)

	// A caller whose context ends while another fetches gives up.
	started := make(chan struct{})
	var wg sync.WaitGroup
	var results [8]*connectors.Schema
	var errs [8]error
	for i := range results {
		wg.Go(func() {
			if i == 0 {
				close(started)
			}
			results[i], errs[i] = c.Describe(t.Context())
		})
	}
	<-started
	for h.requests.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Describe(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting caller: %v, want its deadline", err)
	}
	close(h.gate)
	wg.Wait()
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !reflect.DeepEqual(results[i], results[0]) {
			t.Errorf("caller %d got a different schema", i)
		}
	}
	if n := h.requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestDescribeErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		maxBody int64
		want    string
	}{
		{
			name: "not found",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": "NotFound", "message": "no such resource"}})
			},
			want: "describe: GET /svc/$metadata: 404 Not Found: NotFound: no such resource",
		},
		{
			name: "login page",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Write([]byte("<!DOCTYPE html>\n<html>\n<body>sign in</body></html>"))
			},
			want: `describe: parse /svc/$metadata (Content-Type "text/html"): line 2: not an OData v4 CSDL document`,
		},
		{
			name: "broken XML",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/xml")
				w.Write([]byte(csdl("4.0", "\n<Schema Namespace=\"N\"><EntityType></Schema>")))
			},
			want: "describe: parse /svc/$metadata: XML syntax error on line 4: element <EntityType> closed by </Schema>",
		},
		{
			name: "too large",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/xml")
				w.Write(readTestdata(t, "bc.xml"))
			},
			maxBody: 1000,
			want:    "response body too large (limit 1000 bytes)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestClient(t, tt.handler, nil)
			if tt.maxBody != 0 {
				c.maxBody = tt.maxBody
			}
			_, err := c.Describe(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDescribeViaRegistry(t *testing.T) {
	srv := fake.New(fakeSets()...)
	c := fakeClient(t, srv, 0)
	conn, err := connectors.New(connectors.Config{Name: "crm", Type: "odata", BaseURL: c.base.String()})
	if err != nil {
		t.Fatal(err)
	}
	d, ok := conn.(connectors.Describer)
	if !ok {
		t.Fatal("the registered odata connector is not a Describer")
	}
	s, err := d.Describe(t.Context())
	if err != nil || len(s.Entities) != 3 {
		t.Fatalf("%v, %+v", err, s)
	}
}

func FuzzParseMetadata(f *testing.F) {
	f.Add(readTestdata(f, "dataverse.xml"))
	f.Add(readTestdata(f, "bc.xml"))
	f.Add(fake.New(fakeSets()...).Metadata())
	f.Add([]byte(csdl("4.01", `<Schema Namespace="A" Alias="a"><EntityType Name="t" BaseType="a.t"/><EntityContainer Name="C"><EntitySet Name="s" EntityType="a.t"/></EntityContainer></Schema>`)))
	f.Add([]byte(`<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"/>`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Go's fuzzer does not notice a hang; a parse must not take
		// seconds on inputs of a few kilobytes.
		var (
			s    *connectors.Schema
			err  error
			done = make(chan struct{})
		)
		go func() { s, err = parseMetadata(bytes.NewReader(data)); close(done) }()
		timer := time.NewTimer(5 * time.Second)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			t.Fatalf("parseMetadata hangs on %d bytes", len(data))
		}
		if err != nil {
			if s != nil {
				t.Fatal("schema and error")
			}
			return
		}
		seen := map[string]bool{}
		for i, e := range s.Entities {
			if e.Name == "" || seen[e.Name] {
				t.Fatalf("empty or duplicate set name %q", e.Name)
			}
			seen[e.Name] = true
			if i > 0 && s.Entities[i-1].Name > e.Name {
				t.Fatalf("not sorted: %q before %q", s.Entities[i-1].Name, e.Name)
			}
		}
		if !reflect.DeepEqual(cloneSchema(s), s) {
			t.Fatal("clone differs")
		}
	})
}
