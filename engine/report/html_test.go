package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
)

func renderHTML(t *testing.T, p *plan.Plan) string {
	t.Helper()
	var b bytes.Buffer
	if err := PlanHTML(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPlanHTMLGolden(t *testing.T) {
	golden(t, "plan.html", []byte(renderHTML(t, samplePlan())))
	golden(t, "plan-hostile.html", []byte(renderHTML(t, hostilePlan())))
}

var totalRE = regexp.MustCompile(`id="total-([a-z]+)">(\d+)<`)

// summaryCounts reads the id="total-KIND" numbers of a page or a DOM dump.
func summaryCounts(page string) map[string]string {
	got := map[string]string{}
	for _, m := range totalRE.FindAllStringSubmatch(page, -1) {
		got[m[1]] = m[2]
	}
	return got
}

// wantTotals are samplePlan's totals as the page shows them.
var wantTotals = map[string]string{
	"create": "1", "couple": "0", "update": "2", "restore": "0", "delete": "0", "uncouple": "0",
	"conflict": "0", "fail": "1", "unchanged": "995", "skip": "1",
}

func TestPlanHTMLSummary(t *testing.T) {
	page := renderHTML(t, samplePlan())
	got := summaryCounts(page)
	for k, want := range wantTotals {
		if got[k] != want {
			t.Errorf("total-%s = %q, want %q", k, got[k], want)
		}
	}
	if !strings.Contains(page, `id="status" class="status changes" data-changes="true"`) {
		t.Error("plan with changes is not marked so")
	}
	rows := opRows(page)
	if len(rows) != 3 {
		t.Fatalf("%d operation rows, want 3: %v", len(rows), rows)
	}
	for i, want := range []opRow{{op: "create", key: "c-1"}, {op: "update", key: "c-2", dest: "a-2"}, {op: "fail", key: "c-4", dest: "a-4"}} {
		if rows[i].op != want.op || rows[i].key != want.key || rows[i].dest != want.dest || rows[i].hidden {
			t.Errorf("row %d = %+v, want %+v", i, rows[i], want)
		}
	}
}

func TestPlanHTMLNoChanges(t *testing.T) {
	page := renderHTML(t, noChangesPlan())
	golden(t, "plan-nochanges.html", []byte(page))
	for _, want := range []string{`data-changes="false"`, "No changes.", "<title>Plan 20261124-073116-13e5e1: no changes</title>", `id="total-unchanged">1000<`} {
		if !strings.Contains(page, want) {
			t.Errorf("no-op page lacks %q", want)
		}
	}
	if strings.Contains(page, `id="filter"`) {
		t.Error("no-op page has a filter bar with nothing to filter")
	}
}

// TestPlanHTMLSelfContained checks that the page loads nothing: no URL,
// no external resource, and a CSP whose hashes match its one style and
// one script.
func TestPlanHTMLSelfContained(t *testing.T) {
	for name, p := range map[string]*plan.Plan{"sample": samplePlan(), "hostile": hostilePlan(), "nochanges": noChangesPlan()} {
		page := renderHTML(t, p)
		for _, bad := range []string{"http://", "https://", "//cdn", "<link", "@import", "url(", "<iframe", "<object", "<embed"} {
			if strings.Contains(strings.ToLower(page), bad) {
				t.Errorf("%s: page contains %q", name, bad)
			}
		}
		if name != "hostile" { // the hostile value has "src=x" as text
			if strings.Contains(page, "src=") {
				t.Errorf("%s: page contains src=", name)
			}
		}
		style := between(t, page, "<style>", "</style>")
		script := between(t, page, "<script>", "</script>")
		csp := html.UnescapeString(between(t, page, `<meta http-equiv="Content-Security-Policy" content="`, `">`))
		for _, s := range []string{style, script} {
			sum := sha256.Sum256([]byte(s))
			if h := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); !strings.Contains(csp, h) {
				t.Errorf("%s: CSP %q lacks %s", name, csp, h)
			}
		}
		if !strings.HasPrefix(csp, "default-src 'none';") {
			t.Errorf("%s: CSP %q does not start from nothing", name, csp)
		}
		if n := strings.Count(page, "<script"); n != 1 {
			t.Errorf("%s: %d script elements, want 1", name, n)
		}
		if n := strings.Count(page, "<style"); n != 1 {
			t.Errorf("%s: %d style elements, want 1", name, n)
		}
	}
}

func between(t *testing.T, s, start, end string) string {
	t.Helper()
	_, after, ok := strings.Cut(s, start)
	if !ok {
		t.Fatalf("no %q", start)
	}
	in, _, ok := strings.Cut(after, end)
	if !ok {
		t.Fatalf("no %q after %q", end, start)
	}
	return in
}

func TestPlanHTMLEscapes(t *testing.T) {
	page := renderHTML(t, hostilePlan())
	for _, bad := range []string{"<script>alert", "<img", "<b>", "<i>", "<!--"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q unescaped", bad)
		}
	}
	for _, want := range []string{
		`data-key="&#34;a|b &lt;script&gt;alert(1)&lt;/script&gt;"`,
		`<td class="after"><code>&#34;&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;img src=x onerror=alert(1)&gt;&#34;</code></td>`,
		`changed on both sides\n| x | y |\n&lt;!-- hi --&gt;&amp;amp;`,
		`<td class="before"><code>&#34;\&#34;a|b \u003cscript\u003ealert(1)\u003c/script\u003e&#34;</code></td>`,
		`<td class="after known">(known after apply)</td>`,
		`<td class="before" title="&#34;long \u003ctext\u003e long \u003ctext\u003e long \u003ctext\u003e long \u003ctext\u003e long \u003ctext\u003e long \u003ctext\u003e long \u003ctext\u003e long \u003ctext\u003e &#34;"><code>&#34;long \u003ctext\u003e long \u003ctext\u003e long \u003ctex…</code></td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	checkWellFormed(t, page)
}

func TestPlanHTMLWellFormed(t *testing.T) {
	checkWellFormed(t, renderHTML(t, samplePlan()))
	checkWellFormed(t, renderHTML(t, noChangesPlan()))
}

var tagRE = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)[^<>]*>`)

// pageTags are the elements the page uses; void ones have no end tag.
var pageTags = map[string]bool{
	"html": false, "head": false, "meta": true, "title": false, "style": false, "body": false, "header": false,
	"main": false, "section": false, "h1": false, "h2": false, "p": false, "span": false, "div": false,
	"table": false, "thead": false, "tbody": false, "tr": false, "th": false, "td": false, "a": false,
	"ul": false, "li": false, "label": false, "input": true, "button": false, "code": false, "script": false,
}

// checkWellFormed checks, without an HTML parser, that the page is one
// document of known elements whose start and end tags balance: what a
// value breaking out of its element would upset.
func checkWellFormed(t *testing.T, page string) {
	t.Helper()
	rest, ok := strings.CutPrefix(page, "<!DOCTYPE html>\n")
	if !ok {
		t.Fatal("no doctype")
	}
	// The style and script are not markup.
	for _, el := range []string{"style", "script"} {
		before, after, _ := strings.Cut(rest, "<"+el+">")
		_, after, ok := strings.Cut(after, "</"+el+">")
		if !ok {
			t.Fatalf("no </%s>", el)
		}
		rest = before + "<" + el + "></" + el + ">" + after
	}
	var stack []string
	for _, m := range tagRE.FindAllStringSubmatch(rest, -1) {
		closing, name := m[1] == "/", strings.ToLower(m[2])
		void, known := pageTags[name]
		switch {
		case !known:
			t.Errorf("unknown element <%s>", m[0])
		case void && closing:
			t.Errorf("end tag of void element %s", m[0])
		case void:
		case !closing:
			stack = append(stack, name)
		case len(stack) == 0 || stack[len(stack)-1] != name:
			t.Fatalf("%s closes %v", m[0], stack)
		default:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		t.Errorf("unclosed elements %v", stack)
	}
	if strings.Count(rest, "<") != len(tagRE.FindAllString(rest, -1)) {
		t.Error("a '<' that starts no tag")
	}
}

type opRow struct {
	op, key, dest string
	hidden        bool
}

var (
	opRowRE = regexp.MustCompile(`<tr [^>]*class="op[ "][^>]*>`)
	attrRE  = regexp.MustCompile(`\s(data-op|data-key|data-dest|hidden)(?:="([^"]*)")?`)
)

// opRows reads the operation rows of a page or of a browser's DOM dump.
func opRows(page string) []opRow {
	var rows []opRow
	for _, tag := range opRowRE.FindAllString(page, -1) {
		var r opRow
		for _, a := range attrRE.FindAllStringSubmatch(tag, -1) {
			switch a[1] {
			case "data-op":
				r.op = a[2]
			case "data-key":
				r.key = a[2]
			case "data-dest":
				r.dest = a[2]
			case "hidden":
				r.hidden = true
			}
		}
		rows = append(rows, r)
	}
	return rows
}
