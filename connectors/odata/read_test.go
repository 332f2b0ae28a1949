package odata

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

var accounts = connectors.Entity{Name: "accounts", Key: "accountid", Modified: "modifiedon"}

// readAll reads q and returns the pages.
func readAll(t *testing.T, c *Client, q connectors.Query) ([]connectors.Page, error) {
	t.Helper()
	var pages []connectors.Page
	err := c.Read(t.Context(), q, func(p connectors.Page) error {
		pages = append(pages, p)
		return nil
	})
	return pages, err
}

func TestReadPagingAndHeaders(t *testing.T) {
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		for k, want := range map[string]string{
			"Accept":           "application/json",
			"OData-Version":    "4.0",
			"OData-MaxVersion": "4.0",
			"Prefer":           "odata.maxpagesize=2",
			"Authorization":    "Bearer " + testToken,
		} {
			if got := r.Header.Get(k); got != want {
				t.Errorf("%s %s: header %s = %q, want %q", r.Method, r.URL, k, got, want)
			}
		}
		if r.URL.Path != "/svc/accounts" {
			t.Errorf("path = %s", r.URL.Path)
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
		recs := []map[string]any{{"accountid": fmt.Sprint(n)}, {"accountid": fmt.Sprint(n + 1)}}
		next := ""
		switch n {
		case 0: // absolute link, as Dataverse sends
			next = "http://" + r.Host + "/svc/accounts?$skiptoken=2"
		case 2: // relative link, as OData 4.01 allows
			next = "accounts?$skiptoken=4"
		case 4:
			recs = recs[:1]
		}
		writeJSON(w, 200, collection(recs, next))
	})
	c, _ := newTestClient(t, h, func(cfg *connectors.Config) { cfg.PageSize = 2 })

	pages, err := readAll(t, c, connectors.Query{Entity: accounts})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pages {
		for _, r := range p.Records {
			got = append(got, r["accountid"].(string))
		}
	}
	if len(pages) != 3 || strings.Join(got, ",") != "0,1,2,3,4" {
		t.Errorf("pages = %d, records = %v", len(pages), got)
	}
	if calls.Load() != 3 {
		t.Errorf("calls = %d, want 3", calls.Load())
	}
}

func TestReadQueryOnTheWire(t *testing.T) {
	var raw atomic.Value
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw.Store(r.URL.RawQuery)
		writeJSON(w, 200, collection(nil, ""))
	})
	c, _ := newTestClient(t, h, nil)
	_, err := readAll(t, c, connectors.Query{
		Entity: accounts,
		Fields: []string{"name", "accountnumber"},
		Filter: "name eq 'A+B C' and statecode eq 0",
		Since:  time.Date(2024, 1, 2, 3, 4, 5, 500_000_000, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "$select=name,accountnumber,accountid,modifiedon" +
		"&$filter=(name%20eq%20'A%2BB%20C'%20and%20statecode%20eq%200)%20and%20modifiedon%20gt%202024-01-02T03:04:05.5Z" +
		"&$orderby=modifiedon%20asc"
	got := raw.Load().(string)
	if got != want {
		t.Errorf("query\n got %s\nwant %s", got, want)
	}
	if strings.Contains(got, "+") {
		t.Errorf("query has '+': %s", got)
	}
}

func TestReadRefusesForeignNextLink(t *testing.T) {
	var stolen atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Store(r.Header.Get("Authorization"))
		writeJSON(w, 200, collection(nil, ""))
	}))
	defer other.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, collection([]map[string]any{{"accountid": "1"}}, other.URL+"/svc/accounts?$skiptoken=1"))
	})
	c, _ := newTestClient(t, h, nil)

	pages, err := readAll(t, c, connectors.Query{Entity: accounts})
	if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "origin") {
		t.Fatalf("err = %v, want the nextLink refused", err)
	}
	if len(pages) != 1 {
		t.Errorf("pages before the refusal = %d, want 1", len(pages))
	}
	if stolen.Load() != nil {
		t.Errorf("the other origin was called with Authorization %q", stolen.Load())
	}
}

