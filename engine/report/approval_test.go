package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// TestApprovalInEveryFormat checks that a plan that needs approval says so
// in text, JSON, HTML and Markdown, with its reasons (hostile text kept
// text), and that once approved each format says who approved it.
func TestApprovalInEveryFormat(t *testing.T) {
	p := samplePlan()
	p.Status = plan.Planned
	p.Mappings[0].NeedsApproval = []string{"deletes 2 records in accounts (approval: deletes)", `<script>alert(1)</script> | ** [x](y)`}
	render := func(f func(*bytes.Buffer) error) string {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	formats := map[string]func(*bytes.Buffer) error{
		"text":     func(b *bytes.Buffer) error { return PlanText(b, p) },
		"json":     func(b *bytes.Buffer) error { return PlanJSON(b, p) },
		"html":     func(b *bytes.Buffer) error { return PlanHTML(b, p) },
		"markdown": func(b *bytes.Buffer) error { return PlanMarkdown(b, p) },
	}
	waiting := map[string][]string{
		"text":     {"needs approval: deletes 2 records in accounts (approval: deletes)", "Waiting for approval: coupler serve applies this plan once a person approves it (coupler approve " + p.ID},
		"json":     {`"needs_approval": [`, `"deletes 2 records in accounts (approval: deletes)"`},
		"html":     {`<div id="approval" class="approval" data-approved="false"><p>Waiting for approval`, "deletes 2 records in accounts", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		"markdown": {"> [!IMPORTANT]\n> Waiting for approval", "deletes 2 records in accounts"},
	}
	for name, f := range formats {
		out := render(f)
		for _, want := range waiting[name] {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in\n%s", name, want, out)
			}
		}
		if name == "html" && strings.Contains(out, "<script>alert") {
			t.Errorf("html: the hostile reason is markup")
		}
	}
	p.Approved = &plan.Approval{By: "ana", At: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)}
	approved := map[string]string{
		"text":     "Approved by ana at 2026-12-01T09:30:00Z.",
		"json":     `"approved": {` + "\n" + `    "by": "ana",` + "\n" + `    "at": "2026-12-01T09:30:00Z"`,
		"html":     `data-approved="true"><p>Approved by ana at 2026-12-01T09:30:00Z.`,
		"markdown": "> [!NOTE]\n> Approved by ana at 2026-12-01T09:30:00Z.",
	}
	for name, f := range formats {
		if out := render(f); !strings.Contains(out, approved[name]) || strings.Contains(out, "Waiting for approval") {
			t.Errorf("%s: want %q and no waiting in\n%s", name, approved[name], out)
		}
	}
	p.Mappings[0].NeedsApproval = nil
	for name, f := range formats {
		if out := render(f); strings.Contains(out, "pproval") && name != "html" {
			t.Errorf("%s: a plan that needs no approval mentions approval:\n%s", name, out)
		}
	}
}
