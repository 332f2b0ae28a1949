package pgstate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/engine/state/pgtest"
)

// TestTablesCoverLayout: state.Tables, what coupler state migrate copies,
// names every table of the PostgreSQL layout but meta with every column;
// a table or column added to the layout and not to Tables fails here
// instead of being left behind by a migrate.
func TestTablesCoverLayout(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	openAt(t, url, Options{Schema: "layout"})
	rows, err := admin(t, url).Query(t.Context(), `SELECT c.table_name, c.column_name FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = 'layout' AND t.table_type = 'BASE TABLE' AND c.table_name <> 'meta'`)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string][]string{}
	for rows.Next() {
		var table, column string
		must(t, rows.Scan(&table, &column))
		have[table] = append(have[table], column)
	}
	must(t, rows.Err())
	want := map[string][]string{}
	for _, tab := range state.Tables {
		want[tab.Name] = slices.Clone(tab.Columns)
	}
	for name, cols := range have {
		slices.Sort(cols)
		w := want[name]
		slices.Sort(w)
		if !slices.Equal(cols, w) {
			t.Errorf("table %s has columns %v; state.Tables lists %v", name, cols, w)
		}
	}
	for name := range want {
		if _, ok := have[name]; !ok {
			t.Errorf("state.Tables lists %s, which the layout has not", name)
		}
	}
}

// duckState opens a new DuckDB state file.
func duckState(t *testing.T) *state.DB {
	t.Helper()
	db, err := state.Open(t.Context(), filepath.Join(t.TempDir(), "state.duckdb"), state.Options{})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// fill gives s n couplings and a little of every kind of state: a
// watermark, an acknowledgement, a plan, a run that recorded a failure
// and kept a change token and a definition.
func fill(t *testing.T, s state.Store, n int) {
	t.Helper()
	ctx := t.Context()
	pairs := make([]state.Coupling, n)
	for i := range pairs {
		pairs[i] = state.Coupling{TableID: fmt.Sprintf("c-%06d", i), IntegrationID: fmt.Sprintf("a-%06d", i)}
	}
	must(t, s.Couple(ctx, "CUSTOMER", pairs))
	must(t, s.SetWatermark(ctx, "CUSTOMER", "integration", aTime.Add(123456*time.Microsecond)))
	must(t, s.Acknowledge(ctx, "CUSTOMER"))
	p := &plan.Plan{ID: "p1", CreatedAt: aTime, Fingerprint: "fp", Mappings: []*plan.MappingPlan{{
		Name: "CUSTOMER", Direction: "to_integration", ReadStarted: aTime,
		Source: plan.Endpoint{Side: plan.SideTable, Connector: "erp", Entity: "customers", Key: "number", Modified: "lastModifiedDateTime"},
		Dest:   plan.Endpoint{Side: plan.SideIntegration, Connector: "crm", Entity: "accounts", Key: "accountid", Modified: "modifiedon"},
	}}}
	must(t, s.SavePlan(ctx, p, nil, false))
	id, err := s.StartRun(ctx, "p1", "CUSTOMER", "to_integration", aTime)
	must(t, err)
	must(t, s.RecordResults(ctx, id, state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true},
		[]state.RecordResult{{Seq: 1, SourceID: "c-000000", DestID: "a-000000", Op: "update", Err: "boom", At: aTime}}))
	must(t, s.FinishRun(ctx, state.Run{ID: id, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", StartedAt: aTime,
		FinishedAt: aTime.Add(time.Second), Failed: 1}, "table", aTime, "https://crm/delta?token=1", "def"))
}

// count returns how many rows table holds in s.
func count(t *testing.T, s state.BulkExporter, table string) int64 {
	t.Helper()
	var n int64
	must(t, s.ExportTables(t.Context(), func(r state.TableReader) error {
		var err error
		n, err = r.Count(t.Context(), state.Table{Name: table})
		return err
	}))
	return n
}

