package state

import (
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
)

// TestDiffRefusesAPartDiffedTwice: a part of a plan is diffed once. Until
// schema version 13 the keys of plan_unchanged and plan_fields refused a
// second diff of it; without them it would add every operation again
// (plan_operations has had no key since version 10), and apply would
// create each record twice.
func TestDiffRefusesAPartDiffedTwice(t *testing.T) {
	ctx := t.Context()
	d := openTestDB(t)
	name := "Contoso"
	fields := []DestField{{Name: "name"}}
	stageRows(t, d, SourceRows, fields, Row{Key: "C1", InFilter: true, Values: []*string{&name}})
	stageRows(t, d, DestRows, fields)
	spec := DiffSpec{Part: Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration"}, SourceIsTable: true, Fields: fields, DestEntity: "accounts"}
	if _, err := d.Diff(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Diff(ctx, spec); err == nil {
		t.Errorf("a second diff of %v succeeded", spec.Part)
	}
	counts, err := d.Counts(ctx, spec.Part)
	if err != nil {
		t.Fatal(err)
	}
	if counts[plan.Create] != 1 || counts[plan.Unchanged] != 0 {
		t.Errorf("counts after a second diff: %v, want the first diff's: 1 create", counts)
	}
}

// stageRows stages rows as role's records, replacing any staged before,
// with as many match values as the first row has.
func stageRows(t *testing.T, d *DB, role Role, fields []DestField, rows ...Row) {
	t.Helper()
	nmatch := 0
	if len(rows) > 0 {
		nmatch = len(rows[0].Match)
	}
	s, err := d.NewStage(t.Context(), role, fields, nmatch)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
