package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/report"
)

// serve's read-only HTML views of the state database, beside the status
// page: a saved plan (the HTML report, with an Approve button while it
// waits), the run log, the records that failed (each with a Retry button)
// and a search of the couplings. Every value is escaped by html/template,
// and the pages load nothing: hostile record text stays text.

// Views is implemented by a Runner that can show the state database. A
// read runs while a run is under way. An error wrapping ErrNotFound is
// answered 404, ErrBadRequest 400.
type Views interface {
	// Plan loads the saved plan ref (an id, a name or "latest"), listing
	// at most PlanPageLimit operations per mapping.
	Plan(ctx context.Context, ref string) (*plan.Plan, error)
	// RunLog lists the runs of the run log, newest first, at most limit.
	RunLog(ctx context.Context, limit int) ([]RunEntry, error)
	// Failures lists the records failed or skipped in the latest runs, of
	// mapping (all when empty), newest first, at most limit.
	Failures(ctx context.Context, mapping string, limit int) ([]FailureEntry, error)
	// Couplings lists the couplings of mapping whose ids or display values
	// contain q (all when empty), limit from offset.
	Couplings(ctx context.Context, mapping, q string, offset, limit int) (CouplingsPage, error)
	// Retry releases failed or skipped records of mapping, so that its
	// next run reads them again (coupler retry). serve calls it from the
	// run loop, never during a run.
	Retry(ctx context.Context, mapping string, ids []string) (int64, error)
}

// PlanPageLimit is how many operations per mapping a plan's page lists.
const PlanPageLimit = 1000

// RunEntry is one run of the run log.
type RunEntry struct {
	ID                 int64
	PlanID             string
	Mapping, Direction string
	Started, Finished  time.Time
	// Interrupted: the run never finished (coupler stopped during it).
	Interrupted bool
	Counts      map[string]int64
}

// FailureEntry is one record that failed or is skipped.
type FailureEntry struct {
	Mapping, Direction string
	SourceID, DestID   string
	// SourceShow and DestShow are the record's display values.
	SourceShow, DestShow string
	Op, Message          string
	At                   time.Time
}

// CouplingsPage is one page of a couplings search.
type CouplingsPage struct {
	Rows  []CouplingEntry
	Total int64
}

// CouplingEntry is one coupling.
type CouplingEntry struct {
	TableID, IntegrationID     string
	TableShow, IntegrationShow string
	CoupledAt, LastSynced      time.Time
	LastResult                 string
}

// viewRoutes adds the views to mux.
func (s *Server) viewRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /plans/{id}", s.handlePlanView)
	mux.HandleFunc("POST /plans/{id}/approve", s.handleApprove)
	mux.HandleFunc("GET /runs", s.handleRunsView)
	mux.HandleFunc("GET /errors", s.handleErrorsView)
	mux.HandleFunc("POST /errors/retry", s.handleRetry)
	mux.HandleFunc("GET /couplings", s.handleCouplingsView)
}

// views returns the Runner's Views, or answers 404 and false.
func (s *Server) views(w http.ResponseWriter) (Views, bool) {
	v, ok := s.cfg.Runner.(Views)
	if !ok {
		http.Error(w, "this coupler serve has no views of the state database", http.StatusNotFound)
	}
	return v, ok
}

// viewError answers a failed read, scrubbed of the project's secrets.
func (s *Server) viewError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrBadRequest):
		code = http.StatusBadRequest
	}
	http.Error(w, s.cfg.Redactor.String(err.Error()), code)
}

