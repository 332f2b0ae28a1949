package report

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// PlanHTML writes p as one self-contained HTML page for a reviewer: the
// totals as big numbers and a table per mapping first, then per mapping a
// table of the listed operations with each changed field before -> after.
//
// The page loads nothing: its style and script are inline, and a
// Content-Security-Policy allows only those two (by hash), so even a
// value that slipped through escaping could not run or fetch anything.
// Every value is escaped by html/template.
//
// The script filters the operation rows by kind (checkboxes) and by a
// search text matched against source and destination ids and the records'
// display values (a number, a name). The filter
// lives in the URL fragment, #op=update,create&q=c-2, so that a filtered
// view can be linked and tested; it hides rows with the hidden attribute.
// Without script every row shows.
func PlanHTML(w io.Writer, p *plan.Plan) error {
	return planTemplate.Execute(w, newHTMLPage(p))
}

// HTMLOptions make the page coupler serve's view of a saved plan.
type HTMLOptions struct {
	// Home is the address of serve's status page, linked from the header;
	// empty for none.
	Home string
	// ApproveAction is where the Approve button posts (serve's POST
	// /plans/{id}/approve); empty for no button. The button shows only
	// while the plan waits for approval.
	ApproveAction string
	// TokenField adds a token field to the approval form, for a serve with
	// a token.
	TokenField bool
	// Notice is a line shown above the plan: what serve just did.
	Notice string
}

// PlanHTMLWith is PlanHTML as coupler serve shows it, with opts. The
// page's Content-Security-Policy allows the approval form to post to its
// own origin, and nothing else more.
func PlanHTMLWith(w io.Writer, p *plan.Plan, opts HTMLOptions) error {
	pg := newHTMLPage(p)
	pg.Home, pg.Notice, pg.TokenField = opts.Home, opts.Notice, opts.TokenField
	if opts.ApproveAction != "" && p.WaitsForApproval() {
		pg.ApproveAction = opts.ApproveAction
		pg.CSP, pg.Referrer = servedCSP, "same-origin"
	}
	return planTemplate.Execute(w, pg)
}

// Element ids and data attributes of the page, which tests and browser
// automation rely on:
//
//	id="status" data-changes="true|false"   whether the plan writes anything
//	            data-in-step="true|false"   whether both sides are in step (nothing to write, nothing failed, in conflict or skipped)
//	id="total-KIND"                          the total count of KIND (skip is "left out"; unchanged includes not modified)
//	tr.op data-op="KIND" data-key="SOURCE ID" data-dest="DESTINATION ID"
//	      data-show="SOURCE DISPLAY\nDESTINATION DISPLAY"  the display values, searched too
//	td.id span.show                          a record's display values beside its id
//	input[name=op] value="KIND"              the kind filter; id="q" the search box
//	id="shown"                               how many listed operations the filter shows
type htmlPage struct {
	Plan    *plan.Plan
	Changes bool
	// Headline is where a plan with changes stands (changesHeadline).
	Headline string
	InStep   bool
	// Step says whether the plan leaves the sides in step (stepLine).
	Step     string
	Created  string
	Totals   []htmlCount
	Review   []string
	Warnings []string
	// Approval is approvalLine; Reasons why the plan needs approval.
	Approval    string
	Approved    bool
	Reasons     []string
	Mappings    []htmlMapping
	FilterKinds []htmlCount
	Listed      int
	Omitted     int64
	CSP         string
	Style       template.CSS
	Script      template.JS
	// Home, ApproveAction, TokenField and Notice are HTMLOptions'.
	Home, ApproveAction, Notice string
	TokenField                  bool
	// Referrer is the page's referrer policy: no-referrer, but
	// same-origin on serve, where a browser would otherwise send its form
	// with "Origin: null", which serve refuses as cross-origin.
	Referrer string
}

type htmlCount struct {
	Kind  plan.Kind
	Label string
	N     int64
}

type htmlMapping struct {
	*plan.MappingPlan
	Anchor     string
	Counts     []htmlCount
	CountsLine string
	ReadLine   string
	Ops        []htmlOp
}

type htmlOp struct {
	Kind         plan.Kind
	Symbol       string
	Source, Dest string
	// SourceShow and DestShow are the record's display values (Display.Text).
	SourceShow, DestShow string
	Reason               string
	Create               bool
	Changes              []htmlChange
}

type htmlChange struct {
	Field         string
	Before, After htmlValue
}

