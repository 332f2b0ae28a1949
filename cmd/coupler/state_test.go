package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// TestStateIntentsLists: the writes a stopped coupler left in flight are
// listed with what a user needs to look for them in the destination.
func TestStateIntentsLists(t *testing.T) {
	dir := t.TempDir()
	writeScriptFiles(t, dir, "testdata/script/sync.txtar")
	proj := filepath.Join(dir, "proj")
	t.Setenv("BC_URL", "http://127.0.0.1:1/api/v2.0") // never reached: listing reads the state only
	t.Setenv("DATAVERSE_URL", "http://127.0.0.1:1/api/data/v9.2")

	db, err := state.Open(t.Context(), filepath.Join(proj, ".coupler", "state.duckdb"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.RecordIntents(t.Context(), []state.Intent{{RunID: 7, PlanID: "20261124-101500-abc123", Mapping: "CUSTOMER",
		Direction: "to_integration", Seq: 3, Op: "create", SourceID: "C-42", ClientKey: "3f1e0c55-0d1e-5a4e-9d55-0c3f5a1b2c3d",
		Fields: `{"name":"Adatum"}`, CreatedAt: time.Now()}})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	if code := run([]string{"-C", proj, "state", "intents"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"RUN", "CLIENT KEY", "20261124-101500-abc123", "CUSTOMER", "to_integration", "create", "C-42", "3f1e0c55-0d1e-5a4e-9d55-0c3f5a1b2c3d"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("listing lacks %q:\n%s", want, out.String())
		}
	}
}
