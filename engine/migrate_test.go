package engine_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/engine/state/location"
	"github.com/couplerhq/coupler/engine/state/pgtest"
	"github.com/couplerhq/coupler/mappings"
)

// TestStateMigrateRoundTrip: the state a real sync made (creates,
// couplings, a record failing until it is skipped, an acknowledged first
// sync, watermarks, kept definitions, plans with their operations and
// changes, runs with their records) goes into PostgreSQL and back into a
// new DuckDB file, which then holds every row of every table the first
// one held, column for column, and goes on syncing from where it was.
func TestStateMigrateRoundTrip(t *testing.T) {
	t.Parallel()
	w := worldWithMapping(t, 12, `  - { field: city, integration_field: description, to_integration: 'value == "Boom" ? int("x") : value' }`)
	acknowledgeFirstSync(t, w.e)
	bad := w.erp.All("customers")[3]
	if err := w.erp.Patch("customers", bad["id"].(string), map[string]any{"city": "Boom"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w.apply(w.plan(engine.PlanOptions{}).ID)
	}
	if _, err := w.e.Plan(t.Context(), engine.PlanOptions{Name: "pending"}); err != nil {
		t.Fatal(err)
	}
	project := w.e.Program().Project
	runsBefore, err := w.e.Runs(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	w.e.Close()

	original := project.State
	pg := location.Location{URL: pgtest.Database(t), Schema: "tenant_a"}
	there, err := engine.MigrateState(t.Context(), project, engine.MigrateOptions{To: pg})
	if err != nil {
		t.Fatal(err)
	}
	back := location.Location{Path: filepath.Join(t.TempDir(), "back.duckdb")}
	again, err := engine.MigrateState(t.Context(), project, engine.MigrateOptions{From: pg, To: back})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(there.Tables, again.Tables) || there.LastRunID != again.LastRunID {
		t.Errorf("the copy back differs from the copy there:\n%+v (last run %d)\n%+v (last run %d)", there.Tables, there.LastRunID, again.Tables, again.LastRunID)
	}
	if got := there.Table("couplings").Rows; got != 11 {
		t.Errorf("%d couplings copied, want 11 (12 customers, one failing)", got)
	}

	// Every table of the file, as DuckDB reads it: what the copy left
	// out, a table or a column, would show.
	tables := dumpTables(t, original)
	for _, name := range []string{"couplings", "watermarks", "mapping_definitions", "first_sync_acks", "plans", "plan_mappings",
		"plan_fields", "plan_parts", "plan_operations", "plan_changes", "plan_unchanged", "runs", "run_records", "record_failures"} {
		if len(tables[name]) == 0 {
			t.Errorf("the sync left table %s empty: the test copies nothing of it", name)
		}
	}
	copied := dumpTables(t, back.Path)
	for name, rows := range tables {
		if !reflect.DeepEqual(rows, copied[name]) {
			t.Errorf("table %s after the round trip:\n%s\nwant:\n%s", name, strings.Join(copied[name], "\n"), strings.Join(rows, "\n"))
		}
	}
	if len(copied) != len(tables) {
		t.Errorf("the copy has %d tables, the original %d", len(copied), len(tables))
	}

	// The copy is the project's state now: the sync goes on from it.
	for _, f := range []string{original, original + ".wal"} {
		os.Remove(f)
	}
	if err := os.Rename(back.Path, original); err != nil {
		t.Fatal(err)
	}
	e, _, err := engine.OpenProject(t.Context(), w.dir, w.load, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.e = e
	t.Cleanup(func() { e.Close() })
	runsAfter, err := e.Runs(t.Context(), 100)
	if err != nil || !reflect.DeepEqual(runsAfter, runsBefore) {
		t.Errorf("runs after the round trip = %+v, %v; want %+v", runsAfter, err, runsBefore)
	}
	p := w.plan(engine.PlanOptions{})
	if c := counts(p); c[plan.Create] != 0 || c[plan.Update] != 0 || c[plan.Skipped] != 1 {
		t.Errorf("plan after the round trip: %v; want nothing to write and the failing record still skipped", c)
	}
	w.apply(p.ID)
	runs, err := e.Runs(t.Context(), 1)
	if err != nil || len(runs) != 1 || runs[0].ID <= there.LastRunID {
		t.Errorf("the next run = %+v, %v; want an id past the copied last run %d", runs, err, there.LastRunID)
	}
}

// dumpTables reads every table of the DuckDB state file at path, each
// row as text with every column, in order.
func dumpTables(t *testing.T, path string) map[string][]string {
	t.Helper()
	var names []string
	// plan_changes is a view over three tables (plan_change_parts numbers
	// the parts of plans in the order they were diffed or copied, and a
	// create's changes come back a row each, not packed): the view is
	// what must survive a round trip.
	err := state.Query(t.Context(), path, `SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()
		AND table_name NOT IN ('meta', 'plan_change_parts', 'plan_change_values', 'plan_create_values') UNION ALL SELECT 'plan_changes' ORDER BY 1`,
		func(_ []string, row []any) error {
			if row != nil {
				names = append(names, row[0].(string))
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, name := range names {
		out[name] = []string{}
		err := state.Query(t.Context(), path, `SELECT * FROM "`+name+`" ORDER BY ALL`, func(cols []string, row []any) error {
			if row != nil {
				var b strings.Builder
				for i, v := range row {
					fmt.Fprintf(&b, "%s=%v ", cols[i], v)
				}
				out[name] = append(out[name], b.String())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestStateMigrateRefusals: a source with write intents pending and a
// destination that holds a state are refused with what to do, and a
// DuckDB file made for the copy is removed again; a state is not copied
// onto itself.
func TestStateMigrateRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "state.duckdb")
	db, err := state.Open(t.Context(), src, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CoupleOne(t.Context(), "CUSTOMER", "c1", "a1"); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordIntents(t.Context(), []state.Intent{{RunID: 1, PlanID: "p", Mapping: "CUSTOMER", Direction: "to_integration",
		Seq: 1, Op: "create", SourceID: "c2", Fields: "{}", CreatedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	project := &mappings.Project{State: src}

	made := filepath.Join(dir, "new.duckdb")
	_, err = engine.MigrateState(t.Context(), project, engine.MigrateOptions{To: location.Location{Path: made}})
	if !errors.Is(err, state.ErrIntentsPending) || !strings.Contains(err.Error(), "settle them first: run coupler plan") {
		t.Errorf("migrate with an intent pending: %v; want ErrIntentsPending saying how to settle it", err)
	}
	if _, serr := os.Stat(made); !errors.Is(serr, fs.ErrNotExist) {
		t.Errorf("the refused migrate left %s behind: %v", made, serr)
	}

	// A destination holding a coupling (the source, intents dropped, is
	// copied once; then again).
	db, err = state.Open(t.Context(), src, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DropIntents(t.Context(), 1, []int64{1}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	dst := location.Location{Path: filepath.Join(dir, "copy.duckdb")}
	if _, err := engine.MigrateState(t.Context(), project, engine.MigrateOptions{To: dst}); err != nil {
		t.Fatal(err)
	}
	_, err = engine.MigrateState(t.Context(), project, engine.MigrateOptions{To: dst})
	if !errors.Is(err, state.ErrNotEmpty) || !strings.Contains(err.Error(), "(1 couplings)") || !strings.Contains(err.Error(), "add --force") {
		t.Errorf("migrate into a state: %v; want ErrNotEmpty naming what it holds and --force", err)
	}
	if _, err := os.Stat(dst.Path); err != nil {
		t.Errorf("the refused migrate removed the destination it did not make: %v", err)
	}
	if res, err := engine.MigrateState(t.Context(), project, engine.MigrateOptions{To: dst, Force: true}); err != nil || len(res.Replaced) != 1 {
		t.Errorf("migrate --force = %+v, %v", res, err)
	}

	_, err = engine.MigrateState(t.Context(), project, engine.MigrateOptions{From: dst, To: dst})
	if err == nil || !strings.Contains(err.Error(), "the destination is the source state itself") {
		t.Errorf("migrate onto itself: %v", err)
	}
}
