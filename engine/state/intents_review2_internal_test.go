package state

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// REVIEW2: DB.Query "reads the database as the last commit left it,
// without waiting for the writes under way". With intents pending in
// memory (an apply's batch in flight, or an apply that stopped with an
// error in serve), its flushPending checkpoints: CHECKPOINT is refused
// while a write transaction is open (a plan being made, an apply's
// results), and FORCE CHECKPOINT waits for it, holding the journal's lock
// (so the apply's RecordIntents/RecordResults wait too). A person's SQL
// through serve then hangs for as long as the write runs.
func TestReview2SealedQueryDoesNotWaitForAWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	scratch := filepath.Join(dir, "scratch")
	if err := os.Mkdir(scratch, 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := Open(t.Context(), filepath.Join(dir, "state.duckdb"), Options{Sealed: true, Scratch: scratch})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run, err := db.StartRun(t.Context(), "p1", "CUSTOMER", "to_integration", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	in := Intent{RunID: run, PlanID: "p1", Mapping: "CUSTOMER", Direction: "to_integration", Seq: 1, Op: "create",
		SourceID: "t", Fields: `{}`, CreatedAt: time.Now()}
	if err := db.RecordIntents(t.Context(), []Intent{in}); err != nil {
		t.Fatal(err)
	}
	// A write under way on another connection (a plan staging its reads).
	if _, err := db.db.ExecContext(t.Context(), `INSERT INTO meta VALUES ('review2', 'x'), ('review2d', 'x')`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(t.Context(), `UPDATE meta SET value = 'y' WHERE key = 'review2'`); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(t.Context(), `DELETE FROM meta WHERE key = 'review2d'`); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(t.Context(), `UPDATE runs SET mapping = mapping WHERE true`); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- db.Query(t.Context(), `SELECT count(*) FROM write_intents`, func([]string, []any) error { return nil })
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
		t.Logf("journal size after the sealed Query: %d, pending %v", db.journal.size, db.journal.hasPending())
	case <-time.After(5 * time.Second): // not synchronisation: the bound on a hang
		t.Error("sealed Query still waiting after 5s for a write transaction under way to end")
		// And the apply's next RecordIntents would wait behind it.
		got := make(chan error, 1)
		go func() { got <- db.RecordIntents(t.Context(), []Intent{in}) }()
		waitBlocked(t, "(*journal).recordIntents")
		t.Log("an apply's RecordIntents is blocked on the journal's lock meanwhile")
		// The person gives up: does the request's cancellation end it?
		ctx, cancel := context.WithCancel(t.Context())
		cancelled := make(chan error, 1)
		go func() {
			cancelled <- db.Query(ctx, `SELECT 1`, func([]string, []any) error { return nil })
		}()
		cancel()
		select {
		case err := <-cancelled:
			t.Logf("a second sealed Query, cancelled: %v", err)
		case <-time.After(5 * time.Second):
			t.Error("a second sealed Query, cancelled, still waiting after 5s (on the journal's lock)")
		}
		tx.Rollback()
		<-done
		<-got
		return
	}
	if _, err := tx.ExecContext(t.Context(), `INSERT INTO meta VALUES ('review2b', 'x')`); err != nil {
		t.Errorf("the write under way, after serve's sealed Query: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Errorf("the write under way could not commit after serve's sealed Query: %v", err)
	}
}
