package rest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// readIDs reads entity items of c and returns the ids in order.
func readIDs(t *testing.T, c *Client, q connectors.Query) ([]string, error) {
	t.Helper()
	if q.Entity.Name == "" {
		q.Entity = connectors.Entity{Name: "items", Key: "id"}
	}
	var ids []string
	err := c.Read(context.Background(), q, func(p connectors.Page) error {
		for _, r := range p.Records {
			ids = append(ids, keyString(r["id"]))
		}
		return nil
	})
	return ids, err
}

// A page API that counts from 0 (Spring Data) gets page 0 first when
// start: 0 says so.
func TestPageStartZero(t *testing.T) {
	var first atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		first.CompareAndSwap(nil, r.URL.Query().Get("page"))
		var recs []string
		for i := p * 3; i < min(p*3+3, 7); i++ {
			recs = append(recs, fmt.Sprintf(`{"id":%d}`, i+1))
		}
		fmt.Fprintf(w, `[%s]`, strings.Join(recs, ","))
	}))
	defer srv.Close()
	c, err := New(connectors.Config{Name: "t", BaseURL: srv.URL, Settings: &Settings{Resources: map[string]Resource{
		"items": {Paging: Paging{Style: "page", Param: "page", Start: 0}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := readIDs(t, c, connectors.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids, ","); got != "1,2,3,4,5,6,7" || first.Load() != "0" {
		t.Errorf("read %s starting at page %v, want 1..7 starting at page 0", got, first.Load())
	}
	if _, err := New(connectors.Config{BaseURL: srv.URL, Settings: &Settings{Resources: map[string]Resource{
		"items": {Paging: Paging{Style: "page", Param: "page", Start: -1}}}}}); err == nil {
		t.Error("a negative start was accepted")
	}
}

// A server whose cursors, next links or Link headers lead back to a page
// already read (A -> B -> A) fails the read at the first repeat instead of
// handing the same records again until maxPages.
func TestReadFailsOnPagingCycle(t *testing.T) {
	for _, tc := range []struct {
		style  string
		paging Paging
	}{
		{"cursor", Paging{Style: "cursor", Next: "next", Param: "cursor"}},
		{"next_link", Paging{Style: "next_link", Next: "next"}},
		{"link_header", Paging{Style: "link_header"}},
	} {
		t.Run(tc.style, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) > 20 {
					w.WriteHeader(http.StatusInternalServerError) // the cycle went unnoticed
					return
				}
				at := r.URL.Query().Get("cursor")
				next := map[string]string{"": "A", "A": "B", "B": "A"}[at]
				switch tc.style {
				case "cursor":
					fmt.Fprintf(w, `{"data":[{"id":"%s1"}],"next":"%s"}`, at, next)
				case "next_link":
					fmt.Fprintf(w, `{"data":[{"id":"%s1"}],"next":"/items?cursor=%s"}`, at, next)
				case "link_header":
					w.Header().Set("Link", `</items?cursor=`+next+`>; rel="next"`)
					fmt.Fprintf(w, `{"data":[{"id":"%s1"}]}`, at)
				}
			}))
			defer srv.Close()
			c, err := New(connectors.Config{Name: "t", BaseURL: srv.URL, MaxRetries: 0, Settings: &Settings{Resources: map[string]Resource{
				"items": {Records: "data", Paging: tc.paging},
			}}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = readIDs(t, c, connectors.Query{})
			if err == nil || !strings.Contains(err.Error(), "paging cycles") {
				t.Errorf("err = %v, want the cycle reported", err)
			}
			if got := n.Load(); got != 3 {
				t.Errorf("%d requests, want 3 (the cycle caught before asking for A again)", got)
			}
		})
	}
}

// Keys that would become dot segments, or change the path, fail their own
// op with a clear error and send nothing; the other ops go ahead.
func TestWriteRefusesKeysThatAreNotPathSegments(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.EscapedPath())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, err := New(connectors.Config{Name: "t", BaseURL: srv.URL + "/api/v3", MaxRetries: 0})
	if err != nil {
		t.Fatal(err)
	}
	bad := []string{".", "..", "a/b", `a\b`, "a\nb", "x\x00"}
	var ops []connectors.WriteOp
	for _, k := range bad {
		ops = append(ops, connectors.WriteOp{Op: connectors.OpDelete, Key: k})
	}
	ops = append(ops, connectors.WriteOp{Op: connectors.OpUpdate, Key: "ok.1", Fields: connectors.Record{"a": 1}})
	res, err := c.Write(context.Background(), connectors.Entity{Name: "items", Key: "id"}, ops)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range bad {
		if res[i].Err == nil || !strings.Contains(res[i].Err.Error(), "cannot be sent in a URL path") {
			t.Errorf("delete %q: err = %v, want it refused", k, res[i].Err)
		}
	}
	if res[len(bad)].Err != nil {
		t.Errorf("update ok.1: %v", res[len(bad)].Err)
	}
	if len(got) != 1 || got[0] != "PATCH /api/v3/items/ok.1" {
		t.Errorf("requests %q, want only PATCH /api/v3/items/ok.1", got)
	}
	if _, err := c.Get(context.Background(), connectors.Entity{Name: "items", Key: "id"}, nil, []string{".."}); err == nil {
		t.Error("get of key .. was sent")
	}
}

