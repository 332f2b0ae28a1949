package pgstate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/engine/state/pgtest"
	"github.com/couplerhq/coupler/engine/state/statetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// open opens the state in a new database of the test cluster.
func open(t *testing.T) *DB {
	t.Helper()
	return openAt(t, pgtest.Database(t), Options{})
}

func openAt(t *testing.T, url string, opts Options) *DB {
	t.Helper()
	d, err := Open(t.Context(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestConformance holds the PostgreSQL state to the state conformance
// suite, for the parts it implements, as TestStore holds DuckDB's.
func TestConformance(t *testing.T) {
	t.Run("couplings", func(t *testing.T) {
		statetest.RunCouplings(t, func(t *testing.T) state.Couplings { return open(t) })
	})
	t.Run("watermarks", func(t *testing.T) {
		statetest.RunWatermarks(t, func(t *testing.T) state.Watermarks { return open(t) })
	})
	t.Run("definitions", func(t *testing.T) {
		statetest.RunDefinitions(t, func(t *testing.T) state.Definitions { return open(t) })
	})
	t.Run("intents", func(t *testing.T) {
		statetest.RunIntents(t, func(t *testing.T) state.Intents { return open(t) })
	})
}

// admin connects to a database of the test cluster, to look at or change
// a state from outside.
func admin(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// schemaVersion returns the version a state's meta table holds.
func schemaVersion(t *testing.T, conn *pgx.Conn, schema string) string {
	t.Helper()
	var v string
	if err := conn.QueryRow(t.Context(), `SELECT value FROM `+pgx.Identifier{schema, "meta"}.Sanitize()+` WHERE key = 'schema_version'`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMigrate: a new database gets the layout at SchemaVersion; opening
// it again changes nothing; a state written by a newer coupler, a
// database of someone else's tables and an unreadable version are refused
// and left as they were.
func TestMigrate(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	d := openAt(t, url, Options{})
	must(t, d.SetWatermark(t.Context(), "CUSTOMER", "table", aTime))
	d.Close()
	conn := admin(t, url)
	if v := schemaVersion(t, conn, "public"); v != fmt.Sprint(SchemaVersion) {
		t.Errorf("schema version %s, want %d", v, SchemaVersion)
	}
	d = openAt(t, url, Options{})
	if _, ok, err := d.Watermark(t.Context(), "CUSTOMER", "table"); err != nil || !ok {
		t.Errorf("watermark after reopening: %v, %v", ok, err)
	}
	d.Close()

	for _, tc := range []struct {
		name, setup, says string
	}{
		{"newer", `UPDATE meta SET value = '99' WHERE key = 'schema_version'`, "newer coupler (schema version 99"},
		{"unreadable version", `UPDATE meta SET value = 'x' WHERE key = 'schema_version'`, `unreadable schema version "x"`},
		{"no version", `DELETE FROM meta`, "no coupler schema version"},
		{"foreign", `DROP TABLE meta`, "no coupler schema version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := pgtest.Database(t)
			openAt(t, url, Options{}).Close()
			conn := admin(t, url)
			if _, err := conn.Exec(t.Context(), tc.setup); err != nil {
				t.Fatal(err)
			}
			before := tables(t, conn)
			_, err := Open(t.Context(), url, Options{})
			if !errors.Is(err, state.ErrUnusable) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Open: %v, want ErrUnusable saying %q", err, tc.says)
			}
			if after := tables(t, conn); after != before {
				t.Errorf("a refused state changed: tables %s, were %s", after, before)
			}
		})
	}
	t.Run("someone else's database", func(t *testing.T) {
		url := pgtest.Database(t)
		conn := admin(t, url)
		if _, err := conn.Exec(t.Context(), `CREATE TABLE orders (id int)`); err != nil {
			t.Fatal(err)
		}
		_, err := Open(t.Context(), url, Options{})
		if !errors.Is(err, state.ErrUnusable) || !strings.Contains(err.Error(), "orders") {
			t.Errorf("Open: %v, want ErrUnusable naming the table found", err)
		}
		if got := tables(t, conn); got != "public.orders" {
			t.Errorf("tables %s after a refused open", got)
		}
	})
}

// tables lists a database's tables outside the system's, as schema.table.
func tables(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var s string
	err := conn.QueryRow(t.Context(), `SELECT coalesce(string_agg(table_schema||'.'||table_name, ',' ORDER BY 1), '') FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOpenTogether: processes that start together on a new database all
// open it (the migration runs once, under an advisory lock; without it,
// all but one would fail creating tables another has made).
func TestOpenTogether(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			d, err := Open(context.Background(), url, Options{Schema: "tenant"})
			if err == nil {
				d.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if v := schemaVersion(t, admin(t, url), "tenant"); v != fmt.Sprint(SchemaVersion) {
		t.Errorf("schema version %s", v)
	}
}

// TestSchemas: projects sharing a database, a schema each, have states
// apart.
func TestSchemas(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a := openAt(t, url, Options{Schema: "project_a"})
	b := openAt(t, url, Options{Schema: "Project B"})
	must(t, a.CoupleOne(t.Context(), "CUSTOMER", "T1", "I1"))
	must(t, b.CoupleOne(t.Context(), "CUSTOMER", "T1", "I2"))
	for _, tc := range []struct {
		d    *DB
		want string
	}{{a, "I1"}, {b, "I2"}} {
		m, err := tc.d.CouplingMap(t.Context(), "CUSTOMER", true)
		must(t, err)
		if len(m) != 1 || m["T1"] != tc.want {
			t.Errorf("%s: couplings %v, want T1 <-> %s", tc.d.Path(), m, tc.want)
		}
	}
	if p := a.Path(); !strings.Contains(p, "schema project_a") {
		t.Errorf("Path() = %q, want the schema named", p)
	}
}

// TestPathHidesPassword: the state's name in messages leaves its
// password out.
func TestPathHidesPassword(t *testing.T) {
	for _, tc := range []struct{ conn, want string }{
		{"postgres://coupler:s3cret@db.example:5432/state?sslmode=require", "postgres://coupler:xxxxx@db.example:5432/state?sslmode=require (schema public)"},
		{"host=db.example password=s3cret", "(PostgreSQL, schema public)"},
	} {
		if got := describe(tc.conn, "public"); got != tc.want {
			t.Errorf("describe(%q) = %q, want %q", tc.conn, got, tc.want)
		}
	}
	_, err := Open(t.Context(), "postgres://coupler:s3cret@db.example:99999/state", Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open with a bad URL: %v, want an error without the password", err)
	}
}

// TestSearchCouplingsByDisplay: the display values the latest plan saved
// for a record are found and shown with its coupling, as in the DuckDB
// state (the conformance suite cannot save a plan's operations).
func TestSearchCouplingsByDisplay(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	d := openAt(t, url, Options{})
	ctx := t.Context()
	must(t, d.Couple(ctx, "CUSTOMER", []state.Coupling{{TableID: "C1", IntegrationID: "A1"}, {TableID: "C2", IntegrationID: "A2"}}))
	_, err := admin(t, url).Exec(ctx, `INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id, dest_id, source_display, dest_display) VALUES
		('p1', 'CUSTOMER', 'to_integration', 1, 'update', 'C1', 'A1', '[{"field":"name","value":"Old Name"}]', '[{"field":"name","value":"Adatum"}]'),
		('p2', 'CUSTOMER', 'to_integration', 1, 'update', 'C1', 'A1', '[{"field":"name","value":"Adatum Corp"}]', NULL),
		('p2', 'VENDOR', 'to_integration', 1, 'update', 'C2', 'A2', '[{"field":"name","value":"Adatum Vendor"}]', NULL)`)
	must(t, err)
	page, err := d.SearchCouplings(ctx, "CUSTOMER", "adatum", 0, 10)
	must(t, err)
	if len(page.Rows) != 1 || page.Total != 1 {
		t.Fatalf("search adatum: %+v, want C1 only (C2's display is another mapping's)", page)
	}
	r := page.Rows[0]
	want := func(d plan.Display, text string) bool { return d.Text() == text }
	if !want(r.TableDisplay, "Adatum Corp") || !want(r.IntegrationDisplay, "Adatum") {
		t.Errorf("displays %q and %q, want the latest plan's: Adatum Corp and Adatum", r.TableDisplay.Text(), r.IntegrationDisplay.Text())
	}
	if page, err := d.SearchCouplings(ctx, "CUSTOMER", "old name", 0, 10); err != nil || page.Total != 0 {
		t.Errorf("search by a display an older plan saved: %+v, %v; want none", page, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var aTime = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
