package pgstate

import (
	"context"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/engine/state/pgtest"
)

// TestLoadMappingKeepsEveryValue: a plan workspace loaded from a
// PostgreSQL state holds the mapping's rows of every MappingTable exactly
// as the state does: NULL apart from an empty string, quotes, commas and
// line breaks in text, times to the microsecond, booleans and integers, a
// mapping name with a quote in it; and no other mapping's rows.
func TestLoadMappingKeepsEveryValue(t *testing.T) {
	url := pgtest.Database(t)
	d := openAt(t, url, Options{})
	// A database whose sessions show dates another way than ISO (a
	// server's or a role's DateStyle) writes the same CSV.
	german := openAt(t, url+"&DateStyle=German", Options{})
	ctx := t.Context()
	const mapping = `O'BRIEN "SALES", 2`
	at := time.Date(2026, 12, 5, 14, 0, 1, 123456000, time.UTC)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := d.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	for _, m := range []string{mapping, "OTHER"} {
		exec(`INSERT INTO couplings VALUES ($1, 'c-1', 'a-1', $2, NULL, '', $2, NULL, 'W/"1,2"', NULL),
			($1, 'c-2', 'a-2', $2, $2, e'line\nbreak', NULL, $2, '', '"quoted"')`, m, at)
		exec(`INSERT INTO record_failures VALUES ($1, 'to_integration', 'c-3', e'failed, "badly"\r\nagain', 2, true, NULL, 7),
			($1, 'from_integration', 'a-4', '', 1, false, $2, 9000000000)`, m, at)
		exec(`INSERT INTO uncoupled VALUES ($1, 'table', 'c-5', NULL, NULL, $2), ($1, 'integration', 'a-6', $2, '', $2)`, m, at)
		exec(`INSERT INTO assigned_values VALUES ($1, 'table', 'c-7', 'number', 'accountnumber', $2)`, m, at)
		// A value longer than a CSV line may be by default (2 MB): a
		// service's error page kept whole.
		exec(`INSERT INTO record_failures VALUES ($1, 'to_integration', 'c-8', repeat('x', 3<<20), 1, false, NULL, 1)`, m)
	}
	for _, tc := range []struct {
		name string
		from state.MappingRows
		// workspace drops the keys, as the engine's workspace does.
		workspace bool
	}{
		{"csv into a workspace", d, true},
		{"csv", d, false},
		{"csv, dates shown the German way", german, false},
		// A store that streams rows only: through the Appender.
		{"rows", rowsOnly{d}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A directory named as a hive partition (key=value) on the
			// path, as a benchmark's temporary directory is, adds no
			// column.
			dir := filepath.Join(t.TempDir(), "state=postgres")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			ws, err := state.Open(ctx, filepath.Join(dir, "workspace.duckdb"), state.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			if tc.workspace {
				if err := ws.DropMappingKeys(ctx); err != nil {
					t.Fatal(err)
				}
			}
			// Twice: a second load replaces the first.
			for range 2 {
				if err := ws.LoadMapping(ctx, tc.from, mapping); err != nil {
					t.Fatal(err)
				}
			}
			for _, table := range state.MappingTables {
				want, got := mappingRows(t, ctx, d, table, mapping), mappingRows(t, ctx, ws, table, mapping)
				if len(want) == 0 {
					t.Fatalf("%s: the test put no row in it", table.Name)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s in the workspace:\n%q\nwant (the state's):\n%q", table.Name, shortened(got), shortened(want))
				}
				if other := mappingRows(t, ctx, ws, table, "OTHER"); len(other) > 0 {
					t.Errorf("%s: the workspace holds another mapping's rows: %q", table.Name, other)
				}
			}
		})
	}
}

// shortened cuts each long row to its start, end and length, for a
// failure's message.
func shortened(rows []string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		if len(r) > 200 {
			r = fmt.Sprintf("%s…(%d bytes)…%s", r[:100], len(r), r[len(r)-100:])
		}
		out[i] = r
	}
	return out
}

// rowsOnly hides every method of a store but EachMappingRow.
type rowsOnly struct{ state.MappingRows }

// mappingRows renders a mapping's rows of table in from, sorted: values
// as Go syntax, so that nil and "" differ, times in UTC.
func mappingRows(t *testing.T, ctx context.Context, from state.MappingRows, table state.MappingTable, mapping string) []string {
	t.Helper()
	var out []string
	err := from.EachMappingRow(ctx, table, mapping, func(row []driver.Value) error {
		vals := make([]string, len(row))
		for i, v := range row {
			switch x := v.(type) {
			case time.Time:
				v = x.UTC().Format(time.RFC3339Nano)
			case int32:
				v = int64(x)
			}
			vals[i] = fmt.Sprintf("%#v", v)
		}
		out = append(out, fmt.Sprint(vals))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
