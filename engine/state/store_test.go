package state_test

import (
	"database/sql/driver"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/engine/state/statetest"
)

func TestMain(m *testing.M) {
	statetest.OneThread()
	os.Exit(m.Run())
}

// TestStore holds the DuckDB state to the state conformance suite, which
// the PostgreSQL state passes too. The state is sealed, as coupler serve
// opens it, so that Query runs a person's SQL on it.
func TestStore(t *testing.T) {
	statetest.Run(t, statetest.Impl{
		Open: func(t *testing.T) state.Store {
			dir := t.TempDir()
			scratch := filepath.Join(dir, "scratch")
			if err := os.Mkdir(scratch, 0o755); err != nil {
				t.Fatal(err)
			}
			db, err := state.Open(t.Context(), filepath.Join(dir, "state.duckdb"), state.Options{Sealed: true, Scratch: scratch})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
		SaveDiff: saveDiff,
		Files: func(t *testing.T, s state.Store) string {
			return filepath.Join(filepath.Dir(s.Path()), "scratch")
		},
	})
}

// saveDiff writes a diff's rows as DuckDB's Diff would have.
func saveDiff(t *testing.T, s state.Store, d statetest.Diff) {
	t.Helper()
	db := s.(*state.DB)
	p := d.Part
	null := func(s string) driver.Value {
		if s == "" {
			return nil
		}
		return s
	}
	when := func(t time.Time) driver.Value {
		if t.IsZero() {
			return nil
		}
		return t.UTC()
	}
	show := func(v plan.Display) driver.Value {
		if v == nil {
			return nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	raw := func(v json.RawMessage) driver.Value {
		if v == nil {
			return nil
		}
		return string(v)
	}
	var fields, marks, ops, changes [][]driver.Value
	for i, f := range d.Fields {
		fields = append(fields, []driver.Value{p.PlanID, p.Mapping, p.Direction, int32(i), f.Name, null(f.BindSet)})
	}
	for _, m := range d.Marks {
		marks = append(marks, []driver.Value{p.PlanID, p.Mapping, p.Direction, m.SourceID, m.DestID, when(m.SourceModified), null(m.SourceETag)})
	}
	for _, o := range d.Operations {
		ops = append(ops, []driver.Value{p.PlanID, p.Mapping, p.Direction, o.Seq, string(o.Kind), o.SourceID, null(o.DestID), null(o.ETag),
			null(o.SourceETag), when(o.SourceModified), null(o.Reason), show(o.SourceDisplay), show(o.DestDisplay)})
		for _, c := range o.Changes {
			changes = append(changes, []driver.Value{p.PlanID, p.Mapping, p.Direction, o.Seq, c.Field, raw(c.Before), raw(c.After)})
		}
	}
	for _, tc := range []struct {
		table   string
		columns []string
		rows    [][]driver.Value
	}{
		{"plan_fields", []string{"plan_id", "mapping", "direction", "position", "field", "bind_set"}, fields},
		{"plan_unchanged", []string{"plan_id", "mapping", "direction", "records"}, [][]driver.Value{{p.PlanID, p.Mapping, p.Direction, d.Unchanged}}},
		{"plan_unchanged_marks", []string{"plan_id", "mapping", "direction", "source_id", "dest_id", "source_modified", "source_etag"}, marks},
		{"plan_operations", []string{"plan_id", "mapping", "direction", "seq", "op", "source_id", "dest_id", "etag", "source_etag", "source_modified",
			"reason", "source_display", "dest_display"}, ops},
		{"plan_changes", []string{"plan_id", "mapping", "direction", "seq", "field", "before", "after"}, changes},
	} {
		if err := db.AppendForTest(t.Context(), tc.table, tc.columns, tc.rows); err != nil {
			t.Fatal(err)
		}
	}
}