// htmlValue is a JSON value as shorten renders it; Full is the whole JSON
// text when shorten cut it, shown as a tooltip.
type htmlValue struct {
	Side  string // "before" or "after"
	Text  string
	Full  string
	Known bool // the destination assigns the value on apply
}

func newHTMLValue(side string, raw json.RawMessage) htmlValue {
	s := shorten(raw)
	v := htmlValue{Side: side, Text: Printable(s)}
	switch {
	case s == "(known after apply)":
		v.Known = true
	case raw != nil && s != string(raw):
		v.Full = Printable(string(raw))
	}
	return v
}

func newHTMLPage(p *plan.Plan) *htmlPage {
	pg := &htmlPage{
		Plan:     p,
		Changes:  p.HasChanges(),
		Headline: changesHeadline(p.Status),
		InStep:   p.InStep(),
		Step:     stepLine(p),
		CSP:      pageCSP,
		Referrer: "no-referrer",
		Style:    template.CSS(pageStyle),
		Script:   template.JS(pageScript),
	}
	if !p.CreatedAt.IsZero() {
		pg.Created = p.CreatedAt.UTC().Format(time.RFC3339)
	}
	pg.Approval, pg.Approved, pg.Reasons = approvalLine(p), p.Approved != nil, p.ApprovalReasons()
	for _, k := range summaryKinds {
		pg.Totals = append(pg.Totals, htmlCount{k, kindLabels[k], totalCount(p, k)})
	}
	listed := map[plan.Kind]int64{}
	for i, m := range p.Mappings {
		hm := htmlMapping{
			MappingPlan: m,
			Anchor:      "mapping-" + itoa(i+1),
			CountsLine:  CountsLine(m.Counts, m.NotModified),
			ReadLine:    readLine(m),
		}
		for _, k := range summaryKinds {
			hm.Counts = append(hm.Counts, htmlCount{k, kindLabels[k], kindCount(m, k)})
		}
		for _, op := range m.Operations {
			ho := htmlOp{
				Kind: op.Kind, Symbol: symbols[op.Kind], Create: op.Kind == plan.Create,
				Source: Printable(op.SourceID), Dest: Printable(op.DestID), Reason: Printable(op.Reason),
				SourceShow: Printable(op.SourceDisplay.Text()), DestShow: Printable(op.DestDisplay.Text()),
			}
			for _, c := range op.Changes {
				ho.Changes = append(ho.Changes, htmlChange{Field: Printable(c.Field), Before: newHTMLValue("before", c.Before), After: newHTMLValue("after", c.After)})
			}
			hm.Ops = append(hm.Ops, ho)
			listed[op.Kind]++
		}
		pg.Listed += len(m.Operations)
		pg.Omitted += m.Omitted
		if p.Full || p.FirstSync() {
			pg.Review = append(pg.Review, m.Name+" ("+m.Direction+"): "+itoa64(m.Read)+" "+m.Source.Entity+" records, "+
				itoa64(m.DestRead)+" "+m.Dest.Entity+" records, "+itoa64(m.Coupled)+" coupled: "+m.Recommendation())
		}
		for _, warn := range m.Warnings {
			pg.Warnings = append(pg.Warnings, m.Name+" ("+m.Direction+"): "+warn)
		}
		pg.Mappings = append(pg.Mappings, hm)
	}
	for _, k := range plan.Kinds {
		if listed[k] > 0 {
			pg.FilterKinds = append(pg.FilterKinds, htmlCount{k, kindLabels[k], listed[k]})
		}
	}
	return pg
}

func itoa(i int) string { return strconv.Itoa(i) }

func itoa64(i int64) string { return strconv.FormatInt(i, 10) }

// pageCSP forbids the page every load but its own inline style and script.
var pageCSP = "default-src 'none'; style-src '" + CSPHash(pageStyle) + "'; script-src '" + CSPHash(pageScript) +
	"'; img-src 'none'; base-uri 'none'; form-action 'none'"

// servedCSP is pageCSP with the approval form allowed to post to serve.
var servedCSP = strings.Replace(pageCSP, "form-action 'none'", "form-action 'self'", 1)