func TestReadNextLinkLoop(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, collection([]map[string]any{{"accountid": "1"}}, "http://"+r.Host+r.URL.RequestURI()))
	})
	c, _ := newTestClient(t, h, nil)
	_, err := readAll(t, c, connectors.Query{Entity: accounts, Filter: "a eq 1"})
	if err == nil || !strings.Contains(err.Error(), "points at the page itself") {
		t.Fatalf("err = %v, want loop detected", err)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		opts    Options
		want    []string
	}{
		{"odata error body",
			func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 400, map[string]any{"error": map[string]any{"code": "0x80060888", "message": "Could not find a property named 'nmae'."}})
			},
			Options{},
			[]string{"read accounts", "GET /svc/accounts?$filter=nmae%20eq%201", "400 Bad Request", "0x80060888", "Could not find a property named 'nmae'."}},
		{"plain text error",
			func(w http.ResponseWriter, r *http.Request) { http.Error(w, "entity set not found", 404) },
			Options{},
			[]string{"404 Not Found", "entity set not found"}},
		{"html error is dropped",
			func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(403)
				w.Write([]byte("<html><body>Forbidden</body></html>"))
			},
			Options{},
			[]string{"403 Forbidden"}},
		{"gave up retrying",
			func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) },
			Options{},
			[]string{"read accounts", "giving up after 3 attempts", "503"}},
		{"malformed json",
			func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"value":[{"accountid":"1"},{"accountid":}]}`))
			},
			Options{},
			[]string{"decode /svc/accounts?$filter=nmae%20eq%201", "at byte 28"}},
		{"body too large",
			func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, collection([]map[string]any{{"accountid": strings.Repeat("x", 100)}}, ""))
			},
			Options{MaxBodyBytes: 64},
			[]string{"response body too large (limit 64 bytes)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestClient(t, tt.handler, nil)
			if tt.opts.MaxBodyBytes > 0 {
				c.maxBody = tt.opts.MaxBodyBytes
			}
			_, err := readAll(t, c, connectors.Query{Entity: accounts, Filter: "nmae eq 1"})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestReadErrorIsTyped(t *testing.T) {
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 400, map[string]any{"error": map[string]any{"code": "c", "message": "m"}})
	}), nil)
	_, err := readAll(t, c, connectors.Query{Entity: accounts})
	var oe *Error
	if !errors.As(err, &oe) || oe.StatusCode != 400 || oe.Code != "c" || oe.Message != "m" {
		t.Fatalf("err = %#v, want *Error 400 c m", err)
	}
}

func TestReadStopsOnCallbackError(t *testing.T) {
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		writeJSON(w, 200, collection([]map[string]any{{"accountid": "1"}}, "http://"+r.Host+"/svc/accounts?$skiptoken="+fmt.Sprint(calls.Load())))
	})
	c, _ := newTestClient(t, h, nil)
	stop := errors.New("stop")
	err := c.Read(t.Context(), connectors.Query{Entity: accounts}, func(connectors.Page) error { return stop })
	if err != stop {
		t.Errorf("err = %v, want the callback's error unchanged", err)
	}
	if calls.Load() != 1 {
		t.Errorf("calls = %d, want 1", calls.Load())
	}
}

// TestReadSkipsEmptyPages: an empty page hands nothing on, yet its answer
// is the read's first, whose Date every page carries (connectors.Page):
// the watermark is capped by the server's clock when it began answering,
// not by a later page's, nor by coupler's.
func TestReadSkipsEmptyPages(t *testing.T) {
	first := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("$skiptoken") == "" {
			w.Header().Set("Date", first.Format(http.TimeFormat))
			writeJSON(w, 200, collection(nil, "http://"+r.Host+"/svc/accounts?$skiptoken=1"))
			return
		}
		w.Header().Set("Date", first.Add(5*time.Second).Format(http.TimeFormat))
		writeJSON(w, 200, collection([]map[string]any{{"accountid": "1"}}, ""))
	})
	c, _ := newTestClient(t, h, nil)
	pages, err := readAll(t, c, connectors.Query{Entity: accounts})
	if err != nil || len(pages) != 1 {
		t.Fatalf("pages = %d, err = %v; want 1 page", len(pages), err)
	}
	if !pages[0].Date.Equal(first) {
		t.Errorf("Read: the page's Date = %s, want the first answer's %s", pages[0].Date, first)
	}
	var dates []time.Time
	err = c.ReadEntries(t.Context(), connectors.Query{Entity: accounts}, []string{"accountid"}, func(es connectors.Entries) error {
		dates = append(dates, es.Date())
		return nil
	})
	if err != nil || len(dates) != 1 || !dates[0].Equal(first) {
		t.Errorf("ReadEntries: dates %v, %v; want one, the first answer's %s", dates, err, first)
	}
}

func TestReadCancelled(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, collection(nil, ""))
	})
	c, _ := newTestClient(t, h, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := c.Read(ctx, connectors.Query{Entity: accounts}, func(connectors.Page) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  connectors.Config
		want string
	}{
		{"ok", connectors.Config{BaseURL: "https://org.crm.dynamics.com/api/data/v9.2/"}, ""},
		{"empty", connectors.Config{}, "base url is empty"},
		{"scheme", connectors.Config{BaseURL: "ftp://h/x"}, `scheme "ftp"`},
		{"no host", connectors.Config{BaseURL: "https:///x"}, "no host"},
		{"credentials", connectors.Config{BaseURL: "https://me:hunter2@h/x"}, "must not contain credentials"},
		{"unparseable", connectors.Config{BaseURL: "https://me:hunter2@h/%zz"}, "does not parse"},
		{"page size", connectors.Config{BaseURL: "https://h", PageSize: -1}, "negative"},
		{"auth", connectors.Config{BaseURL: "https://h", Auth: connectors.Auth{Type: "bearer"}}, "empty token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	c, err := connectors.New(connectors.Config{Name: "crm", Type: "odata", BaseURL: "https://h/api"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*Client); !ok {
		t.Errorf("connectors.New returned %T", c)
	}
	_, err = connectors.New(connectors.Config{Name: "crm", Type: "odata"})
	if err == nil || !strings.Contains(err.Error(), "connector crm") {
		t.Errorf("err = %v", err)
	}
}
