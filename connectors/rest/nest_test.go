package rest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/rest/resttest"
)

func TestFlatten(t *testing.T) {
	num := json.Number("7")
	for _, tc := range []struct {
		name     string
		fieldsAt []string
		rec      string
		top      []string
		want     map[string]any
		wantErr  string
	}{
		{"no fields_at keeps the record", nil, `{"id":"1","properties":{"a":"x"}}`, nil,
			map[string]any{"id": "1", "properties": map[string]any{"a": "x"}}, ""},
		{"hubspot", []string{"properties"},
			`{"id":"51","properties":{"name":"Acme","domain":"acme.example"},"updatedAt":"2024-01-02T03:04:05.678Z","archived":false,"associations":{"contacts":[]}}`,
			[]string{"id", "updatedAt"},
			map[string]any{"id": "51", "name": "Acme", "domain": "acme.example", "updatedAt": "2024-01-02T03:04:05.678Z", "archived": false}, ""},
		{"key, etag and modified: top level wins", []string{"p"},
			`{"id":"1","v":"t2","m":"top","other":"top","p":{"id":"nested","v":"n2","m":"nested","other":"nested"}}`,
			[]string{"id", "v", "m"},
			map[string]any{"id": "1", "v": "t2", "m": "top", "other": "nested", connectors.ETagField: "t2"}, ""},
		{"a nested object that is missing or null leaves the top level", []string{"p"}, `{"id":7,"p":null,"x":null}`, []string{"id"},
			map[string]any{"id": num, "x": nil}, ""},
		{"deeper path", []string{"data", "attributes"}, `{"id":"1","type":"company","data":{"attributes":{"name":"A"}}}`, []string{"id"},
			map[string]any{"id": "1", "type": "company", "name": "A"}, ""},
		{"not an object", []string{"p"}, `{"id":"1","p":"oops"}`, []string{"id"}, nil, `"p" is a string, want an object`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := &resource{fieldsAt: tc.fieldsAt, etag: "v"}
			got, err := decodeItem([]byte(tc.rec), res, tc.top)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.name != "key, etag and modified: top level wins" {
				delete(got, connectors.ETagField)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestDecodeListNamesBadNestedRecord(t *testing.T) {
	res := &resource{records: []string{"results"}, fieldsAt: []string{"properties"}}
	_, err := decodeList([]byte(`{"results":[{"id":"1","properties":{}},{"id":"2","properties":[1]}]}`), res, []string{"id"})
	if err == nil || err.Error() != `"results"[1]: "properties" is an array, want an object` {
		t.Fatalf("err = %v", err)
	}
}

// hubSpot is the entity settings of docs/connectors.md's HubSpot example.
var hubSpot = Resource{
	List:     Endpoint{Method: "GET", Path: "/crm/v3/objects/companies"},
	Get:      Endpoint{Method: "GET", Path: "/crm/v3/objects/companies/{id}"},
	Create:   Endpoint{Method: "POST", Path: "/crm/v3/objects/companies"},
	Update:   Endpoint{Method: "PATCH", Path: "/crm/v3/objects/companies/{id}"},
	Delete:   Endpoint{Method: "DELETE", Path: "/crm/v3/objects/companies/{id}"},
	Records:  "results",
	FieldsAt: "properties",
	Key:      "id",
	Query:    map[string]string{"properties": "name,domain,phone,hs_lastmodifieddate", "archived": "false"},
	GetQuery: map[string]string{"properties": "name,domain,phone,hs_lastmodifieddate"},
	Paging:   Paging{Style: "cursor", Next: "paging.next.after", Param: "after", SizeParam: "limit"},
}

// recorder wraps a handler and keeps each request's method, URI and body.
type recorder struct {
	h    http.Handler
	mu   sync.Mutex
	reqs []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(strings.NewReader(string(b)))
	r.mu.Lock()
	r.reqs = append(r.reqs, strings.TrimSpace(req.Method+" "+req.URL.RequestURI()+" "+string(b)))
	r.mu.Unlock()
	r.h.ServeHTTP(w, req)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

func TestHubSpotShape(t *testing.T) {
	api := resttest.NewHubSpot("companies")
	// Every stamp's milliseconds end in zero (.960Z, .970Z, …): HubSpot
	// spells three digits, the connector hands RFC 3339 over without the
	// trailing zeros, so the test must compare instants, not text. With
	// the wall clock this case came 1 run in 10 and the test flaked.
	var tick sync.Mutex
	clock := time.Date(2024, 1, 2, 3, 4, 5, 950*int(time.Millisecond), time.UTC)
	api.Now = func() time.Time {
		tick.Lock()
		defer tick.Unlock()
		clock = clock.Add(10 * time.Millisecond)
		return clock
	}
	rec := &recorder{h: api}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c, err := New(connectors.Config{Name: "hubspot", BaseURL: srv.URL, PageSize: 2,
		Settings: &Settings{Resources: map[string]Resource{"companies": hubSpot}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := connectors.Entity{Name: "companies", Key: "id", Modified: "updatedAt"}

	// Writes: every field wrapped in "properties"; the key from the answer.
	var keys []string
	for _, name := range []string{"Acme", "Globex", "Initech"} {
		res, err := c.Write(ctx, e, []connectors.WriteOp{{Op: connectors.OpCreate, Fields: connectors.Record{"name": name, "phone": json.Number("5550100")}}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("create %s: %v %v", name, err, res[0].Err)
		}
		if res[0].Record["name"] != name || res[0].Record["id"] != res[0].Key {
			t.Errorf("create %s: record %v, key %q: want it flattened", name, res[0].Record, res[0].Key)
		}
		keys = append(keys, res[0].Key)
	}
	if got := rec.take()[0]; got != `POST /crm/v3/objects/companies {"properties":{"name":"Acme","phone":5550100}}` {
		t.Errorf("create request = %s", got)
	}
	res, err := c.Write(ctx, e, []connectors.WriteOp{{Op: connectors.OpUpdate, Key: keys[1], Fields: connectors.Record{"domain": "globex.example"}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("update: %v %v", err, res[0].Err)
	}
	if got := rec.take(); len(got) != 1 || got[0] != `PATCH /crm/v3/objects/companies/`+keys[1]+` {"properties":{"domain":"globex.example"}}` {
		t.Errorf("update requests = %q", got)
	}
	if res[0].Record["domain"] != "globex.example" || res[0].Record["name"] != "Globex" {
		t.Errorf("update answer = %v", res[0].Record)
	}

	// Reads: flat records across pages, the cursor sent back as after.
	read := func(q connectors.Query) map[string]connectors.Record {
		t.Helper()
		got := map[string]connectors.Record{}
		err := c.Read(ctx, q, func(p connectors.Page) error {
			for _, r := range p.Records {
				got[keyString(r["id"])] = r
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	all := read(connectors.Query{Entity: e})
	reqs := rec.take()
	const first = "GET /crm/v3/objects/companies?archived=false&properties=name%2Cdomain%2Cphone%2Chs_lastmodifieddate&limit=2"
	if len(reqs) != 2 || reqs[0] != first || reqs[1] != first+"&after="+keys[1] {
		t.Errorf("list requests = %q, want 2 pages starting with %s", reqs, first)
	}
	g := all[keys[1]]
	if len(all) != 3 || g["name"] != "Globex" || g["domain"] != "globex.example" || g["phone"] != "5550100" ||
		g["archived"] != false || !sameInstant(g["updatedAt"], g["hs_lastmodifieddate"]) || g["properties"] != nil {
		t.Errorf("read %d records; %s = %v", len(all), keys[1], g)
	}

	// Incremental reads filter locally, on a top-level or a nested field.
	since, _ := time.Parse(time.RFC3339Nano, all[keys[0]]["updatedAt"].(string))
	for _, modified := range []string{"updatedAt", "hs_lastmodifieddate"} {
		q := connectors.Query{Entity: connectors.Entity{Name: "companies", Key: "id", Modified: modified}, Since: since}
		if got := read(q); len(got) != 2 || got[keys[0]] != nil {
			t.Errorf("since on %s: read %v, want the two records written after the first", modified, got)
		}
	}
	rec.take()

	// Get: flat, with the properties of get_query, absent when 404.
	recs, err := c.Get(ctx, e, nil, []string{keys[2], "999"})
	if err != nil || len(recs) != 1 || recs[0]["name"] != "Initech" || recs[0]["id"] != keys[2] || recs[0]["phone"] != "5550100" {
		t.Fatalf("get = %v, %v", recs, err)
	}
	reqs = rec.take()
	slices.Sort(reqs)
	if want := "GET /crm/v3/objects/companies/" + keys[2] + "?properties=name%2Cdomain%2Cphone%2Chs_lastmodifieddate"; len(reqs) != 2 || reqs[0] != want {
		t.Errorf("get requests = %q, want one of them %s", reqs, want)
	}
}

func TestWrapFieldsDeepPath(t *testing.T) {
	res := &resource{fieldsAt: []string{"data", "attributes"}}
	b, err := encodeFields(connectors.Record{"name": "A", connectors.ETagField: "v1"}, res)
	if err != nil || string(b) != `{"data":{"attributes":{"name":"A"}}}` {
		t.Errorf("body = %s, %v", b, err)
	}
	if b, _ = encodeFields(nil, &resource{fieldsAt: []string{"properties"}}); string(b) != `{"properties":{}}` {
		t.Errorf("empty body = %s", b)
	}
}

// roundTripFunc captures requests instead of sending them.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestHubSpotFirstRequest pins the first request that docs/connectors.md
// quotes for its HubSpot example.
func TestHubSpotFirstRequest(t *testing.T) {
	var got []string
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.Method+" "+r.URL.String())
		return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{},
			Body: io.NopCloser(strings.NewReader(`{"results":[{"id":"51","properties":{"name":"Acme"}}]}`))}, nil
	})}
	c, err := NewWithOptions(connectors.Config{Name: "hubspot", BaseURL: "https://api.hubapi.com", PageSize: 100,
		Settings: &Settings{Resources: map[string]Resource{"companies": hubSpot}}}, Options{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Read(context.Background(), connectors.Query{Entity: connectors.Entity{Name: "companies", Key: "id"}}, func(connectors.Page) error { return nil })
	const want = "GET https://api.hubapi.com/crm/v3/objects/companies?archived=false&properties=name%2Cdomain%2Cphone%2Chs_lastmodifieddate&limit=100"
	if err != nil || len(got) != 1 || got[0] != want {
		t.Errorf("requests %q, %v; want [%s] (docs/connectors.md quotes it)", got, err, want)
	}
}

// sameInstant reports whether a and b are RFC 3339 texts of one instant:
// the connector hands the modified field over in RFC 3339 with trailing
// zeros of the fraction dropped (".95Z"), HubSpot spells it with three
// digits (".950Z").
func sameInstant(a, b any) bool {
	as, _ := a.(string)
	bs, _ := b.(string)
	ta, errA := time.Parse(time.RFC3339Nano, as)
	tb, errB := time.Parse(time.RFC3339Nano, bs)
	return errA == nil && errB == nil && ta.Equal(tb)
}