// writePage writes an HTML page with the headers every page of serve has.
func writePage(w http.ResponseWriter, csp string, body []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", csp)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// handlePlanView serves GET /plans/{id}: the plan's HTML report, with an
// Approve button while it waits for approval.
func (s *Server) handlePlanView(w http.ResponseWriter, r *http.Request) {
	v, ok := s.views(w)
	if !ok {
		return
	}
	p, err := v.Plan(r.Context(), r.PathValue("id"))
	if err != nil {
		s.viewError(w, err)
		return
	}
	opts := report.HTMLOptions{Home: "/", TokenField: s.cfg.Token != ""}
	if _, ok := s.cfg.Runner.(Approver); ok {
		opts.ApproveAction = "/plans/" + url.PathEscape(p.ID) + "/approve"
	}
	if r.URL.Query().Get("approved") != "" && p.Approved != nil {
		opts.Notice = "Approved. The mappings that waited on this plan run now and apply it: see the status page."
	}
	var b bytes.Buffer
	if err := report.PlanHTMLWith(&b, p, opts); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// The page's own policy is in its meta element; this one adds what a
	// meta element cannot say: no page may frame the Approve button.
	writePage(w, "frame-ancestors 'none'", b.Bytes())
}

// viewPage is what every view's template gets.
type viewPage struct {
	CSP           string
	Style         template.CSS
	Title         string
	Now           string
	TokenRequired bool
	Notice        string
	Waiting       []waitingPlan
	Runs          []runRow
	Failures      []failureRow
	Mapping       string
	Options       []mappingOption
	Query         string
	Couplings     []CouplingEntry
	Total         int64
	From, To      int
	Prev, Next    string
}

// mappingOption is a mapping of the couplings view's choice.
type mappingOption struct {
	Name     string
	Selected bool
}

type waitingPlan struct {
	Mapping, PlanID string
	Reasons         []string
}

type runRow struct {
	RunEntry
	Started, Duration, Counts, Result, ResultClass string
}

type failureRow struct {
	FailureEntry
	At string
}

// viewStyle adds the views' few rules to the status page's style.
const viewStyle = pageStyle + `
nav{margin-bottom:1em}nav a{margin-right:1em}
.warn{color:#8a4b00;font-weight:600}
.show{color:#666;margin-left:.3em}
.msg{max-width:40em;overflow-wrap:anywhere}
.pager a{margin-right:1em}`

var viewCSP = "default-src 'none'; style-src '" + report.CSPHash(viewStyle) + "'; img-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

var viewTemplate = template.Must(template.New("view").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<title>{{.Title}} · coupler serve</title>
<style>{{.Style}}</style>
</head>
<body>
<nav><a href="/">Status</a><a href="/runs">Runs</a><a href="/errors">Errors</a><a href="/couplings">Couplings</a></nav>
<h1>{{.Title}}</h1>
<div class="meta">page of {{.Now}}</div>
{{with .Notice}}<div class="note" id="notice">{{.}}</div>{{end}}
{{block "body" .}}{{end}}
</body>
</html>
`))

var runsTemplate = template.Must(template.Must(viewTemplate.Clone()).Parse(`{{define "body"}}
{{if .Waiting}}<h2>Waiting for approval</h2>
<ul id="waiting">{{range .Waiting}}<li><strong>{{.Mapping}}</strong>: <a href="/plans/{{.PlanID}}">plan {{.PlanID}}</a> (review and approve){{range .Reasons}}<br><small>{{.}}</small>{{end}}</li>{{end}}</ul>
{{end}}<table id="runs">
<thead><tr><th>Run</th><th>Plan</th><th>Mapping</th><th>Direction</th><th>Started</th><th>Took</th><th>Result</th><th>Counts</th></tr></thead>
<tbody>
{{range .Runs}}<tr id="run-{{.ID}}"><td>{{.ID}}</td><td><a href="/plans/{{.PlanID}}">{{.PlanID}}</a></td><td>{{.Mapping}}</td><td>{{.Direction}}</td><td>{{.Started}}</td><td>{{.Duration}}</td><td class="{{.ResultClass}} result">{{.Result}}</td><td class="counts">{{.Counts}}</td></tr>
{{else}}<tr><td colspan="8">No run yet.</td></tr>
{{end}}</tbody>
</table>
{{end}}`))

var errorsTemplate = template.Must(template.Must(viewTemplate.Clone()).Parse(`{{define "body"}}
<table id="errors">
<thead><tr><th>Mapping</th><th>Direction</th><th>Record</th><th>Destination</th><th>Operation</th><th>Message</th><th>When</th><th></th></tr></thead>
<tbody>
{{range .Failures}}<tr class="failure" data-key="{{.SourceID}}">
<td>{{.Mapping}}</td><td>{{.Direction}}</td>
<td><code>{{.SourceID}}</code>{{with .SourceShow}}<span class="show">{{.}}</span>{{end}}</td>
<td>{{with .DestID}}<code>{{.}}</code>{{end}}{{with .DestShow}}<span class="show">{{.}}</span>{{end}}</td>
<td>{{.Op}}</td><td class="msg failed">{{.Message}}</td><td>{{.At}}</td>
<td><form method="post" action="/errors/retry?mapping={{.Mapping}}&amp;id={{.SourceID}}">{{if $.TokenRequired}}<input type="password" name="token" placeholder="token" required> {{end}}<button type="submit">Retry</button></form></td>
</tr>
{{else}}<tr><td colspan="8">No record failed in the latest runs.</td></tr>
{{end}}</tbody>
</table>
{{end}}`))

var couplingsTemplate = template.Must(template.Must(viewTemplate.Clone()).Funcs(template.FuncMap{"stamp": stamp}).Parse(`{{define "body"}}
<form method="get" action="/couplings" id="search">
<select name="mapping" aria-label="mapping">{{range .Options}}<option{{if .Selected}} selected{{end}}>{{.Name}}</option>{{end}}</select>
<input type="search" name="q" value="{{.Query}}" placeholder="id, number or name" aria-label="search by id or display value">
<button type="submit">Search</button>
</form>
{{if .Mapping}}<p class="meta" id="found">{{if .Total}}{{.From}}–{{.To}} of {{.Total}} couplings of {{.Mapping}}{{else}}No coupling of {{.Mapping}} matches.{{end}}</p>
<table id="couplings">
<thead><tr><th>Table record</th><th>Integration record</th><th>Coupled</th><th>Last synchronized</th><th>Last result</th></tr></thead>
<tbody>
{{range .Couplings}}<tr class="coupling" data-key="{{.TableID}}">
<td><code>{{.TableID}}</code>{{with .TableShow}}<span class="show">{{.}}</span>{{end}}</td>
<td><code>{{.IntegrationID}}</code>{{with .IntegrationShow}}<span class="show">{{.}}</span>{{end}}</td>
<td>{{stamp .CoupledAt}}</td><td>{{stamp .LastSynced}}</td><td>{{.LastResult}}</td>
</tr>
{{end}}</tbody>
</table>
<p class="pager">{{with .Prev}}<a href="{{.}}" id="prev">previous</a>{{end}}{{with .Next}}<a href="{{.}}" id="next">next</a>{{end}}</p>
{{end}}{{end}}`))

// render writes a view.
func (s *Server) render(w http.ResponseWriter, t *template.Template, page viewPage) {
	page.CSP, page.Style, page.Now, page.TokenRequired = viewCSP, template.CSS(viewStyle), stamp(s.now()), s.cfg.Token != ""
	var b bytes.Buffer
	if err := t.Execute(&b, page); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writePage(w, viewCSP, b.Bytes())
}

// queryInt reads a whole number of at least 0 from the query, def when
// absent; ok is false, and the request answered, when it is not one.
func queryInt(w http.ResponseWriter, r *http.Request, key string, def int) (int, bool) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		http.Error(w, fmt.Sprintf("%s %q is not a number of at least 0", key, v), http.StatusBadRequest)
		return 0, false
	}
	return n, true
}

// handleRunsView serves GET /runs?limit=N: the run log, newest first, and
// the plans that wait for approval.
func (s *Server) handleRunsView(w http.ResponseWriter, r *http.Request) {
	v, ok := s.views(w)
	if !ok {
		return
	}
	limit, ok := queryInt(w, r, "limit", 100)
	if !ok {
		return
	}
	runs, err := v.RunLog(r.Context(), limit)
	if err != nil {
		s.viewError(w, err)
		return
	}
	page := viewPage{Title: "Runs", Waiting: s.waitingPlans()}
	for _, run := range runs {
		row := runRow{RunEntry: run, Started: stamp(run.Started), Counts: countsText(run.Counts), Result: "ok", ResultClass: "ok"}
		switch {
		case run.Interrupted:
			row.Result, row.ResultClass = "interrupted", "failed"
		case run.Finished.IsZero():
			row.Result, row.ResultClass = "running", "running"
		default:
			row.Duration = run.Finished.Sub(run.Started).Round(time.Millisecond).String()
			if out := outOfStep(run.Counts); out != "" {
				row.Result, row.ResultClass = "not in step: "+out, "failed"
			}
		}
		page.Runs = append(page.Runs, row)
	}
	s.render(w, runsTemplate, page)
}

// waitingPlans lists the mappings whose plan waits for approval, in
// dependency order.
func (s *Server) waitingPlans() []waitingPlan {
	names := s.sched.Names()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []waitingPlan
	for _, name := range names {
		if lr := s.last[name]; lr != nil && lr.Waiting {
			out = append(out, waitingPlan{Mapping: name, PlanID: lr.Result.PlanID, Reasons: s.cfg.Redactor.Strings(lr.Result.Approval)})
		}
	}
	return out
}

// countsText writes a run's counts for people: "3 inserted, 1 failed".
func countsText(counts map[string]int64) string {
	var parts []string
	for _, k := range countNames {
		if n := counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return strings.Join(parts, ", ")
}

// handleErrorsView serves GET /errors?mapping=NAME: the records that
// failed in the latest runs and those skipped, each with a Retry button.
func (s *Server) handleErrorsView(w http.ResponseWriter, r *http.Request) {
	v, ok := s.views(w)
	if !ok {
		return
	}
	limit, ok := queryInt(w, r, "limit", 500)
	if !ok {
		return
	}
	mapping := r.URL.Query().Get("mapping")
	fs, err := v.Failures(r.Context(), mapping, limit)
	if err != nil {
		s.viewError(w, err)
		return
	}
	page := viewPage{Title: "Errors", Mapping: mapping}
	if id := r.URL.Query().Get("retry"); id != "" {
		page.Notice = "Retry of " + id + " queued: its mapping runs now and reads it again."
	}
	red := s.cfg.Redactor
	for _, f := range fs {
		// A server's message may echo a credential.
		f.Message = red.String(f.Message)
		page.Failures = append(page.Failures, failureRow{FailureEntry: f, At: stamp(f.At)})
	}
	s.render(w, errorsTemplate, page)
}

// handleRetry serves POST /errors/retry?mapping=NAME&id=ID, with the
// token when one is configured, never cross-origin: the record is
// released before the mapping's next run, which starts now.
func (s *Server) handleRetry(w http.ResponseWriter, r *http.Request) {
	form := strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
	if code, msg := s.mayWrite(w, r, form, "a retry"); code != 0 {
		http.Error(w, msg, code)
		return
	}
	if _, ok := s.views(w); !ok {
		return
	}
	mapping, id := r.URL.Query().Get("mapping"), r.URL.Query().Get("id")
	if mapping == "" || id == "" {
		http.Error(w, "name the record: POST /errors/retry?mapping=NAME&id=ID", http.StatusBadRequest)
		return
	}
	if !slices.Contains(s.sched.Names(), mapping) {
		http.Error(w, fmt.Sprintf("no scheduled mapping named %q", mapping), http.StatusNotFound)
		return
	}
	s.mu.Lock()
	if !slices.Contains(s.retries[mapping], id) {
		s.retries[mapping] = append(s.retries[mapping], id)
	}
	s.mu.Unlock()
	if err := s.Trigger(mapping); err != nil {
		code := http.StatusNotFound
		if errors.Is(err, errShuttingDown) {
			code = http.StatusServiceUnavailable
		}
		http.Error(w, err.Error(), code)
		return
	}
	s.log.Info("retry requested", "mapping", mapping, "record", id, "remote", r.RemoteAddr)
	if form {
		http.Redirect(w, r, "/errors?retry="+url.QueryEscape(id), http.StatusSeeOther)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "retry of %s queued: %s runs now\n", id, mapping)
}

// retry releases the records a person asked to retry, before the
// mapping's run; a failure is logged, and the run goes on.
func (s *Server) retry(ctx context.Context, mapping string, ids []string) {
	v, ok := s.cfg.Runner.(Views)
	if !ok {
		return
	}
	n, err := v.Retry(ctx, mapping, ids)
	if err != nil {
		s.log.Error("retry", "mapping", mapping, "records", strings.Join(ids, ","), "err", err.Error())
		return
	}
	s.log.Info("records released for retry", "mapping", mapping, "records", strings.Join(ids, ","), "released", n)
}

// couplingsPageSize is how many couplings a page of the search lists.
const couplingsPageSize = 50

// handleCouplingsView serves GET /couplings?mapping=NAME&q=TEXT&page=N:
// the couplings of a mapping whose ids or display values contain TEXT, a
// page at a time.
func (s *Server) handleCouplingsView(w http.ResponseWriter, r *http.Request) {
	v, ok := s.views(w)
	if !ok {
		return
	}
	pageNo, ok := queryInt(w, r, "page", 1)
	if !ok {
		return
	}
	pageNo = max(pageNo, 1)
	names := s.sched.Names()
	q := r.URL.Query()
	page := viewPage{Title: "Couplings", Mapping: q.Get("mapping"), Query: q.Get("q")}
	if page.Mapping == "" && len(names) > 0 {
		page.Mapping = names[0]
	}
	for _, n := range names {
		page.Options = append(page.Options, mappingOption{Name: n, Selected: n == page.Mapping})
	}
	if page.Mapping != "" {
		offset := (pageNo - 1) * couplingsPageSize
		res, err := v.Couplings(r.Context(), page.Mapping, page.Query, offset, couplingsPageSize)
		if err != nil {
			s.viewError(w, err)
			return
		}
		page.Couplings, page.Total = res.Rows, res.Total
		page.From, page.To = offset+1, offset+len(res.Rows)
		link := func(n int) string {
			return "/couplings?" + url.Values{"mapping": {page.Mapping}, "q": {page.Query}, "page": {strconv.Itoa(n)}}.Encode()
		}
		if pageNo > 1 {
			page.Prev = link(pageNo - 1)
		}
		if int64(offset+len(res.Rows)) < res.Total {
			page.Next = link(pageNo + 1)
		}
	}
	s.render(w, couplingsTemplate, page)
}
