package odata

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// FuzzWriteResponse feeds arbitrary answers to a create and an update, as a
// response of their own and as a part of a $batch response: no panic, a
// create never succeeds without a key, and a failure always says why.
func FuzzWriteResponse(f *testing.F) {
	for _, s := range []struct {
		status   int
		location string
		body     string
	}{
		{201, "", `{"@odata.etag":"W/\"1\"","accountid":"5f1b2c3d-0000-0000-0000-000000000001","name":"x"}`},
		{204, "https://h/api/accounts(5f1b2c3d-0000-0000-0000-000000000001)", ``},
		{204, "https://h/api/customers('C%2701')", ``},
		{201, "", `{"accountid":12}`},
		{201, "", `{"accountid":`},
		{201, "", `{"value": [{"oops" <html>`},
		{200, "", `null`},
		{412, "", `{"error":{"code":"0x80060882","message":"The version of the existing record does not match"}}`},
		{500, "", `<html>gateway</html>`},
		{404, "", `"plain text in a JSON string"`},
		{204, "https://h/api/x(a=1,b=2)", ``},
		{204, "(", ``},
	} {
		f.Add(s.status, s.location, []byte(s.body))
	}
	c, err := New(connectors.Config{Name: "fuzz", Type: "odata", BaseURL: "https://h/api"})
	if err != nil {
		f.Fatal(err)
	}
	e := connectors.Entity{Name: "accounts", Key: "accountid", Modified: "modifiedon"}
	ops := []connectors.WriteOp{
		{Op: connectors.OpCreate, Fields: connectors.Record{"name": "x"}},
		{Op: connectors.OpUpdate, Key: "k", ETag: `W/"1"`, Fields: connectors.Record{"name": "x"}},
	}
	f.Fuzz(func(t *testing.T, status int, location string, body []byte) {
		if len(body) > 1<<16 || len(location) > 1<<10 {
			return
		}
		check := func(how string, op connectors.WriteOp, res connectors.WriteResult) {
			if res.Err != nil {
				if strings.TrimSpace(res.Err.Error()) == "" {
					t.Fatalf("%s %s: an error without a message", how, op.Op)
				}
				return
			}
			if op.Op == connectors.OpCreate && res.Key == "" {
				t.Fatalf("%s: a create succeeded without a key (status %d, location %q, body %q)", how, status, location, body)
			}
		}
		for _, op := range ops {
			wr, err := prepareWrite(keyer{field: e.Key}, e, op)
			if err != nil {
				t.Fatal(err)
			}
			// Alone: send hands result a 2xx; the rest are *Error.
			if status >= 200 && status <= 299 {
				h := http.Header{}
				h.Set("Location", location)
				h.Set("OData-EntityId", location)
				res, err := result(keyer{field: e.Key}, e, op, writeResponse{status: status, header: h, body: body})
				if err != nil {
					res.Err = err
				}
				check("alone", op, res)
			}
			// In a $batch: the part's body is raw JSON; a body that is not
			// JSON cannot arrive as a part, so it travels as a JSON string.
			raw := json.RawMessage(body)
			if !json.Valid(body) {
				raw, _ = json.Marshal(string(body))
			}
			if len(bytes.TrimSpace(raw)) == 0 {
				raw = nil
			}
			a := batchAnswer{ID: "1", Status: status, Header: http.Header{"Location": {location}}, Body: jsonBody(raw)}
			check("batched", op, c.batchResult(e, op, wr, a))
		}
		_ = entityIDKey(location)
		_, _ = errorDetail(body)
	})
}
