package fake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// t0 is the fixed start of test clocks.
var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// stepClock returns a clock that starts at t0 and advances by step on every
// call, so each write gets its own stamp.
func stepClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	now := t0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := now
		now = now.Add(step)
		return t
	}
}

// testClient talks to a Server over real HTTP.
type testClient struct {
	t    *testing.T
	srv  *httptest.Server
	base string // service root URL
}

func newClient(t *testing.T, h http.Handler) *testClient {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testClient{t: t, srv: srv, base: srv.URL}
}

// response is a buffered HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body with UseNumber, as the connectors do.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode body %q: %v", r.body, err)
	}
	return m
}

// values returns the records of a collection response.
func (r response) values(t *testing.T) []map[string]any {
	t.Helper()
	raw, _ := r.json(t)["value"].([]any)
	recs := make([]map[string]any, len(raw))
	for i, v := range raw {
		recs[i] = v.(map[string]any)
	}
	return recs
}

// errorCode returns the OData error code of an error response.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("body %s is not an OData error", r.body)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("OData error without a message: %s", r.body)
	}
	code, _ := e["code"].(string)
	return code
}

// do sends a request; target is a path relative to the service root or an
// absolute URL; headers are name, value pairs.
func (c *testClient) do(method, target, body string, headers ...string) response {
	c.t.Helper()
	u := target
	if !strings.HasPrefix(target, "http") {
		u = c.base + target
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// readAll follows nextLinks from target and returns every record and the
// number of pages.
func (c *testClient) readAll(target string, headers ...string) ([]map[string]any, int) {
	c.t.Helper()
	var all []map[string]any
	pages := 0
	for target != "" {
		r := c.do("GET", target, "", headers...)
		if r.status != http.StatusOK {
			c.t.Fatalf("GET %s: %d %s", target, r.status, r.body)
		}
		pages++
		all = append(all, r.values(c.t)...)
		target, _ = r.json(c.t)["@odata.nextLink"].(string)
		if target != "" && !strings.HasPrefix(target, c.base+"/") {
			c.t.Fatalf("nextLink %q is not on the service %s", target, c.base)
		}
	}
	return all, pages
}

func seeded(t *testing.T, n int) (*Server, *testClient) {
	t.Helper()
	s := NewERP()
	s.SetClock(stepClock(time.Second))
	if err := SeedCustomers(s, n); err != nil {
		t.Fatal(err)
	}
	return s, newBCClient(t, s)
}

// newBCClient is newClient for a NewERP server, its paths relative to the
// company's URL, where Business Central serves its entity sets.
func newBCClient(t *testing.T, s *Server) *testClient {
	t.Helper()
	c := newClient(t, s)
	c.base = BCCompanyURL(c.base)
	return c
}

func TestPaging(t *testing.T) {
	tests := []struct {
		name      string
		prefer    string
		n         int
		wantPages int
		applied   string
	}{
		{"default page size", "", 12, 1, ""},
		{"pages of 5", "odata.maxpagesize=5", 12, 3, "odata.maxpagesize=5"},
		{"exact multiple", "odata.maxpagesize=4", 12, 3, "odata.maxpagesize=4"},
		{"among other preferences", `odata.include-annotations="*", odata.maxpagesize=7`, 12, 2, `odata.maxpagesize=7,odata.include-annotations="*"`},
		{"capped at 5000", "odata.maxpagesize=10000", 3, 1, "odata.maxpagesize=5000"},
		{"empty set", "odata.maxpagesize=5", 0, 1, "odata.maxpagesize=5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := seeded(t, tt.n)
			var hdr []string
			if tt.prefer != "" {
				hdr = []string{"Prefer", tt.prefer}
			}
			first := c.do("GET", "/customers", "", hdr...)
			if got := first.header.Get("Preference-Applied"); got != tt.applied {
				t.Errorf("Preference-Applied = %q, want %q", got, tt.applied)
			}
			if ctx := first.json(t)["@odata.context"]; ctx != c.srv.URL+"/$metadata#companies("+BCCompanyID+")/customers" {
				t.Errorf("@odata.context = %v", ctx)
			}
			recs, pages := c.readAll("/customers", hdr...)
			if pages != tt.wantPages || len(recs) != tt.n {
				t.Fatalf("got %d records in %d pages, want %d in %d", len(recs), pages, tt.n, tt.wantPages)
			}
			ids := make([]string, len(recs))
			for i, r := range recs {
				ids[i] = r["id"].(string)
				if !strings.HasPrefix(r["@odata.etag"].(string), `W/"`) {
					t.Errorf("record %d has no weak ETag: %v", i, r["@odata.etag"])
				}
			}
			if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
				t.Errorf("ids not sorted and unique: %v", ids)
			}
		})
	}
}