// CSPHash is the Content-Security-Policy source that allows exactly the
// inline style or script s, for self-contained pages like this report and
// serve's status page.
func CSPHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// The style and script are inserted verbatim between their tags, which the
// CSP hashes rely on; the template has nothing else inside those elements.
var planTemplate = template.Must(template.New("plan").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="referrer" content="{{.Referrer}}">
<meta name="generator" content="coupler">
<title>Plan {{.Plan.ID}}{{if .InStep}}: no changes{{else if not .Changes}}: not in step{{end}}</title>
<style>{{.Style}}</style>
</head>
<body>
<header>
{{with .Home}}<p class="meta"><a id="home" href="{{.}}">← coupler serve</a></p>
{{end}}{{with .Notice}}<p id="notice" class="status changes">{{.}}</p>
{{end}}<h1>Plan <span id="plan-id">{{.Plan.ID}}</span>{{with .Plan.Name}} <span class="muted">({{.}})</span>{{end}}</h1>
{{if .Changes}}<p id="status" class="status changes" data-changes="true" data-in-step="false">{{.Headline}}</p>
{{else if .InStep}}<p id="status" class="status nochanges" data-changes="false" data-in-step="true">{{.Step}}</p>
{{else}}<p id="status" class="status notinstep" data-changes="false" data-in-step="false">{{.Step}}</p>
{{end}}{{if and .Changes .Step}}<p id="step" class="status notinstep">{{.Step}}</p>
{{end}}<p class="meta">{{with .Created}}created {{.}} · {{end}}status {{.Plan.Status}}{{with .Plan.Fingerprint}} · project {{.}}{{end}}{{if .Plan.Full}} · --full: every record read{{end}}</p>
</header>
<main>
<section id="summary" aria-label="summary">
<div class="totals">
{{range .Totals}}<div class="total k-{{.Kind}}{{if not .N}} zero{{end}}"><span class="n" id="total-{{.Kind}}">{{.N}}</span><span class="label">{{.Label}}</span></div>
{{end}}</div>
{{if .Mappings}}<table class="summary">
<thead><tr><th>mapping</th><th>direction</th><th>from</th><th>to</th>{{range .Totals}}<th class="num">{{.Label}}</th>{{end}}</tr></thead>
<tbody>
{{range .Mappings}}<tr data-mapping="{{.Name}}"><td><a href="#{{.Anchor}}">{{.Name}}</a></td><td>{{.Direction}}</td><td class="ent">{{.Source.Connector}} {{.Source.Entity}}</td><td class="ent">{{.Dest.Connector}} {{.Dest.Entity}}</td>{{range .Counts}}<td class="num k-{{.Kind}}{{if not .N}} zero{{end}}">{{.N}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{end}}{{if .Review}}<h2>Review</h2>
<ul class="review">
{{range .Review}}<li>{{.}}</li>
{{end}}</ul>
{{end}}{{if .Approval}}<div id="approval" class="approval{{if .Approved}} approved{{end}}" data-approved="{{.Approved}}"><p>{{.Approval}}</p>
<ul>
{{range .Reasons}}<li>{{.}}</li>
{{end}}</ul>{{with .ApproveAction}}
<form method="post" action="{{.}}" id="approve-form">{{if $.TokenField}}<input type="password" name="token" placeholder="token" required> {{end}}<input type="text" name="by" placeholder="your name" aria-label="your name" maxlength="80"> <button type="submit" id="approve">Approve</button></form>{{end}}</div>
{{end}}{{if .Warnings}}<ul class="warnings">
{{range .Warnings}}<li>{{.}}</li>
{{end}}</ul>
{{end}}</section>
{{if .Listed}}<div id="filter" class="filter">
<span class="muted">Show</span>
{{range .FilterKinds}}<label class="k-{{.Kind}}"><input type="checkbox" name="op" value="{{.Kind}}" checked> {{.Label}} <span class="muted">{{.N}}</span></label>
{{end}}<input type="search" id="q" placeholder="id, number or name" aria-label="search by source or destination id or display value">
<button type="button" id="reset">show all</button>
<span class="muted"><span id="shown">{{.Listed}}</span> of {{.Listed}} listed operations shown{{if .Omitted}}; {{.Omitted}} more not listed{{end}}</span>
</div>
{{end}}{{range .Mappings}}<section class="mapping" id="{{.Anchor}}">
<h2>{{.Name}} <span class="muted">({{.Direction}})</span></h2>
<p class="meta">{{.Source.Connector}} {{.Source.Entity}} → {{.Dest.Connector}} {{.Dest.Entity}}: {{.ReadLine}}</p>
<p class="counts">{{.CountsLine}}</p>
{{if .Ops}}<table class="ops">
<thead><tr><th>op</th><th>source {{.Source.Entity}}</th><th>destination {{.Dest.Entity}}</th><th>changes</th></tr></thead>
<tbody>
{{range .Ops}}<tr class="op k-{{.Kind}}" data-op="{{.Kind}}" data-key="{{.Source}}" data-dest="{{.Dest}}"{{if or .SourceShow .DestShow}} data-show="{{.SourceShow}}&#10;{{.DestShow}}"{{end}}>
<td><span class="badge k-{{.Kind}}">{{.Symbol}} {{.Kind}}</span></td>
<td class="id">{{.Source}}{{with .SourceShow}}<span class="show">{{.}}</span>{{end}}</td>
<td class="id">{{if .Dest}}{{.Dest}}{{with .DestShow}}<span class="show">{{.}}</span>{{end}}{{else}}<span class="muted">(new)</span>{{end}}</td>
<td>{{with .Reason}}<p class="reason">{{.}}</p>{{end}}{{if .Changes}}<table class="changes">
{{$create := .Create}}{{range .Changes}}<tr><th>{{.Field}}</th>{{if $create}}<td class="before none">—</td>{{else}}{{template "value" .Before}}{{end}}<td class="arrow">→</td>{{template "value" .After}}</tr>
{{end}}</table>{{end}}</td>
</tr>
{{end}}</tbody>
</table>
<p class="nomatch" hidden>No listed operation matches the filter.</p>
{{end}}{{if .Omitted}}<p class="omitted">… {{.Omitted}} more not shown (--limit 0 shows all; --format json for tools)</p>
{{end}}{{if and (not .Ops) (not .Omitted)}}<p class="muted">No operations listed.</p>
{{end}}</section>
{{end}}</main>
<script>{{.Script}}</script>
</body>
</html>
{{define "value"}}<td class="{{.Side}}{{if .Known}} known{{end}}"{{with .Full}} title="{{.}}"{{end}}>{{if .Known}}{{.Text}}{{else}}<code>{{.Text}}</code>{{end}}</td>{{end}}`))

// pageStyle is the page's whole style: system fonts, light and dark.
const pageStyle = `
:root{--fg:#1f2328;--muted:#656d76;--bg:#fff;--panel:#f6f8fa;--line:#d0d7de;--add:#1a7f37;--add-bg:#dafbe1;--del:#cf222e;--del-bg:#ffebe9;--chg:#9a6700;--info:#0969da;--warn-bg:#fff8c5}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#8d96a0;--bg:#0d1117;--panel:#161b22;--line:#30363d;--add:#3fb950;--add-bg:#12261e;--del:#f85149;--del-bg:#2d1214;--chg:#d29922;--info:#4493f8;--warn-bg:#272115}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1400px;padding:1.5rem;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:1.5rem 0 .25rem}
a{color:var(--info)}
.muted,.meta,.zero{color:var(--muted)}.meta{margin:.25rem 0}
.status{display:inline-block;margin:.25rem 0;padding:.2rem .7rem;border-radius:1rem;font-weight:600}
.status.changes{background:var(--warn-bg);color:var(--chg)}.status.nochanges{background:var(--add-bg);color:var(--add);font-size:1.2rem}.status.notinstep{background:var(--del-bg);color:var(--del)}
.totals{display:grid;grid-template-columns:repeat(auto-fill,minmax(130px,1fr));gap:.5rem;margin:1rem 0}
.total{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:.5rem .75rem;display:flex;flex-direction:column}
.total .n{font-size:1.5rem;font-weight:700;line-height:1.1;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}.total.zero .n{font-weight:400}
table{border-collapse:collapse}
table.summary,table.ops{width:100%;margin:.5rem 0}
.summary th,.summary td,.ops>thead>tr>th,.ops>tbody>tr>td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
.num{text-align:right!important;font-variant-numeric:tabular-nums}
.summary{font-size:13px}.summary th,.summary td{padding:.3rem .4rem}.summary thead th{vertical-align:bottom}.summary td.num{white-space:nowrap}.summary td.ent{overflow-wrap:anywhere}
th{font-weight:600}thead th{background:var(--panel)}
.k-create .n,td.k-create:not(.zero),.badge.k-create,.k-restore .n,td.k-restore:not(.zero),.badge.k-restore{color:var(--add)}
.k-update .n,td.k-update:not(.zero),.badge.k-update,.k-couple .n,td.k-couple:not(.zero),.badge.k-couple,.k-uncouple .n,td.k-uncouple:not(.zero),.badge.k-uncouple,.k-settled .n,td.k-settled:not(.zero),.badge.k-settled{color:var(--chg)}
.k-delete .n,td.k-delete:not(.zero),.badge.k-delete,.k-fail .n,td.k-fail:not(.zero),.badge.k-fail,.k-conflict .n,td.k-conflict:not(.zero),.badge.k-conflict,.k-skipped .n,td.k-skipped:not(.zero),.badge.k-skipped{color:var(--del)}
.total.zero .n{color:var(--muted)}
.badge{font-weight:600;white-space:nowrap}
.id,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;overflow-wrap:anywhere}
.id .show{display:block;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:13px;font-weight:600}
.reason{margin:0 0 .25rem}
.changes th,.changes td{padding:.1rem .4rem;vertical-align:top;text-align:left}
.changes th{font-weight:600;white-space:nowrap}
.changes .before code{background:var(--del-bg);color:var(--del);text-decoration:line-through;padding:0 .2rem;border-radius:3px}
.changes .after code{background:var(--add-bg);color:var(--add);padding:0 .2rem;border-radius:3px}
.changes .known,.changes .none,.arrow{color:var(--muted);font-style:italic}
.approval{border:2px solid #b26a00;border-radius:6px;padding:.5rem .75rem;margin:.5rem 0}.approval.approved{border-color:#17692b}.approval p{margin:0;font-weight:600}
.warnings{background:var(--warn-bg);border:1px solid var(--line);border-radius:6px;padding:.5rem .5rem .5rem 2rem}
.filter{position:sticky;top:0;z-index:1;display:flex;flex-wrap:wrap;gap:.4rem .9rem;align-items:center;background:var(--bg);border-bottom:1px solid var(--line);padding:.6rem 0;margin-top:1rem}
.filter label{white-space:nowrap;cursor:pointer}
.filter input[type=search]{min-width:16rem;padding:.25rem .5rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}
.filter button{padding:.25rem .6rem;border:1px solid var(--line);border-radius:6px;background:var(--panel);color:var(--fg);cursor:pointer}
.omitted{color:var(--muted);font-style:italic}
tr[hidden]{display:none}
@media print{.filter{display:none}tr[hidden]{display:table-row}}
`

// pageScript filters the operation rows. The filter is kept in the URL
// fragment, #op=KIND,KIND&q=TEXT: the page reads it on load and on
// hashchange, and writes it back as the reader clicks and types.
const pageScript = `
(function () {
  "use strict";
  var rows = [].slice.call(document.querySelectorAll("tr.op"));
  var boxes = [].slice.call(document.querySelectorAll("input[name=op]"));
  var q = document.getElementById("q");
  var shown = document.getElementById("shown");
  if (!q) { return; }
  function apply() {
    var on = {}, text = q.value.trim().toLowerCase(), n = 0;
    boxes.forEach(function (b) { on[b.value] = b.checked; });
    rows.forEach(function (r) {
      var keys = (r.getAttribute("data-key") + "\n" + r.getAttribute("data-dest") + "\n" + (r.getAttribute("data-show") || "")).toLowerCase();
      var show = on[r.getAttribute("data-op")] !== false && (text === "" || keys.indexOf(text) >= 0);
      r.hidden = !show;
      if (show) { n++; }
    });
    [].forEach.call(document.querySelectorAll("section.mapping"), function (s) {
      var none = s.querySelector(".nomatch");
      if (none) { none.hidden = s.querySelector("tr.op:not([hidden])") !== null; }
    });
    shown.textContent = String(n);
  }
  function fromHash() {
    var h = new URLSearchParams(location.hash.replace(/^#/, ""));
    var ops = h.getAll("op").join(",").split(",").filter(function (s) { return s !== ""; });
    boxes.forEach(function (b) { b.checked = ops.length === 0 || ops.indexOf(b.value) >= 0; });
    q.value = h.get("q") || "";
    apply();
  }
  function toHash() {
    var ops = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    var h = [];
    if (ops.length < boxes.length) { h.push("op=" + (ops.length ? ops.join(",") : "none")); }
    if (q.value !== "") { h.push("q=" + encodeURIComponent(q.value)); }
    try { history.replaceState(null, "", "#" + h.join("&")); } catch (e) { /* file: URLs in some browsers */ }
    apply();
  }
  boxes.forEach(function (b) { b.addEventListener("change", toHash); });
  q.addEventListener("input", toHash);
  document.getElementById("reset").addEventListener("click", function () {
    boxes.forEach(function (b) { b.checked = true; });
    q.value = "";
    toHash();
  });
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
`
