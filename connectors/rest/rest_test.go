package rest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// pagedAPI serves 7 records {id: 1..7} under /items in the paging style
// given, 3 per page, and records each request's query.
func pagedAPI(t *testing.T, style string) (*httptest.Server, *[]string) {
	var seen []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.URL.RawQuery)
		q := r.URL.Query()
		start := 0
		switch style {
		case "page":
			n, _ := strconv.Atoi(q.Get("p"))
			start = (n - 1) * 3
		case "offset", "next_link", "link_header":
			start, _ = strconv.Atoi(q.Get("skip"))
		case "cursor":
			if c := q.Get("after"); c != "" {
				start, _ = strconv.Atoi(c)
			}
		}
		var recs []string
		for i := start; i < min(start+3, 7); i++ {
			recs = append(recs, fmt.Sprintf(`{"id":%d,"name":"n%d"}`, i+1, i+1))
		}
		more := start+3 < 7
		next := "null"
		switch style {
		case "next_link":
			if more {
				next = fmt.Sprintf(`"%s/items?skip=%d"`, srv.URL, start+3)
			}
		case "link_header":
			if more {
				w.Header().Set("Link", fmt.Sprintf(`<%s/items?skip=%d>; rel="next", <%s/items?skip=6>; rel="last"`, srv.URL, start+3, srv.URL))
			}
		case "cursor":
			if more {
				next = fmt.Sprintf(`"%d"`, start+3)
			}
		}
		fmt.Fprintf(w, `{"result":{"items":[%s]},"paging":{"next":%s}}`, strings.Join(recs, ","), next)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestPagingStyles(t *testing.T) {
	for _, tc := range []struct {
		style  string
		paging Paging
	}{
		{"page", Paging{Style: "page", Param: "p", SizeParam: "size", Start: 1}},
		{"offset", Paging{Style: "offset", Param: "skip", SizeParam: "size"}},
		{"next_link", Paging{Style: "next_link", Next: "paging.next"}},
		{"link_header", Paging{Style: "link_header"}},
		{"cursor", Paging{Style: "cursor", Next: "paging.next", Param: "after"}},
	} {
		t.Run(tc.style, func(t *testing.T) {
			srv, seen := pagedAPI(t, tc.style)
			c, err := New(connectors.Config{Name: "t", BaseURL: srv.URL, PageSize: 3, Settings: &Settings{Resources: map[string]Resource{
				"items": {Records: "result.items", Paging: tc.paging, Query: map[string]string{"order": "id asc"}},
			}}})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			pages := 0
			err = c.Read(context.Background(), connectors.Query{Entity: connectors.Entity{Name: "items", Key: "id"}}, func(p connectors.Page) error {
				pages++
				for _, r := range p.Records {
					ids = append(ids, keyString(r["id"]))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(ids, ","); got != "1,2,3,4,5,6,7" || pages != 3 {
				t.Errorf("read %s in %d pages, want 1..7 in 3; queries %q", got, pages, *seen)
			}
			if !strings.Contains((*seen)[0], "order=id%20asc") {
				t.Errorf("first query %q lacks the fixed query", (*seen)[0])
			}
		})
	}
}

func TestReadRefusesForeignNextLink(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"id":1}],"next":"https://evil.example/steal"}`)
	}))
	defer srv.Close()
	c, _ := New(connectors.Config{BaseURL: srv.URL, Settings: &Settings{Resources: map[string]Resource{
		"x": {Records: "data", Paging: Paging{Style: "next_link", Next: "next"}}}}})
	err := c.Read(context.Background(), connectors.Query{Entity: connectors.Entity{Name: "x", Key: "id"}}, func(connectors.Page) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "leaves the service origin") {
		t.Fatalf("err = %v, want the next link refused", err)
	}
}

func TestReadStopsWhenPageParamIgnored(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"id":1},{"id":2}]`)
	}))
	defer srv.Close()
	c, _ := New(connectors.Config{BaseURL: srv.URL, Settings: &Settings{Resources: map[string]Resource{
		"x": {Paging: Paging{Style: "page", Param: "page"}}}}})
	err := c.Read(context.Background(), connectors.Query{Entity: connectors.Entity{Name: "x", Key: "id"}}, func(connectors.Page) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "repeats the page before it") {
		t.Fatalf("err = %v, want the repeated page caught", err)
	}
}

