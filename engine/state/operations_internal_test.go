package state

import (
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
)

// TestOperationsChangesInOrderHoweverStored: an apply batch's operations
// get their own changes, sorted by field, whatever order the rows are
// stored in. The diff stores them by seq, in the mapping's field order;
// attachChanges reads them unsorted and puts them in order itself.
func TestOperationsChangesInOrderHoweverStored(t *testing.T) {
	ctx := t.Context()
	d := openTestDB(t)
	part, id := numberTestPart(t, d)
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
	err := d.Operations(ctx, part, 0, 10, plan.Writes, func(op plan.Operation) error {
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

// TestOperationsBatchesSkipOtherKinds: an apply's batch of at most limit
// operations of the kinds it asks for, after a seq, is the next limit of
// them in seq order, however many operations of other kinds (failures,
// skips) lie between them: the first seqs after the batch's start are
// read first, and the rest after them.
func TestOperationsBatchesSkipOtherKinds(t *testing.T) {
	ctx := t.Context()
	d := openTestDB(t)
	// Creates 1-3, failures 4-7, deletes 8-10 (PlanDeletes numbers them
	// after every other operation).
	if _, err := d.db.ExecContext(ctx, `INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id)
		SELECT 'p1', 'CUSTOMER', 'to_integration', i, CASE WHEN i <= 3 THEN 'create' WHEN i <= 7 THEN 'fail' ELSE 'delete' END, 'C' || i
		FROM range(1, 11) t(i)`); err != nil {
		t.Fatal(err)
	}
	part := Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration"}
	for _, tc := range []batchCase{
		{after: 0, limit: 3, want: []int64{1, 2, 3}},
		{after: 0, limit: 4, want: []int64{1, 2, 3, 8}},
		{after: 2, limit: 2, want: []int64{3, 8}},
		{after: 3, limit: 4, want: []int64{8, 9, 10}},
		{after: 3, limit: 1, want: []int64{8}},
		{after: 8, limit: 5, want: []int64{9, 10}},
		{after: 10, limit: 5, want: nil},
		{after: 0, limit: -1, want: []int64{1, 2, 3, 8, 9, 10}},
		// The window's end would pass the largest seq there is.
		{after: math.MaxInt64 - 2, limit: 5, want: nil},
	} {
		tc.check(t, d, part)
	}
}

// openTestDB opens a new state database for a test or benchmark, closed
// when it ends.
func openTestDB(tb testing.TB) *DB {
	tb.Helper()
	d, err := Open(tb.Context(), filepath.Join(tb.TempDir(), "state.duckdb"), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// numberTestPart numbers part p1/CUSTOMER/to_integration of d for its
// changes.
func numberTestPart(t *testing.T, d *DB) (Part, int64) {
	t.Helper()
	part := Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration"}
	id, err := numberPart(t.Context(), d.db, part)
	if err != nil {
		t.Fatal(err)
	}
	return part, id
}

// TestOperationsLeaveOtherKindsChangesUnread: the changes of operations
// of kinds not asked for that share the range read are not kept. Apply
// reads a part's failures and conflicts at its start, and their range
// holds every change of the plan's creates and updates (the diff numbers
// failures after them): kept, a plan of 100,000 records of ten fields
// cost a million changes' memory before the first batch. Reading ten
// failures after 2,000 creates must allocate well under what reading
// the creates does.
func TestOperationsLeaveOtherKindsChangesUnread(t *testing.T) {
	ctx := t.Context()
	d := openTestDB(t)
	part, id := numberTestPart(t, d)
	for _, q := range []string{
		`INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id)
			SELECT 'p1', 'CUSTOMER', 'to_integration', i, CASE WHEN i <= 2000 THEN 'create' ELSE 'fail' END, 'C' || i
			FROM range(1, 2011) t(i)`,
		`INSERT INTO plan_change_values SELECT $1, i, 'field' || f, NULL, '"value ' || i || ' of field ' || f || '"'
			FROM range(1, 2001) t(i), range(10) u(f) ORDER BY i, f`,
	} {
		if _, err := d.db.ExecContext(ctx, q, id); err != nil {
			t.Fatal(err)
		}
	}
	// Not parallel: the bytes allocated are the whole process's.
	read := func(kinds []plan.Kind, want int) uint64 {
		t.Helper()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		n := 0
		if err := d.Operations(ctx, part, 0, -1, kinds, func(plan.Operation) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if n != want {
			t.Fatalf("kinds %v: %d operations, want %d", kinds, n, want)
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	failures := read([]plan.Kind{plan.Fail, plan.Conflict}, 10)
	creates := read(plan.Writes, 2000)
	if failures > creates/2 {
		t.Errorf("reading 10 failures allocated %d bytes, reading the 2,000 creates before them %d: the creates' changes were kept", failures, creates)
	}
}

// TestOperationsBatchesAcrossGaps: a batch whose first range is short
// (failures between its creates, conflicts among its updates) is filled
// from the ranges after it, however far the next operation asked for
// lies, and in seq order.
func TestOperationsBatchesAcrossGaps(t *testing.T) {
	ctx := t.Context()
	d := openTestDB(t)
	part := Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration"}
	// Creates 1-3, a thousand failures, deletes 1004-1006, then updates
	// 1007-1020 with conflicts at 1010 and 1015.
	if _, err := d.db.ExecContext(ctx, `INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id)
		SELECT 'p1', 'CUSTOMER', 'to_integration', i, CASE WHEN i <= 3 THEN 'create' WHEN i <= 1003 THEN 'fail' WHEN i <= 1006 THEN 'delete'
			WHEN i IN (1010, 1015) THEN 'conflict' ELSE 'update' END, 'C' || i
		FROM range(1, 1021) t(i)`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []batchCase{
		{after: 0, limit: 5, want: []int64{1, 2, 3, 1004, 1005}},
		{after: 3, limit: 2, want: []int64{1004, 1005}},
		{after: 1006, limit: 3, want: []int64{1007, 1008, 1009}},
		{after: 1008, limit: 3, want: []int64{1009, 1011, 1012}},
		{after: 1009, limit: 6, want: []int64{1011, 1012, 1013, 1014, 1016, 1017}},
		{after: 1019, limit: 5, want: []int64{1020}},
		{after: 1020, limit: 5, want: nil},
	} {
		tc.check(t, d, part)
	}
}

// batchCase is one batch an apply could ask for: the operations of the
// kinds it writes after a seq, at most limit of them, and the seqs it
// must get.
type batchCase struct {
	after int64
	limit int
	want  []int64
}

func (tc batchCase) check(t *testing.T, d *DB, part Part) {
	t.Helper()
	var got []int64
	err := d.Operations(t.Context(), part, tc.after, tc.limit, plan.Writes, func(op plan.Operation) error {
		got = append(got, op.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, tc.want) {
		t.Errorf("after %d, limit %d: seqs %v, want %v", tc.after, tc.limit, got, tc.want)
	}
}
