package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors/fake"
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

// TestCommandsScrubSecrets: what a command prints (its error on stderr,
// its logs, coupler errors' listing of stored failures, also those an
// older coupler stored unscrubbed) holds no secret of the project, though
// the server echoes the bearer token in every error.
func TestCommandsScrubSecrets(t *testing.T) {
	const token = "planted-TOKEN-9d0e"
	dir := t.TempDir()
	writeScriptFiles(t, dir, "testdata/script/sync.txtar")
	proj := filepath.Join(dir, "proj")
	if err := os.WriteFile(filepath.Join(proj, "coupler.yaml"), []byte(`version: 1
connectors:
  bc: { type: odata, base_url: "${BC_URL}", max_retries: 0 }
  dataverse: { type: odata, base_url: "${DATAVERSE_URL}", max_retries: 0, auth: { type: bearer, token: "${CRM_TOKEN}" } }
mappings: ["mappings/*.yaml"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	erp := fake.NewERP()
	if err := fake.SeedCustomers(erp, 2); err != nil {
		t.Fatal(err)
	}
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
	defer erpSrv.Close()
	crmSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":{"code":"0x80072560","message":"token %s expired"}}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	}))
	defer crmSrv.Close()
	t.Setenv("BC_URL", fake.BCCompanyURL(erpSrv.URL+"/api/v2.0"))
	t.Setenv("DATAVERSE_URL", crmSrv.URL+"/api/data/v9.2")
	t.Setenv("CRM_TOKEN", token)

	var out, errb bytes.Buffer
	if code := run([]string{"-C", proj, "--log-level", "debug", "plan"}, &out, &errb); code == 0 {
		t.Fatalf("plan against a refusing server succeeded: %s", out.String())
	}
	if !strings.Contains(errb.String(), "token REDACTED expired") {
		t.Errorf("plan's error does not show the server's message scrubbed:\n%s", errb.String())
	}

	// A failure stored by a coupler that did not scrub.
	db, err := state.Open(t.Context(), filepath.Join(proj, ".coupler", "state.duckdb"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.StartRun(t.Context(), "20261124-101500-abc123", "CUSTOMER", "to_integration", time.Now())
	if err == nil {
		err = db.RecordResults(t.Context(), id, state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true},
			[]state.RecordResult{{Seq: 1, SourceID: "C-1", Op: "create", Err: "401: token " + token + " expired", At: time.Now()}})
	}
	if err == nil {
		err = db.FinishRun(t.Context(), state.Run{ID: id, Mapping: "CUSTOMER", Direction: "to_integration", FinishedAt: time.Now(), Failed: 1}, "", time.Time{}, "", "")
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"-C", proj, "errors"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "token REDACTED expired") {
		t.Errorf("errors: exit %d:\n%s", code, out.String())
	}
	for name, s := range map[string]string{"stdout": out.String(), "stderr": errb.String()} {
		if strings.Contains(s, token) {
			t.Errorf("%s holds the token:\n%s", name, s)
		}
	}
}
