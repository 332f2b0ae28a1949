package state_test

import (
	"database/sql/driver"
	"errors"
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

// coupler serve's read API runs a person's SQL on its open, sealed
// database (state.DB.Query): the writes of the batch in flight, or of an
// apply that stopped with an error, held pending in memory, are in
// write_intents for it.
func TestSealedQueryShowsWritesInFlight(t *testing.T) {
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
	run, err := db.StartRun(t.Context(), "p1", "CUSTOMER", "to_integration", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RecordIntents(t.Context(), []state.Intent{inFlightIntent(run, 1, "p1")}); err != nil {
		t.Fatal(err)
	}
	if got := pendingSeqs(t, db); len(got) != 1 {
		t.Fatalf("PendingIntents: %v, want [1]", got)
	}
	if n := countIntents(t, func(q string, fn func([]string, []any) error) error { return db.Query(t.Context(), q, fn) }); n != 1 {
		t.Errorf("serve's SQL (sealed Query) during an apply with 1 write in flight: %d rows in write_intents, want 1", n)
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
