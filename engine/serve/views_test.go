package serve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/engine/plan"
)

// viewRunner is a Runner with Views and Approver over fixed data: its
// first plan of each mapping waits for approval; Approve and Retry record
// their calls, and each runner call is sent on runs ("run CUSTOMER",
// "approved CUSTOMER p1", "retry CUSTOMER c-1").
type viewRunner struct {
	fakeRunner
	vmu       sync.Mutex
	approvals []string
	stale     bool
}

const hostile = `<img src=x onerror="document.title='pwned'">`

func newViewRunner() *viewRunner {
	return &viewRunner{fakeRunner: fakeRunner{runs: make(chan string, 20)}}
}

func (r *viewRunner) Run(ctx context.Context, drain <-chan struct{}, mapping string) (Result, error) {
	r.runs <- "run " + mapping
	return Result{PlanID: "p1", Changed: true, Approval: []string{"CUSTOMER (to_integration): deletes 2 records in accounts (approval: deletes)"}},
		fmt.Errorf("%w: plan p1 needs a person's approval", ErrNeedsReview)
}

func (r *viewRunner) RunApproved(ctx context.Context, drain <-chan struct{}, mapping, planID string) (Result, error) {
	r.runs <- "approved " + mapping + " " + planID
	return Result{PlanID: planID, Changed: true, Counts: map[string]int64{"deleted": 2, "unchanged": 5}, ApprovedBy: "ana"}, nil
}

func (r *viewRunner) Approve(ctx context.Context, ref, by string) (Approval, error) {
	r.vmu.Lock()
	defer r.vmu.Unlock()
	switch {
	case ref != "p1":
		return Approval{}, fmt.Errorf("%w: no plan %s", ErrNotFound, ref)
	case r.stale:
		return Approval{}, fmt.Errorf("%w: plan is stale: run coupler plan again", ErrConflict)
	}
	r.approvals = append(r.approvals, by)
	return Approval{PlanID: "p1", Mappings: []string{"CUSTOMER"}, By: by, At: time.Now()}, nil
}

func (r *viewRunner) Plan(ctx context.Context, ref string) (*plan.Plan, error) {
	if ref != "p1" && ref != "latest" {
		return nil, fmt.Errorf("%w: no plan %s", ErrNotFound, ref)
	}
	r.vmu.Lock()
	defer r.vmu.Unlock()
	p := &plan.Plan{ID: "p1", Status: plan.Planned, Mappings: []*plan.MappingPlan{{Name: "CUSTOMER", Direction: "to_integration",
		Source: plan.Endpoint{Side: "table", Connector: "bc", Entity: "customers"}, Dest: plan.Endpoint{Side: "integration", Connector: "dataverse", Entity: "accounts"},
		Read: 7, Counts: plan.Counts{plan.Delete: 2}, NeedsApproval: []string{"deletes 2 records in accounts (approval: deletes) " + hostile},
		Operations: []plan.Operation{{Seq: 1, Kind: plan.Delete, SourceID: "c-1", DestID: "a-1", Reason: hostile}}}}}
	if len(r.approvals) > 0 {
		p.Approved = &plan.Approval{By: r.approvals[0], At: time.Now()}
	}
	return p, nil
}

func (r *viewRunner) RunLog(ctx context.Context, limit int) ([]RunEntry, error) {
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	return []RunEntry{
		{ID: 2, PlanID: "p2", Mapping: "CUSTOMER", Direction: "to_integration", Started: start, Finished: start.Add(2 * time.Second), Counts: map[string]int64{"inserted": 3, "failed": 1}},
		{ID: 1, PlanID: "p0", Mapping: "CUSTOMER", Direction: "to_integration", Started: start.Add(-time.Hour), Interrupted: true},
	}[:min(limit, 2)], nil
}

func (r *viewRunner) Failures(ctx context.Context, mapping string, limit int) ([]FailureEntry, error) {
	if mapping != "" && mapping != "CUSTOMER" {
		return nil, fmt.Errorf("%w: no mapping %s", ErrBadRequest, mapping)
	}
	return []FailureEntry{{Mapping: "CUSTOMER", Direction: "to_integration", SourceID: "c-7", SourceShow: "C0007 · Hostile Ltd", Op: "create",
		Message: "name: " + hostile + " secret-token-123", At: time.Date(2026, 12, 1, 9, 0, 1, 0, time.UTC)}}, nil
}

