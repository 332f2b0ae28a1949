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

func reviewIntent(run, seq int64, planID string) state.Intent {
	return state.Intent{RunID: run, PlanID: planID, Mapping: "CUSTOMER", Direction: "to_integration", Seq: seq, Op: "create",
		SourceID: "t", Fields: `{}`, CreatedAt: time.Now()}
}

// REVIEW: coupler query (state.Query, the file opened read-only) on the
// state an apply killed mid-batch leaves: the writes in flight were in
// write_intents (DuckDB replays the log read-only), now they are in the
// journal alone, which a read-only open does not replay. coupler state
// intents lists them; coupler query "FROM write_intents" shows none.
func TestReviewQueryAfterAKillSeesWritesInFlight(t *testing.T) {
	t.Parallel()
	db, path, run := openRun(t)
	if err := db.RecordIntents(t.Context(), []state.Intent{reviewIntent(run, 1, "p1"), reviewIntent(run, 2, "p1")}); err != nil {
		t.Fatal(err)
	}
	killed := copyState(t, path, "", ".wal", ".intents")
	n := countIntents(t, func(q string, fn func([]string, []any) error) error { return state.Query(t.Context(), killed, q, fn) })
	if n != 2 {
		t.Errorf("coupler query on the state of an apply killed with 2 writes in flight: %d rows in write_intents, want 2", n)
	}
}

// REVIEW: coupler serve's read API runs a person's SQL on its open,
// sealed database (state.DB.Query). The writes of the batch in flight, or
// of an apply that stopped with an error (held pending in memory until
// the next checkpoint, which may be the next scheduled run), are not in
// write_intents. TestSealedStateQuery was changed in 98ad2ee to checkpoint
// (StartRun) before querying, which hides this.
func TestReviewSealedQuerySeesWritesInFlight(t *testing.T) {
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
	if err := db.RecordIntents(t.Context(), []state.Intent{reviewIntent(run, 1, "p1")}); err != nil {
		t.Fatal(err)
	}
	if got := pendingSeqs(t, db); len(got) != 1 {
		t.Fatalf("PendingIntents: %v, want [1]", got)
	}
	if n := countIntents(t, func(q string, fn func([]string, []any) error) error { return db.Query(t.Context(), q, fn) }); n != 1 {
		t.Errorf("serve's SQL (sealed Query) during an apply with 1 write in flight: %d rows in write_intents, want 1", n)
	}
}

// REVIEW: PrunePlans keeps "plans with writes in flight" by
// `id NOT IN (SELECT plan_id FROM write_intents)`; intents held pending in
// memory are not there, so a plan whose writes are in flight is pruned,
// and settling its intents then fails to load it. (In the engine a plan
// with writes in flight is also 'applying', which PrunePlans keeps for
// another reason, so this is the store's contract, not yet a reachable
// loss.)
func TestReviewPrunePlansKeepsAPlanWithWritesInFlight(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _, run := openRun(t)
	old := time.Now().Add(-48 * time.Hour).UTC()
	err := db.AppendForTest(ctx, "plans", []string{"id", "created_at", "full_read", "fingerprint", "status", "applied_at", "name"},
		[][]driver.Value{{"p1", old, false, "f", "applied", old, nil}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RecordIntents(ctx, []state.Intent{reviewIntent(run, 1, "p1")}); err != nil {
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
