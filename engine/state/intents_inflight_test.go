package state_test

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

// copyState copies the files of the state at path with the given
// suffixes ("" for the state file itself) into a new directory, as a
// process killed at this moment leaves them, and returns the copy's path.
func copyState(t *testing.T, path string, suffixes ...string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "state.duckdb")
	for _, suffix := range suffixes {
		b, err := os.ReadFile(path + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to+suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

func countIntents(t *testing.T, query func(q string, fn func(cols []string, row []any) error) error) int64 {
	t.Helper()
	var n int64
	err := query(`SELECT count(*) FROM write_intents`, func(_ []string, row []any) error {
		if row != nil {
			n = row[0].(int64)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func inFlightIntent(run, seq int64, planID string) state.Intent {
	return state.Intent{RunID: run, PlanID: planID, Mapping: "CUSTOMER", Direction: "to_integration", Seq: seq, Op: "create",
		SourceID: "t", Fields: `{}`, CreatedAt: time.Now()}
}

// coupler query (state.Query) opens the file read-only, which does not
// replay the intents journal: the writes in flight of an apply killed
// mid-batch are in the journal alone, and write_intents must show them
// all the same, as coupler state intents does.
func TestQueryAfterAKillShowsWritesInFlight(t *testing.T) {
	t.Parallel()
	db, path, run := openRun(t)
	if err := db.RecordIntents(t.Context(), []state.Intent{inFlightIntent(run, 1, "p1"), inFlightIntent(run, 2, "p1")}); err != nil {
		t.Fatal(err)
	}
	killed := copyState(t, path, "", ".wal", ".intents")
	n := countIntents(t, func(q string, fn func([]string, []any) error) error { return state.Query(t.Context(), killed, q, fn) })
	if n != 2 {
		t.Errorf("coupler query on the state of an apply killed with 2 writes in flight: %d rows in write_intents, want 2", n)
	}
}

// PrunePlans keeps a plan with writes in flight (it reads write_intents),
// those held pending in memory included: settling them loads the plan.
func TestPrunePlansKeepsAPlanWithWritesInFlight(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _, run := openRun(t)
	old := time.Now().Add(-48 * time.Hour).UTC()
	err := db.AppendForTest(ctx, "plans", []string{"id", "created_at", "full_read", "fingerprint", "status", "applied_at", "name"},
		[][]driver.Value{{"p1", old, false, "f", "applied", old, nil}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RecordIntents(ctx, []state.Intent{inFlightIntent(run, 1, "p1")}); err != nil {
		t.Fatal(err)
	}
	res, err := db.PrunePlans(ctx, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Plans != 0 {
		t.Errorf("PrunePlans removed %d plans, want the plan with a write in flight kept", res.Plans)
	}
}

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

// coupler query opens the file read-only: a statement that writes is
// refused, write_intents included, whose writes in flight a killed
// apply's journal adds to what the query sees.
func TestQueryRefusesWritesToWriteIntents(t *testing.T) {
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

// A damaged intents journal (the open refuses the state) leaves coupler
// query reading the tables, to look into it, as a damaged log does
// (TestQueryWithADamagedLogStillReads).
func TestQueryWithADamagedJournalStillReads(t *testing.T) {
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
	}
}

// A backup holds the writes in flight, those whose intents are in memory
// and the journal alone included.
func TestBackupKeepsWritesInFlight(t *testing.T) {
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

// coupler query on a state whose log is damaged (a byte flipped half way)
// still answers.
func TestQueryWithADamagedLogStillReads(t *testing.T) {
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