func TestPagingIsStableUnderWrites(t *testing.T) {
	s, c := seeded(t, 10)
	first := c.do("GET", "/customers?$orderby=number", "", "Prefer", "odata.maxpagesize=4")
	page1 := first.values(t)
	next := first.json(t)["@odata.nextLink"].(string)

	// A record sorting before the cursor must not shift the next page; one
	// sorting after it must appear.
	if _, err := s.Put("customers", connectors.Record{"number": "C00000"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put("customers", connectors.Record{"number": "C99999"}); err != nil {
		t.Fatal(err)
	}
	rest, _ := c.readAll(next, "Prefer", "odata.maxpagesize=4")
	var numbers []string
	for _, r := range append(page1, rest...) {
		numbers = append(numbers, r["number"].(string))
	}
	want := []string{"C00010", "C00020", "C00030", "C00040", "C00050", "C00060", "C00070", "C00080", "C00090", "C00100", "C99999"}
	if !slices.Equal(numbers, want) {
		t.Errorf("numbers = %v, want %v", numbers, want)
	}
}

func TestSelect(t *testing.T) {
	_, c := seeded(t, 3)
	tests := []struct {
		query   string
		want    []string // keys of each record
		context string
	}{
		{"$select=displayName", []string{"@odata.etag", "displayName", "id"}, "customers(id,displayName)"},
		{"$select=city,number,nosuchfield", []string{"@odata.etag", "city", "id", "number"}, "customers(id,number,city)"},
		{"$select=id", []string{"@odata.etag", "id"}, "customers(id)"},
		{"$select=lastModifiedDateTime", []string{"@odata.etag", "id", "lastModifiedDateTime"}, "customers(id,lastModifiedDateTime)"},
		{"$select=*", nil, "customers"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := c.do("GET", "/customers?"+tt.query, "")
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if ctx := r.json(t)["@odata.context"].(string); !strings.HasSuffix(ctx, "#companies("+BCCompanyID+")/"+tt.context) {
				t.Errorf("@odata.context = %q, want suffix #%s", ctx, tt.context)
			}
			for _, rec := range r.values(t) {
				keys := slices.Sorted(func(yield func(string) bool) {
					for k := range rec {
						if !yield(k) {
							return
						}
					}
				})
				if tt.want == nil {
					if len(keys) < 15 {
						t.Errorf("$select=* returned only %v", keys)
					}
					continue
				}
				if !slices.Equal(keys, tt.want) {
					t.Errorf("fields = %v, want %v", keys, tt.want)
				}
			}
		})
	}
	// $select applies to single-record reads too.
	id := Customer(1)["id"].(string)
	r := c.do("GET", "/customers("+id+")?$select=number", "")
	if rec := r.json(t); len(rec) != 4 || rec["number"] != "C00020" {
		t.Errorf("single $select = %v", rec)
	}
}

func TestFilterOnModified(t *testing.T) {
	s := NewERP()
	s.SetClock(stepClock(1500 * time.Microsecond)) // sub-millisecond parts are truncated
	if err := SeedCustomers(s, 10); err != nil {
		t.Fatal(err)
	}
	c := newBCClient(t, s)
	// Stamps: t0, t0+1ms, t0+3ms, t0+4ms, t0+6ms, ...
	tests := []struct {
		filter string
		want   int
	}{
		{"lastModifiedDateTime gt 2024-05-01T10:00:00Z", 9},
		{"lastModifiedDateTime ge 2024-05-01T10:00:00Z", 10},
		{"lastModifiedDateTime gt 2024-05-01T10:00:00.006Z", 5},
		{"lastModifiedDateTime gt 2024-05-01T10:00:00.0065Z", 5},
		{"lastModifiedDateTime gt 2024-05-01T09:00:00Z and lastModifiedDateTime lt 2024-05-01T10:00:00.003Z", 2},
		{"lastModifiedDateTime gt 2024-05-02T00:00:00Z", 0},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			recs, _ := c.readAll("/customers?$filter="+url.PathEscape(tt.filter)+"&$orderby=lastModifiedDateTime", "Prefer", "odata.maxpagesize=2")
			if len(recs) != tt.want {
				t.Fatalf("got %d records, want %d", len(recs), tt.want)
			}
			var prev string
			for _, r := range recs {
				m := r["lastModifiedDateTime"].(string)
				if len(m) != len("2024-05-01T10:00:00.000Z") || m < prev {
					t.Errorf("stamp %q out of order or not at ms precision", m)
				}
				prev = m
			}
		})
	}
}

