package odata

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/connectors/transport"
)

// batchClient is fakeClient with BatchSize and MaxConcurrency set.
func batchClient(t *testing.T, s *fake.Server, batchSize, concurrency int) *Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/api/data/v9.2/", http.StripPrefix("/api/data/v9.2", s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return batchClientFor(t, srv.URL+"/api/data/v9.2/", batchSize, concurrency)
}

func batchClientFor(t *testing.T, base string, batchSize, concurrency int) *Client {
	t.Helper()
	hc, err := transport.New(transport.Options{
		MaxRetries: 3,
		MinWait:    time.Millisecond,
		MaxWait:    10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewWithOptions(connectors.Config{
		Name:           "crm",
		BaseURL:        base,
		MaxConcurrency: concurrency,
		Settings:       &Settings{BatchSize: batchSize},
	}, Options{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// batchWant is the expected outcome of one op.
type batchWant struct {
	errIs   error  // nil: success
	errHas  string // substring of the error
	created bool   // a create: Key must be a new key
	name    string // the record's name afterwards, when set
	gone    bool   // the record must not exist afterwards
}

func TestWriteBatched(t *testing.T) {
	const missing = "00000000-0000-0000-0000-0000000000ff"
	mixed := func(t *testing.T, s *fake.Server) ([]connectors.WriteOp, []batchWant) {
		keys := putAccounts(t, s, "keep", "to delete", "changed elsewhere")
		etag := func(k string) string { e, _ := s.ETag("accounts", k); return e }
		stale := etag(keys[2])
		if err := s.Patch("accounts", keys[2], connectors.Record{"name": "edited by a user"}); err != nil {
			t.Fatal(err)
		}
		ops := []connectors.WriteOp{
			{Op: connectors.OpCreate, Fields: connectors.Record{"name": "new 1"}},
			{Op: connectors.OpUpdate, Key: keys[0], ETag: etag(keys[0]), Fields: connectors.Record{"name": "renamed"}},
			{Op: connectors.OpUpdate, Key: keys[2], ETag: stale, Fields: connectors.Record{"name": "lost"}},
			{Op: connectors.OpCreate, Fields: connectors.Record{"name": "new 2", "revenue": json.Number("3.50")}},
			{Op: connectors.OpDelete, Key: missing},
			{Op: connectors.OpDelete, Key: keys[1], ETag: etag(keys[1])},
			{Op: connectors.OpUpdate, Key: missing, Fields: connectors.Record{"name": "ghost"}},
			{Op: connectors.OpCreate, Fields: connectors.Record{"name": "new 3"}},
		}
		wants := []batchWant{
			{created: true, name: "new 1"},
			{name: "renamed"},
			{errIs: connectors.ErrStale, errHas: "412 Precondition Failed", name: "edited by a user"},
			{created: true, name: "new 2"},
			{errIs: connectors.ErrNotFound, errHas: "delete accounts(" + missing + "): record not found: DELETE /api/data/v9.2/accounts(" + missing + "): 404 Not Found", gone: true},
			{gone: true},
			{errIs: connectors.ErrNotFound, gone: true},
			{created: true, name: "new 3"},
		}
		return ops, wants
	}

	tests := []struct {
		name          string
		batchSize     int
		concurrency   int
		throttle      int
		ops           func(*testing.T, *fake.Server) ([]connectors.WriteOp, []batchWant)
		wantRequests  int
		wantThrottled int
	}{
		{name: "mixed, 3 chunks, one at a time", batchSize: 3, concurrency: 1, ops: mixed, wantRequests: 3},
		{name: "mixed, 3 chunks, concurrent", batchSize: 3, concurrency: 4, ops: mixed, wantRequests: 3},
		{name: "mixed, one chunk", batchSize: 100, ops: mixed, wantRequests: 1},
		{name: "throttled batch is retried", batchSize: 3, concurrency: 1, throttle: 1, ops: mixed, wantRequests: 4, wantThrottled: 1},
		{
			name: "op that cannot be encoded fails alone", batchSize: 2,
			ops: func(t *testing.T, s *fake.Server) ([]connectors.WriteOp, []batchWant) {
				return []connectors.WriteOp{
						{Op: connectors.OpUpdate, Fields: connectors.Record{"name": "no key"}},
						{Op: "upsert", Key: missing},
						{Op: connectors.OpCreate, Fields: connectors.Record{"name": "fine"}},
					}, []batchWant{
						{errHas: "no key to address the record"},
						{errHas: `unknown write op "upsert"`},
						{created: true, name: "fine"},
					}
			},
			wantRequests: 1, // the first chunk has nothing to send
		},
		{
			name: "batch size above 1000 is capped", batchSize: 5000,
			ops: func(t *testing.T, s *fake.Server) ([]connectors.WriteOp, []batchWant) {
				ops := make([]connectors.WriteOp, 1001)
				wants := make([]batchWant, len(ops))
				for i := range ops {
					n := fmt.Sprintf("r%d", i)
					ops[i] = connectors.WriteOp{Op: connectors.OpCreate, Fields: connectors.Record{"name": n}}
					wants[i] = batchWant{created: true, name: n}
				}
				return ops, wants
			},
			wantRequests: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fake.NewCRM()
			ops, wants := tt.ops(t, s)
			c := batchClient(t, s, tt.batchSize, tt.concurrency)
			s.ResetStats()
			s.Throttle(tt.throttle, 0)

			res, err := c.Write(t.Context(), crmAccounts, ops)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != len(ops) {
				t.Fatalf("%d results for %d ops", len(res), len(ops))
			}
			seen := map[string]bool{}
			for i, w := range wants {
				r := res[i]
				switch {
				case w.errIs == nil && w.errHas == "" && r.Err != nil:
					t.Errorf("op %d: unexpected error %v", i, r.Err)
				case w.errIs != nil && !errors.Is(r.Err, w.errIs):
					t.Errorf("op %d: Err = %v, want %v", i, r.Err, w.errIs)
				case w.errHas != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), w.errHas)):
					t.Errorf("op %d: Err = %v, want it to contain %q", i, r.Err, w.errHas)
				}
				key := r.Key
				if w.created {
					if key == "" || seen[key] {
						t.Errorf("op %d: created key %q empty or repeated", i, key)
					}
					seen[key] = true
				} else if key != ops[i].Key {
					t.Errorf("op %d: Key = %q, want %q", i, key, ops[i].Key)
				}
				if r.Err == nil && ops[i].Op != connectors.OpDelete {
					if r.ETag == "" || r.Record == nil {
						t.Errorf("op %d: no ETag or record: %+v", i, r)
					} else if e, _ := s.ETag("accounts", key); e != r.ETag {
						t.Errorf("op %d: ETag %q, server has %q", i, r.ETag, e)
					}
				}
				got, ok := s.Get("accounts", key)
				if w.gone && ok {
					t.Errorf("op %d: record %s still exists: %v", i, key, got)
				}
				if w.name != "" && (!ok || got["name"] != w.name) {
					t.Errorf("op %d: record %s = %v (exists %v), want name %q", i, key, got, ok, w.name)
				}
			}
			st := s.Stats()
			if st.Requests != tt.wantRequests || st.Throttled != tt.wantThrottled || st.ByMethod[http.MethodPost] != tt.wantRequests {
				t.Errorf("stats = %+v, want %d requests (all POST), %d throttled", st, tt.wantRequests, tt.wantThrottled)
			}
		})
	}
}

// TestWriteBatchedSameAsSingle runs the same ops against two identical fakes,
// one request per op and batched, and wants identical results, errors
// included: the engine cannot tell the two apart.
func TestWriteBatchedSameAsSingle(t *testing.T) {
	run := func(batchSize int) string {
		s := fake.NewCRM()
		s.SetClock(steppingClock(time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC), time.Second))
		keys := putAccounts(t, s, "a", "b", "c")
		etag := func(k string) string { e, _ := s.ETag("accounts", k); return e }
		ops := []connectors.WriteOp{
			{Op: connectors.OpCreate, Fields: connectors.Record{"accountid": "00000000-0000-0000-0000-0000000000a1", "name": "new"}},
			{Op: connectors.OpUpdate, Key: keys[0], ETag: etag(keys[0]), Fields: connectors.Record{"name": "x"}},
			{Op: connectors.OpUpdate, Key: keys[1], ETag: `W/"999"`, Fields: connectors.Record{"name": "y"}},
			{Op: connectors.OpDelete, Key: keys[2]},
			{Op: connectors.OpDelete, Key: keys[2]},
			{Op: connectors.OpCreate, Fields: connectors.Record{"accountid": "00000000-0000-0000-0000-0000000000a1", "name": "dup"}},
		}
		res, err := batchClient(t, s, batchSize, 1).Write(t.Context(), crmAccounts, ops)
		if err != nil {
			t.Fatal(err)
		}
		// The seeded keys are random GUIDs: name them by position.
		var b strings.Builder
		for _, r := range res {
			fmt.Fprintf(&b, "%+v\n", r)
		}
		out := b.String()
		for i, k := range keys {
			out = strings.ReplaceAll(out, k, fmt.Sprint("KEY", i))
		}
		return out
	}
	if single, batched := run(0), run(4); single != batched {
		t.Errorf("single:\n%s\nbatched:\n%s", single, batched)
	}
}

