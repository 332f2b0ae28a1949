package pgstate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
// suite, as TestStore holds DuckDB's.
func TestConformance(t *testing.T) {
	statetest.Run(t, statetest.Impl{
		Open: func(t *testing.T) state.Store { return open(t) },
		SaveDiff: func(t *testing.T, s state.Store, d statetest.Diff) {
			t.Helper()
			marks := make([]Unchanged, len(d.Marks))
			for i, m := range d.Marks {
				marks[i] = Unchanged(m)
			}
			err := s.(*DB).SaveDiff(t.Context(), Diff{Part: d.Part, Fields: d.Fields, Unchanged: d.Unchanged, Marks: marks,
				Operations: func(yield func(plan.Operation) error) error {
					for _, o := range d.Operations {
						if err := yield(o); err != nil {
							return err
						}
					}
					return nil
				}})
			must(t, err)
		},
		Files: func(t *testing.T, _ state.Store) string { return t.TempDir() },
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
// state.
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

// TestMigrateFromVersion1: a state made at schema version 1 gets version
// 2's views, function and indexes, its rows kept.
func TestMigrateFromVersion1(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	d := openAt(t, url, Options{})
	must(t, d.SetWatermark(t.Context(), "CUSTOMER", "table", aTime))
	d.Close()
	conn := admin(t, url)
	if _, err := conn.Exec(t.Context(), `DROP VIEW operations; DROP VIEW errors; DROP FUNCTION known_after_apply_json(text);
		DROP INDEX plan_changes_part, plan_unchanged_marks_part, plan_operations_source, plans_created, runs_part, run_records_run, write_intents_run;
		UPDATE meta SET value = '1' WHERE key = 'schema_version'`); err != nil {
		t.Fatal(err)
	}
	d = openAt(t, url, Options{})
	if v := schemaVersion(t, conn, "public"); v != "2" {
		t.Errorf("schema version %s after opening a version 1 state, want 2", v)
	}
	if _, ok, err := d.Watermark(t.Context(), "CUSTOMER", "table"); err != nil || !ok {
		t.Errorf("watermark after the migration: %v, %v", ok, err)
	}
	must(t, d.Query(t.Context(), `SELECT count(*) FROM operations`, func([]string, []any) error { return nil }))
}

// TestLockWritesAcrossProcesses: the write lock is one per schema for
// every process on the database, and a holder whose session ends (its
// process died) releases it.
func TestLockWritesAcrossProcesses(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := openAt(t, url, Options{Schema: "p1"}), openAt(t, url, Options{Schema: "p1"})
	other := openAt(t, url, Options{Schema: "p2"})
	unlock, err := a.LockWrites()
	must(t, err)
	if u, err := b.LockWrites(); err == nil {
		u()
		unlock()
		t.Fatal("a second process took the write lock the first holds")
	}
	u, err := other.LockWrites()
	if err != nil {
		t.Errorf("another project's schema: %v, want its own lock", err)
	} else {
		u()
	}
	// The holder's session ends, as when its process is killed. Only this
	// test's database: the cluster is shared by parallel tests, whose
	// migrations hold advisory locks too. The timeout makes the call wait
	// until the session is gone (PostgreSQL 14 and later), not only
	// signalled.
	if _, err := admin(t, url).Exec(t.Context(), `SELECT pg_terminate_backend(pid, 10000) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
		t.Fatal(err)
	}
	u, err = b.LockWrites()
	if err != nil {
		t.Errorf("LockWrites after the holder's session ended: %v", err)
	} else {
		u()
	}
	unlock() // the killed session's: must not fail nor hang
}

// TestBackupRefused: a PostgreSQL state is backed up with pg_dump, which
// Backup says.
func TestBackupRefused(t *testing.T) {
	t.Parallel()
	err := open(t).Backup(t.Context(), filepath.Join(t.TempDir(), "backup.duckdb"))
	if err == nil || !strings.Contains(err.Error(), "not supported for PostgreSQL state") || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("Backup: %v, want a refusal naming pg_dump", err)
	}
}

// TestRedact: failure messages are scrubbed before they are stored.
func TestRedact(t *testing.T) {
	t.Parallel()
	d := openAt(t, pgtest.Database(t), Options{Redact: func(s string) string { return strings.ReplaceAll(s, "s3cret", "[redacted]") }})
	ctx := t.Context()
	id, err := d.StartRun(ctx, "p1", "CUSTOMER", "to_integration", aTime)
	must(t, err)
	must(t, d.RecordResults(ctx, id, state.CouplingSide{Mapping: "CUSTOMER", SourceIsTable: true}, []state.RecordResult{
		{Seq: 1, SourceID: "C1", Op: "create", Err: "401: token s3cret refused", At: aTime}}))
	var msg string
	must(t, d.Query(ctx, `SELECT message FROM run_records`, func(_ []string, row []any) error {
		if row != nil {
			msg = row[0].(string)
		}
		return nil
	}))
	if msg != "401: token [redacted] refused" {
		t.Errorf("stored message %q, want the secret redacted", msg)
	}
}

// TestLockWritesWait checks that LockWritesWait waits for the write lock
// another process holds, is given it when that one lets go, gives up when
// its context ends, and that LockWrites still fails at once meanwhile.
func TestLockWritesWait(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := openAt(t, url, Options{}), openAt(t, url, Options{})
	unlockA, err := a.LockWrites()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.LockWrites(); err == nil {
		t.Fatal("LockWrites succeeded while another process holds the lock")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := b.LockWritesWait(ctx); err == nil {
		t.Fatal("LockWritesWait succeeded while another process holds the lock")
	}
	got := make(chan error, 1)
	go func() {
		unlock, err := b.LockWritesWait(t.Context())
		if err == nil {
			unlock()
		}
		got <- err
	}()
	unlockA()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("LockWritesWait after the lock was released: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("LockWritesWait still waits after the lock was released")
	}
}

// TestCheckWriteLock: the write lock is checked held while its session
// lives; once the database ends that session, the check fails, saying the
// state is unavailable, and another process can take the lock.
func TestCheckWriteLock(t *testing.T) {
	url := pgtest.Database(t)
	d, other := openAt(t, url, Options{}), openAt(t, url, Options{})
	ctx := t.Context()
	if err := d.CheckWriteLock(ctx); err == nil {
		t.Error("CheckWriteLock without a lock: no error")
	}
	unlock, err := d.LockWrites()
	must(t, err)
	defer unlock()
	must(t, d.CheckWriteLock(ctx))
	// An apply being stopped has not lost its lock: it says it was stopped.
	stopped, stop := context.WithCancel(ctx)
	stop()
	if err := d.CheckWriteLock(stopped); !errors.Is(err, context.Canceled) || errors.Is(err, state.ErrUnavailable) {
		t.Errorf("CheckWriteLock with its context cancelled: %v; want context.Canceled, not a lost lock", err)
	}
	must(t, d.CheckWriteLock(ctx))
	d.lockMu.Lock()
	pid := d.lockConn.Conn().PgConn().PID()
	d.lockMu.Unlock()
	if _, err := other.pool.Exec(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid); err != nil {
		t.Fatal(err)
	}
	err = d.CheckWriteLock(ctx)
	if !errors.Is(err, state.ErrUnavailable) || !strings.Contains(err.Error(), "write lock went with the session") {
		t.Errorf("CheckWriteLock after the session ended: %v", err)
	}
	u2, err := other.LockWrites()
	if err != nil {
		t.Fatalf("another process cannot take the lost lock: %v", err)
	}
	u2()
}

// TestExplainError: only the state database's own failures to answer are
// explained as its being unavailable. A web service out of reach (an
// HTTP request's *url.Error, a net.Error too) or the caller's deadline is
// passed on as it is, so that a plan whose ERP is down does not send a
// person to look at PostgreSQL.
func TestExplainError(t *testing.T) {
	url := pgtest.Database(t)
	proxy := pgtest.NewProxy(t, url)
	d := openAt(t, proxy.URL(), Options{})
	proxy.Cut()
	_, dbErr := d.Runs(t.Context(), 1)
	proxy.Restore()

	web := httptest.NewServer(http.NotFoundHandler())
	web.Close()
	_, webErr := http.Get(web.URL)
	if webErr == nil {
		t.Fatal("a request to a closed server succeeded")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()

	for _, tc := range []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"the database's connection cut", dbErr, true},
		{"a web service out of reach", fmt.Errorf("mapping CUSTOMER: read customers: %w", webErr), false},
		{"the caller's deadline", fmt.Errorf("plan: %w", ctx.Err()), false},
		{"what PostgreSQL answered", fmt.Errorf("x: %w", &pgconn.PgError{Code: "23505"}), false},
		{"cancelled", context.Canceled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error to explain")
			}
			got := d.ExplainError(tc.err)
			if errors.Is(got, state.ErrUnavailable) != tc.unavailable {
				t.Errorf("ExplainError(%v) = %v; want unavailable=%v", tc.err, got, tc.unavailable)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("ExplainError lost the error it explained: %v", got)
			}
		})
	}
}
