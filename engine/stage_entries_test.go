package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/connectors/odata"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// entriesMapping reads what staging reads of a record in every way it
// can but lookups: key, version, modified-on, match and display fields,
// filters on both sides, transforms, option maps and constants.
const entriesMapping = `name: CUSTOMER
table: { connector: bc, entity: customers, key: id, modified: lastModifiedDateTime, display: [number, displayName, balance] }
integration: { connector: dataverse, entity: accounts, key: accountid, modified: modifiedon, display: [accountnumber, name] }
direction: bidirectional
filter: blocked == " "
integration_filter: statecode == 0 && customertypecode == 3
sync_only_coupled: false
match:
  fields:
    - { field: number, integration_field: accountnumber }
    - { field: email, integration_field: emailaddress1, case_sensitive: true }
  create_if_no_match: true
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: name, to_integration: trim(value), from_integration: trim(value) }
  - { field: addressLine1, integration_field: address1_line1 }
  - { field: city, integration_field: address1_city }
  - { field: postalCode, integration_field: address1_postalcode }
  - { field: email, integration_field: emailaddress1 }
  - { field: balance, integration_field: revenue }
  - { field: creditLimit, integration_field: creditlimit, direction: to_integration }
  - { field: paymentTermsCode, integration_field: paymenttermscode, direction: to_integration, options: { "": null, "NET 30": 1, "COD": 100000000 }, default: 7 }
  - { integration_field: customertypecode, constant: 3, direction: to_integration }
  - { field: blocked, constant: " ", direction: from_integration }
`

// exprMappings read records through expressions in the ways record
// tells apart: fields named in advance (a filter's variables, let
// names shadowing them, a transform's record.<name> and record["name"],
// members the record lacks), whose record holds those members only, and
// reads it cannot name ($env, record[expr], the record whole), which
// get every member.
var exprMappings = []string{`name: NAMED
table: { connector: bc, entity: customers, key: id }
integration: { connector: dataverse, entity: accounts, key: accountid }
direction: bidirectional
filter: (let b = blocked; b == " ") || number == "1" || balance > 100
integration_filter: statecode == 0 || name == nil
sync_only_coupled: false
fields:
  - { field: number, integration_field: accountnumber, to_integration: 'record.number + "/" + (record?.nothing ?? "-") + string(record["balance"])' }
  - { field: displayName, integration_field: name, to_integration: 'upper(value ?? "") + (record.email ?? "")', from_integration: trim(value) }
  - { field: paymentTermsCode, integration_field: paymenttermscode, direction: to_integration, options: { "": null, "NET 30": 1 }, default: 7 }
`, `name: WHOLE
table: { connector: bc, entity: customers, key: id }
integration: { connector: dataverse, entity: accounts, key: accountid }
direction: bidirectional
filter: $env["blocked"] == " " || len($env) > 3
integration_filter: statecode == 0
sync_only_coupled: false
fields:
  - { field: number, integration_field: accountnumber, to_integration: 'string(len(record)) + string(record[value] ?? "none")' }
  - { field: displayName, integration_field: name, to_integration: 'string(record.number) + join(sort(keys(record)), ",")' }
`}

// entriesProgram compiles mapping, entriesMapping by default, whose two
// passes the tests stage both sides of.
func entriesProgram(tb testing.TB, mapping ...string) *Program {
	tb.Helper()
	prog := compileMapping(tb, append(mapping, entriesMapping)[0])
	if len(prog.Mappings) != 2 {
		tb.Fatalf("%d passes, want 2", len(prog.Mappings))
	}
	return prog
}

