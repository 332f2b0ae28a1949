package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// TestSealedStateQuery: coupler serve runs a person's SQL on the state
// database it keeps open for writing (state.DB.Query). Sealed, the
// database still takes coupler's own writes and checkpoints, and exports
// into its scratch directory; a person's statement gets what coupler
// query's read-only open gives: it reads, and reaches nothing else.
func TestSealedStateQuery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	scratch := filepath.Join(dir, "scratch")
	if err := os.Mkdir(scratch, 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := state.Open(t.Context(), filepath.Join(dir, "state.duckdb"), state.Options{Sealed: true, Scratch: scratch})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// coupler's own writes, which journal the intents beside the file.
	in := state.Intent{RunID: 1, PlanID: "p", Mapping: "CUSTOMER", Direction: "to_integration", Seq: 1, Op: "create", SourceID: "c-1", Fields: "{}", CreatedAt: time.Now()}
	if err := db.RecordIntents(t.Context(), []state.Intent{in}); err != nil {
		t.Fatalf("coupler's writes on a sealed database: %v", err)
	}
	query := func(q string) (string, error) {
		var out []string
		err := db.Query(t.Context(), q, func(cols []string, row []any) error {
			if row == nil {
				out = append(out, strings.Join(cols, ","))
			}
			for _, v := range row {
				out = append(out, toString(v))
			}
			return nil
		})
		return strings.Join(out, ";"), err
	}
	for _, tc := range []struct {
		sql, want, err string
	}{
		{sql: "SELECT count(*) AS n FROM write_intents", want: "n;1"},
		{sql: "FROM write_intents SELECT source_id", want: "source_id;c-1"},
		{sql: "DESCRIBE couplings", want: "column_name"},
		{sql: "SUMMARIZE runs", want: "column_name"},
		{sql: "EXPLAIN SELECT 1", want: "explain_key"},
		{sql: "SELECT 1; DELETE FROM write_intents", err: "one statement at a time"},
		{sql: "COMMIT", err: "statements that read only"},
		{sql: "DELETE FROM write_intents", err: "statements that read only"},
		{sql: "ATTACH ':memory:' AS m", err: "statements that read only"},
		{sql: "SET memory_limit = '1GB'", err: "statements that read only"},
		{sql: "USE memory", err: "statements that read only"},
		{sql: "INSTALL httpfs", err: "statements that read only"},
		{sql: "COPY write_intents TO '" + filepath.Join(scratch, "x.csv") + "'", err: "statements that read only"},
		{sql: "SELECT * FROM read_csv('" + filepath.Join(dir, "state.duckdb") + ".intents')", err: "no files, extensions or settings"},
		{sql: "SELECT nextval('run_ids')", err: "read-only"},
		{sql: "SELECT * FROM force_checkpoint()", err: "FORCE CHECKPOINT"},
		{sql: "SELEC 1", err: "syntax error"},
	} {
		got, err := query(tc.sql)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %q, %v; want an error with %q", tc.sql, got, err, tc.err)
		case tc.err == "" && (err != nil || !strings.HasPrefix(got, tc.want)):
			t.Errorf("%s: %q, %v; want %q", tc.sql, got, err, tc.want)
		}
	}
	// Nothing a statement did stayed: the intent is there, the pool's
	// connections still write.
	if got, err := query("SELECT count(*) AS n FROM write_intents"); got != "n;1" || err != nil {
		t.Errorf("after the refusals: %q %v", got, err)
	}
	in.Seq = 2
	if err := db.RecordIntents(t.Context(), []state.Intent{in}); err != nil {
		t.Errorf("coupler's writes after a person's statements: %v", err)
	}
	// A backup outside the scratch directory is refused by the seal.
	if err := db.Backup(t.Context(), filepath.Join(dir, "backup.duckdb")); err == nil {
		t.Error("a sealed database wrote a backup outside its scratch directory")
	}

	// An unsealed database runs no person's SQL: it could reach files.
	open := openState(t, filepath.Join(dir, "open.duckdb"))
	defer open.Close()
	if err := open.Query(t.Context(), "SELECT 1", func([]string, []any) error { return nil }); err == nil || !strings.Contains(err.Error(), "not sealed") {
		t.Errorf("Query on an unsealed database: %v", err)
	}
}
