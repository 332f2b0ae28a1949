package serve

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/couplerhq/coupler/engine/report"
	"github.com/couplerhq/coupler/mappings"
)

// statusRow is one mapping on the status page.
type statusRow struct {
	Name, Schedule, Inactivity string
	State, StateClass          string
	Next                       string
	LastStart, LastDuration    string
	// Worker is the process that ran the last run, when several share
	// the runs.
	Worker                  string
	LastResult, ResultClass string
	PlanID                  string
	// Waiting: the plan waits for approval on its page.
	Waiting    bool
	ApprovedBy string
	Note       string
	Counts     string
	Errors     []string
	Warnings   []string
}

type statusPage struct {
	CSP           string
	Style         template.CSS
	Dir           string
	Started, Now  string
	LoadErr       string
	Queued        string
	TokenRequired bool
	Draining      bool
	// Worker names this process when it shares the project's runs with
	// others; Follower says another one schedules.
	Worker   string
	Follower bool
	Rows     []statusRow
}

// pageStyle is the status page's only style; the CSP admits it by hash.
const pageStyle = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em;margin:0 0 .2em}
.meta{color:#666;margin-bottom:1em}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.4em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}
.ok{color:#17692b}.warn{color:#8a4b00;font-weight:600}.warnings{margin:0;padding-left:1.1em;color:#8a4b00;max-width:32em;overflow-wrap:anywhere}.failed{color:#b00020;font-weight:600}.running{color:#0b57d0;font-weight:600}.idle{color:#8a6d00}
.errors{margin:0;padding-left:1.1em;color:#b00020;max-width:32em;overflow-wrap:anywhere}
.banner{background:#fdecea;border:1px solid #b00020;padding:.6em;margin-bottom:1em;white-space:pre-wrap}
.note{background:#e8f0fe;padding:.5em;margin-bottom:1em}
form{margin:0}button{cursor:pointer}`

var pageCSP = "default-src 'none'; style-src '" + report.CSPHash(pageStyle) + "'; img-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

var statusTemplate = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<title>coupler serve</title>
<style>{{.Style}}</style>
</head>
<body>
<nav><a href="/runs">Runs</a> · <a href="/errors">Errors</a> · <a href="/couplings">Couplings</a></nav>
<h1>coupler serve</h1>
<div class="meta">Project <code id="project">{{.Dir}}</code> · up since {{.Started}} · page of {{.Now}}{{if .Draining}} · <strong>shutting down</strong>{{end}}</div>
{{if .LoadErr}}<div class="banner" id="load-error">The project files changed but are invalid; the previous version keeps running:
{{.LoadErr}}</div>{{end}}
{{if .Worker}}<div class="note" id="cluster">This process is worker <code>{{.Worker}}</code> of a cluster sharing the project's runs; {{if .Follower}}another process schedules them: the schedule and last runs below are as this process last saw them, and the run log (Runs) is everyone's.{{else}}it schedules them.{{end}}</div>{{end}}
{{if .Queued}}<div class="note" id="queued">Run of {{.Queued}} queued.</div>{{end}}
<table id="mappings">
<thead><tr><th>Mapping</th><th>Schedule</th><th>State</th><th>Next run</th><th>Last run</th><th>Result</th><th>Counts</th><th>Current errors and warnings</th><th></th></tr></thead>
<tbody>
{{range .Rows}}<tr id="mapping-{{.Name}}">
<td><strong>{{.Name}}</strong></td>
<td>{{.Schedule}}{{if .Inactivity}}<br><small>inactivity timeout {{.Inactivity}}</small>{{end}}</td>
<td class="{{.StateClass}}">{{.State}}</td>
<td class="next">{{.Next}}</td>
<td>{{.LastStart}}{{if .LastDuration}}<br><small>{{.LastDuration}}</small>{{end}}{{with .Worker}}<br><small>on {{.}}</small>{{end}}</td>
<td class="{{.ResultClass}} result">{{.LastResult}}{{if .PlanID}}<br><small><a href="/plans/{{.PlanID}}">plan {{.PlanID}}</a>{{if .Waiting}} · <a class="review" href="/plans/{{.PlanID}}">review and approve</a>{{end}}</small>{{end}}{{with .ApprovedBy}}<br><small>approved by {{.}}</small>{{end}}{{with .Note}}<br><small class="warn">{{.}}</small>{{end}}</td>
<td class="counts">{{.Counts}}</td>
<td>{{if .Errors}}<ul class="errors">{{range .Errors}}<li>{{.}}</li>{{end}}</ul>{{end}}{{if .Warnings}}<ul class="warnings">{{range .Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}</td>
<td><form method="post" action="/runs?mapping={{.Name}}">{{if $.TokenRequired}}<input type="password" name="token" placeholder="token" required> {{end}}<button type="submit">Run now</button></form></td>
</tr>
{{end}}</tbody>
</table>
</body>
</html>
`))

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	page := statusPage{CSP: pageCSP, Style: template.CSS(pageStyle), Started: stamp(s.started), Now: stamp(now),
		TokenRequired: s.cfg.Token != "", Draining: s.draining.Load(), Queued: r.URL.Query().Get("queued")}
	states := s.sched.States()
	stater, _ := s.cfg.Runner.(RunStater)
	if w, ok := s.cfg.Runner.(interface{ ID() string }); ok {
		page.Worker, page.Follower = w.ID(), !s.leading.Load()
	}
	s.mu.Lock()
	// A run's error and its records' failures may echo a credential a
	// server was sent.
	red := s.cfg.Redactor
	page.Dir, page.LoadErr = s.project.Dir, red.String(s.loadErr)
	for _, st := range states {
		row := statusRow{Name: st.Name, Schedule: st.Spec, State: "scheduled", Next: stamp(st.Next), LastResult: "not run yet"}
		if st.InactivityTimeout > 0 {
			row.Inactivity = mappings.ShortDuration(st.InactivityTimeout)
		}
		switch {
		case st.Running:
			row.State, row.StateClass, row.Next = "running", "running", "—"
			if stater != nil {
				if where := stater.RunState(st.Name); where != "" {
					row.State += ": " + where
				}
			}
		case st.Idle:
			row.State, row.StateClass = "idle: nothing changed last time", "idle"
		}
		if st.Pending {
			row.State += ", run now queued"
		}
		if lr := s.last[st.Name]; lr != nil {
			row.LastStart, row.Worker = stamp(lr.Start), lr.Result.Worker
			if !lr.End.IsZero() {
				row.LastDuration = lr.End.Sub(lr.Start).Round(time.Millisecond).String()
			}
			row.PlanID = lr.Result.PlanID
			var counts []string
			for _, k := range countNames {
				if n := lr.Result.Counts[k]; n > 0 {
					counts = append(counts, fmt.Sprintf("%d %s", n, k))
				}
			}
			row.Counts = strings.Join(counts, ", ")
			row.ApprovedBy, row.Note = red.String(lr.Result.ApprovedBy), red.String(lr.Result.Note)
			row.Warnings = red.Strings(lr.Result.Warnings)
			row.LastResult, row.ResultClass = "ok", "ok"
			if len(row.Warnings) > 0 {
				// What a reviewer would look at twice (many records
				// created, a mapping changed) is not plain ok.
				row.LastResult, row.ResultClass = fmt.Sprintf("ok, with %d warning(s)", len(row.Warnings)), "warn"
			}
			if out := outOfStep(lr.Result.Counts); out != "" {
				row.LastResult, row.ResultClass = "not in step: "+out, "failed"
			}
			if lr.Err != "" {
				row.LastResult, row.ResultClass = "failed", "failed"
				if lr.Waiting {
					row.LastResult, row.ResultClass, row.Waiting = "waiting for approval", "warn", true
				}
				if lr.Waiting && len(lr.Result.Approval) > 0 {
					// Why it waits; the error says so again at length,
					// for the log.
					row.Errors = append(row.Errors, red.Strings(lr.Result.Approval)...)
				} else {
					row.Errors = append(row.Errors, red.String(lr.Err))
				}
			}
			for _, f := range lr.Result.Failures {
				row.Errors = append(row.Errors, red.String(f))
			}
		}
		page.Rows = append(page.Rows, row)
	}
	s.mu.Unlock()
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, page); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

// outOfStep names the records a run left out of step: failed (at plan or
// apply time, conflicts included) and skipped after failing twice; empty
// when there are none.
func outOfStep(counts map[string]int64) string {
	var parts []string
	if n := counts["failed"]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", n))
	}
	if n := counts["skipped"]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped (failed twice)", n))
	}
	return strings.Join(parts, ", ")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Format("2006-01-02 15:04:05 MST")
}
