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
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/connectors/odata"
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

// entriesProgram compiles entriesMapping.
func entriesProgram(tb testing.TB) *Program {
	tb.Helper()
	dir := tb.TempDir()
	for name, body := range map[string]string{
		"coupler.yaml": `version: 1
connectors:
  bc: { type: odata, base_url: "http://bc.invalid/api/v2.0" }
  dataverse: { type: odata, base_url: "http://crm.invalid/api/data/v9.2" }
mappings: ["customer.yaml"]
`,
		"customer.yaml": entriesMapping,
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
	if len(prog.Mappings) != 2 {
		tb.Fatalf("%d passes, want 2", len(prog.Mappings))
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
	prog := entriesProgram(f)
	f.Fuzz(func(t *testing.T, body []byte) { checkEntryRows(t, prog, body) })
}

// checkEntryRows reads body as the page of an OData service both as
// Records and as entries, and fails unless every pass of prog stages each
// record into the same row both ways, as source and as destination.
func checkEntryRows(t *testing.T, prog *Program, body []byte) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()
	c, err := odata.New(connectors.Config{Name: "x", BaseURL: srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
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
					v.r, v.rec, v.recErr = r, nil, nil
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
