package state_test

import (
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// killedWithTwoInFlight is the state an apply killed with two writes in
// flight leaves: the intents in the journal alone.
func killedWithTwoInFlight(t *testing.T) string {
	t.Helper()
	db, path, run := openRun(t)
	if err := db.RecordIntents(t.Context(), []state.Intent{inFlightIntent(run, 1, "p1"), inFlightIntent(run, 2, "p1")}); err != nil {
		t.Fatal(err)
	}
	return copyState(t, path, "", ".wal", ".intents")
}

// REVIEW2: coupler query opens the file read-only so that nothing a query
// does can change the state, and DuckDB refuses a write with an
// explanation. With a journal beside the file, write_intents is now a
// writable temporary table: DELETE FROM write_intents succeeds, and the
// person is told nothing was refused, while the intents stay.
func TestReview2QueryStillRefusesWritesToWriteIntents(t *testing.T) {
	t.Parallel()
	killed := killedWithTwoInFlight(t)
	for _, q := range []string{
		`DELETE FROM write_intents`,
		`DROP TABLE write_intents`,
		`INSERT INTO write_intents FROM write_intents`,
	} {
		err := state.Query(t.Context(), killed, q, func([]string, []any) error { return nil })
		if err == nil {
			t.Errorf("coupler query %q on a killed apply's state: no error, want it refused as on any other state", q)
		}
	}
	// Before: the same statement on a state without a journal is refused.
	if err := os.Remove(killed + ".intents"); err != nil {
		t.Fatal(err)
	}
	if err := state.Query(t.Context(), killed, `DELETE FROM write_intents`, func([]string, []any) error { return nil }); err == nil {
		t.Errorf("without a journal: DELETE not refused")
	}
}

// REVIEW2: a query naming the table by its schema (main.write_intents, as
// a person copying DESCRIBE's or duckdb_tables()' schema column writes it)
// reads the database's table, without the journal's intents.
func TestReview2QueryMainWriteIntentsShowsWritesInFlight(t *testing.T) {
	t.Parallel()
	killed := killedWithTwoInFlight(t)
	for _, q := range []string{`SELECT count(*) FROM main.write_intents`, `SELECT count(*) FROM state.main.write_intents`, `SELECT count(*) FROM state.write_intents`} {
		var n int64 = -1
		err := state.Query(t.Context(), killed, q, func(_ []string, row []any) error {
			if row != nil {
				n = row[0].(int64)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		if n != 2 {
			t.Errorf("%s on a killed apply's state: %d, want 2", q, n)
		}
	}
}

// REVIEW2: duckdb_tables()/SHOW TABLES list write_intents twice.
func TestReview2QueryListsWriteIntentsOnce(t *testing.T) {
	t.Parallel()
	killed := killedWithTwoInFlight(t)
	for _, q := range []string{`SELECT count(*) FROM duckdb_tables() WHERE table_name = 'write_intents'`,
		`SELECT count(*) FROM information_schema.tables WHERE table_name = 'write_intents'`} {
		var n int64
		err := state.Query(t.Context(), killed, q, func(_ []string, row []any) error {
			if row != nil {
				n = row[0].(int64)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s: %d, want 1", q, n)
		}
	}
}

// REVIEW2: a damaged intents journal makes every coupler query fail, even
// one that reads nothing of write_intents: the tool to look into a state
// the open refuses is unusable too. A damaged write-ahead log does not
// (TestReview2QueryWithADamagedLogReadsOtherTables, which passes).
func TestReview2QueryWithADamagedJournalStillReadsOtherTables(t *testing.T) {
	t.Parallel()
	killed := killedWithTwoInFlight(t)
	b, err := os.ReadFile(killed + ".intents")
	if err != nil {
		t.Fatal(err)
	}
	// Damage the first frame's payload: a bad frame with good ones after.
	b[len(b)/2-1] ^= 0xff
	b = append(b, b...) // make sure a good frame follows
	if err := os.WriteFile(killed+".intents", b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = state.Query(t.Context(), killed, `SELECT count(*) FROM runs`, func([]string, []any) error { return nil })
	if err != nil {
		t.Errorf("coupler query on runs with a damaged journal: %v", err)
		if !strings.Contains(err.Error(), "journal") {
			t.Log("not the journal")
		}
	}
}

// REVIEW2: DESCRIBE write_intents on a killed apply's state describes the
// temporary copy: the database's constraints (NOT NULL, the key) are gone.
func TestReview2QueryDescribesWriteIntentsAsTheDatabaseHasIt(t *testing.T) {
	t.Parallel()
	killed := killedWithTwoInFlight(t)
	describe := func() string {
		var out []string
		err := state.Query(t.Context(), killed, `DESCRIBE write_intents`, func(_ []string, row []any) error {
			if row != nil {
				out = append(out, strings.TrimSpace(strings.ReplaceAll(strings.Join([]string{row[0].(string), row[1].(string), row[2].(string), toS(row[3]), toS(row[4])}, " "), "\n", " ")))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, "\n")
	}
	with := describe()
	if err := os.Remove(killed + ".intents"); err != nil {
		t.Fatal(err)
	}
	if without := describe(); with != without {
		t.Errorf("DESCRIBE write_intents with a journal:\n%s\nwithout:\n%s", with, without)
	}
}

func toS(v any) string {
	if v == nil {
		return "NULL"
	}
	s, _ := v.(string)
	return s
}

// REVIEW2 (latent: only coupler state backup calls it, on a fresh open
// whose journal was replayed and checkpointed): DB.Backup copies the
// database, not the intents held pending in memory, unlike ExportTables,
// PrunePlans, Query and Close, which flush them first. A backup taken
// with writes in flight forgets them.
func TestReview2BackupKeepsWritesInFlight(t *testing.T) {
	t.Parallel()
	db, _, run := openRun(t)
	if err := db.RecordIntents(t.Context(), []state.Intent{inFlightIntent(run, 1, "p1")}); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "backup.duckdb")
	if err := db.Backup(t.Context(), to); err != nil {
		t.Fatal(err)
	}
	b, err := state.Open(t.Context(), to, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := pendingSeqs(t, b); len(got) != 1 {
		t.Errorf("backup taken with a write in flight: pending %v, want [1]", got)
	}
}

// Baseline for the test above: coupler query on a state whose log is
// damaged (a byte flipped half way) still answers.
func TestReview2QueryWithADamagedLogReadsOtherTables(t *testing.T) {
	t.Parallel()
	db, path, _ := openRun(t)
	for i := 0; i < 50; i++ {
		old := time.Now().UTC()
		if err := db.AppendForTest(t.Context(), "plans", []string{"id", "created_at", "full_read", "fingerprint", "status", "applied_at", "name"},
			[][]driver.Value{{fmt.Sprint("px", i), old, false, "f", "applied", old, nil}}); err != nil {
			t.Fatal(err)
		}
	}
	killed := copyState(t, path, "", ".wal", ".intents")
	b, err := os.ReadFile(killed + ".wal")
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(killed+".wal", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := state.Query(t.Context(), killed, `SELECT count(*) FROM runs`, func([]string, []any) error { return nil }); err != nil {
		t.Errorf("coupler query on runs with a damaged log: %v", err)
	}
}