// compileMapping compiles a project of the one mapping, between a
// Business Central and a Dataverse.
func compileMapping(tb testing.TB, mapping string) *Program {
	tb.Helper()
	dir := tb.TempDir()
	for name, body := range map[string]string{
		"coupler.yaml": `version: 1
connectors:
  bc: { type: odata, base_url: "http://bc.invalid/api/v2.0" }
  dataverse: { type: odata, base_url: "http://crm.invalid/api/data/v9.2" }
mappings: ["customer.yaml"]
`,
		"customer.yaml": mapping,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	prog, diags := Load(dir, mappings.LoadOptions{})
	for _, d := range diags {
		if d.Severity == mappings.Error {
			tb.Fatal(d)
		}
	}
	return prog
}

func FuzzEntryRows(f *testing.F) {
	erp, crm := fake.NewERP(), fake.NewCRM()
	if err := fake.SeedCustomers(erp, 5); err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		_, err := crm.Put("accounts", connectors.Record{"accountnumber": fmt.Sprint(i), "name": fmt.Sprintf(" A%d ", i),
			"revenue": 1250.5 * float64(i), "statecode": 0, "customertypecode": 3, "emailaddress1": "a@b.c"})
		if err != nil {
			f.Fatal(err)
		}
	}
	for _, get := range []struct {
		s              *fake.Server
		target, prefer string
	}{
		{erp, fake.BCCompanyURL("") + "/customers", ""},
		{crm, "/accounts", `odata.include-annotations="*"`},
	} {
		body, err := fake.Body(get.s, get.target, get.prefer)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	for _, s := range []string{
		`{"value":[{"id":"6F9619FF-8B86-D011-B42D-00C04FC964FF","@odata.etag":"W/\"1\"","number":"7","displayName":" x ","blocked":" ","balance":5000.00,"creditLimit":-0,"paymentTermsCode":"","lastModifiedDateTime":"2024-05-01T10:00:00Z"}]}`,
		`{"value":[{"id":12,"number":1e3,"displayName":"\u00e9\u2028<&>","blocked":" ","balance":12345678901234567890,"creditLimit":0.10,"paymentTermsCode":"NET 30","email":"   "}]}`,
		`{"value":[{"id":"a","blocked":" ","paymentTermsCode":"XX","balance":{"b":[1,"x"]},"email":["A"],"lastModifiedDateTime":1714557600}]}`,
		`{"value":[{"id":"a","blocked":"B","lastModifiedDateTime":"yesterday"},{"id":""},{"number":"1"}]}`,
		`{"value":[{"accountid":"00000000-0000-0000-0000-00000000000A","statecode":0,"customertypecode":3.0,"accountnumber":" ","revenue":null,"modifiedon":"2024-05-01T10:00:00.123+02:00","@odata.etag":7}]}`,
		`{"value":[{"accountid":"x","statecode":"0","name":"\ud800","name":"dup","emailaddress1":"a\u00e9\"b"}]}`,
		"{\"value\":[{\"id\":\"a\\xffb\",\"blocked\":\" \",\"displayName\":\"\\xfe\"}]}",
	} {
		f.Add([]byte(s))
	}
	progs := []*Program{entriesProgram(f)}
	for _, m := range exprMappings {
		progs = append(progs, entriesProgram(f, m))
	}
	// One server and client for every input: one each an input, a fuzz
	// run of half a minute left 30,000 connections in TIME_WAIT, every
	// port the machine had.
	var page atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(*page.Load())
	}))
	defer srv.Close()
	c, err := odata.New(connectors.Config{Name: "x", BaseURL: srv.URL + "/"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		page.Store(&body)
		for _, prog := range progs {
			checkEntryRows(t, c, prog, body)
		}
	})
}

