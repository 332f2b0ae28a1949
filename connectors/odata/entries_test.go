package odata

import (
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	ijson "github.com/couplerhq/coupler/internal/jsontext"
)

// benchSelect is what the engine's benchmark mapping (engine/bench_test.go)
// selects of the fake ERP's customers.
const benchSelect = "id,number,displayName,addressLine1,city,state,postalCode,country,phoneNumber,email,website,blocked,lastModifiedDateTime"

// fakeGet is fake.Body, failing tb on an error.
func fakeGet(tb testing.TB, s *fake.Server, target string, prefer string) []byte {
	tb.Helper()
	b, err := fake.Body(s, target, prefer)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// customersPage is a page of n of the fake ERP's customers, as the
// benchmark mapping reads them.
func customersPage(tb testing.TB, n int) []byte {
	tb.Helper()
	erp := fake.NewERP()
	if err := fake.SeedCustomers(erp, n); err != nil {
		tb.Fatal(err)
	}
	return fakeGet(tb, erp, fake.BCCompanyURL("")+"/customers?$select="+benchSelect, fmt.Sprintf("odata.maxpagesize=%d", n))
}

// crmPages are pages the fake CRM sends: accounts with their annotations,
// a change-tracking read and its delta with a deleted entry.
func crmPages(tb testing.TB) [][]byte {
	tb.Helper()
	crm := fake.NewCRM()
	var ids []string
	for i := range 3 {
		id, err := crm.Put("accounts", connectors.Record{"name": fmt.Sprintf("A%d", i), "revenue": 1250.5 * float64(i), "statecode": 0})
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	all := fakeGet(tb, crm, "/accounts", `odata.include-annotations="*"`)
	tracked := fakeGet(tb, crm, "/accounts?$select=name,revenue", "odata.track-changes")
	if err := crm.Delete("accounts", ids[1]); err != nil {
		tb.Fatal(err)
	}
	p, err := oldStreamChangesPage(strings.NewReader(string(tracked)), func([]connectors.Record) error { return nil })
	if err != nil || p.deltaLink == "" {
		tb.Fatalf("tracked read: delta link %q, %v", p.deltaLink, err)
	}
	_, query, _ := strings.Cut(p.deltaLink, "?")
	delta := fakeGet(tb, crm, "/accounts?"+query, "")
	return [][]byte{all, tracked, delta}
}

// pageShapes are the collection responses the tests decode, valid and
// not, as FuzzEntries' seeds.
var pageShapes = []string{
	`{"value":[]}`,
	`{"@odata.context":"x","value":[{"id":"a","n":12.50,"@odata.etag":"W/\"1\""},{"id":"b","o":{"k":[1,null]}}],"@odata.nextLink":"http://h/svc/x?$skiptoken=2"}`,
	`{"@odata.nextLink":"n","value":[{"id":"a"}]}`,
	`{"value":[],"@odata.nextLink":null}`,
	`{"value":[{"id":"a","@odata.editLink":"x","@odata.id":"y","name@odata.type":"#String","_ownerid_value@OData.Community.Display.V1.FormattedValue":"Ann","@odata.etag":7}]}`,
	`{"value":[{"id":"a","_ownerid_value":"u","_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"systemuser"}]}`,
	`{"@odata.count":3,"extra":{"a":[1,2]},"value":[{"id":"a"}]}`,
	" \n{ \"value\" : [ { \"id\" : \"a\" } ] }\n ",
	`{"value":[{"id":"a","id":"b","@odata.etag":"1","@odata.etag":2,"x":{"y":1},"x":[true]}]}`,
	`{"value":[{"s":"\u00e9\n\"\\","half":"\ud800","name\u0040odata.type":"#x","n":-0,"e":1E+2,"big":123456789012345678901234567890}]}`,
	`{"value":[{"@odata.context":"https://h/api/data/v9.2/$metadata#accounts/$deletedEntity","id":"2e45","reason":"deleted"},{"@removed":{"reason":"deleted"},"@id":"accounts(7)"},{"accountid":"3"}],"@odata.deltaLink":"https://h/x?$deltatoken=9"}`,
	`{"value":[{"@removed":{"reason":"deleted"}}]}`,
	"{\"value\":[{\"bad\":\"a\xffb\",\"\xfe\":1}]}",
	`{"value":[{"id":"a"}],"value":[{"id":"b"}]}`,
	``,
	`{"value":[{"id":"a"},{"id":`,
	`{"value":[{"id":"a"},]}`,
	`[{"id":"a"}]`,
	`{"value":{"id":"a"}}`,
	`{"value":"x"}`,
	`{"value":[null]}`,
	`{"value":[{"id":"a"},3]}`,
	`{"@odata.context":"x"}`,
	`{"value":[]} {}`,
	`{"value":[],"@odata.nextLink":5}`,
	`{1:2}`,
	`{"value":[{"accountid":"1"},{"accountid":}]}`,
	strings.Repeat("[", 20000),
}

func FuzzEntries(f *testing.F) {
	for _, s := range pageShapes {
		f.Add([]byte(s))
	}
	f.Add(customersPage(f, 3))
	for _, p := range crmPages(f) {
		f.Add(p)
	}
	f.Fuzz(checkSameAsOracle)
}

// TestEntriesOnFakePages: pages of the fakes decode as the old decoder
// decoded them, a page larger than chunkBytes (handed on in parts)
// included.
func TestEntriesOnFakePages(t *testing.T) {
	big := customersPage(t, 5000)
	if len(big) <= chunkBytes {
		t.Fatalf("the page has %d bytes, want over %d", len(big), chunkBytes)
	}
	for i, p := range append(crmPages(t), big) {
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkSameAsOracle(t, p) })
	}
}