func TestSinceParamAndLocalFilter(t *testing.T) {
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		fmt.Fprint(w, `[{"id":1,"m":"2024-01-01T00:00:00Z"},{"id":2,"m":"2024-03-01T00:00:00Z"},{"id":3,"m":1709251200}]`)
	}))
	defer srv.Close()
	since := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, param, format, wantQuery, wantIDs string
	}{
		{"unix", "since", "unix", "since=1706745600", "1,2,3"},
		{"layout", "since", "2006-01-02", "since=2024-02-01", "1,2,3"},
		{"rfc3339", "since", "", "since=2024-02-01T00%3A00%3A00Z", "1,2,3"},
		{"local", "", "", "", "2,3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(connectors.Config{BaseURL: srv.URL, Settings: &Settings{Resources: map[string]Resource{
				"x": {Since: Since{Param: tc.param, Format: tc.format}}}}})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			err = c.Read(context.Background(), connectors.Query{Entity: connectors.Entity{Name: "x", Key: "id", Modified: "m"}, Since: since},
				func(p connectors.Page) error {
					for _, r := range p.Records {
						ids = append(ids, keyString(r["id"]))
					}
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if query != tc.wantQuery || strings.Join(ids, ",") != tc.wantIDs {
				t.Errorf("query %q ids %v, want %q and %s", query, ids, tc.wantQuery, tc.wantIDs)
			}
		})
	}
}

func TestNewRejectsBadResources(t *testing.T) {
	for name, r := range map[string]Resource{
		"update without id": {Update: Endpoint{Path: "/x"}},
		"absolute path":     {List: Endpoint{Path: "https://other.example/x"}},
		"bad method":        {Create: Endpoint{Method: "FETCH", Path: "/x"}},
		"cursor no param":   {Paging: Paging{Style: "cursor", Next: "n"}},
		"unknown style":     {Paging: Paging{Style: "pages"}},
		"bad format":        {Since: Since{Param: "s", Format: "yesterday"}},
		"empty path member": {Records: "data..items"},
	} {
		if _, err := New(connectors.Config{BaseURL: "http://x.example", Settings: &Settings{Resources: map[string]Resource{"x": r}}}); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := New(connectors.Config{BaseURL: "http://user:pw@x.example"}); err == nil || strings.Contains(err.Error(), "pw") {
		t.Errorf("credentials in base url: err = %v", err)
	}
}

func TestLinkNext(t *testing.T) {
	for in, want := range map[string]string{
		`<https://a/x?page=2>; rel="next"`:                                         "https://a/x?page=2",
		`<https://a/x?page=1>; rel="prev", <https://a/x?p=3>; rel=next`:            "https://a/x?p=3",
		`<https://a/x?a=1,2>; rel="last", <https://a/y>; title="a, b"; rel="next"`: "https://a/y",
		`<https://a/x>; rel="prev next"`:                                           "https://a/x",
		`<https://a/x>; rel="last"`:                                                "",
		`garbage`:                                                                  "",
		``:                                                                         "",
	} {
		if got := linkNext(http.Header{"Link": {in}}); got != want {
			t.Errorf("linkNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzDecodeList(f *testing.F) {
	for _, s := range []string{`[]`, `[{"id":1}]`, `{"data":{"items":[{"id":"a","v":"1"}]},"meta":{"next":"x"}}`,
		`{"data":{"items":null}}`, `{"data":[1]}`, `{"data":{"items":[{"id":1}]}} x`, `{"data":{"items":[{"id":"1","p":{"id":"2","n":"a"},"v":3}]}}`, `{"data":{"items":[{"p":7}]}}`, `{`, ``, `"s"`, `{"meta":{"next":5}}`} {
		f.Add([]byte(s))
	}
	paths := []resource{
		{etag: "v"},
		{records: []string{"data", "items"}, next: []string{"meta", "next"}, etag: "v"},
		{records: []string{"data", "items"}, fieldsAt: []string{"p"}, etag: "v"},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, res := range paths {
			p, err := decodeList(body, &res, []string{"id", "v"})
			if err != nil {
				if p.records != nil && len(p.records) > 0 && strings.Contains(err.Error(), "at byte") {
					t.Errorf("records returned with a syntax error")
				}
				continue
			}
			for _, r := range p.records {
				if r == nil {
					t.Fatal("nil record")
				}
				if tag, ok := r[connectors.ETagField]; ok {
					if _, isString := tag.(string); !isString {
						t.Fatalf("etag %v is %T", tag, tag)
					}
				}
			}
		}
		_, _ = decodeItem(body, &resource{record: []string{"data"}, etag: "v"}, nil)
		_, _ = decodeItem(body, &resource{fieldsAt: []string{"data", "p"}, etag: "v"}, []string{"id"})
	})
}
