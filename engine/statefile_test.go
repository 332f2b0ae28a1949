package engine_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// The state package's own tests live here, in the engine's test binary,
// so that DuckDB is linked into one test binary only.

func openState(t *testing.T, path string) *state.DB {
	t.Helper()
	db, err := state.Open(t.Context(), path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// rawExec runs statements on a state file through DuckDB directly,
// bypassing coupler's checks, to fabricate old, newer and foreign files.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func rawQuery(t *testing.T, path, q string) string {
	t.Helper()
	var out []string
	err := state.Query(t.Context(), path, q, func(cols []string, row []any) error {
		if row != nil {
			for _, v := range row {
				out = append(out, toString(v))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return strings.Join(out, ",")
}

// wantQueries checks what each query gives on the state file at path.
func wantQueries(t *testing.T, path string, want map[string]string) {
	t.Helper()
	for q, w := range want {
		if got := rawQuery(t, path, q); got != w {
			t.Errorf("%s = %s, want %s", q, got, w)
		}
	}
}

func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// recreated are the statements that make table anew with the columns
// (and keys) given, keeping its rows: a fixture's way back to a layout
// before a migration changed the table.
func recreated(table, columns string) []string {
	return []string{
		`CREATE TABLE ` + table + `_old (` + columns + `)`,
		`INSERT INTO ` + table + `_old SELECT * FROM ` + table,
		`DROP TABLE ` + table,
		`ALTER TABLE ` + table + `_old RENAME TO ` + table,
	}
}

// asVersion13 are the statements that give a state file of this
// coupler's layout version 13: the changes of creates a row each in
// plan_change_values, without plan_create_values, which version 14
// added, and with plan_changes a view of plan_change_values alone. An
// older version's fixture starts with them.
var asVersion13 = []string{
	`INSERT INTO plan_change_values
		SELECT part, seq, split_part(item, chr(31), 1), NULL, CASE WHEN strpos(item, chr(31)) > 0 THEN substr(item, strpos(item, chr(31)) + 1) END
		FROM (SELECT part, seq, unnest(string_split(fields, chr(30))) AS item FROM plan_create_values)`,
	`CREATE OR REPLACE VIEW plan_changes AS
		SELECT p.plan_id, p.mapping, p.direction, c.seq, c.field, c.before, c.after
		FROM plan_change_values c JOIN plan_change_parts p ON p.id = c.part`,
	`DROP TABLE plan_create_values`,
	`UPDATE meta SET value = '13' WHERE key = 'schema_version'`,
}

// asVersion12 are the statements that give a state file of this
// coupler's layout version 12's plan_mappings, plan_parts, plan_fields
// and plan_unchanged, with the primary keys version 13 dropped. An older
// version's fixture starts with them.
var asVersion12 = slices.Concat(asVersion13,
	recreated(`plan_mappings`, `plan_id VARCHAR NOT NULL, position INTEGER NOT NULL, mapping VARCHAR NOT NULL, direction VARCHAR NOT NULL,
		source_side VARCHAR NOT NULL, source_connector VARCHAR NOT NULL, source_entity VARCHAR NOT NULL, source_key VARCHAR NOT NULL,
		source_modified VARCHAR NOT NULL, dest_side VARCHAR NOT NULL, dest_connector VARCHAR NOT NULL, dest_entity VARCHAR NOT NULL,
		dest_key VARCHAR NOT NULL, dest_modified VARCHAR NOT NULL, base_watermark TIMESTAMP, since TIMESTAMP, read_started TIMESTAMP NOT NULL,
		new_watermark TIMESTAMP, records_read BIGINT NOT NULL, not_modified BIGINT NOT NULL, record VARCHAR,
		dest_read BIGINT NOT NULL DEFAULT 0, coupled BIGINT NOT NULL DEFAULT 0, warnings VARCHAR, needs_approval VARCHAR,
		PRIMARY KEY (plan_id, mapping, direction)`),
	recreated(`plan_parts`, `plan_id VARCHAR NOT NULL, mapping VARCHAR NOT NULL, direction VARCHAR NOT NULL,
		fingerprint VARCHAR NOT NULL, changed BOOLEAN NOT NULL, creates_into_existing BOOLEAN NOT NULL, PRIMARY KEY (plan_id, mapping, direction)`),
	recreated(`plan_fields`, `plan_id VARCHAR NOT NULL, mapping VARCHAR NOT NULL, direction VARCHAR NOT NULL, position INTEGER NOT NULL,
		field VARCHAR NOT NULL, bind_set VARCHAR, PRIMARY KEY (plan_id, mapping, direction, position)`),
	recreated(`plan_unchanged`, `plan_id VARCHAR NOT NULL, mapping VARCHAR NOT NULL, direction VARCHAR NOT NULL, records BIGINT NOT NULL,
		PRIMARY KEY (plan_id, mapping, direction)`),
	[]string{`UPDATE meta SET value = '12' WHERE key = 'schema_version'`},
)

// asVersion11 are the statements that give a state file of this
// coupler's layout version 11's couplings, with the keys version 12
// dropped. An older version's fixture starts with them.
var asVersion11 = slices.Concat(asVersion12,
	recreated(`couplings`, `mapping VARCHAR NOT NULL, table_id VARCHAR NOT NULL, integration_id VARCHAR NOT NULL,
		coupled_at TIMESTAMP NOT NULL, last_synced_at TIMESTAMP, last_result VARCHAR,
		table_modified TIMESTAMP, integration_modified TIMESTAMP, table_etag VARCHAR, integration_etag VARCHAR,
		PRIMARY KEY (mapping, table_id), UNIQUE (mapping, integration_id)`),
	[]string{`UPDATE meta SET value = '11' WHERE key = 'schema_version'`},
)

// asVersion10 are the statements that give a state file of this
// coupler's layout version 10's runs, with the primary key version 11
// dropped. An older version's fixture starts with them.
var asVersion10 = slices.Concat(asVersion11,
	recreated(`runs`, `id BIGINT PRIMARY KEY, plan_id VARCHAR NOT NULL, mapping VARCHAR NOT NULL, direction VARCHAR NOT NULL,
		started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, inserted BIGINT NOT NULL DEFAULT 0, modified BIGINT NOT NULL DEFAULT 0,
		unchanged BIGINT NOT NULL DEFAULT 0, skipped BIGINT NOT NULL DEFAULT 0, failed BIGINT NOT NULL DEFAULT 0,
		coupled BIGINT NOT NULL DEFAULT 0, deleted BIGINT NOT NULL DEFAULT 0, uncoupled BIGINT NOT NULL DEFAULT 0`),
	[]string{`UPDATE meta SET value = '10' WHERE key = 'schema_version'`},
)

// asVersion9 are the statements that give a state file of this coupler's
// layout version 9's plan_operations, with the primary key version 10
// dropped. An older version's fixture starts with them.
var asVersion9 = slices.Concat(asVersion10,
	recreated(`plan_operations`, `plan_id VARCHAR NOT NULL, mapping VARCHAR NOT NULL, direction VARCHAR NOT NULL,
		seq BIGINT NOT NULL, op VARCHAR NOT NULL, source_id VARCHAR NOT NULL, dest_id VARCHAR, etag VARCHAR, source_etag VARCHAR,
		source_modified TIMESTAMP, dest_modified TIMESTAMP, reason VARCHAR, source_display VARCHAR, dest_display VARCHAR,
		PRIMARY KEY (plan_id, mapping, direction, seq)`),
	[]string{`UPDATE meta SET value = '9' WHERE key = 'schema_version'`},
)

// asVersion8 are the statements that give a state file of this
// coupler's layout version 8's plan_changes: a table, not the view over
// plan_change_parts and plan_change_values of version 9. An older
// version's fixture starts with them. Clipped: tests running in parallel
// append to it, which must copy it rather than write into its spare
// capacity, each over the other's statements.
var asVersion8 = slices.Clip(append(slices.Clone(asVersion9),
	`DROP VIEW plan_changes`,
	`CREATE TABLE plan_changes (plan_id VARCHAR NOT NULL, mapping VARCHAR NOT NULL, direction VARCHAR NOT NULL,
		seq BIGINT NOT NULL, field VARCHAR NOT NULL, before VARCHAR, after VARCHAR)`,
	`DROP TABLE plan_change_values`,
	`DROP TABLE plan_change_parts`,
	`DROP SEQUENCE plan_change_part_ids`,
	`UPDATE meta SET value = '8' WHERE key = 'schema_version'`,
))

// TestStateMigratesVersion12PlanTables: version 13 drops the primary keys
// of plan_mappings, plan_parts, plan_fields and plan_unchanged, whose
// indexes took a block each at every checkpoint after a plan was saved;
// a plan saved before reads back as it was saved, and applies.
func TestStateMigratesVersion12PlanTables(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5)
	saved := w.plan(engine.PlanOptions{})
	path := w.e.Program().Project.State
	w.e.Close()
	rawExec(t, path, asVersion12...)
	tables := `table_name IN ('plan_mappings', 'plan_parts', 'plan_fields', 'plan_unchanged')`
	constraints := `SELECT count(*) FROM duckdb_constraints() WHERE ` + tables + ` AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')`
	if got := rawQuery(t, path, constraints); got != "4" {
		t.Fatalf("the version 12 fixture's plan tables have %s keys, want 4", got)
	}
	// Each table's rows of the saved plan, and of the plan made after.
	rows := map[string]string{}
	for _, table := range []string{"plan_mappings", "plan_parts", "plan_fields", "plan_unchanged"} {
		q := `SELECT count(*) FILTER (plan_id = '` + saved.ID + `') || ',' || count(*) FILTER (plan_id <> '` + saved.ID + `') FROM ` + table
		n, _, _ := strings.Cut(rawQuery(t, path, q), ",")
		if n == "0" {
			t.Fatalf("%s holds nothing of plan %s", table, saved.ID)
		}
		rows[q] = n + "," + n
	}
	e, diags, err := engine.OpenProject(t.Context(), w.dir, w.load, engine.Options{})
	if err != nil {
		t.Fatalf("%v\n%v", err, diags)
	}
	defer e.Close()
	w.e = e
	loaded, err := e.State().LoadPlan(t.Context(), saved.ID, -1, plan.Kinds...)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, saved) {
		t.Errorf("plan %s after migration:\n%+v\nwant it as saved:\n%+v", saved.ID, loaded.Mappings[0], saved.Mappings[0])
	}
	w.apply(saved.ID)
	wantCounts(t, w.plan(engine.PlanOptions{Full: true}), plan.Counts{plan.Unchanged: 5})
	e.Close()
	rows[`SELECT value FROM meta WHERE key = 'schema_version'`] = fmt.Sprint(state.SchemaVersion)
	rows[constraints] = "0"
	rows[`SELECT count(*) FROM duckdb_indexes() WHERE `+tables] = "0"
	wantQueries(t, path, rows)
}

// TestStateMigratesVersion11Couplings: version 12 drops the couplings'
// primary key and unique constraint, whose indexes every checkpoint after
// a record was coupled wrote whole again; the couplings are kept, in the
// order of their mapping and table id, with every column, and a record is
// still coupled once.
func TestStateMigratesVersion11Couplings(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.duckdb")
	openState(t, path).Close()
	rawExec(t, path, append(slices.Clone(asVersion11),
		`INSERT INTO couplings VALUES
			('VENDOR', 'T1', 'I1', TIMESTAMP '2026-12-01 09:00:00', NULL, NULL, NULL, NULL, NULL, NULL),
			('CUSTOMER', 'T2', 'I2', TIMESTAMP '2026-12-01 09:00:00', TIMESTAMP '2026-12-01 10:00:00', 'success',
				TIMESTAMP '2026-12-01 09:30:00', TIMESTAMP '2026-12-01 09:40:00', 'W/"1"', 'W/"2"'),
			('CUSTOMER', 'T1', 'I1', TIMESTAMP '2026-12-01 09:00:00', NULL, NULL, NULL, NULL, NULL, NULL)`)...)
	constraints := `SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'couplings' AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')`
	if got := rawQuery(t, path, constraints); got != "2" {
		t.Fatalf("the version 11 fixture's couplings has %s keys, want 2", got)
	}
	db := openState(t, path)
	if err := db.CoupleOne(t.Context(), "CUSTOMER", "T3", "I2"); err == nil || !strings.Contains(err.Error(), "integration record I2 is coupled to T2") {
		t.Errorf("coupling I2 again after migration: %v, want it refused", err)
	}
	if err := db.CoupleOne(t.Context(), "CUSTOMER", "T3", "I3"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	wantQueries(t, path, map[string]string{
		`SELECT value FROM meta WHERE key = 'schema_version'`: fmt.Sprint(state.SchemaVersion),
		constraints: "0",
		`SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'couplings'`:                                      "0",
		`SELECT string_agg(mapping || ':' || table_id || ':' || integration_id, ',' ORDER BY rowid) FROM couplings`: "CUSTOMER:T1:I1,CUSTOMER:T2:I2,VENDOR:T1:I1,CUSTOMER:T3:I3",
		`SELECT concat_ws('|', last_synced_at, last_result, table_modified, integration_modified, table_etag, integration_etag)
			FROM couplings WHERE table_id = 'T2'`: `2026-12-01 10:00:00|success|2026-12-01 09:30:00|2026-12-01 09:40:00|W/"1"|W/"2"`,
	})
}

// TestStateMigratesVersion10Runs: version 11 drops the run log's primary
// key, which every checkpoint after a run was started wrote whole again
// however long the log; the runs are kept in the order of their ids, and
// StartRun still never gives an id twice.
func TestStateMigratesVersion10Runs(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.duckdb")
	openState(t, path).Close()
	rawExec(t, path, append(slices.Clone(asVersion10),
		`INSERT INTO runs (id, plan_id, mapping, direction, started_at, finished_at, inserted) VALUES
			(2, 'p2', 'CUSTOMER', 'to_integration', TIMESTAMP '2026-12-01 10:00:00', NULL, 0),
			(1, 'p1', 'CUSTOMER', 'to_integration', TIMESTAMP '2026-12-01 09:00:00', TIMESTAMP '2026-12-01 09:01:00', 7)`,
		`DROP SEQUENCE run_ids`, `CREATE SEQUENCE run_ids START 3`)...)
	if got := rawQuery(t, path, `SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'runs' AND constraint_type = 'PRIMARY KEY'`); got != "1" {
		t.Fatalf("the version 10 fixture's runs has %s primary keys, want 1", got)
	}
	db := openState(t, path)
	id, err := db.StartRun(t.Context(), "p3", "CUSTOMER", "to_integration", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if id != 3 {
		t.Errorf("the run started after migration got id %d, want 3", id)
	}
	db.Close()
	wantQueries(t, path, map[string]string{
		`SELECT value FROM meta WHERE key = 'schema_version'`:                                                                  fmt.Sprint(state.SchemaVersion),
		`SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'runs' AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')`: "0",
		`SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'runs'`:                                                      "0",
		`SELECT string_agg(id || ':' || plan_id || ':' || inserted, ',' ORDER BY rowid) FROM runs`:                             "1:p1:7,2:p2:0,3:p3:0",
	})
	// A sequence behind the run log, as an old copy of the file could
	// leave it: the id it gives again is refused, not shared by two runs.
	rawExec(t, path, `DROP SEQUENCE run_ids`, `CREATE SEQUENCE run_ids START 2`)
	db = openState(t, path)
	defer db.Close()
	if _, err := db.StartRun(t.Context(), "p4", "CUSTOMER", "to_integration", time.Now()); err == nil || !strings.Contains(err.Error(), "run id 2 is taken") {
		t.Errorf("a run started with a taken id: %v, want it refused", err)
	}
}

// TestStateMigratesVersion9PlanOperations: version 10 drops
// plan_operations' primary key, which no query read through and every
// checkpoint after a plan was saved wrote whole again; the operations
// of plans saved before are kept, in the order of their seqs, and read
// as before.
func TestStateMigratesVersion9PlanOperations(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.duckdb")
	openState(t, path).Close()
	rawExec(t, path, append(slices.Clone(asVersion9),
		`INSERT INTO plans (id, created_at, full_read, fingerprint, status) VALUES ('p1', now(), false, 'f', 'planned'), ('p2', now(), false, 'f', 'planned')`,
		`INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id, dest_id, source_display) VALUES
			('p2', 'CUSTOMER', 'to_integration', 1, 'create', 'c3', NULL, NULL),
			('p1', 'CUSTOMER', 'to_integration', 2, 'update', 'c2', 'a2', '[{"field":"name","value":"Fabrikam"}]'),
			('p1', 'CUSTOMER', 'to_integration', 1, 'create', 'c1', NULL, NULL)`)...)
	if got := rawQuery(t, path, `SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'plan_operations' AND constraint_type = 'PRIMARY KEY'`); got != "1" {
		t.Fatalf("the version 9 fixture's plan_operations has %s primary keys, want 1", got)
	}
	db := openState(t, path)
	var got []string
	err := db.Operations(t.Context(), state.Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration"}, 0, -1, plan.Kinds,
		func(op plan.Operation) error {
			got = append(got, fmt.Sprintf("%d %s %s %s %s", op.Seq, op.Kind, op.SourceID, op.DestID, op.SourceDisplay.Text()))
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1 create c1  ", "2 update c2 a2 Fabrikam"}; !slices.Equal(got, want) {
		t.Errorf("plan p1's operations after migration = %q, want %q", got, want)
	}
	db.Close()
	wantQueries(t, path, map[string]string{
		`SELECT value FROM meta WHERE key = 'schema_version'`:                                                                             fmt.Sprint(state.SchemaVersion),
		`SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'plan_operations' AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')`: "0",
		`SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'plan_operations'`:                                                      "0",
		`SELECT string_agg(plan_id || ':' || seq, ',' ORDER BY rowid) FROM plan_operations`:                                               "p1:1,p1:2,p2:1",
		`SELECT count(*) FROM operations WHERE plan_id = 'p1'`:                                                                            "2",
	})
}

// TestStateMigratesVersion8PlanChanges: the changes of plans saved before
// version 9, a table of their own then, are moved under their parts'
// numbers and read as before: through the plan_changes and operations
// views, by apply, and pruned with their plan.
func TestStateMigratesVersion8PlanChanges(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.duckdb")
	openState(t, path).Close()
	rawExec(t, path, append(asVersion8,
		`INSERT INTO plans (id, created_at, full_read, fingerprint, status) VALUES ('p1', now(), false, 'f', 'planned'), ('p2', now(), false, 'f', 'planned')`,
		`INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id) VALUES
			('p1', 'CUSTOMER', 'to_integration', 1, 'create', 'c1'), ('p1', 'CUSTOMER', 'to_integration', 2, 'create', 'c2'),
			('p1', 'CUSTOMER', 'from_integration', 1, 'update', 'a1'), ('p2', 'CUSTOMER', 'to_integration', 1, 'create', 'c3')`,
		`INSERT INTO plan_changes VALUES ('p1', 'CUSTOMER', 'to_integration', 1, 'name', NULL, '"Contoso"'),
			('p1', 'CUSTOMER', 'to_integration', 1, 'city', NULL, '"Oslo"'), ('p1', 'CUSTOMER', 'to_integration', 2, 'name', NULL, '"Fabrikam"'),
			('p1', 'CUSTOMER', 'from_integration', 1, 'displayName', '"A"', '"B"'), ('p2', 'CUSTOMER', 'to_integration', 1, 'name', NULL, '"Litware"')`)...)
	db := openState(t, path)
	var got []string
	err := db.Operations(t.Context(), state.Part{PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration"}, 0, -1, plan.Kinds,
		func(op plan.Operation) error {
			for _, c := range op.Changes {
				got = append(got, fmt.Sprintf("%d %s %s", op.Seq, c.Field, c.After))
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{`1 city "Oslo"`, `1 name "Contoso"`, `2 name "Fabrikam"`}; !slices.Equal(got, want) {
		t.Errorf("plan p1's changes after migration = %q, want %q", got, want)
	}
	if err := db.DiscardPlan(t.Context(), "p2"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if got, want := rawQuery(t, path, `SELECT value FROM meta WHERE key = 'schema_version'`), fmt.Sprint(state.SchemaVersion); got != want {
		t.Errorf("schema version after open = %s, want %s", got, want)
	}
	wantQueries(t, path, map[string]string{
		`SELECT count(*) FROM plan_changes`:                                                   "4",
		`SELECT string_agg(after, ',' ORDER BY after) FROM plan_changes WHERE plan_id = 'p1'`: `"B","Contoso","Fabrikam","Oslo"`,
		`SELECT count(*) FROM operations WHERE field IS NOT NULL`:                             "4",
		`SELECT before FROM operations WHERE direction = 'from_integration'`:                  `"A"`,
		`SELECT count(*) FROM plan_change_parts`:                                              "2",
		`SELECT count(*) FROM duckdb_tables() WHERE table_name = 'plan_changes'`:              "0",
	})
}

func TestStateMigratesVersion1File(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.duckdb")
	// A version 1 file as coupler 1 wrote it: its layout without the
	// write_intents and change tracking tables, with a coupling that must
	// survive.
	v1 := openState(t, path)
	v1.Close()
	rawExec(t, path, append(asVersion8, `DROP TABLE write_intents`, `DROP TABLE change_tokens`, `DROP TABLE plan_change_tokens`, `UPDATE meta SET value = '1' WHERE key = 'schema_version'`,
		`INSERT INTO couplings (mapping, table_id, integration_id, coupled_at) VALUES ('CUSTOMER', 't1', 'i1', now())`)...)
	if got := rawQuery(t, path, `SELECT count(*) FROM duckdb_tables() WHERE table_name = 'write_intents'`); got != "0" {
		t.Fatalf("fixture still has write_intents: %s", got)
	}
	db := openState(t, path)
	db.Close()
	if got, want := rawQuery(t, path, `SELECT value FROM meta WHERE key = 'schema_version'`), fmt.Sprint(state.SchemaVersion); got != want {
		t.Errorf("schema version after open = %s, want %s", got, want)
	}
	// Version 2 added write_intents, version 3 the change tracking tokens.
	for _, table := range []string{"write_intents", "change_tokens", "plan_change_tokens"} {
		if got := rawQuery(t, path, `SELECT count(*) FROM `+table); got != "0" {
			t.Errorf("%s after migration: %s", table, got)
		}
	}
	if got := rawQuery(t, path, `SELECT table_id || '=' || integration_id FROM couplings`); got != "t1=i1" {
		t.Errorf("couplings after migration = %q, want t1=i1", got)
	}
}

func TestStateRefusesUnusableFilesUntouched(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.duckdb")
	openState(t, newer).Close()
	rawExec(t, newer, `UPDATE meta SET value = '99' WHERE key = 'schema_version'`)
	foreign := filepath.Join(dir, "foreign.duckdb")
	rawExec(t, foreign, `CREATE TABLE customers (id INTEGER)`)
	corrupt := filepath.Join(dir, "corrupt.duckdb")
	if err := os.WriteFile(corrupt, []byte("this is not a database, just some text that is long enough"), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.duckdb")
	openState(t, truncated).Close()
	data, err := os.ReadFile(truncated)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the header, lose the rest: DuckDB itself must refuse it.
	if err := os.WriteFile(truncated, data[:5000], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
	}{
		{newer, "newer coupler (schema version 99"},
		{foreign, "no coupler schema version"},
		{corrupt, "not a DuckDB database file"},
		{truncated, ""},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			before, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			db, err := state.Open(context.Background(), tc.path, state.Options{})
			if err == nil {
				db.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the file and say %q", err, tc.want)
			}
			if tc.want != "" && !errors.Is(err, state.ErrUnusable) {
				t.Errorf("error %q is not ErrUnusable", err)
			}
			after, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("the refused file was rewritten")
			}
		})
	}
}

func TestStateBackup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.duckdb")
	db := openState(t, path)
	defer db.Close()
	ctx := t.Context()
	if err := db.CoupleOne(ctx, "CUSTOMER", "t1", "i1"); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backups", "b.duckdb")
	if err := db.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	if err := db.Backup(ctx, backup); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("second backup to the same file: %v, want refusal", err)
	}
	// The live database goes on working after a backup.
	if err := db.CoupleOne(ctx, "CUSTOMER", "t2", "i2"); err != nil {
		t.Fatal(err)
	}
	if got := rawQuery(t, backup, `SELECT string_agg(table_id, ',' ORDER BY table_id) FROM couplings`); got != "t1" {
		t.Errorf("couplings in the backup = %q, want t1", got)
	}
	if got := rawQuery(t, backup, `SELECT value FROM meta WHERE key = 'schema_version'`); got != fmt.Sprint(state.SchemaVersion) {
		t.Errorf("backup schema version = %q", got)
	}
	// A backup is a state file: it opens, and its run ids go on.
	b := openState(t, backup)
	if _, err := b.StartRun(ctx, "p", "CUSTOMER", "to_integration", time.Now()); err != nil {
		t.Errorf("start a run in the backup: %v", err)
	}
	b.Close()
}

// TestThreadsFromTheEnvironment: $COUPLER_DUCKDB_THREADS caps DuckDB's
// worker threads of the state database, as the test suites set it, and a
// value that is not a number of threads is refused, naming the variable.
// Not parallel: it sets the process's environment.
func TestThreadsFromTheEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.duckdb")
	t.Setenv(state.ThreadsEnv, "3")
	openState(t, path).Close()
	if got := rawQuery(t, path, `SELECT current_setting('threads')`); got != "3" {
		t.Errorf("threads = %s with %s=3", got, state.ThreadsEnv)
	}
	for _, bad := range []string{"many", "-2", "1.5"} {
		t.Setenv(state.ThreadsEnv, bad)
		if _, err := state.Open(t.Context(), path, state.Options{}); err == nil || !strings.Contains(err.Error(), state.ThreadsEnv) {
			t.Errorf("%s=%s: open: %v, want a refusal naming the variable", state.ThreadsEnv, bad, err)
		}
	}
}
