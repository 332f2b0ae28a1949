package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/engine/state"
)

// TestQueryNoFileAccess: coupler query reads the state database and
// nothing else. DuckDB's SQL reaches the file system (COPY … TO writes a
// file, read_csv and friends read any, ATTACH opens another database), so
// query runs with external access off and the setting locked, which a
// statement cannot turn back on.
func TestQueryNoFileAccess(t *testing.T) {
	dir := t.TempDir()
	writeScriptFiles(t, dir, "testdata/script/sync.txtar")
	proj := filepath.Join(dir, "proj")
	t.Setenv("BC_URL", "http://127.0.0.1:1/api/v2.0") // never reached: query reads the state only
	t.Setenv("DATAVERSE_URL", "http://127.0.0.1:1/api/data/v9.2")
	db, err := state.Open(t.Context(), filepath.Join(proj, ".coupler", "state.duckdb"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret.csv")
	if err := os.WriteFile(secret, []byte("name\nplanted-FILE-CONTENT\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	written := filepath.Join(dir, "written.csv")
	for _, tc := range []struct{ name, sql string }{
		{"COPY TO a file", "COPY (SELECT 1 AS x) TO '" + written + "'"},
		{"read_csv", "SELECT * FROM read_csv('" + secret + "')"},
		{"a file as a table", "SELECT * FROM '" + secret + "'"},
		{"ATTACH", "ATTACH '" + filepath.Join(dir, "other.duckdb") + "' AS other"},
		{"turn access back on", "SET enable_external_access = true"},
		{"unlock the configuration", "SET lock_configuration = false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run([]string{"-C", proj, "query", tc.sql}, &out, &errb)
			if code == 0 {
				t.Errorf("query %q ran: %s", tc.sql, out.String())
			}
			if strings.Contains(out.String(), "planted-FILE-CONTENT") {
				t.Errorf("query %q read the file: %s", tc.sql, out.String())
			}
			if !strings.Contains(errb.String(), "coupler query") {
				t.Errorf("query %q: the error does not say why: %s", tc.sql, errb.String())
			}
		})
	}
	if _, err := os.Stat(written); err == nil {
		t.Error("COPY … TO wrote a file")
	}
	if _, err := os.Stat(filepath.Join(dir, "other.duckdb")); err == nil {
		t.Error("ATTACH created a database")
	}
	// The state's tables and views stay readable.
	for _, sql := range []string{"SELECT count(*) AS n FROM couplings", "SELECT count(*) AS n FROM runs", "SELECT count(*) AS n FROM errors", "SELECT count(*) AS n FROM operations"} {
		var out, errb bytes.Buffer
		if code := run([]string{"-C", proj, "query", sql, "--format", "csv"}, &out, &errb); code != 0 {
			t.Errorf("query %q: exit %d: %s", sql, code, errb.String())
		}
	}
}
