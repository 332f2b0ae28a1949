package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
)

// showPlan is samplePlan, whose create shows its source's display values
// only (the record does not exist on the other side yet) and whose update
// shows both sides', with hostile text in the failed record's.
func showPlan() *plan.Plan {
	p := samplePlan()
	ops := p.Mappings[0].Operations
	ops[2].SourceDisplay = plan.Display{{Field: "displayName", Value: json.RawMessage(`"<b>Fabrikam</b> | *Inc*"`)}, {Field: "creditLimit", Value: json.RawMessage(`5000`)}}
	return p
}

// TestDisplayBesideIDs: every format shows a record's display values on the
// line (text, Markdown) or in the cell (HTML) of its id, escaped for the
// format; JSON carries them as field and value pairs.
func TestDisplayBesideIDs(t *testing.T) {
	render := func(f func(*bytes.Buffer, *plan.Plan) error) string {
		var b bytes.Buffer
		if err := f(&b, showPlan()); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	text := render(func(b *bytes.Buffer, p *plan.Plan) error { return PlanText(b, p) })
	md := render(func(b *bytes.Buffer, p *plan.Plan) error { return PlanMarkdown(b, p) })
	page := render(func(b *bytes.Buffer, p *plan.Plan) error { return PlanHTML(b, p) })
	doc := render(func(b *bytes.Buffer, p *plan.Plan) error { return PlanJSON(b, p) })
	for _, tc := range []struct {
		format, out string
		want        []string
		not         []string
	}{
		{"text", text, []string{
			"customers c-1 (C00010 · Contoso) -> accounts (new)",
			"customers c-2 (C00020 · Adatum Corporation) -> accounts a-2 (C00020 · Adatum)",
			"customers c-4 (<b>Fabrikam</b> | *Inc* · 5000) -> accounts a-4\n",
		}, nil},
		{"markdown", md, []string{
			"customers <code>c-1</code> C00010 · Contoso → accounts (new)",
			"customers <code>c-2</code> C00020 · Adatum Corporation → accounts <code>a-2</code> C00020 · Adatum",
			"<code>c-4</code> &lt;b&gt;Fabrikam&lt;/b&gt; &#124; \\*Inc\\* · 5000 → accounts <code>a-4</code>:",
		}, []string{"<b>Fabrikam"}},
		{"html", page, []string{
			`<td class="id">c-1<span class="show">C00010 · Contoso</span></td>`,
			`<td class="id">a-2<span class="show">C00020 · Adatum</span></td>`,
			`&lt;b&gt;Fabrikam&lt;/b&gt; | *Inc* · 5000`,
			`data-show="C00020 · Adatum Corporation&#10;C00020 · Adatum"`,
		}, []string{"<b>Fabrikam"}},
		{"json", doc, []string{
			`"source_display": [
            {
              "field": "number",
              "value": "C00010"
            },`,
			`"destination_display": [`,
		}, nil},
	} {
		for _, w := range tc.want {
			if !strings.Contains(tc.out, w) {
				t.Errorf("%s lacks %q:\n%s", tc.format, w, tc.out)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(tc.out, n) {
				t.Errorf("%s holds %q unescaped", tc.format, n)
			}
		}
	}
}

// TestWithDisplay: an id with its display values, as coupler errors shows
// it; the id alone without them.
func TestWithDisplay(t *testing.T) {
	for _, tc := range []struct {
		id   string
		d    plan.Display
		want string
	}{
		{"c-1", nil, "c-1"},
		{"c-1", plan.Display{{Field: "number", Value: json.RawMessage(`"C00010"`)}}, "c-1 (C00010)"},
		{"c-1", plan.Display{{Field: "number", Value: json.RawMessage(`"  "`)}}, "c-1"},
		{"c-1", plan.Display{{Field: "name", Value: json.RawMessage(`"a\u001b[2Jb"`)}, {Field: "n", Value: json.RawMessage(`7`)}}, `c-1 (a\x1b[2Jb · 7)`},
	} {
		if got := WithDisplay(tc.id, tc.d); got != tc.want {
			t.Errorf("WithDisplay(%q, %v) = %q, want %q", tc.id, tc.d, got, tc.want)
		}
	}
}