func TestFilterOperatorsOverHTTP(t *testing.T) {
	_, c := seeded(t, 30)
	// Count expected matches locally from the seed.
	count := func(pred func(connectors.Record) bool) int {
		n := 0
		for i := range 30 {
			if pred(Customer(i)) {
				n++
			}
		}
		return n
	}
	c0 := Customer(0)
	tests := []struct {
		filter string
		want   int
	}{
		{"number eq 'C00010'", 1},
		{"number ne 'C00010'", 29},
		{"number gt 'C00200'", 10},
		{"number ge 'C00200'", 11},
		{"number lt 'C00050'", 4},
		{"number le 'C00050'", 5},
		{"city eq '" + c0["city"].(string) + "'", count(func(r connectors.Record) bool { return r["city"] == c0["city"] })},
		{"country eq 'US' and creditLimit ge 10000", count(func(r connectors.Record) bool {
			return r["country"] == "US" && numberAtLeast(r["creditLimit"], 10000)
		})},
		{"country ne 'US' or country eq 'XX'", count(func(r connectors.Record) bool { return r["country"] != "US" })},
		{"not (country eq 'US')", count(func(r connectors.Record) bool { return r["country"] != "US" })},
		{"startswith(number,'C001')", 10},
		{"endswith(number,'50')", 3},
		{"number in ('C00010','C00020','nope')", 2},
		{"id eq " + c0["id"].(string), 1},
		{"id in (" + c0["id"].(string) + "," + Customer(1)["id"].(string) + ")", 2},
		{"currencyCode eq ''", 30},
		{"nosuchfield eq null", 30},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			recs, _ := c.readAll("/customers?$filter=" + url.PathEscape(tt.filter))
			if len(recs) != tt.want {
				t.Errorf("got %d records, want %d", len(recs), tt.want)
			}
		})
	}
}

func numberAtLeast(v any, min float64) bool {
	f, err := v.(json.Number).Float64()
	return err == nil && f >= min
}

func TestOrderByTopSkipCount(t *testing.T) {
	_, c := seeded(t, 25)
	recs, _ := c.readAll("/customers?$orderby=country%20desc,city,number%20desc", "Prefer", "odata.maxpagesize=4")
	if len(recs) != 25 {
		t.Fatalf("got %d records", len(recs))
	}
	ok := slices.IsSortedFunc(recs, func(a, b map[string]any) int {
		if c := strings.Compare(b["country"].(string), a["country"].(string)); c != 0 {
			return c
		}
		if c := strings.Compare(a["city"].(string), b["city"].(string)); c != 0 {
			return c
		}
		return strings.Compare(b["number"].(string), a["number"].(string))
	})
	if !ok {
		t.Error("records not in $orderby order")
	}

	tests := []struct {
		query     string
		wantNums  []string
		wantPages int
	}{
		{"$orderby=number&$top=3", []string{"C00010", "C00020", "C00030"}, 1},
		{"$orderby=number desc&$top=2", []string{"C00250", "C00240"}, 1},
		{"$orderby=number&$top=6", []string{"C00010", "C00020", "C00030", "C00040", "C00050", "C00060"}, 2},
		{"$orderby=number&$skip=22", []string{"C00230", "C00240", "C00250"}, 1},
		{"$orderby=number&$skip=1&$top=5", []string{"C00020", "C00030", "C00040", "C00050", "C00060"}, 2},
		{"$orderby=number&$top=0", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			recs, pages := c.readAll("/customers?"+strings.ReplaceAll(tt.query, " ", "%20"), "Prefer", "odata.maxpagesize=4")
			var nums []string
			for _, r := range recs {
				nums = append(nums, r["number"].(string))
			}
			if !slices.Equal(nums, tt.wantNums) || pages != tt.wantPages {
				t.Errorf("got %v in %d pages, want %v in %d", nums, pages, tt.wantNums, tt.wantPages)
			}
		})
	}

	r := c.do("GET", "/customers?$count=true&$filter=startswith(number,'C001')", "", "Prefer", "odata.maxpagesize=3")
	if n := r.json(t)["@odata.count"]; n != json.Number("10") {
		t.Errorf("@odata.count = %v, want 10", n)
	}
	if next := r.json(t)["@odata.nextLink"].(string); !strings.Contains(next, "$count=true") {
		t.Errorf("nextLink %q lost $count", next)
	}
}