// TestWriteBatchFailures covers answers the fake never gives: a $batch that
// fails as a whole, and one that leaves an op unanswered.
func TestWriteBatchFailures(t *testing.T) {
	ops := []connectors.WriteOp{
		{Op: connectors.OpCreate, Fields: connectors.Record{"name": "a"}},
		{Op: connectors.OpDelete, Key: "k2"},
		{Op: connectors.OpDelete, Key: "k3"},
	}
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		wantHas  []string // per op
		wantHits int32
	}{
		{
			name: "500 on the batch fails every op, not retried",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 500, map[string]any{"error": map[string]any{"code": "0x1", "message": "boom"}})
			},
			wantHas:  []string{"$batch: POST /svc/$batch: 500 Internal Server Error: 0x1: boom", "$batch: POST", "$batch: POST"},
			wantHits: 1,
		},
		{
			name: "503 on the batch is retried, then fails every op",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(503)
			},
			wantHas:  []string{"503", "503", "503"},
			wantHits: 3, // MaxRetries 2 in newTestClient
		},
		{
			name: "unanswered op",
			handler: func(w http.ResponseWriter, r *http.Request) {
				var in struct {
					Requests []batchPart `json:"requests"`
				}
				json.NewDecoder(r.Body).Decode(&in)
				if len(in.Requests) != 3 || in.Requests[1].URL != "accounts('k2')" || in.Requests[1].Headers["if-match"] != "*" ||
					r.Header.Get("Prefer") != "odata.continue-on-error" || r.URL.Path != "/svc/$batch" {
					t.Errorf("unexpected batch %s %+v %v", r.URL, in.Requests, r.Header)
				}
				writeJSON(w, 200, map[string]any{"responses": []map[string]any{
					{"id": in.Requests[2].ID, "status": 404, "body": map[string]any{"error": map[string]any{"code": "NotFound", "message": "gone"}}},
					{"id": in.Requests[0].ID, "status": 204, "headers": map[string]string{"odata-entityid": "http://x/svc/accounts('n1')", "etag": `W/"1"`}},
				}})
			},
			wantHas:  []string{"", `has no answer for request "2"`, "DELETE /svc/accounts('k3'): 404 Not Found: NotFound: gone"},
			wantHits: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				tt.handler(w, r)
			}), func(cfg *connectors.Config) { settingsIn(cfg).BatchSize = 10 })
			res, err := c.Write(t.Context(), crmAccounts, ops)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.wantHas {
				if want == "" {
					if res[i].Err != nil {
						t.Errorf("op %d: %v", i, res[i].Err)
					}
					continue
				}
				if res[i].Err == nil || !strings.Contains(res[i].Err.Error(), want) {
					t.Errorf("op %d: Err = %v, want it to contain %q", i, res[i].Err, want)
				}
			}
			if tt.name == "unanswered op" {
				if res[0].Key != "n1" || res[0].ETag != `W/"1"` {
					t.Errorf("create: %+v", res[0])
				}
				if !errors.Is(res[2].Err, connectors.ErrNotFound) {
					t.Errorf("404 not ErrNotFound: %v", res[2].Err)
				}
			}
			if h := hits.Load(); h != tt.wantHits {
				t.Errorf("server hit %d times, want %d", h, tt.wantHits)
			}
		})
	}
}
