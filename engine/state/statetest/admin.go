package statetest

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"os"
	"testing"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// RunAdmin checks the Admin part: one apply at a time, and a person's
// SQL that reads and never writes.
func RunAdmin(t *testing.T, open func(t *testing.T) state.Store) {
	runChecks(t, open, []check[state.Store]{
		{"one apply at a time", lockWrites},
		{"query reads", queryReads},
		{"query never writes", queryRefusesWrites},
	})
}

// lockWrites: while one apply holds the lock, another cannot take it;
// once released, it can.
func lockWrites(t *testing.T, s state.Store) {
	unlock, err := s.LockWrites()
	must(t, err)
	if again, err := s.LockWrites(); err == nil {
		again()
		unlock() // a store may wait for its locks at Close
		t.Fatal("a second LockWrites succeeded while the first holds the lock")
	}
	unlock()
	unlock, err = s.LockWrites()
	if err != nil {
		t.Fatalf("LockWrites after the lock was released: %v", err)
	}
	unlock()
}

// query runs q and returns its columns and rows.
func query(t *testing.T, s state.Store, q string) (cols []string, rows [][]any, err error) {
	t.Helper()
	err = s.Query(t.Context(), q, func(c []string, row []any) error {
		if row == nil {
			cols = c
			return nil
		}
		rows = append(rows, row)
		return nil
	})
	return cols, rows, err
}

// queryReads: the columns, then each row, of the state's tables and of
// the views coupler query documents.
func queryReads(t *testing.T, s state.Store) {
	must(t, s.SavePlan(t.Context(), fullPlan("p1", aTime), nil, false))
	cols, rows, err := query(t, s, `SELECT id, status FROM plans`)
	must(t, err)
	if len(cols) != 2 || cols[0] != "id" || cols[1] != "status" || len(rows) != 1 || rows[0][0] != "p1" || rows[0][1] != string(plan.Planned) {
		t.Errorf("query plans: %v, %v; want id, status and p1, planned", cols, rows)
	}
	for _, view := range []string{"operations", "errors"} {
		if _, rows, err := query(t, s, `SELECT count(*) FROM `+view); err != nil || len(rows) != 1 || rows[0][0] != int64(0) {
			t.Errorf("query the %s view: %v, %v; want a count of 0", view, rows, err)
		}
	}
}

// queryRefusesWrites: a statement that writes is refused, alone or after
// one that reads, and changes nothing.
func queryRefusesWrites(t *testing.T, s state.Store) {
	must(t, s.SavePlan(t.Context(), fullPlan("p1", aTime), nil, false))
	for _, q := range []string{
		`DELETE FROM plans`,
		`UPDATE plans SET status = 'applied'`,
		`SELECT 1; DELETE FROM plans`,
		`CREATE TABLE mine (id INTEGER)`,
	} {
		if _, _, err := query(t, s, q); err == nil {
			t.Errorf("query %q ran", q)
		}
	}
	if id, st, err := s.LatestPlan(t.Context()); err != nil || id != "p1" || st != plan.Planned {
		t.Errorf("the plan after refused writes: %s (%s), %v; want p1 planned", id, st, err)
	}
	if _, _, err := query(t, s, `SELECT count(*) FROM mine`); err == nil {
		t.Error("a table a refused statement made exists")
	}
}

// readJSONLines reads a file of one JSON object a line.
func readJSONLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("%s: line %d: %v", path, len(out)+1, err)
		}
		out = append(out, row)
	}
	must(t, sc.Err())
	return out
}

// parquetRows counts the rows of a parquet file, read with DuckDB.
func parquetRows(t *testing.T, path string) int64 {
	t.Helper()
	c, err := duckdb.NewConnector("", nil)
	must(t, err)
	defer c.Close()
	db := sql.OpenDB(c)
	defer db.Close()
	var n int64
	must(t, db.QueryRowContext(t.Context(), `SELECT count(*) FROM read_parquet(?)`, path).Scan(&n))
	return n
}
