package odata

import (
	"fmt"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// decodeRecord answers what encoding/json answered before it had a fast
// path (decodeRecordSlow): the same record, or an error where that fails.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range []string{
		`{"@odata.etag":"W/\"1\"","accountid":"5f1b2c3d-0000-0000-0000-000000000001","name":"x","n":12.50,"b":true,"z":null}`,
		`{"@odata.context":"https://h/$metadata#accounts/$entity","modifiedon":"2026-12-05T10:00:00Z","_x_value@Microsoft.Dynamics.CRM.lookuplogicalname":"account"}`,
		`  {"a":{"b":[1,"2",{"c":null}]},"e":[]}  `, `{}`, `{"a":1,"a":2}`, `{"a\u0062":1,"ab":2}`, `{"@odata.etag":1}`,
		`{"a":"\ud800"}`, "{\"a\xff\":1}", "{\"a\":\"\xff\"}", `{"a":1} {"b":2}`, `{"a":1} x`, `{"a":1`, `{"a" 1}`,
		`null`, `[]`, `"x"`, `12`, ``, ` `, `{"a":01}`, `{"a":1,}`, `{"a":tru}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotErr := decodeRecord(body)
		want, wantErr := decodeRecordSlow(body)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("decodeRecord(%q): error %v, encoding/json's %v", body, gotErr, wantErr)
		}
		if gotErr != nil {
			if gotErr.Error() != wantErr.Error() {
				t.Fatalf("decodeRecord(%q): error %q, encoding/json's %q", body, gotErr, wantErr)
			}
			return
		}
		if g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want); g != w {
			t.Fatalf("decodeRecord(%q) = %s, encoding/json gives %s", body, g, w)
		}
	})
}

// benchAnswer is the fake CRM's answer to a create of the benchmark
// mapping's account (engine/bench_test.go), as Prefer: return=representation
// gives it.
const benchAnswer = `{"@odata.context":"http://127.0.0.1/api/data/v9.2/$metadata#accounts/$entity","@odata.etag":"W/\"1000001\"","accountid":"5f1b2c3d-0000-0000-0000-000000000001","accountnumber":"C00042","name":"Customer 42","address1_line1":"42 Main Street","address1_city":"Springfield","address1_postalcode":"12345","address1_country":"US","telephone1":"+1 555 0142","emailaddress1":"c42@example.com","creditlimit":1000.5,"modifiedon":"2026-12-05T10:00:00Z","createdon":"2026-12-05T10:00:00Z","statecode":0}`

// benchSelectedAnswer is the same answer to a create that selects what
// apply reads ($select=accountid,modifiedon), as Dataverse and the fake
// give it.
const benchSelectedAnswer = `{"@odata.context":"http://127.0.0.1/api/data/v9.2/$metadata#accounts(accountid,modifiedon)/$entity","@odata.etag":"W/\"1000001\"","accountid":"5f1b2c3d-0000-0000-0000-000000000001","modifiedon":"2026-12-05T10:00:00Z"}`

// BenchmarkDecodeRecord decodes a create's answer, whole and selected:
// fast is decodeRecord, encoding/json what it did before.
//
//	go test ./connectors/odata -run '^$' -bench DecodeRecord
func BenchmarkDecodeRecord(b *testing.B) {
	for _, answer := range []struct{ name, body string }{{"whole", benchAnswer}, {"selected", benchSelectedAnswer}} {
		for _, c := range []struct {
			name   string
			decode func([]byte) (connectors.Record, error)
		}{{"fast", decodeRecord}, {"encoding/json", decodeRecordSlow}} {
			b.Run(answer.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.decode([]byte(answer.body)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
