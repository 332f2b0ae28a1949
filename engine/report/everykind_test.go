package report

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
)

// everyKindPlan has one listed operation of every kind, so that each view
// is pinned for all of them.
func everyKindPlan() *plan.Plan {
	p := samplePlan()
	m := p.Mappings[0]
	change := func(field, before, after string) plan.Change {
		c := plan.Change{Field: field, After: json.RawMessage(after)}
		if before != "" {
			c.Before = json.RawMessage(before)
		}
		return c
	}
	m.Operations = []plan.Operation{
		{Seq: 1, Kind: plan.Create, SourceID: "c-1", Changes: []plan.Change{change("name", "", `"New Ltd"`)}},
		{Seq: 2, Kind: plan.Couple, SourceID: "c-2", DestID: "a-2", Reason: "matched on number = accountnumber",
			Changes: []plan.Change{change("name", `"Old"`, `"Matched Ltd"`)}},
		{Seq: 3, Kind: plan.Update, SourceID: "c-3", DestID: "a-3", Changes: []plan.Change{
			change("telephone1", `null`, `"+1 425 555 0199"`),
			change("parentcustomerid", `"x"`, `"\u0000known after apply\u0000CUSTOMER\u0000t\u0000c-9"`)}},
		{Seq: 4, Kind: plan.Restore, SourceID: "c-4", DestID: "a-4", Reason: "the coupled accounts record was deleted: restored by conflicts.delete: restore",
			Changes: []plan.Change{change("name", "", `"Restored Ltd"`)}},
		{Seq: 5, Kind: plan.Delete, SourceID: "c-5", DestID: "a-5", Reason: "the source record was deleted (propagate_deletes)"},
		{Seq: 6, Kind: plan.Uncouple, SourceID: "c-6", DestID: "a-6", Reason: "the coupled accounts record was deleted: coupling removed by conflicts.delete: remove_coupling"},
		{Seq: 7, Kind: plan.Conflict, SourceID: "c-7", DestID: "a-7", Reason: `changed on both sides since the last sync: the table side would write name "A" -> "B" to the integration, the integration side displayName "A" -> "C" to the table; set conflicts.update to settle such conflicts`},
		{Seq: 8, Kind: plan.Fail, SourceID: "c-8", Reason: `field salespersonCode -> ownerid: no SALESPEOPLE coupling for table id "ZZ"`},
		{Seq: 9, Kind: plan.Skip, SourceID: "c-9", Reason: "left out by filter"},
		{Seq: 10, Kind: plan.Unchanged, SourceID: "c-10", DestID: "a-10"},
		{Seq: 11, Kind: plan.Settled, SourceID: "c-11", DestID: "a-11", Reason: `conflict settled by conflicts.update: get_from_integration: ` +
			`the integration side (dataverse) wins, the table side (bc)'s values are dropped: name "CRM name" kept, "ERP name" dropped`,
			Changes: []plan.Change{change("creditlimit", `1000`, `2500`)}},
		{Seq: 12, Kind: plan.Skipped, SourceID: "c-12", DestID: "a-12", Reason: `skipped: failed 2 runs in a row with: field city: boom; coupler retry CUSTOMER c-12 to try again once fixed`},
	}
	m.Counts = plan.Counts{}
	for _, op := range m.Operations {
		m.Counts[op.Kind]++
	}
	m.Omitted = 0
	return p
}

func TestEveryKindGolden(t *testing.T) {
	for _, v := range []struct {
		name   string
		render func(*bytes.Buffer, *plan.Plan) error
	}{
		{"every-kind.txt", func(b *bytes.Buffer, p *plan.Plan) error { return PlanText(b, p) }},
		{"every-kind.json", func(b *bytes.Buffer, p *plan.Plan) error { return PlanJSON(b, p) }},
		{"every-kind.md", func(b *bytes.Buffer, p *plan.Plan) error { return PlanMarkdown(b, p) }},
	} {
		t.Run(v.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := v.render(&b, everyKindPlan()); err != nil {
				t.Fatal(err)
			}
			for _, k := range plan.Kinds {
				if k == plan.Skip || k == plan.Unchanged {
					continue // counted, listed only on request
				}
				if !bytes.Contains(b.Bytes(), []byte(k)) {
					t.Errorf("%s does not mention %s", v.name, k)
				}
			}
			known := "known after apply"
			if v.name == "every-kind.json" {
				known = `"known_after_apply": {` // the schema's form
			}
			if !bytes.Contains(b.Bytes(), []byte(known)) {
				t.Errorf("%s does not show the lookup known after apply", v.name)
			}
			golden(t, v.name, b.Bytes())
		})
	}
}
