package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
)

// TestReportSaysWhereThePlanStands: a plan with changes reads as changes
// to apply only until its apply begins; an applied plan's page (coupler
// show, serve's /plans/ID) says it was applied and promises no writes.
func TestReportSaysWhereThePlanStands(t *testing.T) {
	for _, tc := range []struct {
		status         plan.Status
		text, html, md string
		sends          bool
	}{
		{plan.Planned, "Apply will send", ">Changes to apply</p>", ": changes to apply", true},
		{plan.Applying, "Being applied: coupler runs shows what was written so far.", ">Changes being applied</p>", ": changes being applied", false},
		{plan.Applied, "Applied: coupler runs shows what was written.", ">Changes applied</p>", ": changes applied", false},
		{plan.Interrupted, "Its apply was interrupted: coupler apply ", ">Apply interrupted</p>", ": apply interrupted", false},
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			p := samplePlan()
			p.Status = tc.status
			var text, html, md bytes.Buffer
			if err := PlanText(&text, p); err != nil {
				t.Fatal(err)
			}
			if err := PlanHTML(&html, p); err != nil {
				t.Fatal(err)
			}
			if err := PlanMarkdown(&md, p); err != nil {
				t.Fatal(err)
			}
			for name, c := range map[string]struct{ out, want string }{"text": {text.String(), tc.text}, "html": {html.String(), tc.html}, "markdown": {md.String(), tc.md}} {
				if !strings.Contains(c.out, c.want) {
					t.Errorf("%s of a plan %s: no %q in\n%s", name, tc.status, c.want, c.out)
				}
			}
			if got := strings.Contains(text.String(), "Apply will send"); got != tc.sends {
				t.Errorf("text of a plan %s says what apply will send: %v, want %v", tc.status, got, tc.sends)
			}
			if tc.status != plan.Planned && (strings.Contains(html.String(), "Changes to apply") || strings.Contains(md.String(), "changes to apply")) {
				t.Errorf("a plan %s still reads as changes to apply", tc.status)
			}
		})
	}
}

// TestPlanJSONListsAreNeverNull: a part with nothing listed has
// "operations": [], so that a script can range over it without a check.
func TestPlanJSONListsAreNeverNull(t *testing.T) {
	p := noChangesPlan()
	for _, m := range p.Mappings {
		m.Operations = nil
	}
	var b bytes.Buffer
	if err := PlanJSON(&b, p); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "null") || !strings.Contains(b.String(), `"operations": []`) {
		t.Errorf("a part with no operations listed:\n%s", b.String())
	}
}
