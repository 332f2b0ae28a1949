package state_test

import (
	"path/filepath"
	"testing"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/engine/state/statetest"
)

// TestNotModified: the coupled records of a part's mapping that its
// incremental read did not return, and that the plan does not list as
// skipped, are counted, for either source side; another mapping's
// couplings and uncoupled records read are not.
func TestNotModified(t *testing.T) {
	ctx := t.Context()
	db, err := state.Open(ctx, filepath.Join(t.TempDir(), "state.duckdb"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pairs []state.Coupling
	for _, n := range []string{"1", "2", "3", "4", "5", "6"} {
		pairs = append(pairs, state.Coupling{TableID: "C" + n, IntegrationID: "A" + n})
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.Couple(ctx, "CUSTOMER", pairs))
	must(db.Couple(ctx, "OTHER", pairs[:3]))
	stage := func(keys ...string) {
		t.Helper()
		s, err := db.NewStage(ctx, state.SourceRows, nil, 0)
		must(err)
		for _, k := range keys {
			must(s.Append(state.Row{Key: k, InFilter: true}))
		}
		must(s.Close())
	}
	to := state.Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration"}
	// C3 is skipped after failing and was not read; C1 was read although
	// it is skipped; C8 is skipped and not coupled.
	saveDiff(t, db, statetest.Diff{Part: to, Operations: []plan.Operation{
		{Seq: 1, Kind: plan.Skipped, SourceID: "C3", DestID: "A3"},
		{Seq: 2, Kind: plan.Skipped, SourceID: "C1", DestID: "A1"},
		{Seq: 3, Kind: plan.Skipped, SourceID: "C8"},
	}})
	stage("C1", "C2", "C9")
	if n, err := db.NotModified(ctx, to, true); err != nil || n != 3 {
		t.Errorf("to_integration: NotModified = %d, %v; want 3 (C4, C5, C6)", n, err)
	}
	from := state.Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "from_integration"}
	stage("A4", "A9")
	if n, err := db.NotModified(ctx, from, false); err != nil || n != 5 {
		t.Errorf("from_integration: NotModified = %d, %v; want 5 (all but A4)", n, err)
	}
}
