package state

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
)

// TestPackedCreatesReadAsRows: a part's creates and restores, their
// changes packed into plan_create_values (schema version 14), read back
// through Operations and the plan_changes and operations views as the
// same part's do when a field's name holds a separator and every change
// is a row of plan_change_values: the same values, NULLs and empty
// strings, a lookup known after apply, the same order of fields (bytes,
// not case or letters), a NotNull field left out, and the part's update
// beside them a row a change either way.
func TestPackedCreatesReadAsRows(t *testing.T) {
	ctx := t.Context()
	str := func(s string) *string { return &s }
	// As canonical (engine/values.go) writes it: its NULs, and the
	// separator in the id, escaped.
	placeholder, err := json.Marshal(plan.KnownAfterApply{Mapping: "CURRENCY", Side: plan.SideTable, ID: "EU\x1eR"}.Placeholder())
	if err != nil {
		t.Fatal(err)
	}
	fields := []DestField{{Name: "name"}, {Name: "Zip"}, {Name: "éclair"}, {Name: "Eclair"}, {Name: "kept", NotNull: true}, {Name: "currency"}}
	source := []Row{
		{Key: "C1", InFilter: true, Values: []*string{str(`"Quote \" tab \t sep \u001e\u001f nul \u0000 é 😀"`), str(`""`), nil, str(`12.5`), nil, str(string(placeholder))}},
		{Key: "C2", InFilter: true, Values: []*string{str(`"Restored"`), nil, str(`true`), str(`{"a":[1,null]}`), str(`"k"`), nil}},
		{Key: "C3", InFilter: true, Values: []*string{str(`"New name"`), str(`"1000"`), nil, nil, str(`"k"`), nil}},
	}
	dest := []Row{{Key: "A3", InFilter: true, Values: []*string{str(`"Old name"`), str(`"1000"`), nil, nil, str(`"k"`), nil}}}
	type result struct {
		ops  string
		view []string
		rows map[string]string
	}
	diff := func(fields []DestField) result {
		d := openTestDB(t)
		if _, err := d.db.ExecContext(ctx, `INSERT INTO couplings (mapping, table_id, integration_id, coupled_at) VALUES
			('CUSTOMER', 'C2', 'A2-gone', TIMESTAMP '2026-12-01 09:00:00'), ('CUSTOMER', 'C3', 'A3', TIMESTAMP '2026-12-01 09:00:00')`); err != nil {
			t.Fatal(err)
		}
		extra := len(fields) - len(source[0].Values)
		for role, rows := range map[Role][]Row{SourceRows: source, DestRows: dest} {
			s, err := d.NewStage(ctx, role, fields, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				for range extra {
					r.Values = append(slices.Clip(r.Values), str(`"extra"`))
				}
				if err := s.Append(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		spec := DiffSpec{Part: Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration"}, SourceIsTable: true, Fields: fields,
			DestEntity: "accounts", DeletePolicy: "restore"}
		counts, err := d.Diff(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if counts[plan.Create] != 1 || counts[plan.Restore] != 1 || counts[plan.Update] != 1 {
			t.Fatalf("counts %v, want a create, a restore and an update", counts)
		}
		var out result
		var ops []plan.Operation
		if err := d.Operations(ctx, spec.Part, 0, -1, plan.Kinds, func(op plan.Operation) error {
			op.Changes = withoutSeparated(op.Changes)
			ops = append(ops, op)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		out.ops = showChanges(ops)
		// An apply's batches: one operation at a time, of every kind or
		// of some, each with its own changes.
		for _, kinds := range [][]plan.Kind{plan.Kinds, {plan.Restore}, {plan.Update, plan.Create}} {
			var batched []plan.Operation
			for after, n := int64(0), 1; n > 0; {
				n = 0
				if err := d.Operations(ctx, spec.Part, after, 1, kinds, func(op plan.Operation) error {
					op.Changes = withoutSeparated(op.Changes)
					batched = append(batched, op)
					after, n = op.Seq, n+1
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			want := slices.DeleteFunc(slices.Clone(ops), func(op plan.Operation) bool { return !slices.Contains(kinds, op.Kind) })
			if !reflect.DeepEqual(batched, want) {
				t.Errorf("%v one at a time:\n%s\nwant\n%s", kinds, showChanges(batched), showChanges(want))
			}
		}
		for _, view := range []string{"plan_changes", "operations"} {
			rs, err := d.db.QueryContext(ctx, `SELECT seq, field, coalesce(before, 'NULL'), coalesce(after, 'NULL') FROM `+view+` WHERE NOT contains(field, chr(31)) ORDER BY seq, field`)
			if err != nil {
				t.Fatal(err)
			}
			for rs.Next() {
				var seq int64
				var field, before, after string
				if err := rs.Scan(&seq, &field, &before, &after); err != nil {
					t.Fatal(err)
				}
				out.view = append(out.view, fmt.Sprintf("%s %d %q %s -> %s", view, seq, field, before, after))
			}
			if err := rs.Err(); err != nil {
				t.Fatal(err)
			}
			rs.Close()
		}
		out.rows = map[string]string{}
		for _, table := range []string{"plan_change_values", "plan_create_values"} {
			var n int
			if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out.rows[table] = fmt.Sprint(n)
		}
		return out
	}
	packed := diff(fields)
	rows := diff(append(slices.Clone(fields), DestField{Name: "x\x1fy"}))
	if want := map[string]string{"plan_change_values": "1", "plan_create_values": "2"}; !reflect.DeepEqual(packed.rows, want) {
		t.Errorf("packed, the tables hold %v rows, want %v", packed.rows, want)
	}
	if want := map[string]string{"plan_change_values": "14", "plan_create_values": "0"}; !reflect.DeepEqual(rows.rows, want) {
		t.Errorf("a field's name with a separator, the tables hold %v rows, want %v", rows.rows, want)
	}
	if packed.ops != rows.ops {
		t.Errorf("Operations, packed:\n%s\nwant as rows:\n%s", packed.ops, rows.ops)
	}
	if !slices.Equal(packed.view, rows.view) {
		t.Errorf("the views, packed:\n%s\nwant as rows:\n%s", strings.Join(packed.view, "\n"), strings.Join(rows.view, "\n"))
	}
}

// withoutSeparated is changes without those of fields whose name holds
// U+001F, which TestPackedCreatesReadAsRows adds to keep changes unpacked.
func withoutSeparated(changes []plan.Change) []plan.Change {
	return slices.DeleteFunc(slices.Clone(changes), func(c plan.Change) bool { return strings.Contains(c.Field, "\x1f") })
}

// TestPackedCreateWithNothingToWrite: a create whose every field is
// not_null and NULL writes no field. It has no row in plan_create_values
// and reads back without a change, beside a create that writes one.
func TestPackedCreateWithNothingToWrite(t *testing.T) {
	ctx := t.Context()
	d := openTestDB(t)
	str := func(s string) *string { return &s }
	fields := []DestField{{Name: "name", NotNull: true}, {Name: "city", NotNull: true}}
	stageRows(t, d, SourceRows, fields, Row{Key: "C1", InFilter: true, Values: []*string{nil, nil}}, Row{Key: "C2", InFilter: true, Values: []*string{nil, str(`"Oslo"`)}})
	stageRows(t, d, DestRows, fields)
	spec := DiffSpec{Part: Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration"}, SourceIsTable: true, Fields: fields, DestEntity: "accounts"}
	if _, err := d.Diff(ctx, spec); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := d.Operations(ctx, spec.Part, 0, -1, plan.Kinds, func(op plan.Operation) error {
		got[op.SourceID] = fmt.Sprint(op.Kind, " ", len(op.Changes))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"C1": "create 0", "C2": "create 1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("operations and their changes: %v, want %v", got, want)
	}
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM plan_create_values`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("plan_create_values holds %d rows, want 1: the create with nothing to write has none", n)
	}
}
