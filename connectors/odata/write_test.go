package odata

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// seen is one request as the server received it.
type seen struct {
	method, uri, ifMatch, prefer, contentType, body string
}

func TestWriteOps(t *testing.T) {
	id := guid(42)
	tests := []struct {
		name    string
		op      connectors.WriteOp
		respond func(w http.ResponseWriter, r *http.Request)
		want    seen // body compared as JSON when set
		key     string
		etag    string
		record  bool
		errIs   error
		errHas  string
	}{
		{
			name: "create returns the representation",
			op:   connectors.WriteOp{Op: connectors.OpCreate, Fields: connectors.Record{"name": "A & B", "credit": json.Number("12.50"), "ownerid@odata.bind": "/systemusers(" + guid(1) + ")"}},
			respond: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 201, map[string]any{"@odata.context": "x", "@odata.etag": `W/"5"`, "accountid": id, "name": "A & B", "credit": 12.5})
			},
			want:   seen{method: "POST", uri: "/svc/accounts", prefer: "return=representation", contentType: "application/json", body: `{"credit":12.50,"name":"A & B","ownerid@odata.bind":"/systemusers(` + guid(1) + `)"}`},
			key:    id,
			etag:   `W/"5"`,
			record: true,
		},
		{
			name: "create 204 with OData-EntityId",
			op:   connectors.WriteOp{Op: connectors.OpCreate, Fields: connectors.Record{"name": "x", "@odata.etag": `W/"1"`}},
			respond: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("OData-EntityId", "http://"+r.Host+"/svc/accounts("+id+")")
				w.Header().Set("ETag", `W/"9"`)
				w.WriteHeader(204)
			},
			want: seen{method: "POST", uri: "/svc/accounts", prefer: "return=representation", contentType: "application/json", body: `{"name":"x"}`},
			key:  id,
			etag: `W/"9"`,
		},
		{
			name: "create with a string key",
			op:   connectors.WriteOp{Op: connectors.OpCreate, Fields: connectors.Record{"name": "x"}},
			respond: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("OData-EntityId", "http://"+r.Host+"/svc/accounts('O''Brien')")
				w.WriteHeader(204)
			},
			want: seen{method: "POST", uri: "/svc/accounts", prefer: "return=representation", contentType: "application/json", body: `{"name":"x"}`},
			key:  "O'Brien",
		},
		{
			name: "create without a key in the response",
			op:   connectors.WriteOp{Op: connectors.OpCreate, Fields: connectors.Record{"name": "x"}},
			respond: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(204)
			},
			want:   seen{method: "POST", uri: "/svc/accounts", prefer: "return=representation", contentType: "application/json", body: `{"name":"x"}`},
			errHas: "create accounts: created, but the response has neither accountid nor an OData-EntityId",
		},
		{
			name: "update with etag",
			op:   connectors.WriteOp{Op: connectors.OpUpdate, Key: id, ETag: `W/"5"`, Fields: connectors.Record{"name": "y"}},
			respond: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, map[string]any{"@odata.etag": `W/"6"`, "accountid": id, "name": "y"})
			},
			want:   seen{method: "PATCH", uri: "/svc/accounts(" + id + ")", ifMatch: `W/"5"`, prefer: "return=representation", contentType: "application/json", body: `{"name":"y"}`},
			key:    id,
			etag:   `W/"6"`,
			record: true,
		},
		{
			name:    "update without etag never upserts",
			op:      connectors.WriteOp{Op: connectors.OpUpdate, Key: "C 1/2", Fields: connectors.Record{"n": json.Number("3")}},
			respond: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
			want:    seen{method: "PATCH", uri: "/svc/accounts('C%201%2F2')", ifMatch: "*", prefer: "return=representation", contentType: "application/json", body: `{"n":3}`},
			key:     "C 1/2",
		},
		{
			name: "update stale",
			op:   connectors.WriteOp{Op: connectors.OpUpdate, Key: id, ETag: `W/"4"`, Fields: connectors.Record{"name": "y"}},
			respond: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 412, map[string]any{"error": map[string]any{"code": "0x80060882", "message": "The version of the existing record doesn't match"}})
			},
			want:   seen{method: "PATCH", uri: "/svc/accounts(" + id + ")", ifMatch: `W/"4"`, prefer: "return=representation", contentType: "application/json", body: `{"name":"y"}`},
			key:    id,
			errIs:  connectors.ErrStale,
			errHas: "update accounts(" + id + "): record changed since it was read: PATCH /svc/accounts(" + id + "): 412 Precondition Failed: 0x80060882",
		},
		{
			name: "update missing",
			op:   connectors.WriteOp{Op: connectors.OpUpdate, Key: id, Fields: connectors.Record{"name": "y"}},
			respond: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 404, map[string]any{"error": map[string]any{"code": "0x80040217", "message": "account Does Not Exist"}})
			},
			want:   seen{method: "PATCH", uri: "/svc/accounts(" + id + ")", ifMatch: "*", prefer: "return=representation", contentType: "application/json", body: `{"name":"y"}`},
			key:    id,
			errIs:  connectors.ErrNotFound,
			errHas: "account Does Not Exist",
		},
		{
			name:    "delete",
			op:      connectors.WriteOp{Op: connectors.OpDelete, Key: id, ETag: `W/"6"`},
			respond: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
			want:    seen{method: "DELETE", uri: "/svc/accounts(" + id + ")", ifMatch: `W/"6"`},
			key:     id,
		},
		{
			name:    "delete missing",
			op:      connectors.WriteOp{Op: connectors.OpDelete, Key: id},
			respond: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) },
			want:    seen{method: "DELETE", uri: "/svc/accounts(" + id + ")", ifMatch: "*"},
			key:     id,
			errIs:   connectors.ErrNotFound,
		},
		{
			name: "server error on create is not retried",
			op:   connectors.WriteOp{Op: connectors.OpCreate, Fields: connectors.Record{"name": "x"}},
			respond: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 500, map[string]any{"error": map[string]any{"code": "0x80040265", "message": "plugin failed"}})
			},
			want:   seen{method: "POST", uri: "/svc/accounts", prefer: "return=representation", contentType: "application/json", body: `{"name":"x"}`},
			errHas: "create accounts: POST /svc/accounts: 500 Internal Server Error: 0x80040265: plugin failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reqs []seen
			var mu sync.Mutex
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				reqs = append(reqs, seen{r.Method, r.URL.RequestURI(), r.Header.Get("If-Match"), r.Header.Get("Prefer"), r.Header.Get("Content-Type"), string(body)})
				mu.Unlock()
				tt.respond(w, r)
			})
			c, _ := newTestClient(t, h, nil)
			res, err := c.Write(t.Context(), accounts, []connectors.WriteOp{tt.op})
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if len(reqs) != 1 {
				t.Fatalf("requests = %d, want 1", len(reqs))
			}
			if got := reqs[0]; got != tt.want {
				t.Errorf("request\n got %+v\nwant %+v", got, tt.want)
			}
			r := res[0]
			if r.Key != tt.key || r.ETag != tt.etag || (r.Record != nil) != tt.record {
				t.Errorf("result = key %q etag %q record %v; want key %q etag %q record %v", r.Key, r.ETag, r.Record, tt.key, tt.etag, tt.record)
			}
			if r.Record != nil {
				for k := range r.Record {
					if strings.HasPrefix(k, "@") && k != "@odata.etag" {
						t.Errorf("annotation %s kept in result record", k)
					}
				}
			}
			switch {
			case tt.errIs == nil && tt.errHas == "":
				if r.Err != nil {
					t.Errorf("Err = %v", r.Err)
				}
			default:
				if r.Err == nil {
					t.Fatal("Err = nil")
				}
				if tt.errIs != nil && !errors.Is(r.Err, tt.errIs) {
					t.Errorf("Err = %v, want it to wrap %v", r.Err, tt.errIs)
				}
				if !strings.Contains(r.Err.Error(), tt.errHas) {
					t.Errorf("Err = %v, want it to contain %q", r.Err, tt.errHas)
				}
				if strings.Contains(r.Err.Error(), testToken) {
					t.Errorf("Err leaks the token")
				}
			}
		})
	}
}