func (r *viewRunner) Couplings(ctx context.Context, mapping, q string, offset, limit int) (CouplingsPage, error) {
	var all []CouplingEntry
	for i := range 120 {
		all = append(all, CouplingEntry{TableID: fmt.Sprintf("c-%03d", i), IntegrationID: fmt.Sprintf("a-%03d", i), TableShow: fmt.Sprintf("C%04d · Firm %d", i, i)})
	}
	all[5].TableShow = hostile
	all = slices.DeleteFunc(all, func(c CouplingEntry) bool { return q != "" && !strings.Contains(c.TableID+c.TableShow, q) })
	page := CouplingsPage{Total: int64(len(all))}
	if offset < len(all) {
		page.Rows = all[offset:min(offset+limit, len(all))]
	}
	return page, nil
}

func (r *viewRunner) Retry(ctx context.Context, mapping string, ids []string) (int64, error) {
	r.runs <- "retry " + mapping + " " + strings.Join(ids, ",")
	return int64(len(ids)), nil
}

// postForm posts a form as a browser on serve's own page does.
func postForm(t *testing.T, u string, form url.Values, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// waitRecorded waits until the scheduler has recorded a turn of mapping
// that ended after since.
func waitRecorded(t *testing.T, s *Server, mapping string, since time.Time) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, st := range s.sched.States() {
			if st.Name == mapping && !st.Running && st.LastEnd.After(since) {
				return
			}
		}
	}
	t.Fatalf("no turn of %s recorded after %v", mapping, since)
}

// TestApprovalWaitsThenApplies: a run whose plan needs approval ends
// waiting (status page, /metrics); the schedule does not plan the mapping
// again while it waits; approving the plan from its page runs the mapping
// at once with exactly that plan, after which the page shows it applied.
func TestApprovalWaitsThenApplies(t *testing.T) {
	r := newViewRunner()
	s, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r})
	if got := next(t, r.runs); got != "run CUSTOMER" {
		t.Fatalf("first call %q", got)
	}
	settle(t, s)
	_, page := get(t, base+"/")
	for _, want := range []string{`<td class="warn result">waiting for approval`, `<a href="/plans/p1">plan p1</a>`, `<a class="review" href="/plans/p1">review and approve</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q:\n%s", want, page)
		}
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{`coupler_waiting_for_approval{mapping="CUSTOMER"} 1`, `coupler_runs_total{mapping="CUSTOMER",result="waiting"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The schedule comes round: the waiting plan is not planned again.
	before := time.Now()
	if err := s.trigger("CUSTOMER"); err != nil {
		t.Fatal(err)
	}
	waitRecorded(t, s, "CUSTOMER", before)
	select {
	case got := <-r.runs:
		t.Fatalf("the schedule ran the waiting mapping: %q", got)
	default:
	}

	code, planPage := get(t, base+"/plans/p1")
	if code != http.StatusOK || !strings.Contains(planPage, `<form method="post" action="/plans/p1/approve" id="approve-form">`) ||
		!strings.Contains(planPage, `<button type="submit" id="approve">Approve</button>`) || strings.Contains(planPage, "<img") {
		t.Fatalf("plan page %d:\n%s", code, planPage)
	}
	resp, body := postForm(t, base+"/plans/p1/approve", url.Values{"by": {"ana"}}, map[string]string{"Origin": "http://evil.example"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin approval: %d %s", resp.StatusCode, body)
	}
	resp, body = postForm(t, base+"/plans/p1/approve", url.Values{"by": {"ana"}}, map[string]string{"Origin": base})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/plans/p1?approved=1" {
		t.Fatalf("approval: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if got := next(t, r.runs); got != "approved CUSTOMER p1" {
		t.Fatalf("after approval the runner got %q, want the approved plan applied", got)
	}
	settle(t, s)
	if !slices.Equal(r.approvals, []string{"ana (coupler serve page from 127.0.0.1)"}) {
		t.Errorf("approvals %q", r.approvals)
	}
	_, page = get(t, base+"/")
	for _, want := range []string{`<td class="ok result">ok`, "2 deleted, 5 unchanged", "approved by ana"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page after the approval lacks %q:\n%s", want, page)
		}
	}
	if _, metrics = get(t, base+"/metrics"); !strings.Contains(metrics, `coupler_waiting_for_approval{mapping="CUSTOMER"} 0`) {
		t.Errorf("/metrics still waiting")
	}
	if _, planPage = get(t, base+"/plans/p1?approved=1"); !strings.Contains(planPage, `id="notice"`) || strings.Contains(planPage, `id="approve"`) {
		t.Errorf("the approved plan's page:\n%s", planPage)
	}
}

// TestApproveRequests checks POST /plans/{id}/approve's answers: the
// token rules of run-now, an unknown plan, one that cannot be approved,
// and JSON for clients.
func TestApproveRequests(t *testing.T) {
	for _, tt := range []struct {
		name   string
		token  string
		stale  bool
		plan   string
		header map[string]string
		code   int
		want   string
	}{
		{"no token configured", "", false, "p1", nil, http.StatusOK, `"approved_by":"coupler serve API from 127.0.0.1"`},
		{"token missing", "s3cret", false, "p1", nil, http.StatusUnauthorized, "a valid token is required"},
		{"token wrong", "s3cret", false, "p1", map[string]string{"Authorization": "Bearer nope"}, http.StatusUnauthorized, "a valid token is required"},
		{"token", "s3cret", false, "p1", map[string]string{"Authorization": "Bearer s3cret"}, http.StatusOK, `"plan":"p1"`},
		{"unknown plan", "", false, "p9", nil, http.StatusNotFound, "no plan p9"},
		{"stale", "", true, "p1", nil, http.StatusConflict, "plan is stale"},
		{"rebound host", "", false, "p1", map[string]string{"Host": "127.0.0.1.nip.io"}, http.StatusForbidden, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newViewRunner()
			r.stale = tt.stale
			_, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r, Token: tt.token})
			next(t, r.runs)
			req, _ := http.NewRequest(http.MethodPost, base+"/plans/"+tt.plan+"/approve", nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if h := tt.header["Host"]; h != "" {
				req.Host = h
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(string(b), tt.want) {
				t.Errorf("%d %s; want %d with %q", resp.StatusCode, b, tt.code, tt.want)
			}
		})
	}
}