// wantEmpty fails unless every table of s is empty.
func wantEmpty(t *testing.T, s state.BulkExporter) {
	t.Helper()
	for _, tab := range state.Tables {
		if n := count(t, s, tab.Name); n != 0 {
			t.Errorf("table %s holds %d rows; want the destination left empty", tab.Name, n)
		}
	}
}

// TestCopyBothWays: a DuckDB state copied into PostgreSQL and back holds
// the same rows (the checksums of the two copies agree, row for row), in
// batches smaller than a table; run ids go on after the copied ones.
func TestCopyBothWays(t *testing.T) {
	t.Parallel()
	src := duckState(t)
	fill(t, src, 25)
	pg := open(t)
	var seen []state.CopyProgress
	there, err := state.Copy(t.Context(), src, pg, state.CopyOptions{Batch: 10, Progress: func(p state.CopyProgress) { seen = append(seen, p) }})
	must(t, err)
	back := duckState(t)
	again, err := state.Copy(t.Context(), pg, back, state.CopyOptions{Batch: 7})
	must(t, err)
	for i, tc := range there.Tables {
		if again.Tables[i] != tc {
			t.Errorf("table %s: %+v there, %+v back", tc.Table, tc, again.Tables[i])
		}
	}
	for _, name := range []string{"couplings", "watermarks", "change_tokens", "mapping_definitions", "first_sync_acks",
		"plans", "plan_mappings", "runs", "run_records"} {
		if there.Table(name).Rows == 0 {
			t.Errorf("table %s: nothing copied; fill should have made rows", name)
		}
	}
	if there.Table("couplings").Rows != 25 {
		t.Errorf("couplings copied: %d, want 25", there.Table("couplings").Rows)
	}
	var batches []int64
	for _, p := range seen {
		if p.Table == "couplings" && !p.Verifying {
			batches = append(batches, p.Done)
		}
	}
	if !slices.Equal(batches, []int64{0, 10, 20, 25}) {
		t.Errorf("progress of couplings: %v; want 0, 10, 20, 25", batches)
	}
	// What the store's methods read is the same on every copy.
	for _, s := range []state.Store{src, pg, back} {
		wm, ok, err := s.Watermark(t.Context(), "CUSTOMER", "integration")
		if err != nil || !ok || !wm.Equal(aTime.Add(123456*time.Microsecond)) {
			t.Errorf("%s: watermark %v, %v, %v", s.Path(), wm, ok, err)
		}
		if tok, ok, err := s.ChangeToken(t.Context(), "CUSTOMER", "table"); err != nil || !ok || tok != "https://crm/delta?token=1" {
			t.Errorf("%s: change token %q, %v, %v", s.Path(), tok, ok, err)
		}
		if f, err := s.Failures(t.Context(), "CUSTOMER", 10); err != nil || len(f) != 1 || f[0].Message != "boom" {
			t.Errorf("%s: failures %+v, %v", s.Path(), f, err)
		}
	}
	for _, s := range []state.Store{pg, back} {
		id, err := s.StartRun(t.Context(), "p1", "CUSTOMER", "to_integration", aTime)
		if err != nil || id <= there.LastRunID {
			t.Errorf("%s: next run id %d, %v; want past the copied %d", s.Path(), id, err, there.LastRunID)
		}
	}
}

