package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/schedule"
	"github.com/couplerhq/coupler/mappings"
)

// fakeRunner stands in for the engine: each run is reported on runs, and
// returns result.
type fakeRunner struct {
	mu     sync.Mutex
	runs   chan string
	used   []*Project
	result Result
	err    error
	// errFor fails the runs of some mappings.
	errFor map[string]error
}

func (r *fakeRunner) Use(p *Project) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.used = append(r.used, p)
}

func (r *fakeRunner) Run(ctx context.Context, drain <-chan struct{}, mapping string) (Result, error) {
	r.mu.Lock()
	res, err := r.result, r.err
	if e, ok := r.errFor[mapping]; ok {
		err = e
	}
	r.mu.Unlock()
	r.runs <- mapping
	return res, err
}

func testProject(jobs ...string) *Project {
	p := &Project{Dir: "/srv/sync", Connectors: map[string]string{"http://erp.example/api": "bc"}}
	for _, j := range jobs {
		p.Jobs = append(p.Jobs, schedule.Job{Name: j, Every: time.Hour, Spec: "every 1h0m0s"})
	}
	return p
}

// startServer runs a server on a loopback port until the test ends, and
// returns it with its base URL.
func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.WatchInterval = -1
	s, err := New(cfg)
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s, "http://" + addr.String()
}

// next waits for the runner's next run; the deadline only keeps a broken
// server from hanging the test.
func next(t *testing.T, runs <-chan string) string {
	t.Helper()
	select {
	case m := <-runs:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no run within 30s")
		return ""
	}
}

// settle waits until no job runs, so that the runs seen are recorded.
func settle(t *testing.T, s *Server) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		busy := false
		for _, st := range s.sched.States() {
			busy = busy || st.Running
		}
		if !busy {
			return
		}
	}
	t.Fatal("jobs still running after 30s")
}

