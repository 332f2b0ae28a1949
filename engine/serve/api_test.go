package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeReader answers the read API with canned listings, and records what
// it was asked.
type fakeReader struct {
	mu    sync.Mutex
	asked []string
	// entered, when set, is closed as a read starts; the read then waits
	// for its context to end.
	entered chan struct{}
	// err, when set, is every read's error.
	err error
}

func (f *fakeReader) ask(ctx context.Context, what string) error {
	f.mu.Lock()
	f.asked = append(f.asked, what)
	f.mu.Unlock()
	if f.entered != nil {
		close(f.entered)
		<-ctx.Done()
		return ctx.Err()
	}
	return f.err
}

func (f *fakeReader) Runs(ctx context.Context, w io.Writer, limit int) error {
	if err := f.ask(ctx, fmt.Sprintf("runs %d", limit)); err != nil {
		return err
	}
	_, err := io.WriteString(w, `{"runs": []}`+"\n")
	return err
}

func (f *fakeReader) Plans(ctx context.Context, w io.Writer, limit int) error {
	if err := f.ask(ctx, fmt.Sprintf("plans %d", limit)); err != nil {
		return err
	}
	_, err := io.WriteString(w, `{"plans": []}`+"\n")
	return err
}

func (f *fakeReader) Failures(ctx context.Context, w io.Writer, mapping string, limit int) error {
	if err := f.ask(ctx, fmt.Sprintf("errors %q %d", mapping, limit)); err != nil {
		return err
	}
	_, err := io.WriteString(w, `{"failures": []}`+"\n")
	return err
}

func (f *fakeReader) Intents(ctx context.Context, w io.Writer) error {
	if err := f.ask(ctx, "intents"); err != nil {
		return err
	}
	_, err := io.WriteString(w, `{"intents": []}`+"\n")
	return err
}

func (f *fakeReader) Plan(ctx context.Context, w io.Writer, req PlanRequest) (PlanInfo, error) {
	if err := f.ask(ctx, fmt.Sprintf("plan %s %s color=%v limit=%d mappings=%v ops=%v file=%q", req.Ref, req.Format, req.Color, req.Limit, req.Mappings, req.Ops, req.File)); err != nil {
		return PlanInfo{}, err
	}
	if req.Ref == "nope" {
		return PlanInfo{}, fmt.Errorf("%w: no such plan: nope", ErrNotFound)
	}
	info := PlanInfo{ID: "20261124-083414-6f80fe", Rows: -1}
	if req.Format == "jsonl" {
		info.Rows = 2
	}
	_, err := io.WriteString(w, "plan "+info.ID+" as "+req.Format)
	return info, err
}

func (f *fakeReader) Query(ctx context.Context, sql string, fn func(cols []string, row []any) error) error {
	if err := f.ask(ctx, "query "+sql); err != nil {
		return err
	}
	if sql == "bad" {
		return errors.New(`Parser Error: syntax error at or near "bad"`)
	}
	if err := fn([]string{"n", "name", "at", "nan"}, nil); err != nil {
		return err
	}
	at := time.Date(2026, 11, 24, 8, 34, 14, 0, time.UTC)
	if err := fn([]string{"n", "name", "at", "nan"}, []any{int64(30), "<Contoso & Co>", at, math.NaN()}); err != nil {
		return err
	}
	return fn([]string{"n", "name", "at", "nan"}, []any{nil, nil, nil, nil})
}

