package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
)

// hostile is a value a server could return to break a Markdown table, open
// a code span, or run a script in an HTML page.
const hostile = "\"a|b <script>alert(1)</script>"

// hostilePlan is samplePlan, planned with --full and named, plus a mapping
// whose names, ids, reasons and values are hostile.
func hostilePlan() *plan.Plan {
	p := samplePlan()
	p.Full = true
	p.Name = "nightly <b>|`"
	p.Mappings = append(p.Mappings, &plan.MappingPlan{
		Name: "EVIL|`x`<b>", Direction: "to_table",
		Source:      plan.Endpoint{Side: plan.SideIntegration, Connector: "dataverse", Entity: "contacts", Key: "contactid"},
		Dest:        plan.Endpoint{Side: plan.SideTable, Connector: "bc", Entity: "contacts", Key: "id"},
		ReadStarted: p.CreatedAt,
		Read:        2, DestRead: 2,
		Counts: plan.Counts{plan.Update: 1, plan.Couple: 1, plan.Conflict: 1},
		Operations: []plan.Operation{
			{Seq: 1, Kind: plan.Update, SourceID: hostile, DestID: "`rm -rf /`",
				SourceDisplay: plan.Display{{Field: "fullname", Value: mustJSON(hostile)}},
				DestDisplay:   plan.Display{{Field: "displayName", Value: mustJSON("**bold** `x` | <img src=x onerror=alert(1)>")}},
				Changes: []plan.Change{
					{Field: "na|me", Before: mustJSON(hostile), After: json.RawMessage(`"\u0000known after apply\u0000CUSTOMER\u0000t\u0000c-9"`)},
					{Field: "notes", Before: mustJSON("**bold** [link](javascript:alert(1)) ~~gone~~ _it_ \\|"), After: json.RawMessage(`"</td></tr></table><img src=x onerror=alert(1)>"`)},
				}},
			{Seq: 2, Kind: plan.Couple, SourceID: "c-8", DestID: "b-8", Changes: []plan.Change{
				{Field: "description", Before: mustJSON(strings.Repeat("long <text> ", 8)), After: nil},
			}},
			{Seq: 2, Kind: plan.Conflict, SourceID: "c-9", DestID: "b-9", Reason: "changed on both sides\n| x | y |\n<!-- hi -->&amp;"},
		},
		Warnings: []string{"part of the filter cannot be sent to the server (name == \"<i>|</i>\")"},
	})
	return p
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func noChangesPlan() *plan.Plan {
	p := samplePlan()
	m := p.Mappings[0]
	m.Counts = plan.Counts{plan.Unchanged: 5}
	m.Operations, m.Omitted, m.Warnings = nil, 0, nil
	return p
}

func TestPlanMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := PlanMarkdown(&b, samplePlan()); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.md", b.Bytes())
}

func TestPlanMarkdownNoChanges(t *testing.T) {
	var b bytes.Buffer
	if err := PlanMarkdown(&b, noChangesPlan()); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-nochanges.md", b.Bytes())
	for _, want := range []string{": no changes\n", "**No changes.**", "No operations listed."} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no-op plan lacks %q:\n%s", want, b.String())
		}
	}
}

func TestPlanMarkdownEscapes(t *testing.T) {
	var b bytes.Buffer
	if err := PlanMarkdown(&b, hostilePlan()); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-hostile.md", b.Bytes())
	out := b.String()
	for _, bad := range []string{"<script", "<img", "<b>", "<i>", "<!--", "</td>", "[link](javascript", "**bold**", "~~gone~~", "\n| x | y |"} {
		if strings.Contains(out, bad) {
			t.Errorf("output contains %q unescaped", bad)
		}
	}
	// The only HTML is ours, and the only backticks surround our flags.
	for _, tag := range htmlTags(out) {
		switch tag {
		case "details", "/details", "summary", "/summary", "code", "/code":
		default:
			t.Errorf("unexpected HTML tag <%s>", tag)
		}
	}
	if n := strings.Count(out, "`"); n != 6 { // `--full`, `--limit 0`, `--format json`
		t.Errorf("%d backticks, want 6", n)
	}
	// Every table row has exactly its columns.
	cols := 0
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := strings.Count(line, "|")
		if cols == 0 {
			cols = n
		}
		if n != cols {
			t.Errorf("table row has %d pipes, its header %d: %s", n, cols, line)
		}
	}
	if !strings.Contains(out, "*(known after apply)*") {
		t.Error("no (known after apply) placeholder")
	}
}

// htmlTags lists the names of the tags in s, closing tags with their "/".
func htmlTags(s string) []string {
	var tags []string
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return tags
		}
		s = s[i+1:]
		end := strings.IndexAny(s, " >\n")
		if end < 0 {
			end = len(s)
		}
		tags = append(tags, strings.ToLower(s[:end]))
	}
}