// checkSameAsOracle decodes data with the old decoder and the new, as a
// read and as a change-tracking read, and fails unless they agree: on
// whether it decodes, and then on every record and link; and unless each
// entry's values are those of its record.
func checkSameAsOracle(t *testing.T, data []byte) {
	collect := func(stream func(*strings.Reader, func([]connectors.Record) error) (any, error)) ([]connectors.Record, any, error) {
		var recs []connectors.Record
		p, err := stream(strings.NewReader(string(data)), func(r []connectors.Record) error {
			if len(r) == 0 {
				t.Error("an empty run of records was handed on")
			}
			recs = append(recs, r...)
			return nil
		})
		return recs, p, err
	}
	type stream = func(*strings.Reader, func([]connectors.Record) error) (any, error)
	for _, c := range []struct {
		name     string
		old, new stream
	}{
		{"read", func(r *strings.Reader, fn func([]connectors.Record) error) (any, error) { return oldStreamPage(r, fn) },
			func(r *strings.Reader, fn func([]connectors.Record) error) (any, error) { return streamPage(r, fn) }},
		{"changes", func(r *strings.Reader, fn func([]connectors.Record) error) (any, error) {
			return oldStreamChangesPage(r, fn)
		},
			func(r *strings.Reader, fn func([]connectors.Record) error) (any, error) {
				return streamChangesPage(r, fn)
			}},
	} {
		wantRecs, wantPage, wantErr := collect(c.old)
		gotRecs, gotPage, gotErr := collect(c.new)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("%s %q: error %v, the old decoder's %v", c.name, data, gotErr, wantErr)
		}
		if wantErr != nil {
			continue
		}
		if !reflect.DeepEqual(gotRecs, wantRecs) {
			t.Fatalf("%s %q: records\n%#v\nthe old decoder's\n%#v", c.name, data, gotRecs, wantRecs)
		}
		if !reflect.DeepEqual(gotPage, wantPage) {
			t.Fatalf("%s %q: page %#v, the old decoder's %#v", c.name, data, gotPage, wantPage)
		}
	}
	checkValues(t, data)
}

