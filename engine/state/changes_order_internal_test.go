package state

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
)

// TestOperationsChangesInOrderHoweverStored: an apply batch's operations
// get their own changes, sorted by field, whatever order the rows are
// stored in. The diff stores them by seq, in the mapping's field order;
// attachChanges reads them unsorted and puts them in order itself.
func TestOperationsChangesInOrderHoweverStored(t *testing.T) {
	ctx := t.Context()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "state.duckdb"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	part := Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration"}
	id, err := numberPart(ctx, d.db, part)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id) VALUES
			('p1', 'CUSTOMER', 'to_integration', 1, 'create', 'C1'),
			('p1', 'CUSTOMER', 'to_integration', 2, 'fail', 'C2'),
			('p1', 'CUSTOMER', 'to_integration', 3, 'update', 'C3'),
			('p1', 'CUSTOMER', 'to_integration', 4, 'create', 'C4'),
			('p1', 'CUSTOMER', 'to_integration', 5, 'update', 'C5')`,
		// Out of seq order, the fields of each out of name order, and
		// changes of seq 2, a failure, which the batch does not ask for.
		`INSERT INTO plan_change_values VALUES
			($1, 4, 'name', NULL, '"Four"'),
			($1, 3, 'phone', '"1"', '"2"'),
			($1, 1, 'name', NULL, '"One"'),
			($1, 2, 'name', NULL, '"Two"'),
			($1, 3, 'city', NULL, '"Paris"'),
			($1, 1, 'city', NULL, 'null'),
			($1, 4, 'city', NULL, '"Rome"'),
			($1, 6, 'name', NULL, '"Six, of another batch"')`,
	} {
		if _, err := d.db.ExecContext(ctx, q, id); err != nil {
			t.Fatal(err)
		}
	}
	var got []plan.Operation
	err = d.Operations(ctx, part, 0, 10, plan.Writes, func(op plan.Operation) error {
		got = append(got, plan.Operation{Seq: op.Seq, Changes: op.Changes})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	change := func(field, before, after string) plan.Change {
		c := plan.Change{Field: field, After: []byte(after)}
		if before != "" {
			c.Before = []byte(before)
		}
		return c
	}
	want := []plan.Operation{
		{Seq: 1, Changes: []plan.Change{change("city", "", "null"), change("name", "", `"One"`)}},
		{Seq: 3, Changes: []plan.Change{change("city", "", `"Paris"`), change("phone", `"1"`, `"2"`)}},
		{Seq: 4, Changes: []plan.Change{change("city", "", `"Rome"`), change("name", "", `"Four"`)}},
		{Seq: 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("operations:\n got %s\nwant %s", showChanges(got), showChanges(want))
	}
	// Appending to one change's value never writes into another's: they
	// share the blocks they were read into.
	_ = append(got[0].Changes[0].After, `xxxxxxxx`...)
	if string(got[0].Changes[1].After) != `"One"` || string(got[1].Changes[0].After) != `"Paris"` {
		t.Errorf("appending to a value overwrote the next: %s, %s", got[0].Changes[1].After, got[1].Changes[0].After)
	}
}

func showChanges(ops []plan.Operation) string {
	s := ""
	for _, op := range ops {
		s += fmt.Sprintf("%d:", op.Seq)
		for _, c := range op.Changes {
			s += fmt.Sprintf(" %s %s->%s", c.Field, c.Before, c.After)
		}
		s += "; "
	}
	return s
}