func TestQueryEncoding(t *testing.T) {
	_, c := seeded(t, 3)
	tests := []struct {
		query  string
		status int
	}{
		{"$filter=number%20eq%20'C00010'", http.StatusOK},
		{"%24filter=number%20eq%20%27C00010%27", http.StatusOK},
		{"$filter=number+eq+'C00010'", http.StatusBadRequest},     // '+' is not a space in OData
		{"$filter=number%20eq%20'C+1'", http.StatusOK},            // inside a string it is a plus
		{"$filter=number%20eq%20'C%2B1'", http.StatusOK},          // and so is %2B
		{"$filter=number%20eq%20'x'&$filter=id%20eq%20null", 400}, // duplicate option
		{"$expand=contacts", http.StatusBadRequest},
		{"$top=-1", http.StatusBadRequest},
		{"$top=x", http.StatusBadRequest},
		{"$count=yes", http.StatusBadRequest},
		{"$orderby=number%20sideways", http.StatusBadRequest},
		{"$select=a%20b", http.StatusBadRequest},
		{"$skiptoken=garbage", http.StatusBadRequest},
		{"$filter=%zz", http.StatusBadRequest},
		{"company=CRONUS", http.StatusOK}, // custom options are passed through
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := c.do("GET", "/customers?"+tt.query, "")
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.status == http.StatusBadRequest && r.errorCode(t) != codeBadRequest {
				t.Errorf("error code = %q", r.errorCode(t))
			}
		})
	}
	r := c.do("GET", "/customers?$filter=number%20eq", "")
	if msg := r.json(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "position 9") {
		t.Errorf("filter error %q does not name the position", msg)
	}
}

func TestNextLinkKeepsOptions(t *testing.T) {
	_, c := seeded(t, 5)
	r := c.do("GET", "/customers?$select=number&$filter=number%20ne%20'x%2By'&$orderby=number&$top=4&company=CRONUS", "", "Prefer", "odata.maxpagesize=2")
	next, _ := r.json(t)["@odata.nextLink"].(string)
	u, err := url.Parse(next)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(u.RawQuery, "+") {
		t.Errorf("nextLink %q encodes with '+'", next)
	}
	q, err := parseOptions(u.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"$select": "number", "$filter": "number ne 'x+y'", "$orderby": "number", "$top": "2", "company": "CRONUS"}
	for k, v := range want {
		if q[k] != v {
			t.Errorf("nextLink %s = %q, want %q", k, q[k], v)
		}
	}
	recs, pages := c.readAll(next, "Prefer", "odata.maxpagesize=2")
	if len(recs) != 2 || pages != 1 {
		t.Errorf("rest of $top=4: %d records in %d pages", len(recs), pages)
	}
}