// checkValues fails unless the values an entry gives (entries.Value) are
// those of the record it gives (entries.Record), for every name a record
// has and a few it may not.
func checkValues(t *testing.T, data []byte) {
	recs, err := oldDecodeAll(data)
	if err != nil {
		return
	}
	fields := []string{etagKey, "@odata.editLink", "missing", "x@" + lookupLogicalName}
	for _, r := range recs {
		for k := range r {
			if !slices.Contains(fields, k) {
				fields = append(fields, k)
			}
		}
	}
	err = newCollectionDecoder(fields, false).decode(strings.NewReader(string(data)), nil, func(es *entries) error {
		for r := range es.Len() {
			rec, err := es.Record(r, connectors.Record{"stale": true})
			if err != nil {
				return err
			}
			for i, f := range fields {
				raw := es.Value(r, i)
				want, has := rec[f]
				if raw == nil {
					if has {
						t.Errorf("%q: record %d: Value(%s) = nil, the record has %#v", data, r, f, want)
					}
					continue
				}
				got, err := ijson.Decode(raw)
				if err != nil {
					t.Fatalf("%q: record %d: Value(%s) = %q: %v", data, r, f, raw, err)
				}
				if _, isString := got.(string); f == etagKey && !isString {
					want = got // a version that is not a string is left out of the Record
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%q: record %d: Value(%s) = %q, the record has %#v", data, r, f, raw, want)
				}
			}
		}
		return nil
	}, nil)
	if err != nil {
		t.Errorf("%q: the entries failed where the records did not: %v", data, err)
	}
}

func oldDecodeAll(data []byte) ([]connectors.Record, error) {
	var recs []connectors.Record
	_, err := oldStreamPage(strings.NewReader(string(data)), func(r []connectors.Record) error {
		recs = append(recs, r...)
		return nil
	})
	return recs, err
}

// BenchmarkDecodePage decodes a page of 1000 of the fake ERP's customers:
// old, the decoder into maps before issue 16; records, the token decoder
// building the same Records (what Read hands on); entries, the token
// decoder giving each record's values (what ReadEntries hands on), every
// value of every record looked at once. gc/op is the garbage collections
// per page.
func BenchmarkDecodePage(b *testing.B) {
	body := string(customersPage(b, 1000))
	fields := strings.Split(benchSelect, ",")
	d := newCollectionDecoder(fields, false) // as ReadEntries reuses it from page to page
	for _, c := range []struct {
		name   string
		decode func() error
	}{
		{"old", func() error {
			_, err := oldStreamPage(strings.NewReader(body), func([]connectors.Record) error { return nil })
			return err
		}},
		{"records", func() error {
			_, err := streamPage(strings.NewReader(body), func([]connectors.Record) error { return nil })
			return err
		}},
		{"entries", func() error {
			n := 0
			err := d.decode(strings.NewReader(body), nil, func(es *entries) error {
				for r := range es.Len() {
					for i := range fields {
						n += len(es.Value(r, i))
					}
				}
				return nil
			}, nil)
			if err == nil && n == 0 {
				err = fmt.Errorf("no values")
			}
			return err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				if err := c.decode(); err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.NumGC-before.NumGC)/float64(b.N), "gc/op")
		})
	}
}

// TestEntriesValueRepeatedField: a field asked for twice is given at both
// indexes (connectors.Entries.Value indexes the fields as asked).
func TestEntriesValueRepeatedField(t *testing.T) {
	fields := []string{"id", "number", "id"}
	err := newCollectionDecoder(fields, false).decode(strings.NewReader(`{"value":[{"id":"a","number":"1"}]}`), nil,
		func(es *entries) error {
			for i, f := range fields {
				if es.Value(0, i) == nil {
					t.Errorf("Value(0, %d) (%s) = nil; the record has it", i, f)
				}
			}
			return nil
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
}