func post(t *testing.T, u string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRunNowAndToken checks POST /runs: refused without the token or with
// a wrong one, from another origin, for an unknown or unnamed mapping; a
// valid request runs the mapping (again) at once, which /metrics and the
// status page then show.
func TestRunNowAndToken(t *testing.T) {
	r := &fakeRunner{runs: make(chan string, 10), result: Result{PlanID: "p1", Changed: true,
		Counts: map[string]int64{"inserted": 3, "failed": 1}, Failures: []string{"C-7: name is required"},
		Watermarks: map[string]time.Time{"table": time.Now().Add(-time.Hour)}}}
	s, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER", "VENDOR"), nil },
		Runner: r, Token: "s3cret"})
	// At start every interval mapping runs once, in dependency order.
	if a, b := next(t, r.runs), next(t, r.runs); a != "CUSTOMER" || b != "VENDOR" {
		t.Fatalf("first runs %s, %s; want CUSTOMER, VENDOR", a, b)
	}
	run := base + "/runs?mapping=VENDOR"
	tests := []struct {
		name   string
		url    string
		header map[string]string
		code   int
		body   string
	}{
		{"no token", run, nil, 401, "token is required"},
		{"wrong token", run, map[string]string{"Authorization": "Bearer nope"}, 401, "token is required"},
		{"token without Bearer", run, map[string]string{"Authorization": "s3cret"}, 401, "token is required"},
		{"other origin", run, map[string]string{"Authorization": "Bearer s3cret", "Origin": "http://evil.example"}, 403, "cross-origin"},
		{"unknown mapping", base + "/runs?mapping=NOPE", map[string]string{"Authorization": "Bearer s3cret"}, 404, `no scheduled mapping named \"NOPE\"`},
		{"no mapping", base + "/runs", map[string]string{"Authorization": "Bearer s3cret"}, 400, "name the mapping"},
		{"ok", run, map[string]string{"Authorization": "Bearer s3cret"}, 202, "queued"},
	}
	for _, tt := range tests {
		code, body := post(t, tt.url, tt.header)
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("%s: %d %s; want %d with %q", tt.name, code, body, tt.code, tt.body)
		}
	}
	if m := next(t, r.runs); m != "VENDOR" {
		t.Fatalf("run-now ran %s, want VENDOR", m)
	}
	settle(t, s)
	select {
	case m := <-r.runs:
		t.Fatalf("a refused request ran %s", m)
	default:
	}
	if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`coupler_runs_total{mapping="VENDOR",result="success"} 2`,
		`coupler_records_total{mapping="CUSTOMER",operation="inserted"} 3`,
		`coupler_run_duration_seconds_count{mapping="VENDOR"} 2`,
		`coupler_serve_requests_total{code="401",path="/runs"} 3`,
		`coupler_project_valid 1`,
		`coupler_watermark_lag_seconds{mapping="VENDOR",side="table"} 36`, // an hour, and a few ms
		`coupler_last_success_timestamp_seconds{mapping="CUSTOMER"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	code, page := get(t, base+"/")
	if code != 200 || !strings.Contains(page, `id="mapping-VENDOR"`) || !strings.Contains(page, "C-7: name is required") ||
		!strings.Contains(page, `name="token"`) {
		t.Errorf("status page (%d) lacks the mapping, its failure or the token field:\n%s", code, page)
	}
}

// TestRunNowFromStatusPage posts the page's form without a token (none
// configured): the browser is sent back to the page, which says so.
func TestRunNowFromStatusPage(t *testing.T) {
	r := &fakeRunner{runs: make(chan string, 10)}
	_, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r})
	next(t, r.runs)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(base+"/runs?mapping=CUSTOMER", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?queued=CUSTOMER" {
		t.Errorf("form post: %d to %q, want 303 to /?queued=CUSTOMER", resp.StatusCode, resp.Header.Get("Location"))
	}
	if m := next(t, r.runs); m != "CUSTOMER" {
		t.Errorf("ran %s", m)
	}
}

// TestListenNeedsTokenBeyondLoopback checks that serve refuses to listen
// beyond loopback without a token.
func TestListenNeedsTokenBeyondLoopback(t *testing.T) {
	tests := []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:7700", "", true},
		{"localhost:7700", "", true},
		{"[::1]:7700", "", true},
		{"0.0.0.0:7700", "", false},
		{":7700", "", false},
		{"10.1.2.3:7700", "", false},
		{"0.0.0.0:7700", "t", true},
		{"no-port", "", false},
	}
	for _, tt := range tests {
		err := checkListen(tt.addr, tt.token)
		if (err == nil) != tt.ok {
			t.Errorf("checkListen(%q, %q) = %v, want ok %v", tt.addr, tt.token, err, tt.ok)
		}
	}
	_, err := New(Config{Load: func() (*Project, error) { return testProject("A"), nil }, Runner: &fakeRunner{}, Listen: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "refusing to listen on 0.0.0.0:0 without a token") {
		t.Errorf("New beyond loopback without token: %v", err)
	}
}

// TestReload checks that a valid change is used from the next run on and
// that an invalid one keeps the previous project, logging each problem
// with its file:line:col, and that the watch notices a changed file.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "customer.yaml")
	if err := os.WriteFile(file, []byte("name: CUSTOMER\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		load = func() (*Project, error) { p := testProject("CUSTOMER"); p.Files = []string{file}; return p, nil }
	)
	var logs bytes.Buffer
	r := &fakeRunner{runs: make(chan string, 10)}
	s, err := New(Config{Load: func() (*Project, error) { mu.Lock(); defer mu.Unlock(); return load() },
		Runner: r, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	before := s.fingerprint()
	if err := os.WriteFile(file, []byte("name: CUSTOMER\nschedule: { every: nope }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.fingerprint() == before {
		t.Fatal("the watch does not see a changed file")
	}
	mu.Lock()
	load = func() (*Project, error) {
		var ds mappings.Diagnostics
		ds.Errorf(mappings.Pos{File: file, Line: 2, Col: 20}, "mapping CUSTOMER: schedule: every must be a duration")
		return nil, ds
	}
	mu.Unlock()
	s.reload()
	if len(r.used) != 1 || len(s.sched.Names()) != 1 {
		t.Fatalf("an invalid project was used: %d uses", len(r.used))
	}
	if !strings.Contains(logs.String(), file+":2:20: mapping CUSTOMER: schedule: every must be a duration") {
		t.Errorf("log lacks the problem with file:line:col:\n%s", logs.String())
	}
	if s.loadErr == "" {
		t.Error("the status page is not told of the invalid change")
	}
	mu.Lock()
	load = func() (*Project, error) { return testProject("CUSTOMER", "VENDOR"), nil }
	mu.Unlock()
	s.reload()
	if len(r.used) != 2 || strings.Join(s.sched.Names(), ",") != "CUSTOMER,VENDOR" || s.loadErr != "" {
		t.Errorf("valid reload not used: %d uses, jobs %v, loadErr %q", len(r.used), s.sched.Names(), s.loadErr)
	}
}

// TestShutdownDrains checks that Run, on cancel, closes the drain channel
// for the run under way, waits for it, and answers /healthz with 503
// meanwhile.
func TestShutdownDrains(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var sawDrain bool
	r := &blockingRunner{started: started, release: release, sawDrain: &sawDrain}
	s, err := New(Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r, Listen: "127.0.0.1:0", WatchInterval: -1})
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
	<-started
	cancel()
	// The run under way sees the drain; until it returns, Run waits.
	for !s.draining.Load() {
		time.Sleep(time.Millisecond)
	}
	if code, _ := get(t, "http://"+addr.String()+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz while draining: %d, want 503", code)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned before the run under way: %v", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !sawDrain {
		t.Error("the runner was not told to drain")
	}
}

type blockingRunner struct {
	started, release chan struct{}
	sawDrain         *bool
	once             sync.Once
}

func (r *blockingRunner) Use(*Project) {}

func (r *blockingRunner) Run(ctx context.Context, drain <-chan struct{}, mapping string) (Result, error) {
	r.once.Do(func() { close(r.started) })
	<-drain
	*r.sawDrain = true
	<-r.release
	return Result{}, errors.Join(ErrDrained)
}

// TestConnectorMetrics checks that HTTP attempts and retries reported by
// the transport are counted per connector, named by the longest base URL
// that prefixes the request.
func TestConnectorMetrics(t *testing.T) {
	p := testProject("CUSTOMER")
	p.Connectors = map[string]string{"http://h.example/api": "bc", "http://h.example/api/crm": "dataverse"}
	s, err := New(Config{Load: func() (*Project, error) { return p, nil }, Runner: &fakeRunner{}})
	if err != nil {
		t.Fatal(err)
	}
	req := func(u string) *http.Request {
		r, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	m := s.metrics
	m.Attempt(req("http://h.example/api/customers?$top=1"), &http.Response{StatusCode: 429}, nil)
	m.Retry(req("http://h.example/api/customers?$top=1"))
	m.Attempt(req("http://h.example/api/customers?$top=1"), &http.Response{StatusCode: 200}, nil)
	m.Attempt(req("http://h.example/api/crm/accounts"), nil, errors.New("connection refused"))
	m.Attempt(req("http://other.example/x"), &http.Response{StatusCode: 200}, nil)
	rec := httptest.NewRecorder()
	// httptest's default Host, example.com, is refused (TestHostChecked).
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:7700/metrics", nil))
	for _, want := range []string{
		`coupler_http_requests_total{code="429",connector="bc",method="GET"} 1`,
		`coupler_http_requests_total{code="200",connector="bc",method="GET"} 1`,
		`coupler_http_requests_total{code="error",connector="dataverse",method="GET"} 1`,
		`coupler_http_requests_total{code="200",connector="other.example",method="GET"} 1`,
		`coupler_http_retries_total{connector="bc"} 1`,
		`coupler_next_run_timestamp_seconds{mapping="CUSTOMER"}`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// historyRunner is a fakeRunner that remembers runs made before serve
// started, as the state database does.
type historyRunner struct {
	*fakeRunner
	past map[string]PastRun
}

func (r *historyRunner) History(context.Context) (map[string]PastRun, error) { return r.past, nil }

// TestRestartKeepsSchedule: after a restart, a mapping that ran ten
// minutes ago on an hourly schedule is not run again at once, and the
// status page shows its last run; a mapping that never ran runs at once.
func TestRestartKeepsSchedule(t *testing.T) {
	now := time.Now().UTC()
	r := &historyRunner{fakeRunner: &fakeRunner{runs: make(chan string, 10)}, past: map[string]PastRun{
		"CUSTOMER": {Start: now.Add(-10 * time.Minute), End: now.Add(-9 * time.Minute),
			Result: Result{PlanID: "20261124-000000-feed01", Changed: true, Counts: map[string]int64{"inserted": 7}, Failures: []string{"C-9: name is required"}}},
	}}
	s, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER", "VENDOR"), nil }, Runner: r})
	if m := next(t, r.runs); m != "VENDOR" {
		t.Fatalf("first run is %s, want VENDOR (CUSTOMER ran 10 minutes ago)", m)
	}
	settle(t, s)
	select {
	case m := <-r.runs:
		t.Fatalf("%s ran again at once", m)
	default:
	}
	for _, st := range s.sched.States() {
		if st.Name == "CUSTOMER" {
			if want := now.Add(50 * time.Minute); st.Next.Sub(want).Abs() > time.Second {
				t.Errorf("CUSTOMER next run %v, want %v", st.Next, want)
			}
		}
	}
	_, page := get(t, base+"/")
	for _, want := range []string{"20261124-000000-feed01", "7 inserted", "C-9: name is required"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}

// TestRestartRunsInterruptedAtOnce: a mapping whose last run never
// finished (coupler was killed during it) runs at once after a restart,
// even on a cron schedule whose next time is far off, and the status page
// says why.
func TestRestartRunsInterruptedAtOnce(t *testing.T) {
	now := time.Now().UTC()
	r := &historyRunner{fakeRunner: &fakeRunner{runs: make(chan string, 10)}, past: map[string]PastRun{
		"CUSTOMER": {Start: now.Add(-time.Minute), Interrupted: true, Result: Result{PlanID: "20261124-000000-dead01"}},
	}}
	yearly, err := mappings.ParseCron("0 0 1 1 *")
	if err != nil {
		t.Fatal(err)
	}
	load := func() (*Project, error) {
		p := testProject()
		p.Jobs = append(p.Jobs, schedule.Job{Name: "CUSTOMER", Cron: yearly, Spec: "cron 0 0 1 1 *"})
		return p, nil
	}
	s, base := startServer(t, Config{Load: load, Runner: r})
	_, page := get(t, base+"/")
	if m := next(t, r.runs); m != "CUSTOMER" {
		t.Fatalf("ran %s, want CUSTOMER", m)
	}
	settle(t, s)
	if !strings.Contains(page, "interrupted") && !strings.Contains(page, "running") {
		t.Errorf("status page before the run shows neither the interruption nor the run:\n%s", page)
	}
}

// TestStatusPageSaysWaitingForApproval: a run whose plan waits for a person
// (a first sync into a destination that holds records) is shown as
// waiting for approval with the reason, never ok.
func TestStatusPageSaysWaitingForApproval(t *testing.T) {
	waiting := fmt.Errorf("%w: plan p1 would create records in a destination that already holds records", ErrNeedsReview)
	r := &fakeRunner{runs: make(chan string, 10), errFor: map[string]error{"CUSTOMER": waiting}}
	_, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r})
	next(t, r.runs)
	// A second run starts once the first has been recorded: runs go one
	// at a time.
	resp, err := http.PostForm(base+"/runs?mapping=CUSTOMER", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	next(t, r.runs)
	_, page := get(t, base+"/")
	if !strings.Contains(page, `result">waiting for approval`) || !strings.Contains(page, "already holds records") {
		t.Errorf("status page does not say the run waits for approval:\n%s", page)
	}
}
