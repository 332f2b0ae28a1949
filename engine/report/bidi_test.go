package report

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
)

// Ids, messages and values come from the servers. A right-to-left override
// (U+202E) or another invisible formatting character shown raw makes
// "gpj.exe" read as "exe.jpg", or two different ids look the same: every
// renderer escapes them, as it escapes control characters.
func TestFormatCharactersEscaped(t *testing.T) {
	p := samplePlan()
	m := p.Mappings[0]
	m.Operations = append(m.Operations,
		plan.Operation{Seq: 9, Kind: plan.Update, SourceID: "inv\u202Egpj.exe", DestID: "a\u200B-9", Reason: "r\u2066x\u2069", Changes: []plan.Change{
			{Field: "name", Before: json.RawMessage(`"old"`), After: json.RawMessage("\"x\u202Ey\u2028z\"")},
		}})
	hidden := "\u202E\u200B\u2066\u2069\u2028"
	for name, render := range map[string]func(io.Writer, *plan.Plan) error{"text": PlanText, "markdown": PlanMarkdown, "html": PlanHTML} {
		var b bytes.Buffer
		if err := render(&b, p); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if i := strings.IndexAny(out, hidden); i >= 0 {
			t.Errorf("%s: a formatting character is shown raw: %q", name, out[max(0, i-20):min(len(out), i+20)])
		}
		want := `inv\u202egpj.exe`
		if name == "markdown" {
			want = `inv\\u202egpj.exe` // Markdown's own escape of the backslash
		}
		if !strings.Contains(out, want) {
			t.Errorf("%s: the id with U+202E is not shown escaped", name)
		}
	}
}