// TestViews checks the read-only views: what each lists, hostile record
// text kept text, the couplings search and its pages, and bad requests.
func TestViews(t *testing.T) {
	r := newViewRunner()
	red := redact.New()
	red.AddSecret("secret-token-123")
	s, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r,
		Redactor: red})
	next(t, r.runs)
	settle(t, s)
	for _, tt := range []struct {
		path   string
		code   int
		want   []string
		absent []string
	}{
		{"/runs", http.StatusOK, []string{`<tr id="run-2">`, `<a href="/plans/p2">p2</a>`, "3 inserted, 1 failed", "not in step: 1 failed", "2s", `<td class="failed result">interrupted</td>`,
			`<ul id="waiting"><li><strong>CUSTOMER</strong>: <a href="/plans/p1">plan p1</a>`, "deletes 2 records in accounts"}, nil},
		{"/runs?limit=1", http.StatusOK, []string{`run-2`}, []string{`run-1`}},
		{"/runs?limit=x", http.StatusBadRequest, []string{`limit "x" is not a number`}, nil},
		{"/errors", http.StatusOK, []string{`data-key="c-7"`, "C0007 · Hostile Ltd", "&lt;img src=x", `action="/errors/retry?mapping=CUSTOMER&amp;id=c-7"`, "Retry</button>"},
			[]string{"<img", "secret-token-123"}},
		{"/errors?mapping=NOPE", http.StatusBadRequest, []string{"no mapping NOPE"}, nil},
		{"/couplings", http.StatusOK, []string{"1–50 of 120 couplings of CUSTOMER", `data-key="c-000"`, `id="next"`, "&lt;img src=x"}, []string{`id="prev"`, "<img", `data-key="c-050"`}},
		{"/couplings?mapping=CUSTOMER&page=3", http.StatusOK, []string{"101–120 of 120", `data-key="c-119"`, `href="/couplings?mapping=CUSTOMER&amp;page=2&amp;q="`}, []string{`id="next"`}},
		{"/couplings?mapping=CUSTOMER&q=Firm+42", http.StatusOK, []string{"1–1 of 1", "C0042 · Firm 42"}, nil},
		{"/couplings?mapping=CUSTOMER&q=nothing", http.StatusOK, []string{"No coupling of CUSTOMER matches."}, nil},
		{"/plans/p9", http.StatusNotFound, []string{"no plan p9"}, nil},
		{"/plans/latest", http.StatusOK, []string{`<span id="plan-id">p1</span>`, `<a id="home" href="/">`, "&lt;img src=x"}, []string{"<img"}},
	} {
		t.Run(tt.path, func(t *testing.T) {
			code, page := get(t, base+tt.path)
			if code != tt.code {
				t.Errorf("%d, want %d:\n%s", code, tt.code, page)
			}
			for _, want := range tt.want {
				if !strings.Contains(page, want) {
					t.Errorf("lacks %q:\n%s", want, page)
				}
			}
			for _, no := range tt.absent {
				if strings.Contains(page, no) {
					t.Errorf("holds %q:\n%s", no, page)
				}
			}
		})
	}
}

