package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/couplerhq/coupler/engine/plan"
)

// manyMappings is a plan of n mappings, each with the same first-read
// warning and ops listed updates of a few fields each.
func manyMappings(n, ops int) *plan.Plan {
	p := samplePlan()
	p.Mappings = nil
	for i := range n {
		m := &plan.MappingPlan{
			Name: fmt.Sprintf("MAPPING %02d", i), Direction: "to_integration",
			Source: plan.Endpoint{Side: plan.SideTable, Connector: "bc", Entity: "customers", Key: "id"},
			Dest:   plan.Endpoint{Side: plan.SideIntegration, Connector: "dataverse", Entity: "accounts", Key: "accountid"},
			Read:   int64(ops), Counts: plan.Counts{plan.Update: int64(ops)},
			Warnings: []string{"no watermark yet: every record was read; later plans read only what changed"},
		}
		for j := range ops {
			m.Operations = append(m.Operations, plan.Operation{Seq: int64(j + 1), Kind: plan.Update,
				SourceID: fmt.Sprintf("c-%d-%d", i, j), DestID: fmt.Sprintf("a-%d-%d", i, j),
				SourceDisplay: plan.Display{{Field: "displayName", Value: json.RawMessage(`"Customer ` + fmt.Sprint(j) + `"`)}},
				Changes: []plan.Change{
					{Field: "name", Before: json.RawMessage(`"Old name"`), After: json.RawMessage(`"New name"`)},
					{Field: "address1_city", Before: json.RawMessage(`"Oslo"`), After: json.RawMessage(`"Lyon"`)},
				}})
		}
		p.Mappings = append(p.Mappings, m)
	}
	return p
}

// TestMarkdownGroupsRepeatedWarnings: the same warning on 16 mappings is
// said once, with how many and which mappings; a warning of one mapping is
// said as before.
func TestMarkdownGroupsRepeatedWarnings(t *testing.T) {
	p := manyMappings(16, 1)
	p.Mappings[3].Warnings = append(p.Mappings[3].Warnings, "3 of 5 records read would change (60%): check the mapping before applying")
	var b bytes.Buffer
	if err := PlanMarkdown(&b, p); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, "no watermark yet"); n != 1 {
		t.Errorf("the repeated warning is said %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "> - no watermark yet: every record was read; later plans read only what changed (16 mappings: MAPPING 00 (to\\_integration), MAPPING 01 (to\\_integration),") {
		t.Errorf("the grouped warning does not count and name its mappings:\n%s", out)
	}
	if !strings.Contains(out, "> - MAPPING 03 (to\\_integration): 3 of 5 records read would change") {
		t.Errorf("a warning of one mapping is not said as before:\n%s", out)
	}
}

// TestMarkdownStaysUnderTheCommentLimit: a plan far larger than a
// pull-request comment (65,536 characters) is cut to fit, with every
// mapping still in the summary table, the Markdown well formed, and a
// pointer saying how many operations are left out and how to see them.
func TestMarkdownStaysUnderTheCommentLimit(t *testing.T) {
	p := manyMappings(20, 500)
	var b bytes.Buffer
	if err := PlanMarkdown(&b, p); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := utf8.RuneCountInString(out); n > MarkdownLimit {
		t.Fatalf("%d characters, over the limit of %d", n, MarkdownLimit)
	}
	if n := len(out); n < MarkdownLimit*3/4 {
		t.Errorf("only %d bytes: the cut leaves too much room unused", n)
	}
	for _, m := range p.Mappings {
		if !strings.Contains(out, "| "+m.Name+" |") {
			t.Errorf("summary table lacks %s", m.Name)
		}
	}
	if o, c := strings.Count(out, "<details>"), strings.Count(out, "</details>"); o != c {
		t.Errorf("%d <details> and %d </details>", o, c)
	}
	shown := strings.Count(out, "**\\~ update**")
	left := 20*500 - shown
	want := fmt.Sprintf("… %s more operations not shown, to stay within a comment's 65,536 characters: run `coupler show %s` for all.", thousands(int64(left)), p.ID)
	if !strings.Contains(out, want) {
		t.Errorf("no pointer %q in the tail:\n%s", want, out[len(out)-600:])
	}

	// A plan that fits is not cut.
	small := manyMappings(2, 3)
	b.Reset()
	if err := PlanMarkdown(&b, small); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "not shown, to stay within") {
		t.Error("a small plan is cut")
	}
}
