package state_test

import (
	"database/sql/driver"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// TestTablesCoverLayout: state.Tables, what coupler state migrate copies,
// names every table of the DuckDB layout but meta with every column; a
// table or column added to the layout and not to Tables fails here
// instead of being left behind by a migrate (pgstate has the same test).
func TestTablesCoverLayout(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.duckdb")
	db, err := state.Open(t.Context(), path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	have := map[string][]string{}
	// plan_changes is a view over plan_change_parts, plan_change_values
	// (schema version 9) and plan_create_values (14), copied as the view.
	err = state.Query(t.Context(), path, `SELECT table_name, column_name FROM duckdb_columns()
		WHERE database_name = current_database() AND schema_name = 'main' AND table_name <> 'meta'
		AND (table_name IN (SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()
			AND table_name NOT IN ('plan_change_parts', 'plan_change_values', 'plan_create_values')) OR table_name = 'plan_changes')`,
		func(_ []string, row []any) error {
			if row != nil {
				have[row[0].(string)] = append(have[row[0].(string)], row[1].(string))
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(have) == 0 {
		t.Fatal("no tables found")
	}
	want := map[string][]string{}
	for _, tab := range state.Tables {
		want[tab.Name] = slices.Sorted(slices.Values(tab.Columns))
	}
	for name, cols := range have {
		slices.Sort(cols)
		if !slices.Equal(cols, want[name]) {
			t.Errorf("table %s has columns %v; state.Tables lists %v", name, cols, want[name])
		}
	}
	for name := range want {
		if _, ok := have[name]; !ok {
			t.Errorf("state.Tables lists %s, which the layout has not", name)
		}
	}
}

// TestChecksum: the checksum of a table's rows is the same whatever order
// the rows come in, whichever zone a time is given in and whichever width
// an integer has (DuckDB and PostgreSQL differ in both), and differs when
// any value does, a NULL from an empty string, or a row is there twice.
func TestChecksum(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	rows := [][]any{
		{"CUSTOMER", "c1", "a1", at, nil, int64(3), true},
		{"CUSTOMER", "c2", "a2", at.Add(time.Second), "x", int64(-1), false},
		{"VENDOR", "c1", "a1", at, nil, int64(0), true},
	}
	sum := func(rows ...[]any) state.Checksum {
		t.Helper()
		var c state.Checksum
		for _, r := range rows {
			if err := c.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	base := sum(rows...)
	if base.Rows() != 3 || len(base.String()) != 32 {
		t.Fatalf("checksum %s of %d rows", base, base.Rows())
	}
	same := map[string][][]any{
		"reordered": {rows[2], rows[0], rows[1]},
		"other zone and int32": {
			{"CUSTOMER", "c1", "a1", at.In(time.FixedZone("CET", 3600)), nil, int32(3), true},
			rows[1], rows[2]},
	}
	for name, rs := range same {
		if got := sum(rs...); got != base {
			t.Errorf("%s: %s, want %s", name, got, base)
		}
	}
	change := func(i int, v any) [][]any {
		r := slices.Clone(rows[0])
		r[i] = v
		return [][]any{r, rows[1], rows[2]}
	}
	differ := map[string][][]any{
		"a value":               change(2, "a9"),
		"a microsecond":         change(3, at.Add(time.Microsecond)),
		"NULL for empty string": change(4, ""),
		"a boolean":             change(6, false),
		"a row twice":           {rows[0], rows[0], rows[1], rows[2]},
		"a row less":            {rows[0], rows[1]},
		"values moved across columns": {
			{"CUSTOMER", "c1a", "1", at, nil, int64(3), true}, rows[1], rows[2]},
	}
	for name, rs := range differ {
		if got := sum(rs...); got == base {
			t.Errorf("%s: the checksum did not change", name)
		}
	}
	var c state.Checksum
	if err := c.Add([]any{1.5}); err == nil {
		t.Error("a float was taken; a state holds none")
	}
}

// TestCopyRefusesCouplingsTwice: a copy into a DuckDB state, whose
// couplings have no keys since schema version 12, is refused when it
// would couple a record twice in a mapping, which the keys refused, and
// leaves the destination empty; the same records in two mappings are not
// a record coupled twice.
func TestCopyRefusesCouplingsTwice(t *testing.T) {
	t.Parallel()
	cols := []string{"mapping", "table_id", "integration_id", "coupled_at"}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		couplings [][]driver.Value
		err       string
	}{
		"a table record twice": {
			couplings: [][]driver.Value{{"CUSTOMER", "T1", "I1", at}, {"VENDOR", "T2", "I2", at}, {"CUSTOMER", "T1", "I2", at}},
			err:       "mapping CUSTOMER couples table record T1 2 times",
		},
		"an integration record twice": {
			couplings: [][]driver.Value{{"VENDOR", "T1", "I1", at}, {"VENDOR", "T2", "I1", at}, {"VENDOR", "T3", "I1", at}},
			err:       "mapping VENDOR couples integration record I1 3 times",
		},
		"one record in two mappings": {
			couplings: [][]driver.Value{{"CUSTOMER", "T1", "I1", at}, {"VENDOR", "T1", "I1", at}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			open := func(name string) *state.DB {
				db, err := state.Open(ctx, filepath.Join(t.TempDir(), name), state.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			src, dst := open("src.duckdb"), open("dst.duckdb")
			if err := src.AppendForTest(ctx, "couplings", cols, tc.couplings); err != nil {
				t.Fatal(err)
			}
			_, err := state.Copy(ctx, src, dst, state.CopyOptions{})
			if tc.err == "" {
				if err != nil {
					t.Fatalf("copy: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("copy: %v, want an error saying %q", err, tc.err)
			}
			if n, err := dst.AllCouplings(ctx); err != nil || n != 0 {
				t.Errorf("the destination holds %d couplings (%v) after the refused copy, want none", n, err)
			}
		})
	}
}