// checkEntryRows reads body, the page c's service serves, both as
// Records and as entries, and fails unless every pass of prog stages each
// record into the same row both ways, as source and as destination.
func checkEntryRows(t *testing.T, c *odata.Client, prog *Program, body []byte) {
	lookups := stubLookups{}
	for _, m := range prog.Mappings {
		for _, isSource := range []bool{true, false} {
			side := m.Dest
			if isSource {
				side = m.Source
			}
			row := func(rv recordValues) (any, error) {
				if isSource {
					return m.sourceRow(rv, lookups, nil)
				}
				return m.destRow(rv)
			}
			q := connectors.Query{Entity: side.Entity}
			var want []any
			err := c.Read(context.Background(), q, func(p connectors.Page) error {
				for _, rec := range p.Records {
					r, err := row(mapValues{rec})
					want = append(want, r, fmt.Sprint(err))
				}
				return nil
			})
			if err != nil {
				return // a body the old decoder refused; FuzzEntries compares those
			}
			var got []any
			s := newEntryStager(m, isSource)
			err = c.ReadEntries(context.Background(), q, s.fields, func(es connectors.Entries) error {
				v := &entryValues{s: s, es: es}
				for r := range es.Len() {
					v.at(r)
					r, err := row(v)
					got = append(got, r, fmt.Sprint(err))
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%q: entries: %v", body, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s, source %v, %q:\nentries give %s\nrecords give %s", m.Name, isSource, body, rowsText(got), rowsText(want))
			}
		}
	}
}

// rowsText shows rows' texts rather than their pointers.
func rowsText(rows []any) string {
	var b strings.Builder
	for _, r := range rows {
		j, _ := json.Marshal(r)
		fmt.Fprintf(&b, "%s\n", j)
	}
	return b.String()
}

func TestExprReads(t *testing.T) {
	for _, tc := range []struct {
		src       string
		transform bool
		fields    []string
		whole     bool
	}{
		{src: `blocked == " "`, fields: []string{"blocked"}},
		{src: `trim(name) != "" && statecode == 0`, fields: []string{"trim", "name", "statecode"}},
		{src: `(let b = blocked; b == " ")`, fields: []string{"blocked", "b"}},
		{src: `$env["blocked"] == " "`, whole: true},
		{src: `len($env) > 3`, whole: true},
		{src: `trim(value)`, transform: true},
		{src: `record.number + (record?.nothing ?? "") + record["balance"]`, transform: true, fields: []string{"number", "nothing", "balance"}},
		{src: `record.address.city`, transform: true, fields: []string{"address"}},
		{src: `record[value]`, transform: true, whole: true},
		{src: `len(record)`, transform: true, whole: true},
		{src: `record.a + string(keys(record))`, transform: true, fields: []string{"a"}, whole: true},
		{src: `$env.record.a`, transform: true, whole: true},
	} {
		compile := mappings.CompileFilter
		if tc.transform {
			compile = mappings.CompileTransform
		}
		p, d := compile(mappings.Expr{Source: tc.src})
		if d != nil {
			t.Fatalf("%s: %v", tc.src, d)
		}
		fields, whole := exprReads(p, tc.transform)
		slices.Sort(fields)
		slices.Sort(tc.fields)
		if whole != tc.whole || !slices.Equal(fields, tc.fields) {
			t.Errorf("%s: reads %q, whole %v; want %q, %v", tc.src, fields, whole, tc.fields, tc.whole)
		}
	}
}

// TestEntryStagerReads checks which passes FuzzEntryRows stages from
// records of the members expressions read, so that it tests both ways.
func TestEntryStagerReads(t *testing.T) {
	// Whole, as source and as destination, of the passes whose table
	// side is whole (the table's filter reads $env).
	want := map[string][2]bool{
		"WHOLE to_integration":   {true, false},
		"WHOLE from_integration": {false, true},
	}
	for _, mapping := range append([]string{entriesMapping}, exprMappings...) {
		for _, m := range entriesProgram(t, mapping).Mappings {
			for side, isSource := range []bool{true, false} {
				if got := newEntryStager(m, isSource).whole; got != want[m.Name+" "+string(m.Direction)][side] {
					t.Errorf("%s %s, source %v: whole %v", m.Name, m.Direction, isSource, got)
				}
			}
		}
	}
}

// stagingServices serves n of the fake ERP's customers and n CRM accounts
// that agree with them, each answer rendered once, and returns a client
// of each asking for pageSize records a page (0: the service's).
func stagingServices(tb testing.TB, n, pageSize int) [2]*odata.Client {
	tb.Helper()
	erp, crm := fake.NewERP(), fake.NewCRM()
	if err := fake.SeedCustomers(erp, n); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		c := fake.Customer(i)
		_, err := crm.Put("accounts", connectors.Record{
			"accountnumber": c["number"], "name": strings.TrimSpace(c["displayName"].(string)),
			"address1_line1": c["addressLine1"], "address1_city": c["city"], "address1_stateorprovince": c["state"],
			"address1_postalcode": c["postalCode"], "address1_country": c["country"], "telephone1": c["phoneNumber"],
			"emailaddress1": c["email"], "websiteurl": c["website"], "revenue": c["balance"], "statecode": 0, "customertypecode": 3,
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	var mu sync.Mutex
	pages := map[string][]byte{} // the services' answers, by request URI
	mux := http.NewServeMux()
	for prefix, s := range map[string]*fake.Server{"/bc": erp, "/crm": crm} {
		mux.Handle(prefix+"/", http.StripPrefix(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			body, ok := pages[r.URL.RequestURI()]
			if !ok {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, r)
				body = rec.Body.Bytes()
				pages[r.URL.RequestURI()] = body
			}
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		})))
	}
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	var clients [2]*odata.Client
	for i, base := range []string{srv.URL + "/bc" + fake.BCCompanyURL("") + "/", srv.URL + "/crm/"} {
		c, err := odata.New(connectors.Config{Name: "x", BaseURL: base, PageSize: pageSize})
		if err != nil {
			tb.Fatal(err)
		}
		clients[i] = c
	}
	return clients
}