// If-Match carries an entity-tag: a bare version is quoted, one that is
// already an entity-tag (strong or weak) goes as it is.
func TestIfMatchIsAnEntityTag(t *testing.T) {
	for in, want := range map[string]string{
		"3": `"3"`, "v7": `"v7"`, `"abc"`: `"abc"`, `W/"abc"`: `W/"abc"`, `a"b`: `"ab"`, `"x`: `"x"`,
		`W/x`: `"W/x"`,
	} {
		if got := entityTag(in); got != want {
			t.Errorf("entityTag(%q) = %s, want %s", in, got, want)
		}
	}
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("If-Match"))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, _ := New(connectors.Config{Name: "t", BaseURL: srv.URL, MaxRetries: 0})
	res, _ := c.Write(context.Background(), connectors.Entity{Name: "items", Key: "id"},
		[]connectors.WriteOp{{Op: connectors.OpDelete, Key: "1", ETag: "3"}})
	if res[0].Err != nil || got.Load() != `"3"` {
		t.Errorf("If-Match %v (err %v), want \"3\"", got.Load(), res[0].Err)
	}
}

// A secret in base_url's query (?api_token=) shows neither in errors nor
// in the debug log; the parameter's name does.
func TestQuerySecretRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("api_token") != "planted-SECRET" {
			t.Errorf("the server did not get the token: %s", r.URL.RawQuery)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := NewWithOptions(connectors.Config{Name: "t", BaseURL: srv.URL + "/v1?api_token=planted-SECRET", MaxRetries: 1}, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	_, err = readIDs(t, c, connectors.Query{})
	if err == nil || strings.Contains(err.Error(), "planted-SECRET") || !strings.Contains(err.Error(), "api_token=REDACTED") {
		t.Errorf("error %v: want a 503 naming api_token without its value", err)
	}
	srv.Close() // now a connection error, a *url.Error with the URL in it
	_, err = readIDs(t, c, connectors.Query{})
	if err == nil || strings.Contains(err.Error(), "planted-SECRET") {
		t.Errorf("connection error %v shows the secret", err)
	}
	if strings.Contains(logs.String(), "planted-SECRET") || !strings.Contains(logs.String(), "api_token") {
		t.Errorf("debug log shows the secret or no request at all:\n%s", logs.String())
	}
}

// An API key sent as a query parameter (auth in: query) reaches the server
// on every request and never shows in errors or logs.
func TestAPIKeyInQuery(t *testing.T) {
	var keys []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.URL.Query().Get("api_token"))
		mu.Unlock()
		if r.URL.Query().Get("cursor") == "" {
			fmt.Fprint(w, `{"data":[{"id":1}],"next":"c2"}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := NewWithOptions(connectors.Config{Name: "t", BaseURL: srv.URL, MaxRetries: 0,
		Auth:     connectors.Auth{Type: "api_key", In: "query", Param: "api_token", Key: "planted-KEY"},
		Settings: &Settings{Resources: map[string]Resource{"items": {Records: "data", Paging: Paging{Style: "cursor", Next: "next", Param: "cursor"}}}},
	}, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	_, err = readIDs(t, c, connectors.Query{})
	if err == nil || strings.Contains(err.Error(), "planted-KEY") {
		t.Errorf("err = %v: want the 404, without the key", err)
	}
	if strings.Join(keys, ",") != "planted-KEY,planted-KEY" {
		t.Errorf("keys the server got: %q, want it on both requests", keys)
	}
	if strings.Contains(logs.String(), "planted-KEY") {
		t.Errorf("log shows the key:\n%s", logs.String())
	}
	if _, err := New(connectors.Config{BaseURL: srv.URL, Auth: connectors.Auth{Type: "api_key", In: "query", Key: "k"}}); err == nil {
		t.Error("api_key in query without param was accepted")
	}
}

// The modified field reaches the engine as RFC 3339 in UTC whatever the
// API's form (since.format), in reads, gets and write results, so that the
// engine keeps one format for watermarks.
func TestModifiedNormalisedToRFC3339(t *testing.T) {
	for _, tc := range []struct {
		format, raw, want string
	}{
		{"unix", `1732440000`, "2024-11-24T09:20:00Z"},
		{"unix_ms", `1732440000123`, "2024-11-24T09:20:00.123Z"},
		{"", `1732440000123`, "2024-11-24T09:20:00.123Z"},
		{"", `"2024-11-24T10:20:00+01:00"`, "2024-11-24T09:20:00Z"},
		{"2006-01-02 15:04:05", `"2024-11-24 09:30:00"`, "2024-11-24T09:30:00Z"},
		{"unix", `"1732440000"`, "2024-11-24T09:20:00Z"},
		{"rfc3339", `"last tuesday"`, "last tuesday"}, // left for the engine to report
	} {
		t.Run(tc.format+tc.raw, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body := fmt.Sprintf(`{"id":"1","modified":%s}`, tc.raw)
				if r.Method == http.MethodGet && r.URL.Path == "/items" {
					body = "[" + body + "]"
				}
				fmt.Fprint(w, body)
			}))
			defer srv.Close()
			c, err := New(connectors.Config{Name: "t", BaseURL: srv.URL, Settings: &Settings{Resources: map[string]Resource{
				"items": {Since: Since{Param: "since", Format: tc.format}}}}})
			if err != nil {
				t.Fatal(err)
			}
			e := connectors.Entity{Name: "items", Key: "id", Modified: "modified"}
			var recs []connectors.Record
			err = c.Read(context.Background(), connectors.Query{Entity: e, Since: time.Unix(1, 0)}, func(p connectors.Page) error {
				recs = append(recs, p.Records...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Get(context.Background(), e, nil, []string{"1"})
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, got...)
			res, err := c.Write(context.Background(), e, []connectors.WriteOp{{Op: connectors.OpUpdate, Key: "1", Fields: connectors.Record{"a": 1}}})
			if err != nil || res[0].Err != nil {
				t.Fatal(err, res[0].Err)
			}
			recs = append(recs, res[0].Record)
			for i, r := range recs {
				if r["modified"] != tc.want {
					t.Errorf("record %d (read, get, write): modified = %#v, want %q", i, r["modified"], tc.want)
				}
			}
		})
	}
}