// TestRetryButton: a retry posted from the errors page releases the
// record before the mapping's next run, which starts at once.
func TestRetryButton(t *testing.T) {
	r := newViewRunner()
	s, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r})
	next(t, r.runs)
	settle(t, s)
	for path, code := range map[string]int{"/errors/retry?mapping=CUSTOMER": http.StatusBadRequest, "/errors/retry?mapping=NOPE&id=c-7": http.StatusNotFound} {
		if resp, body := postForm(t, base+path, nil, nil); resp.StatusCode != code {
			t.Errorf("%s: %d %s, want %d", path, resp.StatusCode, body, code)
		}
	}
	resp, body := postForm(t, base+"/errors/retry?mapping=CUSTOMER&id=c-7", nil, map[string]string{"Origin": "http://evil.example"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin retry: %d %s", resp.StatusCode, body)
	}
	resp, body = postForm(t, base+"/errors/retry?mapping=CUSTOMER&id=c-7", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/errors?retry=c-7" {
		t.Fatalf("retry: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if got := next(t, r.runs); got != "retry CUSTOMER c-7" {
		t.Fatalf("first call after the retry %q", got)
	}
	// A person asked: the mapping plans again even though its plan waits.
	if got := next(t, r.runs); got != "run CUSTOMER" {
		t.Fatalf("second call after the retry %q", got)
	}
	if _, page := get(t, base+"/errors?retry=c-7"); !strings.Contains(page, "Retry of c-7 queued") {
		t.Errorf("no notice:\n%s", page)
	}
}

// TestViewsNeedTheTokenForReads: with --token-for-reads every view needs
// the token, as the status page does.
func TestViewsNeedTheTokenForReads(t *testing.T) {
	r := newViewRunner()
	_, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r, Token: "s3cret", TokenForReads: true})
	next(t, r.runs)
	for _, path := range []string{"/runs", "/errors", "/couplings", "/plans/p1"} {
		if code, _ := get(t, base+path); code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d", path, code)
		}
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.SetBasicAuth("ana", "s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s with the token: %d", path, resp.StatusCode)
		}
	}
}

// waitingHistoryRunner is a viewRunner whose state holds a plan waiting
// for approval, made before serve started.
type waitingHistoryRunner struct {
	*viewRunner
	since time.Time
}

func (r *waitingHistoryRunner) History(context.Context) (map[string]PastRun, error) {
	return map[string]PastRun{"CUSTOMER": {WaitingSince: r.since, Waiting: &Result{PlanID: "p1", Changed: true,
		Approval: []string{"CUSTOMER (to_integration): deletes 2 records in accounts (approval: deletes)"}}}}, nil
}

// TestRestartWaitsOnAPlanWaitingForApproval: a plan that waited for
// approval when serve stopped still waits after it starts again: the
// mapping is not planned anew, the status page says so, and approving the
// plan applies exactly it.
func TestRestartWaitsOnAPlanWaitingForApproval(t *testing.T) {
	r := &waitingHistoryRunner{viewRunner: newViewRunner(), since: time.Now().Add(-time.Minute)}
	s, base := startServer(t, Config{Load: func() (*Project, error) { return testProject("CUSTOMER"), nil }, Runner: r})
	settle(t, s)
	select {
	case got := <-r.runs:
		t.Fatalf("the waiting mapping was planned anew at start: %q", got)
	default:
	}
	_, page := get(t, base+"/")
	for _, want := range []string{`<td class="warn result">waiting for approval`, `<a class="review" href="/plans/p1">review and approve</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q:\n%s", want, page)
		}
	}
	resp, body := postForm(t, base+"/plans/p1/approve", url.Values{"by": {"ana"}}, map[string]string{"Origin": base})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approval: %d %s", resp.StatusCode, body)
	}
	if got := next(t, r.runs); got != "approved CUSTOMER p1" {
		t.Fatalf("after the approval the runner got %q, want the plan waiting since before the restart applied", got)
	}
}