// stageEntries stages side isSource of m from what c reads with
// ReadEntries, handing each row to fn.
func stageEntries(ctx context.Context, c *odata.Client, m *Mapping, isSource bool, fn func(state.Row)) error {
	side := m.Dest
	if isSource {
		side = m.Source
	}
	s := newEntryStager(m, isSource)
	return c.ReadEntries(ctx, connectors.Query{Entity: side.Entity}, s.fields, func(es connectors.Entries) error {
		v := &entryValues{s: s, es: es}
		for r := range es.Len() {
			v.at(r)
			var row state.Row
			var err error
			if isSource {
				row, err = m.sourceRow(v, stubLookups{}, nil)
			} else {
				row, err = m.destRow(v)
			}
			if err != nil || row.Err != "" {
				return fmt.Errorf("record %d: %v %s", r, err, row.Err)
			}
			fn(row)
		}
		return nil
	})
}

// TestEntryRowsOutliveTheirPage: the texts of rows staged from entries,
// which share blocks rather than being allocated one by one, are the
// records' still once the page they were read from is gone and its
// buffers reused for the next.
func TestEntryRowsOutliveTheirPage(t *testing.T) {
	clients := stagingServices(t, 40, 7)
	for _, mapping := range []string{BenchMapping, entriesMapping} {
		m := compileMapping(t, mapping).Mappings[0]
		for i, isSource := range []bool{true, false} {
			var got []state.Row
			err := stageEntries(t.Context(), clients[i], m, isSource, func(row state.Row) { got = append(got, row) })
			if err != nil {
				t.Fatal(err)
			}
			side := m.Dest
			if isSource {
				side = m.Source
			}
			var want []state.Row
			err = clients[i].Read(t.Context(), connectors.Query{Entity: side.Entity}, func(p connectors.Page) error {
				for _, rec := range p.Records {
					row, err := m.destRow(mapValues{rec})
					if isSource {
						row, err = m.sourceRow(mapValues{rec}, stubLookups{}, nil)
					}
					if err != nil {
						return err
					}
					want = append(want, row)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(want) != 40 {
				t.Fatalf("%d records read, want 40", len(want))
			}
			if g, w := rowsText(anys(got)), rowsText(anys(want)); g != w {
				t.Errorf("%s, source %v: entries give\n%s\nrecords give\n%s", m.Name, isSource, g, w)
			}
		}
	}
}

func anys[T any](s []T) []any {
	a := make([]any, len(s))
	for i, x := range s {
		a[i] = x
	}
	return a
}

// BenchmarkStageEntries stages both sides of a mapping's first pass from
// pages of 1000 records each that the fake services rendered once: the Go
// work of a full plan's read (decoding the page, each record's row)
// without the service's rendering or the Appender, whose noise hides it
// in BenchmarkPlanFull. plan_full is BenchmarkPlanFull's mapping, entries
// entriesMapping (match and display fields, option maps, constants).
// allocs/op is of 2000 records.
//
//	go test ./engine -run '^$' -bench StageEntries -count 6
func BenchmarkStageEntries(b *testing.B) {
	const n = 1000
	clients := stagingServices(b, n, 0)
	for _, mapping := range []struct{ name, text string }{{"plan_full", BenchMapping}, {"entries", entriesMapping}} {
		m := compileMapping(b, mapping.text).Mappings[0]
		b.Run(mapping.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for i, isSource := range []bool{true, false} {
					rows := 0
					err := stageEntries(b.Context(), clients[i], m, isSource, func(state.Row) { rows++ })
					if err != nil {
						b.Fatal(err)
					}
					if rows != n {
						b.Fatalf("%d rows staged, want %d", rows, n)
					}
				}
			}
		})
	}
}