func TestErrors(t *testing.T) {
	_, c := seeded(t, 1)
	id := Customer(0)["id"].(string)
	tests := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/nosuchset", "", 404, codeNotFound},
		{"GET", "/customers(" + id + ")/x/y", "", 404, codeNotFound},
		{"GET", "/customers(" + id + ")/number", "", 404, codeNotFound},
		{"GET", "/customers(00000000-0000-0000-0000-000000000000)", "", 404, codeNotFound},
		{"GET", "/customers('nope')", "", 404, codeNotFound},
		{"GET", "/customers(nope)", "", 400, codeBadRequest},
		{"GET", "/customers('unterminated)", "", 400, codeBadRequest},
		{"GET", "/customers(" + id, "", 400, codeBadRequest},
		{"PUT", "/customers(" + id + ")", "{}", 405, codeMethodNotAllowed},
		{"DELETE", "/customers", "", 405, codeMethodNotAllowed},
		{"GET", c.srv.URL + "/$batch", "", 405, codeMethodNotAllowed}, // at the service root
		{"POST", "/customers", "{", 400, codeBadRequest},
		{"POST", "/customers", "[1]", 400, codeBadRequest},
		{"POST", "/customers", `{"a":1} {}`, 400, codeBadRequest},
		{"POST", "/customers", `{"id":5}`, 400, codeBadRequest},
		{"POST", "/customers", `{"x@odata.bind":"nonsense"}`, 400, codeBadRequest},
		{"PATCH", "/customers(" + id + ")", "not json", 400, codeBadRequest},
		{"PATCH", "/customers(00000000-0000-0000-0000-000000000000)", "{}", 404, codeNotFound},
		{"DELETE", "/customers(00000000-0000-0000-0000-000000000000)", "", 404, codeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.body, func(t *testing.T) {
			r := c.do(tt.method, tt.path, tt.body, "If-Match", "*")
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if code := r.errorCode(t); code != tt.code {
				t.Errorf("code = %q, want %q", code, tt.code)
			}
			if tt.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

func TestHeadersOnEveryResponse(t *testing.T) {
	s, c := seeded(t, 1)
	s.Throttle(1, time.Second)
	for _, r := range []response{
		c.do("GET", "/customers", ""), // throttled
		c.do("GET", "/customers", ""),
		c.do("GET", "/nope", ""),
		c.do("POST", "/customers", "{}"),
		c.do("PUT", "/customers", ""),
	} {
		if ct := r.header.Get("Content-Type"); ct != "application/json; odata.metadata=minimal" {
			t.Errorf("%d: Content-Type = %q", r.status, ct)
		}
		if v := r.header.Get("OData-Version"); v != "4.0" {
			t.Errorf("%d: OData-Version = %q", r.status, v)
		}
	}
}

func TestThrottle(t *testing.T) {
	tests := []struct {
		retryAfter time.Duration
		want       string
	}{
		{1500 * time.Millisecond, "2"},
		{time.Millisecond, "1"},
		{3 * time.Second, "3"},
		{0, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.retryAfter.String(), func(t *testing.T) {
			s, c := seeded(t, 2)
			s.ResetStats()
			s.Throttle(2, tt.retryAfter)
			for range 2 {
				r := c.do("POST", "/customers", `{"number":"X"}`)
				if r.status != http.StatusTooManyRequests {
					t.Fatalf("status = %d, want 429", r.status)
				}
				if got := r.header.Get("Retry-After"); got != tt.want {
					t.Errorf("Retry-After = %q, want %q", got, tt.want)
				}
				if code := r.errorCode(t); code != codeTooManyRequests {
					t.Errorf("code = %q", code)
				}
			}
			if s.Len("customers") != 2 {
				t.Error("a throttled request touched the store")
			}
			if r := c.do("GET", "/customers", ""); r.status != http.StatusOK {
				t.Errorf("after throttling: status %d", r.status)
			}
			st := s.Stats()
			if st.Requests != 3 || st.Throttled != 2 || st.ByMethod["POST"] != 2 || st.ByMethod["GET"] != 1 {
				t.Errorf("stats = %+v", st)
			}
			st.ByMethod["GET"] = 100 // a copy: must not leak into the server
			if s.Stats().ByMethod["GET"] != 1 {
				t.Error("Stats returned the live map")
			}
			s.ResetStats()
			if st := s.Stats(); st.Requests != 0 || len(st.ByMethod) != 0 {
				t.Errorf("after reset: %+v", st)
			}
		})
	}
}

func TestStripPrefixLinks(t *testing.T) {
	s := NewCRM()
	const prefix = "/api/data/v9.2"
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, s))
	c := newClient(t, mux)
	for i := range 3 {
		if r := c.do("POST", prefix+"/accounts", fmt.Sprintf(`{"name":"a%d"}`, i)); r.status != http.StatusNoContent {
			t.Fatalf("POST: %d %s", r.status, r.body)
		}
	}
	r := c.do("POST", prefix+"/accounts", `{"name":"x"}`)
	if id := r.header.Get("OData-EntityId"); !strings.HasPrefix(id, c.base+prefix+"/accounts(") {
		t.Errorf("OData-EntityId = %q", id)
	}
	c.base += prefix
	recs, pages := c.readAll("/accounts", "Prefer", "odata.maxpagesize=1")
	if len(recs) != 4 || pages != 4 {
		t.Errorf("%d records in %d pages", len(recs), pages)
	}
	first := c.do("GET", "/accounts", "")
	if ctx := first.json(t)["@odata.context"]; ctx != c.base+"/$metadata#accounts" {
		t.Errorf("@odata.context = %v", ctx)
	}
}

func TestConcurrentRequests(t *testing.T) {
	s, c := seeded(t, 200)
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = Customer(i)["id"].(string)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				id := ids[(g*20+i)%len(ids)]
				var r response
				switch i % 5 {
				case 0:
					recs, _ := c.readAll("/customers?$filter=country%20eq%20'US'", "Prefer", "odata.maxpagesize=50")
					if len(recs) == 0 {
						errs <- "empty read"
					}
					continue
				case 1:
					r = c.do("PATCH", "/customers("+id+")", `{"city":"Zurich"}`, "If-Match", "*")
				case 2:
					r = c.do("POST", "/customers", `{"displayName":"N"}`)
				case 3:
					r = c.do("GET", "/customers("+id+")", "")
				case 4:
					if err := s.Patch("customers", id, connectors.Record{"state": "ZH"}); err != nil {
						errs <- err.Error()
					}
					s.All("customers")
					continue
				}
				if r.status >= 300 {
					errs <- fmt.Sprintf("%d %s", r.status, r.body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := s.Len("customers"); n != 200+8*4 {
		t.Errorf("Len = %d, want %d", n, 200+8*4)
	}
}