// TestAPIAnswers checks each endpoint of the read API: what it asks the
// Reader, its status, content type and body.
func TestAPIAnswers(t *testing.T) {
	for _, tc := range []struct {
		path    string
		asked   string // "" when the Reader is not asked
		code    int
		ctype   string
		body    string
		headers map[string]string
	}{
		{"/api/runs", "runs 20", 200, "application/json", `{"runs": []}`, nil},
		{"/api/runs?limit=5", "runs 5", 200, "application/json", `{"runs": []}`, nil},
		{"/api/runs?limit=-1", "", 400, "application/json", `{"error":"limit \"-1\" is not a number of at least 0"}`, nil},
		{"/api/plans?limit=3", "plans 3", 200, "application/json", `{"plans": []}`, nil},
		{"/api/errors", `errors "" 100`, 200, "application/json", `{"failures": []}`, nil},
		{"/api/errors?mapping=CUSTOMER&limit=7", `errors "CUSTOMER" 7`, 200, "application/json", `{"failures": []}`, nil},
		{"/api/intents", "intents", 200, "application/json", `{"intents": []}`, nil},
		{"/api/nope", "", 404, "application/json", `{"error":"no such API: /api/nope"}`, nil},
		{"/api/plans/latest", "plan latest text color=false limit=0 mappings=[] ops=[] file=\"\"", 200, "text/plain; charset=utf-8",
			"plan 20261124-083414-6f80fe as text", map[string]string{PlanHeader: "20261124-083414-6f80fe", RowsHeader: ""}},
		{"/api/plans/first-load?format=markdown&limit=3&mapping=A&mapping=B&op=create&color=1",
			"plan first-load markdown color=true limit=3 mappings=[A B] ops=[create] file=\"\"", 200, "text/markdown; charset=utf-8", "plan 20261124-083414-6f80fe as markdown", nil},
		{"/api/plans/latest?format=html", "plan latest html color=false limit=0 mappings=[] ops=[] file=\"\"", 200, "text/html; charset=utf-8", "plan 20261124-083414-6f80fe as html",
			map[string]string{"Content-Disposition": `attachment; filename="20261124-083414-6f80fe.html"`}},
		{"/api/plans/latest?format=jsonl&file=ops.jsonl.gz", "plan latest jsonl color=false limit=0 mappings=[] ops=[] file=\"ops.jsonl.gz\"", 200, "application/jsonl",
			"plan 20261124-083414-6f80fe as jsonl", map[string]string{RowsHeader: "2"}},
		{"/api/plans/latest?format=pdf", "", 400, "application/json", `{"error":"format must be text, json, markdown, html, jsonl or parquet, not \"pdf\""}`, nil},
		{"/api/plans/nope", "plan nope text color=false limit=0 mappings=[] ops=[] file=\"\"", 404, "application/json", `{"error":"not found: no such plan: nope"}`, nil},
		{"/api/query?sql=select+1", "query select 1", 200, "application/json",
			`{"columns":["n","name","at","nan"],"rows":[[{"text":"30","json":30},{"text":"\u003cContoso \u0026 Co\u003e","json":"\u003cContoso \u0026 Co\u003e"},` +
				`{"text":"2026-11-24 08:34:14 +0000 UTC","json":"2026-11-24T08:34:14Z"},{"text":"NaN","json_error":"json: unsupported value: NaN"}],[null,null,null,null]]}`, nil},
		{"/api/query?sql=bad", "query bad", 400, "application/json", `{"error":"Parser Error: syntax error at or near \"bad\""}`, nil},
		{"/api/query", "", 400, "application/json", `{"error":"give the statement: GET /api/query?sql=SQL"}`, nil},
	} {
		t.Run(tc.path, func(t *testing.T) {
			f := &fakeReader{}
			s, err := New(Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: &fakeRunner{}, Reader: f})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodGet, tc.path, nil)
			req.Host = "127.0.0.1:7700"
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tc.code || strings.TrimSpace(rec.Body.String()) != tc.body {
				t.Errorf("%d %s, want %d %s", rec.Code, rec.Body.String(), tc.code, tc.body)
			}
			if got := rec.Header().Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			for k, v := range tc.headers {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
			want := []string{}
			if tc.asked != "" {
				want = []string{tc.asked}
			}
			if got := fmt.Sprint(f.asked); got != fmt.Sprint(want) {
				t.Errorf("asked %s, want %s", got, want)
			}
		})
	}
}