func TestWriteInvalidOps(t *testing.T) {
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
	}), nil)
	ops := []connectors.WriteOp{
		{Op: "upsert", Key: "1"},
		{Op: connectors.OpUpdate, Fields: connectors.Record{"a": 1}},
		{Op: connectors.OpDelete},
		{Op: connectors.OpCreate, Fields: connectors.Record{"n": json.Number("12,5")}},
	}
	res, err := c.Write(t.Context(), accounts, ops)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`unknown write op "upsert"`, "no key", "no key", "encode fields"} {
		if res[i].Err == nil || !strings.Contains(res[i].Err.Error(), want) {
			t.Errorf("op %d: Err = %v, want %q", i, res[i].Err, want)
		}
	}
}

func TestWriteFailuresAreIndependent(t *testing.T) {
	var inFlight, peak atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		if strings.Contains(r.URL.Path, "000000000003") {
			w.WriteHeader(412)
			return
		}
		w.WriteHeader(204)
	})
	c, _ := newTestClient(t, h, func(cfg *connectors.Config) { cfg.MaxConcurrency = 3 })
	var ops []connectors.WriteOp
	for i := range 10 {
		ops = append(ops, connectors.WriteOp{Op: connectors.OpUpdate, Key: guid(i), Fields: connectors.Record{"i": i}})
	}
	res, err := c.Write(t.Context(), accounts, ops)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Key != guid(i) {
			t.Errorf("result %d has key %s: results must line up with ops", i, r.Key)
		}
		if stale := errors.Is(r.Err, connectors.ErrStale); stale != (i == 3) || (i != 3 && r.Err != nil) {
			t.Errorf("result %d: Err = %v", i, r.Err)
		}
	}
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrency = %d, want 2..3", p)
	}
}

func TestWriteCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 2 {
			cancel()
		}
		w.WriteHeader(204)
	})
	c, _ := newTestClient(t, h, func(cfg *connectors.Config) { cfg.MaxConcurrency = 1 })
	var ops []connectors.WriteOp
	for i := range 5 {
		ops = append(ops, connectors.WriteOp{Op: connectors.OpDelete, Key: guid(i)})
	}
	res, err := c.Write(ctx, accounts, ops)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(res) != 5 {
		t.Fatalf("results = %d, want 5", len(res))
	}
	if res[0].Err != nil {
		t.Errorf("op 0 finished before the cancel: Err = %v", res[0].Err)
	}
	for i := 2; i < 5; i++ {
		if !errors.Is(res[i].Err, context.Canceled) {
			t.Errorf("op %d: Err = %v, want context.Canceled", i, res[i].Err)
		}
	}
	if n := calls.Load(); n > 2 {
		t.Errorf("requests after the cancel: %d calls", n)
	}
}