// TestCopyRefusals: a destination that holds a state is refused, and left
// as it was, unless Force replaces it; a source with write intents
// pending is refused with nothing copied.
func TestCopyRefusals(t *testing.T) {
	t.Parallel()
	t.Run("destination holds a state", func(t *testing.T) {
		t.Parallel()
		src := duckState(t)
		fill(t, src, 3)
		pg := open(t)
		must(t, pg.CoupleOne(t.Context(), "VENDOR", "v1", "x1"))
		_, err := state.Copy(t.Context(), src, pg, state.CopyOptions{})
		if !errors.Is(err, state.ErrNotEmpty) || !strings.Contains(err.Error(), "1 couplings") {
			t.Fatalf("copy into a state that holds a coupling: %v; want ErrNotEmpty naming it", err)
		}
		if c, _ := pg.FindCoupling(t.Context(), "VENDOR", "v1"); c == nil || pg.mustCount(t, "couplings") != 1 {
			t.Errorf("the refused destination changed: coupling %v, %d couplings", c, pg.mustCount(t, "couplings"))
		}
		rep, err := state.Copy(t.Context(), src, pg, state.CopyOptions{Force: true})
		must(t, err)
		if c, _ := pg.FindCoupling(t.Context(), "VENDOR", "v1"); c != nil || pg.mustCount(t, "couplings") != 3 {
			t.Errorf("after --force: coupling %v, %d couplings; want the source's 3 only", c, pg.mustCount(t, "couplings"))
		}
		if len(rep.Replaced) != 1 || rep.Replaced[0] != (state.TableCopy{Table: "couplings", Rows: 1}) {
			t.Errorf("replaced: %+v", rep.Replaced)
		}
	})
	t.Run("intents pending", func(t *testing.T) {
		t.Parallel()
		src := duckState(t)
		fill(t, src, 3)
		must(t, src.RecordIntents(t.Context(), []state.Intent{{RunID: 1, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration",
			Seq: 2, Op: "create", SourceID: "c-000002", Fields: "{}", CreatedAt: aTime}}))
		pg := open(t)
		_, err := state.Copy(t.Context(), src, pg, state.CopyOptions{})
		if !errors.Is(err, state.ErrIntentsPending) || !strings.Contains(err.Error(), "1 write(s)") {
			t.Fatalf("copy with an intent pending: %v; want ErrIntentsPending", err)
		}
		wantEmpty(t, pg)
	})
}

// mangler stands between Copy and a destination: it changes what is
// written, or fails, as a faulty driver or disk might.
type mangler struct {
	state.BulkImporter
	table string
	// change alters a row of table on its way; nil makes WriteRows fail
	// for table instead.
	change func(row []any)
}

func (m mangler) ImportTables(ctx context.Context, fn func(state.TableWriter) error) error {
	return m.BulkImporter.ImportTables(ctx, func(w state.TableWriter) error { return fn(mangledWriter{w, m}) })
}

type mangledWriter struct {
	state.TableWriter
	m mangler
}

func (w mangledWriter) WriteRows(ctx context.Context, t state.Table, rows [][]any) error {
	if t.Name == w.m.table {
		if w.m.change == nil {
			return errors.New("disk full")
		}
		w.m.change(rows[len(rows)-1])
	}
	return w.TableWriter.WriteRows(ctx, t, rows)
}

// TestCopyVerifies: a row that reaches the destination other than it left
// the source fails the copy, naming the table, with the destination left
// empty; so does a write that fails after other tables were copied.
func TestCopyVerifies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, table string
		change      func(row []any)
		want        string
	}{
		{"coupling changed", "couplings", func(row []any) { row[2] = "a-other" }, "table couplings: checksum"},
		{"time shifted", "couplings", func(row []any) { row[3] = row[3].(time.Time).Add(time.Microsecond) }, "table couplings: checksum"},
		{"run record changed", "run_records", func(row []any) { row[6] = nil }, "table run_records: checksum"},
		{"write fails late", "runs", nil, "table runs: write: disk full"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := duckState(t)
			fill(t, src, 5)
			pg := open(t)
			_, err := state.Copy(t.Context(), src, mangler{pg, tc.table, tc.change}, state.CopyOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("copy = %v; want an error with %q", err, tc.want)
			}
			if tc.change != nil && !errors.Is(err, state.ErrCopyMismatch) {
				t.Errorf("error %v is not ErrCopyMismatch", err)
			}
			wantEmpty(t, pg)
		})
	}
}

func (d *DB) mustCount(t *testing.T, table string) int64 { return count(t, d, table) }
