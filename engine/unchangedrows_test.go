package engine_test

import (
	"testing"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
)

// TestUnchangedRecordsAreCountedNotStored pins that a plan keeps a count of
// its unchanged records, not a row each (issue 16: a no-op plan of 100,000
// records grew the state file by 10 MB): plan_operations and the
// operations view hold none, while the plan, the list of plans and a run
// still count them, and a record coupled since its last sync without its
// version noted gets it noted by apply all the same.
func TestUnchangedRecordsAreCountedNotStored(t *testing.T) {
	t.Parallel()
	const n = 120
	w := newWorld(t, n)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	// Forget the versions noted at create, as a coupling made by hand
	// has none: the next apply must note them from the unchanged records.
	statePath := w.e.State().Path()
	w.e.Close()
	rawExec(t, statePath, `UPDATE couplings SET table_modified = NULL, table_etag = NULL WHERE table_id IN (SELECT table_id FROM couplings ORDER BY table_id LIMIT 3)`)
	e, diags, err := engine.OpenProject(t.Context(), w.dir, w.load, engine.Options{})
	if err != nil {
		t.Fatalf("%v\n%v", err, diags)
	}
	w.e = e

	full := w.plan(engine.PlanOptions{Full: true})
	wantCounts(t, full, plan.Counts{plan.Unchanged: n})
	if len(full.Mappings[0].Operations) != 0 || full.Mappings[0].Omitted != 0 {
		t.Errorf("a plan of unchanged records lists %d operations and omits %d, want none: unchanged records are counted only",
			len(full.Mappings[0].Operations), full.Mappings[0].Omitted)
	}
	list, err := e.Plans(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := list[0].Counts[plan.Unchanged]; got != n {
		t.Errorf("coupler plans counts %d unchanged, want %d", got, n)
	}
	res := w.apply(full.ID)
	if got := res.Runs[0].Unchanged; got != n {
		t.Errorf("run counts %d unchanged, want %d", got, n)
	}
	e.Close()
	for q, want := range map[string]string{
		`SELECT count(*) FROM plan_operations WHERE plan_id = '` + full.ID + `'`:                              "0",
		`SELECT count(*) FROM operations WHERE plan_id = '` + full.ID + `'`:                                   "0",
		`SELECT count(*) FROM couplings WHERE table_modified IS NULL OR table_etag IS NULL`:                   "0",
		`SELECT count(*) FROM plan_unchanged_marks WHERE plan_id = '` + full.ID + `'`:                         "3",
		`SELECT sum(records) FROM plan_unchanged WHERE plan_id = '` + full.ID + `'`:                           "120",
		`SELECT count(*) FROM plan_operations WHERE op = 'unchanged'`:                                         "0",
		`SELECT count(*) FROM plans WHERE id = '` + full.ID + `' AND status = 'applied'`:                      "1",
		`SELECT count(*) FROM runs WHERE plan_id = '` + full.ID + `' AND unchanged = 120`:                     "1",
		`SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('plan_unchanged_marks', 'plan_unchanged')`: "2",
	} {
		if got := rawQuery(t, statePath, q); got != want {
			t.Errorf("%s = %s, want %s", q, got, want)
		}
	}
}