// TestAPIQueryCellsRoundTrip: a query's cell carries fmt's text and
// encoding/json's value of what serve scanned, which a client prints as
// coupler query prints it.
func TestAPIQueryCellsRoundTrip(t *testing.T) {
	for _, v := range []any{int64(3), 2.5, "x\"y", true, []byte("ab"), time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), map[string]any{"a": 1}} {
		c := NewQueryCell(v)
		b, _ := json.Marshal(v)
		if c.Text != fmt.Sprint(v) || string(c.JSON) != string(b) || c.JSONError != "" {
			t.Errorf("%#v: cell %+v, want text %q json %s", v, c, fmt.Sprint(v), b)
		}
	}
	if NewQueryCell(nil) != nil {
		t.Error("NULL must be a null cell")
	}
}

// TestAPIAuth: the read API follows the status page's rules: a Host no
// rebinding page can send, and with TokenForReads the token.
func TestAPIAuth(t *testing.T) {
	load := func() (*Project, error) { return testProject("CUSTOMER"), nil }
	bearer := map[string]string{"Authorization": "Bearer s3cret"}
	for _, tc := range []struct {
		name   string
		cfg    Config
		path   string
		host   string
		header map[string]string
		code   int
	}{
		{"loopback", Config{}, "/api/runs", "127.0.0.1:7700", nil, 200},
		{"rebound name", Config{}, "/api/runs", "evil.example:7700", nil, 403},
		{"rebound name, plan", Config{}, "/api/plans/latest", "evil.example:7700", nil, 403},
		{"rebound name with the token", Config{Token: "s3cret"}, "/api/runs", "evil.example:7700", bearer, 200},
		{"token for reads, none given", Config{Token: "s3cret", TokenForReads: true}, "/api/runs", "127.0.0.1", nil, 401},
		{"token for reads, query, none given", Config{Token: "s3cret", TokenForReads: true}, "/api/query?sql=select+1", "127.0.0.1", nil, 401},
		{"token for reads, plan, wrong one", Config{Token: "s3cret", TokenForReads: true}, "/api/plans/latest", "127.0.0.1", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"token for reads, given", Config{Token: "s3cret", TokenForReads: true}, "/api/runs", "127.0.0.1", bearer, 200},
		{"token only for run-now", Config{Token: "s3cret"}, "/api/runs", "localhost", nil, 200},
		{"no reader", Config{}, "/api/runs", "127.0.0.1", nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Load, cfg.Runner = load, &fakeRunner{}
			if tc.name != "no reader" {
				cfg.Reader = &fakeReader{}
			}
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if code, body := request(t, s, http.MethodGet, tc.path, tc.host, tc.header); code != tc.code {
				t.Errorf("%d %s, want %d", code, body, tc.code)
			}
		})
	}
}

// TestAPIAnswersDuringRun: a read is answered while a run is under way;
// serve does not queue it behind the run.
func TestAPIAnswersDuringRun(t *testing.T) {
	drained := false
	r := &blockingRunner{started: make(chan struct{}), release: make(chan struct{}), sawDrain: &drained}
	defer close(r.release)
	_, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r, Reader: &fakeReader{},
		ShutdownTimeout: time.Minute})
	select {
	case <-r.started:
	case <-time.After(30 * time.Second):
		t.Fatal("no run within 30s")
	}
	if code, body := get(t, base+"/api/runs"); code != 200 || !strings.Contains(body, `"runs"`) {
		t.Errorf("GET /api/runs during a run: %d %s", code, body)
	}
}

// TestAPIReadStopsAtShutdown: a read under way (a long query) is stopped
// when shutdown begins, so that it does not hold up the exit, and says so.
func TestAPIReadStopsAtShutdown(t *testing.T) {
	f := &fakeReader{entered: make(chan struct{})}
	s, err := New(Config{Load: func() (*Project, error) { return testProject(), nil }, Runner: &fakeRunner{}, Reader: f,
		Listen: "127.0.0.1:0", WatchInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	type answer struct {
		code int
		body string
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + addr.String() + "/api/query?sql=select+1")
		if err != nil {
			answered <- answer{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- answer{resp.StatusCode, string(b)}
	}()
	<-f.entered
	cancel()
	a := <-answered
	if a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, "coupler serve is shutting down") {
		t.Errorf("a read under way at shutdown: %d %s", a.code, a.body)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
